"""What the access and review tests share: people of each role, and stored runs whose homes are known.

Each run's plan holds four homes per city with ids that say where they are (BHM-0..3,
COV-0..3, WLV-0..3), in real LSOAs of that city; storage needs no solver for that.
"""

from __future__ import annotations

import pandas as pd

from retrofit.service.access import Principal
from retrofit.reference import CITIES, lsoas
from retrofit.store import RunInputs, add_scenario, save_run
from tests.store.plans import make_plan, make_result

MANAGER = Principal("Pat Manager", "programme_manager", email="pat@westmids.example")
COVENTRY = Principal("Cora Partner", "city_partner", "Coventry", email="cora@coventry.example")
BIRMINGHAM = Principal("Bo Partner", "city_partner", "Birmingham", email="bo@birmingham.example")
WOLVERHAMPTON = Principal("Wyn Partner", "city_partner", "Wolverhampton", email="wyn@wolverhampton.example")
ANALYST = Principal("Ann Analyst", "analyst", email="ann@westmids.example")
VIEWER = Principal("Vic Viewer", "viewer", email="vic@westmids.example")
PARTNERS = {"Birmingham": BIRMINGHAM, "Coventry": COVENTRY, "Wolverhampton": WOLVERHAMPTON}
PREFIX = {"Birmingham": "BHM-", "Coventry": "COV-", "Wolverhampton": "WLV-"}
INPUTS = RunInputs(candidates_hash="c0ffee")


def scenario_toml(name: str = "Pilot", budget: float = 1e9) -> str:
    return f'name = "{name}"\n[budget]\ntotal_gbp = {budget}\n[years]\nstart = 2026\nend = 2028\n'


def city_plan(homes_per_city: int = 4, seed: int = 1) -> pd.DataFrame:
    """A plan with ``homes_per_city`` homes in each city, in that city's real LSOAs."""
    areas = lsoas()
    parts = []
    for number, city in enumerate(CITIES):
        plan = make_plan(homes_per_city, seed=seed + number, prefix=PREFIX[city])
        plan["home_id"] = PREFIX[city] + pd.Series(range(homes_per_city)).astype("str")
        mine = areas[areas["city"] == city].head(homes_per_city).reset_index(drop=True)
        plan["city"] = city
        plan["lsoa_code"] = mine["lsoa_code"].astype("str")
        plan["ward"] = mine["ward"].astype("str")
        plan["imd_decile"] = mine["imd_decile"].astype("int64")
        parts.append(plan)
    return pd.concat(parts, ignore_index=True)


def store_run(engine, name: str = "Pilot", budget: float = 1e9, seed: int = 1):
    """Add (or reuse) the scenario's version for ``budget`` and store a run of it; the run."""
    record = add_scenario(engine, scenario_toml(name, budget), who=MANAGER.who).record
    return save_run(engine, record, make_result(city_plan(seed=seed)), INPUTS, who=MANAGER.who)


def lsoa_of(city: str) -> str:
    return str(lsoas().query("city == @city")["lsoa_code"].iloc[0])

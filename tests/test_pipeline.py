"""Planning a stored scenario stores a run that its inputs reproduce exactly (real optimiser)."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

import retrofit.optimise
import retrofit.pipeline

from retrofit.errors import RetrofitError
from retrofit.hashing import table_hash
from retrofit.appraisal.measures import load_library
from retrofit.testing.synthetic import synthetic_candidates
from retrofit.stock.synthetic import generate_stock
from retrofit.store import add_scenario, get_run, list_runs, plan_hash, read_plan
from retrofit.pipeline import reproduce, run_scenario

SCENARIO = """name = "small"
[budget]
total_gbp = 400000
[years]
start = 2026
end = 2027
[cities.Coventry]
min_share = 0.2
[solver]
time_limit_s = 20
seed = 3
"""


@pytest.fixture
def candidates_file(tmp_path):
    path = tmp_path / "candidates.parquet"
    synthetic_candidates(300, seed=5).to_parquet(path)
    return path


def test_a_stored_run_is_reproduced_by_its_inputs(engine, candidates_file, tmp_path):
    add_scenario(engine, SCENARIO)
    messages = []
    run = run_scenario(engine, "small", candidates=candidates_file, who="ana",
                         progress=lambda f, m: messages.append(f))
    assert messages == sorted(messages) and messages[-1] == 1.0
    stored = get_run(engine, run.id)
    assert stored.candidates_source == str(candidates_file) and stored.stock_hash is None
    assert stored.candidates_hash == table_hash(synthetic_candidates(300, seed=5))
    plan = read_plan(engine, run.id)
    assert 0 < len(plan) == stored.plan_rows and plan["cost_gbp"].sum() <= 400_000
    assert stored.kpis["homes"] == len(plan)
    assert stored.details["reproducible"] is True and stored.details["stopped_by"] in ("gap", "work_limit")

    again = reproduce(engine, run.id, candidates=candidates_file)
    assert plan_hash(again.plan) == stored.plan_hash

    # A new version of the scenario does not change what the old run reproduces.
    add_scenario(engine, SCENARIO.replace("400000", "900000"))
    assert plan_hash(reproduce(engine, run.id, candidates=candidates_file).plan) == stored.plan_hash

    other = tmp_path / "other.parquet"
    synthetic_candidates(300, seed=6).to_parquet(other)
    with pytest.raises(RetrofitError, match=f"the candidates are not those run {run.id} used"):
        reproduce(engine, run.id, candidates=other)


def test_a_run_on_a_stock_records_and_reproduces_its_inputs(engine, tmp_path):
    stock = generate_stock(seed=4, homes=150)
    path = tmp_path / "stock.parquet"
    stock.to_parquet(path)
    add_scenario(engine, SCENARIO)
    run = run_scenario(engine, "small", stock=path)
    assert (run.stock_hash, run.library_version, run.stock_source) == (table_hash(stock), load_library().version, str(path))
    assert plan_hash(reproduce(engine, run.id).plan) == run.plan_hash  # the stock named in the run

    generate_stock(seed=5, homes=150).to_parquet(path)  # the file changed since
    with pytest.raises(RetrofitError, match=f"stock {path} is not the stock run {run.id} used"):
        reproduce(engine, run.id)


def test_the_run_route_never_stores_a_plan_that_breaks_the_rules(engine, candidates_file, monkeypatch):
    """`retrofit run` (run_scenario) stores through `save_run`, which checks the plan again:
    a plan gone over budget on its way (here: homes added after the optimiser) is refused."""
    add_scenario(engine, SCENARIO)
    real = retrofit.optimise.optimise

    def over_budget(table, scenario, **kwargs):
        result = real(table, scenario, **kwargs)
        others = table[~table["home_id"].isin(result.plan["home_id"])].sort_values("cost_gbp", ascending=False)
        extra = others.drop_duplicates("home_id").head(40)
        extra = extra.assign(year=2026, council_gbp=extra["cost_gbp"].astype(float), grant_gbp=0.0, co_funding_gbp=0.0,
                             funding="")
        return replace(result, plan=pd.concat([result.plan, extra[result.plan.columns]], ignore_index=True))

    monkeypatch.setattr(retrofit.pipeline, "optimise", over_budget)  # the optimiser as the pipeline calls it
    with pytest.raises(RetrofitError, match=r"not stored.*above budget\.total_gbp"):
        run_scenario(engine, "small", candidates=candidates_file)
    assert list_runs(engine) == []

"""LSOA boundaries joined to figures, for maps and GeoJSON exports."""

from __future__ import annotations

import json
import math
from functools import lru_cache

import pandas as pd

from retrofit.paths import REFERENCE_DIR
from retrofit.reference import lsoas

BOUNDARIES = REFERENCE_DIR / "lsoa21_boundaries_bgc_bham_cov_wolv.geojson"


@lru_cache(maxsize=1)
def _boundaries() -> dict:
    with open(BOUNDARIES, encoding="utf-8") as handle:
        return json.load(handle)


def _plain(value):
    """JSON-safe scalar: numpy numbers to Python, NaN to None."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def lsoa_feature_collection(figures: pd.DataFrame | None = None, cities: list[str] | None = None) -> dict:
    """The 2021 LSOA polygons with each LSOA's reference figures and ``figures`` as properties.

    ``figures`` is indexed by lsoa_code (or has that column); LSOAs without figures get
    none of those properties (null), so a map can show them as empty. ``cities`` limits
    the LSOAs to those cities.
    """
    figures = pd.DataFrame(index=pd.Index([], name="lsoa_code")) if figures is None else figures
    if "lsoa_code" in figures.columns:
        figures = figures.set_index("lsoa_code")
    reference = lsoas().set_index("lsoa_code")[["lsoa_name", "city", "ward", "households",
                                                "fuel_poor_households", "imd_decile"]]
    reference["fuel_poverty_pct"] = (100 * reference["fuel_poor_households"] / reference["households"]).round(1)
    table = reference.join(figures, how="left", suffixes=("", "_plan"))
    if cities:
        table = table[table["city"].isin(cities)]
    records = {code: {k: _plain(v) for k, v in row.items()} for code, row in table.iterrows()}
    features = []
    for feature in _boundaries()["features"]:
        code = feature["properties"]["LSOA21CD"]
        if code in records:
            features.append({"type": "Feature", "geometry": feature["geometry"],
                             "properties": {"lsoa_code": code, **records[code]}})
    return {"type": "FeatureCollection", "features": features}


# Colour ramp for choropleths: light yellow to dark red (ColorBrewer YlOrRd, 7 classes).
RAMP = [(255, 255, 178), (254, 217, 118), (254, 178, 76), (253, 141, 60), (252, 78, 42),
        (227, 26, 28), (177, 0, 38)]
EMPTY = [200, 200, 200, 60]


def add_fill_colours(collection: dict, value: str, reverse: bool = False) -> dict:
    """Set each feature's ``fill_colour`` from ``value`` by quantile class (grey when missing).

    ``reverse`` puts low values in the darkest colour (e.g. IMD decile 1 = most deprived).
    """
    values = pd.Series([f["properties"].get(value) for f in collection["features"]], dtype="float64")
    known = values.dropna()
    if known.empty or known.nunique() == 1:
        classes = pd.Series(len(RAMP) - 1, index=values.index)
    else:
        classes = pd.Series(pd.qcut(known.rank(method="first"), len(RAMP), labels=False), index=known.index)
    for feature, cls, raw in zip(collection["features"], classes.reindex(values.index), values):
        if pd.isna(raw):
            feature["properties"]["fill_colour"] = EMPTY
        else:
            index = int(cls) if not reverse else len(RAMP) - 1 - int(cls)
            feature["properties"]["fill_colour"] = [*RAMP[index], 180]
    return collection

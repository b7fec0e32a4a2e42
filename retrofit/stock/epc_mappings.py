"""From the EPC register's free text to the stock's category values.

The register describes walls, roofs, windows, heating, tenure and age in assessors'
software phrasings ("Cavity wall, as built, no insulation (assumed)", "Pitched, 270 mm
loft insulation", "rental (social)", "England and Wales: 1930-1949", "NO DATA!"). The rules
that read them are tables in `data/epc/` (ordered regular expressions, first match wins,
each with the phrasings it is for); this module only applies them.

A column of a few hundred thousand certificates holds a few hundred distinct phrasings,
so every rule runs once per distinct phrasing (``per_phrasing``), never per row. A phrasing
that is empty, "NO DATA!", "INVALID!" or matches no rule maps to ``None``: the caller puts
it in the field's `other`/`unknown` value and counts it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa

from retrofit.paths import DATA_DIR
from retrofit.stock.schema import HEATING_SYSTEMS, MAIN_FUELS

EPC_MAPPINGS_DIR = DATA_DIR / "epc"
# What the register writes where it has no answer.
MISSING_TEXT = {"", "no data!", "nodata!", "invalid!", "n/a", "na", "none", "not recorded"}
U_VALUE = re.compile(r"average thermal transmittance\s*=?\s*([0-9]*\.?[0-9]+)")


def normalise(text: str | None) -> str | None:
    """Lower case, single spaces, '&' as 'and', English half of a bilingual 'English|Welsh' text."""
    if text is None:
        return None
    text = text.split("|")[0].replace("&", "and").replace("\ufeff", "")
    text = " ".join(text.lower().split())
    text = re.sub(r"\s+,", ",", text)
    return None if text in MISSING_TEXT else text


@dataclass(frozen=True)
class RuleTable:
    """Ordered (pattern, outputs) rules read from one CSV; the first matching pattern wins."""

    name: str
    rules: tuple[tuple[re.Pattern, dict], ...]

    def match(self, text: str | None) -> dict | None:
        if text is None:
            return None
        for pattern, outputs in self.rules:
            if pattern.search(text):
                return outputs
        return None


@lru_cache(maxsize=None)
def rule_table(name: str) -> RuleTable:
    table = pd.read_csv(EPC_MAPPINGS_DIR / f"{name}.csv", dtype=str, keep_default_na=False)
    outputs = [c for c in table.columns if c not in ("pattern", "source")]
    rules = tuple(
        (re.compile(row["pattern"]), {c: row[c] for c in outputs}) for _, row in table.iterrows()
    )
    return RuleTable(name, rules)


@lru_cache(maxsize=None)
def _u_value_table(element: str) -> pd.DataFrame:
    table = pd.read_csv(EPC_MAPPINGS_DIR / "u_values.csv", dtype={"value": str})
    return table[table["element"] == element].sort_values("max_u_w_per_m2k")


def from_u_value(text: str, element: str) -> str | None:
    """The category (or loft depth) whose U-value band holds the one the certificate states."""
    found = U_VALUE.search(text)
    if not found:
        return None
    table = _u_value_table(element)
    row = np.searchsorted(table["max_u_w_per_m2k"].to_numpy(), float(found.group(1)), side="left")
    return table["value"].iloc[min(row, len(table) - 1)]


# --- one function per field: a normalised phrasing in, a stock value (or None) out ---

def wall_type(text: str | None) -> str | None:
    hit = rule_table("walls").match(text)
    return hit["wall_type"] if hit else None


def loft_insulation_mm(text: str | None) -> float | None:
    """Loft depth in mm; NaN where the home has no loft of its own; None when unknown."""
    hit = rule_table("roofs").match(text)
    if hit is None:
        return None
    value = hit["loft_insulation_mm"]
    if value == "none":
        return float("nan")
    if value == "unknown":
        return None
    if value == "from_text":
        return min(float(re.search(r"(\d+)\s*\+?\s*mm", text).group(1)), 600.0)
    if value == "from_u_value":
        depth = from_u_value(text, "roof")
        return None if depth is None else float(depth)
    return float(value)


def glazing(text: str | None) -> str | None:
    hit = rule_table("windows").match(text)
    if hit is None:
        return None
    if hit["glazing"] == "from_u_value":
        return from_u_value(text, "window")
    return hit["glazing"]


def floor_type(text: str | None) -> str | None:
    hit = rule_table("floors").match(text)
    return hit["floor_type"] if hit else None


def heating(text: str | None) -> tuple[str | None, str | None]:
    """(heating system, fuel the description names) from MAINHEAT_DESCRIPTION's first system.

    The system is "boiler" when the text names no fuel (resolved from MAIN_FUEL by
    ``boiler_system``); the fuel is None when the text does not fix it.
    """
    hit = rule_table("heating").match(text)
    if hit is None:
        return None, None
    return hit["heating_system"], hit["main_fuel"] or None


def main_fuel(text: str | None) -> str | None:
    hit = rule_table("fuels").match(text)
    return hit["main_fuel"] if hit else None


@lru_cache(maxsize=1)
def boiler_systems() -> pd.Series:
    return pd.read_csv(EPC_MAPPINGS_DIR / "boilers.csv").set_index("main_fuel")["heating_system"]


def tenure(text: str | None) -> str | None:
    hit = rule_table("tenure").match(text)
    return hit["tenure"] if hit else None


def property_type(text: str | None) -> str | None:
    hit = rule_table("property_types").match(text)
    return hit["property_type"] if hit else None


def built_form(text: str | None) -> str | None:
    hit = rule_table("built_forms").match(text)
    return hit["built_form"] if hit else None


@lru_cache(maxsize=1)
def _age_bands() -> pd.DataFrame:
    return pd.read_csv(EPC_MAPPINGS_DIR / "age_bands.csv", dtype={"first_year": "Int64"})


def age_band(text: str | None) -> str | None:
    """'England and Wales: 1930-1949', '2007 onwards', 'before 1900', a build year or a band letter."""
    if text is None:
        return None
    bands = _age_bands()
    text = text.removeprefix("england and wales:").strip()
    if len(text) == 1 and text.upper() in set(bands["letter"]):
        return bands.loc[bands["letter"] == text.upper(), "age_band"].iloc[0]
    if text.startswith("before 1900"):
        return "before_1900"
    year = re.match(r"(1[5-9]\d\d|20\d\d)\b", text)
    if not year:
        return None
    first = bands["first_year"].to_numpy(dtype="float64", na_value=-np.inf)
    return bands["age_band"].iloc[int(np.searchsorted(first, int(year.group(1)), side="right")) - 1]


def recommended_measures(summary: str | None, id_text: str | None, improvement_id: str | None,
                         description: str | None) -> str | None:
    """Measure ids (';'-joined, '' when the recommendation has no equivalent) or None when unrecognised.

    Tried in turn: the summary text, the improvement's id text, its IMPROVEMENT_ID code,
    then the long description.
    """
    table = rule_table("recommendations")
    for text in (summary, id_text):
        hit = table.match(text)
        if hit is not None:
            return hit["measures"]
    ids = _recommendation_ids()
    if improvement_id is not None and improvement_id.split(".")[0] in ids.index:
        return ids[improvement_id.split(".")[0]]
    hit = table.match(description)
    return hit["measures"] if hit is not None else None


@lru_cache(maxsize=1)
def _recommendation_ids() -> pd.Series:
    table = pd.read_csv(EPC_MAPPINGS_DIR / "recommendation_ids.csv", dtype=str, keep_default_na=False)
    return table.set_index("improvement_id")["measures"]


@lru_cache(maxsize=1)
def defaults() -> pd.Series:
    return pd.read_csv(EPC_MAPPINGS_DIR / "defaults.csv").set_index("field")["value"]


# --- applying a field function to a column, once per distinct phrasing ---------------

def texts_and_codes(values) -> tuple[list[str | None], np.ndarray]:
    """Distinct normalised phrasings of a column and each row's index into them.

    Accepts a pyarrow array (string or binary, so badly encoded bytes never stop an import:
    they are decoded with replacement characters) or anything pandas can factorise.
    Missing values point to the last entry, ``None``.
    """
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        encoded = values.dictionary_encode()
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.combine_chunks()
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype("int64")
        raw = encoded.dictionary.to_pylist()
    else:
        codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
        raw = list(uniques)
    texts = [normalise(v.decode("utf-8", "replace") if isinstance(v, bytes) else v) for v in raw]
    codes = np.where(codes < 0, len(texts), codes)
    return texts + [None], codes


def per_phrasing(values, function: Callable[[str | None], object], dtype=object) -> np.ndarray:
    """``function`` of each row's normalised text, calling it once per distinct phrasing."""
    texts, codes = texts_and_codes(values)
    return on_phrasings(texts, function, dtype)[codes]


def on_phrasings(texts: list[str | None], function: Callable[[str | None], object], dtype=object) -> np.ndarray:
    """``function`` of each distinct phrasing (a loop over phrasings, not rows)."""
    mapped = np.empty(len(texts), dtype=dtype)
    for i, text in enumerate(texts):
        mapped[i] = function(text)
    return mapped


def resolve_heating(mainheat: str | None, fuel: str | None, mains_gas_flag: str | None) -> tuple[str, str, bool, bool]:
    """Heating system and main fuel of one certificate, with flags for what had to be filled.

    The system comes from MAINHEAT_DESCRIPTION's first system. Its fuel is the one the
    description names where it fixes one (a heat pump runs on electricity, 'Boiler and
    radiators, mains gas' on gas), else MAIN_FUEL, else (counted) mains gas where
    MAINS_GAS_FLAG is Y and electricity where not (`data/epc/defaults.csv`). A boiler of
    no stated fuel takes its type from that fuel (`data/epc/boilers.csv`).
    Returns (heating_system, main_fuel, system_unknown, fuel_unknown).
    """
    system, fuel_out = heating(mainheat)
    if fuel_out is None:
        fuel_out = main_fuel(fuel)
    fuel_unknown = fuel_out is None
    if fuel_unknown:
        gas = mains_gas_flag in ("y", "yes", "true")
        fuel_out = defaults()["main_fuel_gas_available" if gas else "main_fuel_no_gas"]
    system_unknown = system is None or (system == "boiler" and fuel_unknown)
    if system_unknown:
        system = "other"
    elif system == "boiler":
        system = boiler_systems()[fuel_out]
    return system, fuel_out, system_unknown, fuel_unknown


def map_heating(mainheat, fuel, mains_gas_flag=None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``resolve_heating`` for each row, computed once per distinct combination of the three texts.

    Returns codes into HEATING_SYSTEMS and MAIN_FUELS, and the two 'had to be filled' flags.
    """
    heat_texts, heat_codes = texts_and_codes(mainheat)
    fuel_texts, fuel_codes = texts_and_codes(fuel)
    if mains_gas_flag is None:
        gas_texts, gas_codes = [None], np.zeros(len(heat_codes), dtype="int64")
    else:
        gas_texts, gas_codes = texts_and_codes(mains_gas_flag)
    combined = (heat_codes * len(fuel_texts) + fuel_codes) * len(gas_texts) + gas_codes
    combos, inverse = np.unique(combined, return_inverse=True)
    systems, fuels = pd.Index(HEATING_SYSTEMS), pd.Index(MAIN_FUELS)
    out = np.empty((len(combos), 4), dtype="int64")
    for i, combo in enumerate(combos):
        heat, rest = divmod(int(combo), len(fuel_texts) * len(gas_texts))
        fuel_i, gas_i = divmod(rest, len(gas_texts))
        system, fuel_out, system_unknown, fuel_unknown = resolve_heating(heat_texts[heat], fuel_texts[fuel_i],
                                                                         gas_texts[gas_i])
        out[i] = systems.get_loc(system), fuels.get_loc(fuel_out), system_unknown, fuel_unknown
    out = out[inverse.reshape(-1)]
    return out[:, 0].astype("int8"), out[:, 1].astype("int8"), out[:, 2].astype(bool), out[:, 3].astype(bool)


def category_codes(values, function: Callable[[str | None], str | None], categories: tuple[str, ...],
                   default: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Codes into ``categories`` of ``function`` per row (``default`` where it gives None), and where it did."""
    texts, codes = texts_and_codes(values)
    mapped = on_phrasings(texts, function)
    unknown = pd.isna(mapped)
    index = pd.Index(categories)
    phrase_codes = np.array([index.get_loc(default if u else m) if (default is not None or not u) else -1
                             for m, u in zip(mapped, unknown)], dtype="int8")
    return phrase_codes[codes], unknown[codes]


def glazing_from_proportion(proportion: np.ndarray) -> np.ndarray:
    """MULTI_GLAZE_PROPORTION (% of windows multiple glazed) as a glazing category, None when absent."""
    out = np.full(len(proportion), None, dtype=object)
    out[proportion >= 100] = "double"
    out[proportion <= 0] = "single"
    out[(proportion > 0) & (proportion < 100)] = "partial_double"
    return out

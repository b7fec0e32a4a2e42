"""What each grant scheme may pay for each candidate row: eligibility, its reason, and the amounts.

The optimiser, the plan's check and the Plan explorer all ask the same questions of a scheme
(`retrofit.scenario.Scheme`) about a candidate (a home and a package), so they are answered
here once, vectorised over the table:

- **eligible**, and if not, the first rule that says no, in words;
- **payable_gbp**: the cost parts the scheme pays for (`pays_for`; heating only with a heat
  pump where the scheme funds low-carbon heating only);
- **co_funding_gbp**: the owner's share of the whole cost (`co_funding_share` by tenure);
- **grant_max_gbp**: the most the scheme can pay for the row: the payable cost, less what the
  owner must co-fund, within the per-home caps (or the score, for score-based schemes);
- **cap_allowance_gbp**: what the row adds to the scheme's averaged cap (`cap_basis =
  "average"`: the grants of the homes funded may not exceed the sum of their allowances; each
  home alone may then take more than its cap, up to `grant_max_gbp`).

Low income has no column in the stock: the documented proxy is the fuel-poverty probability
(at least `[rules] fuel_poor_probability`) or the IMD decile (at most `[rules]
priority_imd_deciles`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from retrofit.candidates import COST_PARTS
from retrofit.energy import BANDS
from retrofit.errors import RetrofitError
from retrofit.frames import positions
from retrofit.scenario import COST_CATEGORIES, Rules, Scheme

PART_OF = dict(zip(COST_CATEGORIES, COST_PARTS))  # "fabric" -> "cost_fabric_gbp"
TENURE_WORDS = {"owner_occupied": "owner-occupied", "private_rented": "private rented", "social_rented": "social"}


def _listed(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def low_income(candidates: pd.DataFrame, rules: Rules) -> np.ndarray:
    """The proxy for a low-income household: likely fuel poor, or in the most deprived deciles."""
    probability = candidates["fuel_poverty_probability"].to_numpy(dtype="float64") \
        if "fuel_poverty_probability" in candidates else np.zeros(len(candidates))
    decile = candidates["imd_decile"].to_numpy(dtype="float64") if "imd_decile" in candidates \
        else np.full(len(candidates), np.inf)
    return (probability >= rules.fuel_poor_probability) | (decile <= rules.priority_imd_deciles)


def _needs(candidates: pd.DataFrame, columns: list[str], scheme: Scheme) -> None:
    missing = [column for column in columns if column not in candidates]
    if missing:
        raise RetrofitError(f"funding {scheme.name}: the candidate table has no {', '.join(missing)}; appraise the "
                            "stock again (`retrofit appraise`) or add the columns (the candidate table in README)")


def _column(candidates: pd.DataFrame, name: str) -> pd.Series:
    """A text column (categorical or not); an empty text where the table has none."""
    return candidates[name] if name in candidates else pd.Series(np.full(len(candidates), ""), index=candidates.index)


def _isin(column: pd.Series, values) -> np.ndarray:
    """Each value is one of ``values``: looked up once per distinct value (millions of rows)."""
    return positions(list(values), column) >= 0


def _by_value(column: pd.Series, table: dict, missing) -> np.ndarray:
    """``table[value]`` for each value (``missing`` where the table has none), looked up once per distinct value."""
    keys = list(table)
    return np.array([table[key] for key in keys] + [missing])[positions(keys, column)]


def _band_at_least(band: pd.Series, least: np.ndarray) -> np.ndarray:
    """Band letters at least as good as ``least`` (A best); an empty ``least`` asks nothing."""
    have, need = positions(BANDS, band), positions(BANDS, pd.Categorical(least))
    return (need < 0) | ((have >= 0) & (have <= need))


def _heat_pump(candidates: pd.DataFrame) -> np.ndarray:
    return candidates["heat_pump_kw"].to_numpy(dtype="float64") > 0 if "heat_pump_kw" in candidates \
        else np.zeros(len(candidates), dtype=bool)


def scheme_terms(candidates: pd.DataFrame, scheme: Scheme, rules: Rules) -> pd.DataFrame:
    """Per candidate row: eligible, reason, payable_gbp, co_funding_gbp, grant_max_gbp, cap_allowance_gbp."""
    n = len(candidates)
    why = np.zeros(n, dtype=np.int16)  # 0: eligible; k: the k-th reason below said no first
    reasons = [""]

    def refuse(mask: np.ndarray, text: str) -> None:
        if text not in reasons:
            reasons.append(text)
        why[(why == 0) & mask] = reasons.index(text)

    tenure, band_before = _column(candidates, "tenure"), _column(candidates, "band_before")
    heat_pump = _heat_pump(candidates)
    refuse(~_isin(tenure, scheme.tenures),
           f"{scheme.name} funds only {_listed([TENURE_WORDS.get(t, t) for t in scheme.tenures])} homes")
    bands = _isin(band_before, scheme.bands_before)
    band_c = _isin(band_before, ["C"])
    if scheme.band_c_heat_pump_share:
        bands |= band_c & heat_pump
    refuse(~bands, f"{scheme.name} funds homes rated {', '.join(scheme.bands_before)}"
           + (" (C only with a heat pump)" if scheme.band_c_heat_pump_share else ""))
    if scheme.private_rented_bands_before is not None:
        refuse(_isin(tenure, ["private_rented"]) & ~_isin(band_before, scheme.private_rented_bands_before),
               f"{scheme.name} funds private rented homes rated {', '.join(scheme.private_rented_bands_before)}")
    if scheme.low_income_only:
        refuse(~low_income(candidates, rules), f"{scheme.name} funds low-income households only (by proxy: "
               f"fuel-poverty probability at least {rules.fuel_poor_probability:g} or IMD decile at most "
               f"{rules.priority_imd_deciles})")
    if scheme.packages:
        refuse(~_isin(candidates["package_id"], scheme.packages),
               f"{scheme.name} funds only the packages {', '.join(scheme.packages)}")
    if scheme.requires_heat_pump:
        refuse(~heat_pump, f"{scheme.name} funds heat pumps only")
    if scheme.replaces_fuels is not None:
        _needs(candidates, ["main_fuel"], scheme)
        refuse(~_isin(candidates["main_fuel"], scheme.replaces_fuels),
               f"{scheme.name} funds replacing {', '.join(scheme.replaces_fuels)} heating only")
    if scheme.min_band_after:
        least = _by_value(band_before, scheme.min_band_after, "")
        refuse(~_band_at_least(candidates["band_after"], least),
               f"{scheme.name} needs the package to reach "
               + ", ".join(f"{after} from {before}" for before, after in sorted(scheme.min_band_after.items())))

    cost = candidates["cost_gbp"].to_numpy(dtype="float64")
    parts = {category: candidates[PART_OF[category]].to_numpy(dtype="float64") for category in scheme.pays_for
             if PART_OF[category] in candidates}
    if scheme.heating_must_be_low_carbon and "heating" in parts:
        parts["heating"] = np.where(heat_pump, parts["heating"], 0.0)
    if set(scheme.pays_for) == set(COST_CATEGORIES) and not scheme.heating_must_be_low_carbon:
        payable = cost  # a partner's table without cost parts can still be funded in full
    else:
        _needs(candidates, [PART_OF[category] for category in scheme.pays_for], scheme)
        payable = sum(parts.values())
    refuse(payable <= 0, f"{scheme.name} pays for none of this package's costs ({', '.join(scheme.pays_for)})")

    share = _by_value(tenure, scheme.co_funding_share, 0.0).astype("float64")
    co_funding = share * cost
    most = np.minimum(payable, cost - co_funding)
    allowance = _caps(candidates, scheme, parts, most, heat_pump)
    if scheme.gbp_per_annual_bill_saving is not None:
        score = np.maximum(candidates["annual_bill_saving_gbp"].to_numpy(dtype="float64"), 0.0) \
            * scheme.gbp_per_annual_bill_saving
        allowance = np.minimum(allowance, score)
        refuse(score <= 0, f"{scheme.name} scores on bill savings and this package saves nothing on the bill")
    grant_max = most if scheme.cap_basis == "average" else np.minimum(most, allowance)
    eligible = why == 0
    reason = pd.Categorical.from_codes(why, categories=reasons)
    zero = np.where(eligible, 1.0, 0.0)
    return pd.DataFrame({
        "eligible": eligible, "reason": reason, "payable_gbp": payable * zero,
        "co_funding_gbp": co_funding * zero, "grant_max_gbp": np.maximum(grant_max, 0.0) * zero,
        "cap_allowance_gbp": np.maximum(np.minimum(allowance, most), 0.0) * zero,
    }, index=candidates.index, copy=False)  # the arrays are new: stacking them into one block costs seconds


def _caps(candidates: pd.DataFrame, scheme: Scheme, parts: dict[str, np.ndarray], most: np.ndarray,
          heat_pump: np.ndarray) -> np.ndarray:
    """The per-home caps' sum over the scheme's cost groups (uncapped parts count in full)."""
    grouped = {category for key in scheme.cap_gbp if key != "total" for category in key.split("+")}
    if grouped:
        _needs(candidates, [PART_OF[category] for category in scheme.pays_for], scheme)
    if not scheme.cap_gbp:
        allowance = most.copy()
    elif "total" in scheme.cap_gbp:
        allowance = np.full(len(most), scheme.cap_gbp["total"])
    else:
        allowance = np.zeros(len(most))
        capped: set[str] = set()
        for key, cap in scheme.cap_gbp.items():
            group = key.split("+")
            capped.update(group)
            allowance += np.minimum(sum(parts.get(category, 0.0) for category in group), cap)
        for category in set(scheme.pays_for) - capped:
            allowance += parts[category]
    if scheme.off_gas_heating_cap_gbp:
        _needs(candidates, ["main_fuel"], scheme)
        off_gas = ~_isin(candidates["main_fuel"], ["mains_gas"])
        allowance = allowance + np.where(off_gas & heat_pump, scheme.off_gas_heating_cap_gbp, 0.0)
    return allowance


def stacked(first: Scheme, second: Scheme) -> tuple[Scheme, Scheme] | None:
    """Two schemes funding one home (`stacks_with`) never pay for the same cost part: the one that
    pays for fewer parts keeps them (BUS its heat pump) and the other pays only for the rest
    (so BUS never funds a heat pump another grant paid for). None when nothing is left to the other."""
    narrow, wide = (first, second) if len(first.pays_for) <= len(second.pays_for) else (second, first)
    rest = [category for category in wide.pays_for if category not in narrow.pays_for]
    if not rest:
        return None
    wide = wide.model_copy(update={"pays_for": rest})
    return (narrow, wide) if narrow is first else (wide, narrow)


def stack_terms(candidates: pd.DataFrame, first: Scheme, second: Scheme, rules: Rules) -> pd.DataFrame | None:
    """Per candidate row, two schemes funding it together: eligible (for both, each on its own
    parts), each one's most (grant_max_1_gbp, grant_max_2_gbp) and cap allowance, and the
    co-funding (the larger of the two owners' shares). The second grant is trimmed so that the
    grants and the co-funding never exceed the cost. None when the two cannot stack."""
    pair = stacked(first, second)
    if pair is None:
        return None
    one, two = (scheme_terms(candidates, scheme, rules) for scheme in pair)
    eligible = (one["eligible"] & two["eligible"]).to_numpy()
    cost = candidates["cost_gbp"].to_numpy(dtype="float64")
    co_funding = np.maximum(one["co_funding_gbp"].to_numpy(), two["co_funding_gbp"].to_numpy())
    grant_1 = np.minimum(one["grant_max_gbp"].to_numpy(), cost - co_funding)
    grant_2 = np.minimum(two["grant_max_gbp"].to_numpy(), cost - co_funding - grant_1)
    zero = np.where(eligible, 1.0, 0.0)
    return pd.DataFrame({
        "eligible": eligible, "co_funding_gbp": co_funding * zero,
        "grant_max_1_gbp": np.maximum(grant_1, 0.0) * zero, "grant_max_2_gbp": np.maximum(grant_2, 0.0) * zero,
        "cap_allowance_1_gbp": one["cap_allowance_gbp"].to_numpy() * zero,
        "cap_allowance_2_gbp": two["cap_allowance_gbp"].to_numpy() * zero,
    }, index=candidates.index, copy=False)

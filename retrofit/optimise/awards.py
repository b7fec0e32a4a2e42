"""How a plan draws on each award, what £1m more of it would buy, and why any of it is left.

A funding board asks two things of each grant: is all of it used, and if not, why not. The
answer comes from the plan and the prices of the rules at its LP: a scheme with less eligible
work than its award cannot be spent whatever the council does; one whose homes are left out
because the council's share of their cost buys more elsewhere would be drawn on with more
council money; a reached average cap or band C share says which rule of the scheme stops it.
"""

from __future__ import annotations

import numpy as np

from retrofit.optimise.model import COST_UNIT, Model, usage

FULLY_USED_GBP = 1_000.0  # an award within this of its total counts as used


def _millions(amount: float) -> str:
    return f"£{amount / 1e6:,.1f}m" if abs(amount) >= 1e6 else f"£{amount:,.0f}"


def _span(years: list[int]) -> str:
    if not years:
        return "no programme year"
    return str(years[0]) if len(years) == 1 else f"{years[0]}-{years[-1]}"


def award_use(model: Model, relaxed: Model, rows: np.ndarray, years: np.ndarray, lam: np.ndarray,
              scale: float) -> list[dict]:
    """Per funding id of the scenario: awarded, used and unused £, the eligible grant (every
    eligible home once, at its most), the value of £1m more (objective units) and the reason
    in words. ``rows`` and ``years`` are the plan's (model rows, year indices); ``lam`` the
    prices of ``relaxed``'s rules. A rule stops an award when it has a price or the plan fills
    it (prices of a degenerate LP may be 0 on a full rule)."""
    scenario = model.scenario
    priced = {}
    for price, row in zip(lam, relaxed.constraints):
        priced.setdefault(row.rule, []).append((row, float(price)))
    full = {}  # per rule of the phased model: the rows the plan fills (within £1,000 or a hundredth of a home)
    for row, used, limit in zip(model.constraints, usage(model, rows, years), model.rhs):
        if used >= limit - (FULLY_USED_GBP / COST_UNIT if row.money else 0.01):
            full.setdefault(row.rule.split("[")[0], []).append(row)

    def stops(rule: str) -> bool:
        return any(p > 0 for _, p in priced.get(rule, [])) or rule in full
    out = []
    for key in sorted(scenario.funding):
        funding = scenario.funding[key]
        scheme = funding.scheme
        awarded = float(funding.total_gbp)
        used = float(model.grants[key][rows].sum())
        eligible = float(model.home_largest(f"grant:{key}").sum() * COST_UNIT)
        years = funding.spending_years(scenario.year_list)
        spendable = float(sum(funding.year_limits(scenario.year_list)))
        total_price = sum(p for _, p in priced.get(f"funding.{key}.total_gbp", []))
        yearly_price = sum(p for _, p in priced.get(f"funding.{key}.per_year_gbp", []))  # its yearly amounts, summed
        value_of_1m = scale * (total_price + yearly_price) * 1e6 / COST_UNIT
        unused = max(awarded - used, 0.0)
        span = _span(years)
        largest = float(model.grants[key][rows].max(initial=0.0))  # one home's grant: the award's smallest step
        if unused <= FULLY_USED_GBP:
            reason = "fully used"
        elif unused < largest:
            reason = f"fully used ({_millions(unused)} left: less than one home's grant)"
        elif eligible < awarded - FULLY_USED_GBP:
            reason = (f"{_millions(awarded)} awarded but only {_millions(eligible)} of eligible work in {span} "
                      f"(every eligible home at its most): no eligible homes left")
        elif spendable < awarded - FULLY_USED_GBP:
            reason = f"only {_millions(spendable)} of it may be spent in {span} (its yearly amounts)"
        elif stops(f"funding.{key}.cap_gbp"):
            reason = "its average cap per home is reached: the cheaper eligible homes that keep it are used up"
        elif stops(f"funding.{key}.band_c_heat_pump_share"):
            reason = "its band C share is reached: more band D-G homes would have to be funded first"
        elif _council_binds(relaxed, lam) or any(
                row.term == "cost" and row.sign > 0 and (row.year < 0 or model.years[row.year] in years)
                for rule_rows in full.values() for row in rule_rows):
            reason = (f"the eligible homes left need council money (their cost beyond the grant) that buys more "
                      f"elsewhere: more council budget in {span} would draw more of it")
        else:
            reason = (f"the eligible homes left are not worth the rest of their cost, or the capacity in {span} "
                      f"is used")
        out.append({"id": key, "name": scheme.name, "status": scheme.status, "awarded_gbp": awarded,
                    "used_gbp": used, "unused_gbp": unused, "eligible_gbp": eligible,
                    "years": years, "value_of_1m_gbp": value_of_1m, "reason": reason})
    return out


def _council_binds(relaxed: Model, lam: np.ndarray) -> bool:
    """A council budget row of the summed model (in all, or the homes funded within a window) has a price."""
    return any(price > 0 and row.term.split("@")[0] == "cost" and row.sign > 0
               for price, row in zip(lam, relaxed.constraints))

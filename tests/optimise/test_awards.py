"""How a plan draws on each award and why any is left: hand-checkable cases, one per reason."""

import pytest

from retrofit.optimise import optimise
from tests.optimise.helpers import candidates, scenario
from tests.optimise.test_funding_optimise import home


def _use(result, key):
    return next(entry for entry in result.details["funding"] if entry["id"] == key)


def test_an_award_larger_than_the_eligible_work_says_so_in_pounds():
    """Only A (owner, band E, £12,000) is eligible for WHLG: £12,000 of eligible work against £1m."""
    table = candidates([home("A", "p", 12_000, 30), home("B", "p", 8_000, 15, band_before="C")])
    funded = scenario(100_000, funding={"whlg": {"use": "warm_homes_local_grant", "total_gbp": 1_000_000}})
    use = _use(optimise(table, funded), "whlg")
    assert use["awarded_gbp"] == 1_000_000 and use["used_gbp"] == pytest.approx(12_000)
    assert use["eligible_gbp"] == pytest.approx(12_000) and use["unused_gbp"] == pytest.approx(988_000)
    assert use["reason"].startswith("£1.0m awarded but only £12,000 of eligible work in 2026")
    assert use["value_of_1m_gbp"] == pytest.approx(0.0)  # more of it buys nothing


def test_a_fully_used_award_is_worth_more_when_homes_wait_for_it():
    """A and C (owners, £12,000 each) are eligible; the award pays one, the council (£1,000) neither
    alone: the award is used in full and £1m more of it would fund the other home."""
    table = candidates([home("A", "p", 12_000, 30), home("C", "p", 12_000, 20)])
    funded = scenario(1_000, funding={"whlg": {"use": "warm_homes_local_grant", "total_gbp": 12_000}})
    result = optimise(table, funded)
    use = _use(result, "whlg")
    assert use["used_gbp"] == pytest.approx(12_000) and use["reason"] == "fully used"
    assert use["value_of_1m_gbp"] > 0


def test_an_award_left_because_the_council_share_buys_more_elsewhere():
    """D (owner, £40,000 of fabric) may draw at most £15,000 of WHLG (its cap, per home here) and
    needs £25,000 of council money; C (band C, council only) gives more carbon for the council's £8,000."""
    table = candidates([home("D", "p", 40_000, 1), home("C", "p", 8_000, 40, band_before="C")])
    funded = scenario(8_000, funding={"whlg": {"use": "warm_homes_local_grant", "total_gbp": 10_000,
                                                "cap_basis": "per_home"}})
    result = optimise(table, funded)
    use = _use(result, "whlg")
    assert list(result.plan["home_id"]) == ["C"]
    assert use["used_gbp"] == 0
    assert use["eligible_gbp"] >= 15_000
    assert use["reason"].startswith("the eligible homes left need council money")


def test_runs_without_funding_keep_no_funding_details():
    table = candidates([home("A", "p", 12_000, 30)])
    assert optimise(table, scenario(100_000)).details["funding"] == []

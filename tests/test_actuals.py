"""Delivery status files: read as a partner writes them, every problem listed with its line."""

from __future__ import annotations

import io
from datetime import date, datetime

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retrofit.actuals import STATUSES, ActualsError, actuals_summary, check_actuals, read_status_file

CANDIDATES = pd.DataFrame({"home_id": ["A", "A", "B", "C", "D"],
                           "package_id": ["loft", "deep", "loft", "loft", "heat_pump"]})
TODAY = date(2027, 6, 30)


def raw(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


def check(table: pd.DataFrame, start: int = 2026) -> pd.DataFrame:
    return check_actuals(table, CANDIDATES, start, "status.csv", today=TODAY)


def problems(table: pd.DataFrame) -> list[str]:
    with pytest.raises(ActualsError) as caught:
        check(table)
    return [str(p) for p in caught.value.problems]


def test_a_partners_file_reads_as_written():
    table = check(raw(
        "Home_ID , Status,DATE,actual_cost_gbp,package_id\n"
        "A,completed,2027-03-31,\"£12,500.50\",deep\n"     # the last day of programme year 2026
        "B,In progress,01/04/2027,,\n"                      # day first: 1 April 2027, year 2027
        "C,declined,2026-04-01 00:00:00,0,\n"               # an export's date and midnight
        "D,contracted,2026-12-24,8000,\n"))
    assert table["home_id"].tolist() == ["A", "B", "C", "D"]
    assert table["status"].tolist() == ["completed", "in_progress", "declined", "contracted"]
    assert table["date"].dt.strftime("%Y-%m-%d").tolist() == ["2027-03-31", "2027-04-01", "2026-04-01", "2026-12-24"]
    assert table["year"].tolist() == [2026, 2027, 2026, 2026]
    assert table["actual_cost_gbp"].tolist()[0] == 12500.5 and pd.isna(table["actual_cost_gbp"].iloc[1])
    assert table["actual_cost_gbp"].tolist()[2:] == [0.0, 8000.0]
    assert table["package_id"].tolist() == ["deep", None, None, None]


def test_a_spreadsheet_reads_as_the_same_csv(tmp_path):
    rows = pd.DataFrame({"home_id": ["A", "B"], "status": ["completed", "surveyed"],
                         "date": [datetime(2026, 9, 1), "2026-10-02"], "actual_cost_gbp": [9000, None]})
    rows.to_excel(tmp_path / "status.xlsx", index=False)
    rows.assign(date=["2026-09-01", "2026-10-02"]).to_csv(tmp_path / "status.csv", index=False)
    from_xlsx = check(read_status_file(tmp_path / "status.xlsx"))
    from_csv = check(read_status_file(tmp_path / "status.csv"))
    pd.testing.assert_frame_equal(from_xlsx, from_csv)
    assert from_xlsx["date"].dt.strftime("%Y-%m-%d").tolist() == ["2026-09-01", "2026-10-02"]


def test_every_problem_is_listed_with_its_lines():
    found = problems(raw(
        "home_id,status,date,actual_cost_gbp,package_id,notes\n"
        "A,done,2026-13-01,abc,boiler,x\n"        # line 2: status, date, cost, package
        "A,completed,2025-05-01,-5,,\n"           # line 3: A again, before the programme, negative cost
        "Z,completed,2030-01-01,,,\n"             # line 4: unknown home, in the future
        ",declined,2026-05-01,20000000,,\n"))     # line 5: no id, cost too large
    assert found == [
        "the file: notes is not a column of the format; remove it, or rename it to one of home_id, status, date, "
        "actual_cost_gbp, package_id",
        "line 5: home_id is empty; give the home's id as in the plan",
        "line 4: home_id is not a home of this run (not in its candidate table) (found 'Z'); check the id against "
        "the run's export",
        "lines 2, 3: home_id is given on more than one line (found 'A'); keep one row per home (its latest status)",
        "line 2: status is not a status (found 'done'); use one of surveyed | contracted | in_progress | completed "
        "| declined | withdrawn",
        "line 2: date is not a date (found '2026-13-01'); write YYYY-MM-DD (or DD/MM/YYYY)",
        "line 3: date is before the programme starts (1 April 2026) (found '2025-05-01'); check the year",
        "line 4: date is after today (30 June 2027) (found '2030-01-01'); give the date it happened (a status is a "
        "fact, not a forecast)",
        "line 2: actual_cost_gbp is not a number (found 'abc'); give pounds, e.g. 12500 or £12,500.00",
        "lines 3, 5: actual_cost_gbp is outside £0 to £10,000,000 (found -5.0, 20000000.0); give the work's cost "
        "in pounds",
        "line 2: package_id is not a package that applies to the home (found 'A / boiler'); give a package id of "
        "the run's candidate table for that home, or leave it blank for the planned one",
    ]


@pytest.mark.parametrize("text, expected", [
    ("home_id,date\nA,2026-05-01\n", "the file: status is missing; add the column"),
    ("home_id,status,date\n", "the file: home_id has no rows; give one row per home with news"),
])
def test_a_file_without_its_shape_says_so(text, expected):
    assert problems(raw(text)) == [expected]


def test_the_message_names_the_file_and_says_nothing_was_stored():
    with pytest.raises(ActualsError, match=r"status.csv is not a valid delivery status file \(1 problem; "
                                           r"nothing was stored\)"):
        check(raw("home_id,status,date\nA,finished,2026-05-01\n"))


def test_many_bad_lines_are_counted_not_all_printed():
    text = "home_id,status,date\n" + "".join(f"A{i},completed,2026-05-01\n" for i in range(12))
    (only,) = problems(raw(text))
    assert only.startswith("lines 2, 3, 4, 5, 6 and 7 more: home_id is not a home of this run")


def test_the_summary_counts_by_hand():
    plan = pd.DataFrame({"home_id": ["A", "B", "C"], "cost_gbp": [10_000.0, 5_000.0, 7_000.0]})
    actuals = check(raw("home_id,status,date,actual_cost_gbp\n"
                        "A,completed,2026-06-01,12000\n"     # in the plan, costed
                        "B,declined,2026-06-01,\n"           # in the plan, said no
                        "D,contracted,2026-07-01,3000\n"))   # a reserve, costed
    summary = actuals_summary(actuals, plan)
    assert summary["by_status"] == {"contracted": {"homes": 1, "in_plan": 0, "not_in_plan": 1},
                                    "completed": {"homes": 1, "in_plan": 1, "not_in_plan": 0},
                                    "declined": {"homes": 1, "in_plan": 1, "not_in_plan": 0}}
    assert summary["planned_homes_without_news"] == 1  # C
    assert (summary["committed_homes"], summary["committed_homes_with_cost"]) == (2, 2)
    assert summary["committed_actual_cost_gbp"] == 15_000.0
    assert (summary["planned_cost_of_costed_homes_gbp"], summary["costed_homes_in_plan"]) == (10_000.0, 1)


# --- properties -------------------------------------------------------------------------------

HOMES = CANDIDATES["home_id"].unique().tolist()
rows = st.lists(st.tuples(st.sampled_from(STATUSES), st.dates(date(2026, 4, 1), TODAY),
                          st.one_of(st.none(), st.floats(0, 1e7, allow_nan=False).map(lambda x: round(x, 2)))),
                min_size=1, max_size=len(HOMES))
CORRUPTIONS = {  # column -> a value that cell must not hold
    "home_id": ["", "NOT-A-HOME"], "status": ["done", ""], "date": ["2026-02-30", "2026-03-31", "2099-01-01", ""],
    "actual_cost_gbp": ["-1", "twelve", "1e8"],
}


def _file(drawn) -> pd.DataFrame:
    return pd.DataFrame({"home_id": HOMES[:len(drawn)], "status": [s for s, _, _ in drawn],
                         "date": [d.isoformat() for _, d, _ in drawn],
                         "actual_cost_gbp": ["" if c is None else repr(c) for _, _, c in drawn]})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows)
def test_any_valid_file_reads_back_exactly(drawn):
    table = check(_file(drawn))
    assert table["status"].tolist() == [s for s, _, _ in drawn]
    assert table["date"].dt.date.tolist() == [d for _, d, _ in drawn]
    assert table["year"].tolist() == [d.year - (d.month < 4) for _, d, _ in drawn]
    costs = table["actual_cost_gbp"].tolist()
    assert all((c is None and pd.isna(got)) or got == c for (_, _, c), got in zip(drawn, costs))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows, st.data())
def test_one_bad_cell_is_found_on_its_line_and_nothing_else(drawn, data):
    table = _file(drawn)
    line = data.draw(st.integers(0, len(table) - 1))
    column = data.draw(st.sampled_from(sorted(CORRUPTIONS)))
    table.loc[line, column] = data.draw(st.sampled_from(CORRUPTIONS[column]))
    found = problems(table)
    assert len(found) == 1, found
    assert found[0].startswith(f"line {line + 2}: {column} "), found

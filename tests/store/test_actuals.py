"""Delivery actuals are stored as numbered versions per run, whole or not at all, and audited."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from retrofit.actuals import check_actuals
from retrofit.errors import RetrofitError
from retrofit.store import RunInputs, add_scenario, save_run
from retrofit.store.actuals import CHUNK_ROWS, actuals_versions, get_actuals, read_actuals, save_actuals
from retrofit.store.audit import read_events
from retrofit.store.models import ActualRow
from tests.store.plans import make_plan, make_result

SCENARIO = 'name = "pilot"\n[budget]\ntotal_gbp = 1e9\n[years]\nstart = 2026\nend = 2028\n'
INPUTS = RunInputs(candidates_hash="c0ffee")


@pytest.fixture
def run(engine):
    scenario = add_scenario(engine, SCENARIO).record
    return save_run(engine, scenario, make_result(make_plan(30)), INPUTS)


def checked(homes: int, seed: int = 0) -> pd.DataFrame:
    """A checked status table for homes H0000000, H0000001, ... (every status, some costs and packages)."""
    ids = "H" + pd.Series(range(homes)).astype(str).str.zfill(7)
    statuses = ["surveyed", "contracted", "in_progress", "completed", "declined", "withdrawn"]
    raw = pd.DataFrame({
        "home_id": ids,
        "status": [statuses[(i + seed) % 6] for i in range(homes)],
        "date": [f"2026-{4 + (i % 9):02d}-{1 + (i % 28):02d}" for i in range(homes)],
        "actual_cost_gbp": ["" if i % 3 == 0 else f"{1000 + 7.25 * i:.2f}" for i in range(homes)],
        "package_id": ["fabric_deep" if i % 4 == 0 else "" for i in range(homes)],
    })
    candidates = pd.DataFrame({"home_id": ids, "package_id": "fabric_deep"})
    return check_actuals(raw, candidates, 2026, "status.csv", today=date(2027, 6, 30))


def test_actuals_come_back_as_they_were_imported(engine, run):
    table = checked(CHUNK_ROWS + 10)  # more than one insert chunk
    stored = save_actuals(engine, run.id, table, "deliveries/q1.csv", who="ana")
    assert stored.created and stored.record.version == 1 and stored.record.rows == len(table)
    assert stored.record.counts == table["status"].value_counts().reindex(
        ["surveyed", "contracted", "in_progress", "completed", "declined", "withdrawn"]).to_dict()
    back = read_actuals(engine, run.id)
    expected = table.sort_values("home_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(back, expected, check_dtype=False)
    assert back["package_id"].tolist() == expected["package_id"].tolist()  # None stays None
    (event,) = read_events(engine, action_prefix="actuals.")
    assert (event["who"], event["action"], event["target"]) == ("ana", "actuals.import", f"run:{run.id}")
    assert event["details"]["version"] == 1 and event["details"]["rows"] == len(table)


def test_a_new_file_is_the_next_version_and_the_same_content_adds_nothing(engine, run):
    first = save_actuals(engine, run.id, checked(20), "q1.csv").record
    again = save_actuals(engine, run.id, checked(20).iloc[::-1], "q1-again.csv")  # same rows, other order
    assert not again.created and again.record.version == 1
    second = save_actuals(engine, run.id, checked(25, seed=1), "q2.csv").record
    assert [r.version for r in actuals_versions(engine, run.id)] == [1, 2]
    assert get_actuals(engine, run.id).id == second.id and get_actuals(engine, run.id, 1).id == first.id
    assert len(read_actuals(engine, run.id)) == 25 and len(read_actuals(engine, run.id, 1)) == 20
    assert len(read_events(engine, action_prefix="actuals.")) == 2
    with pytest.raises(RetrofitError, match="has no actuals version 3; it has versions 1, 2"):
        get_actuals(engine, run.id, 3)


def test_a_run_without_actuals_says_how_to_import_them(engine, run):
    with pytest.raises(RetrofitError, match=rf"run {run.id} has no actuals yet; import .* `retrofit actuals import"):
        read_actuals(engine, run.id)
    with pytest.raises(RetrofitError, match="no run with id 999"):
        save_actuals(engine, 999, checked(3), "q1.csv")


def test_a_failed_import_keeps_nothing(engine, run):
    table = checked(CHUNK_ROWS + 10)
    broken = table.copy()
    broken.loc[CHUNK_ROWS + 5, "date"] = pd.NaT  # the database refuses it, in the second chunk of rows
    with pytest.raises(Exception, match="(?i)null"):
        save_actuals(engine, run.id, broken, "q1.csv")
    assert actuals_versions(engine, run.id) == []
    assert read_events(engine, action_prefix="actuals.") == []
    with engine.connect() as connection:
        assert connection.execute(ActualRow.__table__.select()).all() == []
    with pytest.raises(RetrofitError, match="give a table checked by"):
        save_actuals(engine, run.id, pd.concat([table, table.iloc[:1]]), "q1.csv")

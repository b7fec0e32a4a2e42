"""A killed writer leaves no half run; two writers at once lose nothing (real processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from retrofit.store import RunInputs, add_scenario, list_runs, open_database, plan_hash, read_plan, save_run
from retrofit.store.runs import CHUNK_ROWS, plan_row_count
from tests.store.plans import make_plan, make_result
from tests.store.writer import SCENARIO, WRITERS

WRITER = Path(__file__).with_name("writer.py")


def test_a_writer_killed_half_way_leaves_no_trace(engine, database_url):
    writer = subprocess.Popen([sys.executable, str(WRITER), database_url, "stall", str(3 * CHUNK_ROWS)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = writer.stdout.readline()
        assert line.startswith("mid-store stored 20,000 of 60,000 plan rows"), line + writer.stderr.read()
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        writer.stdout.close()
        writer.stderr.close()
    assert writer.returncode == -signal.SIGKILL
    assert list_runs(engine) == []
    assert plan_row_count(engine) == 0
    # The database is whole and free: the next run goes in.
    scenario = add_scenario(engine, SCENARIO).record
    run = save_run(engine, scenario, make_result(make_plan(100)), RunInputs(candidates_hash="x"))
    assert plan_row_count(engine) == 100 == run.plan_rows


def test_two_writers_at_once_lose_nothing(engine, database_url, tmp_path):
    runs, homes = 3, 2_000
    ready = tmp_path / "ready"
    ready.mkdir()
    writers = [subprocess.Popen([sys.executable, str(WRITER), database_url, "store", str(runs), str(homes), tag,
                                 str(ready)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for tag in ("left", "right")[:WRITERS]]
    outputs = [w.communicate(timeout=120) for w in writers]
    for writer, (out, err) in zip(writers, outputs):
        assert writer.returncode == 0, err
    reported = dict(line.split()[1:] for out, _ in outputs for line in out.splitlines())
    assert len(reported) == WRITERS * runs

    stored = list_runs(engine)
    assert sorted(str(r.id) for r in stored) == sorted(reported)
    assert {r.created_by for r in stored} == {"left", "right"}
    assert {(r.scenario_name, r.scenario_version) for r in stored} == {("race", 1)}  # one version, not two
    for run in stored:
        plan = read_plan(engine, run.id)
        assert len(plan) == homes == run.plan_rows
        assert plan_hash(plan) == run.plan_hash == reported[str(run.id)]
    assert plan_row_count(engine) == WRITERS * runs * homes
    reopened = open_database(database_url)
    assert len(list_runs(reopened)) == WRITERS * runs
    reopened.dispose()

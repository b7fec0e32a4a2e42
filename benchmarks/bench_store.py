"""Storing and reading back a 100,000-row plan: target under 3 s each way, SQLite and PostgreSQL.

PostgreSQL: RETROFIT_TEST_POSTGRES_URL when set (a database is created on it and dropped),
else a throwaway cluster (`retrofit.testing.throwaway`).
"""

import os
import sys
import tempfile
import uuid
from contextlib import contextmanager, nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import timed, verdict  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from retrofit.testing.synthetic import synthetic_candidates  # noqa: E402
from retrofit.plan import PlanResult, plan_kpis  # noqa: E402
from retrofit.store import RunInputs, add_scenario, open_database, read_plan, save_run  # noqa: E402
from retrofit.testing.throwaway import throwaway_postgres  # noqa: E402

HOMES = 100_000
SCENARIO = 'name = "bench"\n[budget]\ntotal_gbp = 1e10\n[years]\nstart = 2026\nend = 2035\n'


@contextmanager
def postgres_database():
    """A new, empty PostgreSQL database for the benchmark; dropped afterwards."""
    server = os.environ.get("RETROFIT_TEST_POSTGRES_URL")
    with (nullcontext(server) if server else throwaway_postgres()) as url:
        base = make_url(url)
        name = f"retrofit_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield base.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def sqlite_database():
    folder = tempfile.mkdtemp(prefix="retrofit-bench-")
    return nullcontext(f"sqlite:///{folder}/retrofit.db")


# One package per home (the first applies to about 95% of homes): a plan's shape.
candidates = synthetic_candidates(int(HOMES * 1.1), seed=1, packages=1).head(HOMES)
plan = candidates.assign(year=2026 + candidates.index % 10)
result = PlanResult(plan=plan, status="OPTIMAL", objective=1.0, bound=1.0, gap=0.0, solve_seconds=0.0,
                    ideal={}, kpis=plan_kpis(plan), details={})
print(f"plan rows: {len(plan):,} ({len(plan.columns)} columns)")
for label, database in (("SQLite", sqlite_database), ("PostgreSQL", postgres_database)):
    with database() as url:
        engine = open_database(url)
        scenario = add_scenario(engine, SCENARIO).record
        results: dict = {}
        with timed(results, "store"):
            run = save_run(engine, scenario, result, RunInputs(candidates_hash="bench"))
        with timed(results, "read"):
            back = read_plan(engine, run.id)
        assert len(back) == HOMES
        engine.dispose()
    print(f"{label:<10} store: {verdict(results['store'], 3, 's')}")
    print(f"{label:<10} read:  {verdict(results['read'], 3, 's')}")

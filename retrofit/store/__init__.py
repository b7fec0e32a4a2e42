"""Scenarios, runs and reviews in a database: SQLite by default, PostgreSQL by URL.

    engine = open_database()                 # var/retrofit.db, or RETROFIT_DATABASE_URL
    added = add_scenario(engine, toml_text)  # version 1, 2, ... of its name
    run = save_run(engine, added.record, result, RunInputs(candidates_hash=...))
    plan = read_plan(engine, run.id)

Every query lives here: `users` (the people who sign in), `reviews` (review steps and
comments), `audit` (the audit log), `runs`, `scenarios`. Functions that take a Connection run
inside the caller's transaction (`database.writing`), so a service can write a change and its
audit event together; those that take an Engine open their own.
"""

from sqlalchemy.engine import Connection, Engine

from retrofit.store import reviews, users
from retrofit.store.audit import current_user, log_event
from retrofit.store.database import ENV_URL, database_url, describe, open_database
from retrofit.store.models import AuditEvent, Comment, PlanRow, Review, Run, ScenarioVersion, User
from retrofit.store.runs import RunInputs, get_run, list_runs, plan_hash, read_plan, run_rows, save_run
from retrofit.store.scenarios import (
    AddedScenario, add_scenario, get_scenario, list_scenarios, parse, scenario_names, scenario_versions,
)

__all__ = [
    "ENV_URL", "AddedScenario", "AuditEvent", "Comment", "Connection", "Engine", "PlanRow", "Review", "Run",
    "RunInputs", "ScenarioVersion", "User", "add_scenario", "current_user", "database_url", "describe", "get_run",
    "get_scenario", "list_runs", "list_scenarios", "log_event", "open_database", "parse", "plan_hash", "read_plan",
    "reviews", "run_rows", "save_run", "scenario_names", "scenario_versions", "users",
]

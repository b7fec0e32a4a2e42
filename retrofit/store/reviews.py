"""A run's review steps and comments (`review` and `comment` tables): the queries only.

The state machine, who may take a step and what a comment may be on are the rules of
`retrofit.service.review`; it composes these statements inside one `writing` transaction:
the run's row locked first (`lock_run`), then the steps read, the new step or comment
written, and its audit event (`retrofit.store.audit.record_event`) in the same transaction.
Rows come back as dicts of their columns, as stored.
"""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from retrofit.store.models import Comment, PlanRow, Review, Run, ScenarioVersion, utc_now

REVIEWS = Review.__table__
COMMENTS = Comment.__table__


def lock_run(connection: Connection, run_id: int) -> Run | None:
    """The run, its row locked until this transaction ends (PostgreSQL: SELECT ... FOR UPDATE;
    SQLite's BEGIN IMMEDIATE already serialises writers); None when there is no such run."""
    query = select(Run).where(Run.id == run_id)
    if connection.dialect.name == "postgresql":
        query = query.with_for_update()
    row = connection.execute(query).first()
    return None if row is None else Run.model_validate(dict(row._mapping))


def review_steps(connection: Connection, run_id: int) -> list[dict]:
    """Every review step of the run, oldest first."""
    rows = connection.execute(select(Review).where(Review.run_id == run_id).order_by(Review.id)).all()
    return [dict(row._mapping) for row in rows]


def insert_step(connection: Connection, run_id: int, city: str | None, state: str, note: str, by: str) -> None:
    """Add a review step (``city`` None: the final approval), stamped now."""
    connection.execute(insert(REVIEWS).values(run_id=run_id, city=city, state=state, note=note, created_by=by,
                                              created_at=utc_now()))


def newer_versions(connection: Connection, scenario_name: str, scenario_version: int) -> list[int]:
    """The versions of the scenario after ``scenario_version``, in order."""
    return list(connection.execute(select(ScenarioVersion.version).where(
        (ScenarioVersion.name == scenario_name) & (ScenarioVersion.version > scenario_version))
        .order_by(ScenarioVersion.version)).scalars())


def home_place(connection: Connection, run_id: int, home_id: str) -> tuple[str, str | None] | None:
    """(city, LSOA code) of a home in the run's plan; None when the plan does not hold it."""
    row = connection.execute(select(PlanRow.city, PlanRow.lsoa_code).where(
        (PlanRow.run_id == run_id) & (PlanRow.home_id == home_id))).first()
    return None if row is None else (row.city, row.lsoa_code)


def comment_by_id(connection: Connection, comment_id: int) -> dict | None:
    """One comment, of any run."""
    row = connection.execute(select(Comment).where(Comment.id == comment_id)).first()
    return None if row is None else dict(row._mapping)


def run_comments(connection: Connection, run_id: int) -> list[dict]:
    """Every comment on the run, oldest first."""
    rows = connection.execute(select(Comment).where(Comment.run_id == run_id).order_by(Comment.id)).all()
    return [dict(row._mapping) for row in rows]


def insert_comment(connection: Connection, values: dict) -> int:
    """Add a comment (``values``: every column but the id); its new id."""
    return connection.execute(insert(COMMENTS).values(**values).returning(COMMENTS.c.id)).scalar_one()

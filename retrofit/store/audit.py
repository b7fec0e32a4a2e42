"""Who is acting, and the append-only log of what they did."""

from __future__ import annotations

import getpass
import os
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection, Engine

from retrofit.store.database import reading, writing
from retrofit.store.models import AuditEvent, utc_now

ENV_USER = "RETROFIT_USER"


def current_user() -> str:
    """RETROFIT_USER when set (the app sets it to the signed-in user), else the login name."""
    name = os.environ.get(ENV_USER)
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def record_event(connection: Connection, who: str, action: str, target: str = "", details: dict | None = None) -> None:
    """Add one audit event inside the caller's transaction (so it stands or falls with the change)."""
    connection.execute(insert(AuditEvent.__table__).values(
        who=who, action=action, target=target, details=details or {}, created_at=utc_now()))


def log_event(engine: Engine, who: str, action: str, target: str = "", details: dict | None = None) -> None:
    """One audit event in a transaction of its own: for what changes files, not the database
    (a measure library version, an imported stock), or for what the server refused to do."""
    with writing(engine) as connection:
        record_event(connection, who, action, target, details)


def read_events(engine: Engine, *, who: str | None = None, action_prefix: str | None = None,
                since: datetime | None = None, until: datetime | None = None,
                limit: int | None = None) -> list[dict]:
    """Audit events newest first, each as a dict of its columns: by exactly ``who``, with an action
    starting ``action_prefix``, created at ``since`` or later and before ``until``, at most ``limit``."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc())
    if who:
        query = query.where(AuditEvent.who == who)
    if action_prefix:
        query = query.where(AuditEvent.action.startswith(action_prefix))
    if since is not None:
        query = query.where(AuditEvent.created_at >= since)
    if until is not None:
        query = query.where(AuditEvent.created_at < until)
    if limit is not None:
        query = query.limit(int(limit))
    with reading(engine) as connection:
        return [dict(row._mapping) for row in connection.execute(query).all()]

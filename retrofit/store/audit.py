"""Who is acting, and the append-only log of what they did."""

from __future__ import annotations

import getpass
import os

from sqlalchemy import insert
from sqlalchemy.engine import Connection, Engine

from retrofit.store.database import writing
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

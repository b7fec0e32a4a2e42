"""The people who sign in (`app_user` table): the queries only.

Who may be added or changed, and what a sign-in needs, are the rules of
`retrofit.service.access`; it composes these statements inside one `writing` transaction,
with the change's audit event (`retrofit.store.audit.record_event`) in the same one.
Functions that take a Connection run in the caller's transaction; those that take an
Engine read on their own.
"""

from __future__ import annotations

from datetime import timezone

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from retrofit.store.database import reading
from retrofit.store.models import User

# Two people adding (or signing in) the same email at once: both find no user, one insert
# breaks the unique key. Retried (`retrofit.store.database.retrying`), the loser then finds
# the winner's row and is answered in words.
KEY_RACES: tuple[type[BaseException], ...] = (IntegrityError,)

USERS = User.__table__


def _user(row) -> User:
    user = User.model_validate(dict(row._mapping))
    if user.created_at.tzinfo is None:
        user.created_at = user.created_at.replace(tzinfo=timezone.utc)
    return user


def user_by_email(connection: Connection, email: str) -> User | None:
    """The user with this (already normalised) email, active or not."""
    row = connection.execute(select(User).where(User.email == email)).first()
    return None if row is None else _user(row)


def user_with_email_or_name(connection: Connection, email: str, name: str) -> User | None:
    """A user who already has this email or this name (both are unique), if any."""
    row = connection.execute(select(User).where((User.email == email) | (User.name == name))).first()
    return None if row is None else _user(row)


def insert_user(connection: Connection, values: dict) -> int:
    """Add a user (``values``: every column but the id); their new id."""
    return connection.execute(insert(USERS).values(**values).returning(USERS.c.id)).scalar_one()


def update_user(connection: Connection, user_id: int, values: dict) -> None:
    """Set ``values`` (column: new value) on the user with ``user_id``."""
    connection.execute(update(USERS).where(USERS.c.id == user_id).values(**values))


def bind_identity(connection: Connection, user_id: int, subject: str) -> None:
    """Keep the identity provider's fixed id for the person with the user."""
    update_user(connection, user_id, {"identity_subject": subject})


def count_active(connection: Connection, role: str, other_than: int) -> int:
    """How many active users have ``role``, not counting the user with id ``other_than``."""
    return connection.execute(select(func.count()).select_from(User).where(
        (User.role == role) & User.active.is_(True) & (User.id != other_than))).scalar_one()


def active_user(engine: Engine, email: str) -> User | None:
    """The active user with this (already normalised) email, if any."""
    with reading(engine) as connection:
        row = connection.execute(select(User).where((User.email == email) & User.active.is_(True))).first()
    return None if row is None else _user(row)


def all_users(engine: Engine) -> list[User]:
    """Every user, active or not, by role, city and email."""
    with reading(engine) as connection:
        rows = connection.execute(select(User).order_by(User.role, User.city, User.email)).all()
    return [_user(row) for row in rows]

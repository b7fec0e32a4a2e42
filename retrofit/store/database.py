"""Which database, how to connect to it, and bringing its schema up to date.

SQLite by default (a file in `var/`, zero set-up); PostgreSQL, or any SQLAlchemy URL, when
`RETROFIT_DATABASE_URL` (or `--database`) names one. SQLite runs in WAL mode with a busy
timeout, and write transactions start with BEGIN IMMEDIATE so that two writers queue
rather than fail; `retrying` covers what still slips through. A database is created, or
upgraded, by running the Alembic migrations in `migrations/`; every failure a user can fix
(missing folder, read-only file, a damaged file or one that is not a database, newer schema,
unreachable server) becomes a RetrofitError.
"""

from __future__ import annotations

import os
import random
import re
import shlex
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError

from retrofit.errors import RetrofitError
from retrofit.paths import var_dir

ENV_URL = "RETROFIT_DATABASE_URL"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_S = 30  # how long a writer waits for another writer's transaction
CONNECT_TIMEOUT_S = 10  # how long to wait for a PostgreSQL server before saying it is unreachable
RETRY_ATTEMPTS = 5
MIGRATION_LOCK_ID = 804_731_906  # PostgreSQL advisory lock: one process migrates at a time
# SQLite's words for a file it cannot use as a database: not one at all, or a damaged one
# (SQLITE_NOTADB, SQLITE_CORRUPT). Such a file is never written to or "repaired" here.
DAMAGED = ("file is not a database", "database disk image is malformed", "malformed database schema")

T = TypeVar("T")


def default_url() -> str:
    return f"sqlite:///{var_dir() / 'retrofit.db'}"


def database_url(url: str | None = None) -> str:
    """The URL to use: the one given, else RETROFIT_DATABASE_URL, else the SQLite file in var/."""
    return url or os.environ.get(ENV_URL) or default_url()


def describe(url: str | URL) -> str:
    """The URL as it is safe to print (password hidden)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return str(url).split("@")[-1]


def open_database(url: str | None = None) -> Engine:
    """An engine on the database at ``url``, created or migrated to the current schema."""
    url = database_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise RetrofitError(f"database URL {url!r} is not valid: expected e.g. sqlite:///path/retrofit.db "
                            f"or postgresql+psycopg://user@host:5432/dbname") from error
    if parsed.get_backend_name() == "sqlite":
        _check_sqlite_file(parsed)
    try:
        engine = _create_engine(parsed)
    except (NoSuchModuleError, ModuleNotFoundError) as error:
        raise RetrofitError(f"database URL {describe(parsed)}: no driver for {parsed.drivername!r}; "
                            f"use sqlite:/// or postgresql+psycopg://") from error
    try:
        with translate_errors(engine.url):
            migrate(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


def _check_sqlite_file(url: URL) -> None:
    if not url.database or url.database == ":memory:":
        raise RetrofitError("an in-memory SQLite database cannot be shared or kept; give a file, "
                            "e.g. sqlite:///var/retrofit.db")
    path = sqlite_path(url)
    if not path.parent.is_dir():
        raise RetrofitError(f"database folder {path.parent} does not exist; create it (mkdir -p {path.parent}) "
                            f"or set {ENV_URL} to another location")
    if path.exists() and not os.access(path, os.W_OK):
        raise RetrofitError(f"database {path} is read-only; make it writable (chmod u+w {path}) "
                            f"or copy it to a writable location")
    if not path.exists() and not os.access(path.parent, os.W_OK):
        raise RetrofitError(f"cannot create database {path}: folder {path.parent} is read-only; "
                            f"set {ENV_URL} to a writable location")


def sqlite_path(url: URL) -> Path:
    """The file of a SQLite URL, also in its URI form (sqlite:///file:PATH?mode=ro&uri=true)."""
    database = url.database or ""
    if url.query.get("uri") and database.startswith("file:"):
        database = database.removeprefix("file:").split("?")[0]
    return Path(database)


def _create_engine(url: URL) -> Engine:
    if url.get_backend_name() != "sqlite":
        connect_args = {"connect_timeout": CONNECT_TIMEOUT_S} if url.get_backend_name() == "postgresql" else {}
        return create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        # We issue BEGIN ourselves (below): pysqlite's own implicit BEGIN comes too late.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")  # with WAL: atomic and safe if the process dies
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "")
        connection.exec_driver_sql(f"BEGIN {mode}".strip())

    return engine


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """One write transaction: committed as a whole at the end, rolled back on any error.

    On SQLite it takes the write lock at once (BEGIN IMMEDIATE), so a second writer waits
    for the busy timeout instead of failing half-way through.
    """
    with translate_errors(engine.url), engine.execution_options(sqlite_begin="IMMEDIATE").begin() as connection:
        yield connection


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    with translate_errors(engine.url), engine.connect() as connection:
        yield connection


def retrying(action: Callable[[], T], retry_on: tuple[type[BaseException], ...] = ()) -> T:
    """Run ``action``, again after a short random pause when the database was busy.

    Busy means SQLite's lock outlived its timeout, or a PostgreSQL serialisation failure or
    deadlock; ``retry_on`` adds more (e.g. a unique-key race between two writers).
    """
    for attempt in range(RETRY_ATTEMPTS):
        try:
            return action()
        except Exception as error:  # noqa: BLE001 - re-raised below unless it is a busy database
            if attempt == RETRY_ATTEMPTS - 1 or not (_is_busy(error) or isinstance(error, retry_on)
                                                      or isinstance(error.__cause__, retry_on)):
                raise
            time.sleep(random.uniform(0.05, 0.2) * (attempt + 1))
    raise AssertionError("unreachable")


def _is_busy(error: BaseException) -> bool:
    cause = error.__cause__ if isinstance(error, RetrofitError) else error
    if not isinstance(cause, DBAPIError):
        return False
    message = str(cause.orig).lower()
    code = getattr(cause.orig, "sqlstate", None)
    return "database is locked" in message or "database is busy" in message or code in ("40001", "40P01")


@contextmanager
def translate_errors(url: str | URL) -> Iterator[None]:
    """Turn database failures a user can fix into one clear RetrofitError."""
    try:
        yield
    except OperationalError as error:
        raise RetrofitError(_explain(error, url)) from error
    except DBAPIError as error:
        if any(words in str(error.orig).lower() for words in DAMAGED):
            raise RetrofitError(_explain(error, url)) from error
        raise


def _explain(error: DBAPIError, url: str | URL) -> str:
    where = describe(url)
    detail = str(error.orig).strip().splitlines()[0] if str(error.orig).strip() else type(error.orig).__name__
    lowered = detail.lower()
    if make_url(url).get_backend_name() == "sqlite":
        path = sqlite_path(make_url(url))
        if "readonly" in lowered or "read-only" in lowered:
            return f"database {path} is read-only; make it writable (chmod u+w {path}) or use a copy"
        if "database is locked" in lowered:
            return (f"database {path} stayed busy for over {SQLITE_BUSY_TIMEOUT_S} s "
                    f"(another process is writing); try again")

        def aside(suffix: str) -> str:
            return f"mv {shlex.quote(str(path))} {shlex.quote(str(path) + suffix)}"

        if "file is not a database" in lowered:
            return (f"{path} is not a SQLite database (it was left as it is); point {ENV_URL} at a retrofit "
                    f"database, or move the file aside ({aside('.aside')}) so that a new one is created there")
        if any(words in lowered for words in DAMAGED):
            return (f"database {path} is damaged (SQLite: {detail}; truncated or overwritten?) and was left as it "
                    f"is; restore it from a backup, or move it aside ({aside('.damaged')}) so that a new, empty "
                    "one is created")
        return f"cannot use database {path}: {detail}"
    if any(word in lowered for word in ("connection refused", "could not translate", "timeout", "timed out",
                                        "could not connect", "no route", "connection failed",
                                        "name or service not known", "server closed")):
        return (f"cannot reach the database server at {where}: {detail}; start the server or "
                f"set {ENV_URL} (or --database) to one that runs")
    if "does not exist" in lowered and "database" in lowered:
        return f"database {where} does not exist: create it (createdb) or fix {ENV_URL}"
    if "authentication" in lowered or "password" in lowered:
        return f"the database server at {where} refused the login: {detail}; fix the user or password in {ENV_URL}"
    return f"database error on {where}: {detail}"


def _head_on_disk() -> str | None:
    """The newest revision of migrations/versions, read from the files' ``revision`` and ``down_revision``.

    Without importing Alembic (a quarter of a second): enough to see that a database is
    already current. None when the files do not name exactly one head; Alembic decides then.
    """
    revisions, parents = set(), set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        revision = re.search(r"^revision\b[^=\n]*=\s*['\"]([^'\"]+)['\"]", text, re.MULTILINE)
        down = re.search(r"^down_revision\b[^=\n]*=\s*(.+)$", text, re.MULTILINE)
        if revision is None or down is None:
            return None
        revisions.add(revision.group(1))
        parents.update(re.findall(r"['\"]([^'\"]+)['\"]", down.group(1)))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _recorded_revision(engine: Engine) -> str | None:
    """The revision the database records (alembic_version), None when it has none yet."""
    with reading(engine) as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def migrate(engine: Engine) -> str:
    """Bring the schema to the newest revision; returns it. A newer database is an error."""
    head = _head_on_disk()
    if head is not None and _recorded_revision(engine) == head:
        return head  # already current: Alembic is needed only to change the schema
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    scripts = ScriptDirectory.from_config(config)
    head = scripts.get_current_head()
    with engine.execution_options(sqlite_begin="IMMEDIATE").begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        current = MigrationContext.configure(connection).get_current_revision()
        if current == head:
            return head
        if current is not None and current not in {s.revision for s in scripts.walk_revisions()}:
            raise RetrofitError(f"database {describe(engine.url)} has schema revision {current}, newer than this "
                                f"retrofit (knows up to {head}); upgrade retrofit, or use another database")
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    return head


def schema_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with reading(engine) as connection:
        return MigrationContext.configure(connection).get_current_revision()

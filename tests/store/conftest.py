"""Every storage test runs twice: on a SQLite file and on a PostgreSQL database.

PostgreSQL comes from RETROFIT_TEST_POSTGRES_URL when it is set (its user must be allowed
to create databases). Otherwise the session starts a throwaway cluster with the installed
`initdb`/`pg_ctl` (`retrofit.store.throwaway`) and removes it at the end. When neither is
possible the PostgreSQL tests fail (not skip) and say how to get a server.
Each test gets a database of its own, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from retrofit.store import open_database
from retrofit.store.throwaway import NoPostgres, throwaway_postgres

POSTGRES_ENV = "RETROFIT_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def postgres_server():
    """URL of a PostgreSQL server's `postgres` database (started here unless the env names one)."""
    if os.environ.get(POSTGRES_ENV):
        yield os.environ[POSTGRES_ENV]
        return
    try:
        with throwaway_postgres() as url:
            yield url
    except NoPostgres as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """A fresh, empty database's URL: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'retrofit.db'}"
        return
    server = make_url(request.getfixturevalue("postgres_server"))
    name = f"retrofit_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield server.set(database=name).render_as_string(hide_password=False)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture
def engine(database_url):
    """The fresh database, migrated to the current schema."""
    engine = open_database(database_url)
    yield engine
    engine.dispose()

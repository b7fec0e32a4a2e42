"""Shared fixtures: stocks are costly to build, so each is built once per test session; every
storage test runs on a SQLite file and on a PostgreSQL database; one Playwright-driven system
Chromium serves every browser test.

PostgreSQL comes from RETROFIT_TEST_POSTGRES_URL when it is set (its user must be allowed
to create databases). Otherwise the session starts a throwaway cluster with the installed
`initdb`/`pg_ctl` (`retrofit.testing.throwaway`) and removes it at the end. When neither is
possible the PostgreSQL tests fail (not skip) and say how to get a server. Each test gets a
database of its own, dropped afterwards.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from retrofit.paths import ROOT
from retrofit.stock.synthetic import generate_stock
from retrofit.store import open_database
from retrofit.testing.throwaway import NoPostgres, throwaway_postgres

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"]


@pytest.fixture(scope="session", autouse=True)
def generated_files(tmp_path_factory):
    """Generated files (stocks, cached candidates, the default database) go to a folder of this
    session's, never to the checkout's var/; a test that needs its own sets RETROFIT_VAR_DIR."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RETROFIT_VAR_DIR", str(tmp_path_factory.mktemp("var")))
        patch.delenv("RETROFIT_DATABASE_URL", raising=False)
        yield


@pytest.fixture(scope="session")
def full_stock():
    """Every household of the three cities (about 10 s to build)."""
    return generate_stock(seed=1)


@pytest.fixture(scope="session")
def sample_stock():
    """A 5,000-home sample stratified by LSOA, for tests that need variety, not totals."""
    return generate_stock(seed=7, homes=5_000)


# --- every storage test on both databases ------------------------------------------------------

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


# --- a real headless Chromium, shared by every browser test (one Playwright per session) ---

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Screenshots land in test-output/screenshots/ (git-ignored) for a person to look at."""
    folder = ROOT / "test-output" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: install it with `apt-get install -y chromium` (.ci/run does)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    yield page
    context.close()

"""Shared fixtures: stocks are costly to build, so each is built once per test session;
one Playwright-driven system Chromium serves every browser test."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from retrofit.paths import ROOT
from retrofit.stock.synthetic import generate_stock

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"]


@pytest.fixture(scope="session")
def full_stock():
    """Every household of the three cities (about 10 s to build)."""
    return generate_stock(seed=1)


@pytest.fixture(scope="session")
def sample_stock():
    """A 5,000-home sample stratified by LSOA, for tests that need variety, not totals."""
    return generate_stock(seed=7, homes=5_000)


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

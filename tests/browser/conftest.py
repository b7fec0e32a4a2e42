"""A real app server and a real headless Chromium for end-to-end tests.

The server runs `streamlit run app/main.py` on a free port with its own var folder (a
sample stock and a fresh SQLite database), exactly as `make run` starts it. Chromium is the
system's (/usr/bin/chromium, installed by .ci/run); Playwright drives it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from retrofit.paths import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"]


def _free_port() -> int:
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
def app_var_dir(tmp_path_factory, sample_stock) -> Path:
    from retrofit.stock.schema import write_stock

    var = tmp_path_factory.mktemp("app-var")
    write_stock(sample_stock, var / "stock" / "default.parquet")
    return var


@pytest.fixture(scope="session")
def app_url(app_var_dir):
    port = _free_port()
    env = {**os.environ, "RETROFIT_VAR_DIR": str(app_var_dir)}
    env.pop("RETROFIT_DATABASE_URL", None)
    log = open(app_var_dir / "streamlit.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app" / "main.py"), "--server.port", str(port),
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as response:
                if response.status == 200:
                    break
        except OSError:
            time.sleep(0.2)
    else:
        server.kill()
        raise RuntimeError(f"the app did not start; see {app_var_dir / 'streamlit.log'}")
    yield url
    server.terminate()
    server.wait(10)
    log.close()


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

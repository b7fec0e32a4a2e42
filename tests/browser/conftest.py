"""A real app server for end-to-end tests (the browser fixtures are in tests/conftest.py).

The server runs `streamlit run app/main.py` on a free port with its own var folder (a
sample stock and a fresh SQLite database), exactly as `make run` starts it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from retrofit.paths import ROOT
from tests.conftest import free_port

@pytest.fixture(scope="session")
def app_var_dir(tmp_path_factory, sample_stock) -> Path:
    from retrofit.stock.schema import write_stock

    var = tmp_path_factory.mktemp("app-var")
    write_stock(sample_stock, var / "stock" / "default.parquet")
    return var


@pytest.fixture(scope="session")
def app_url(app_var_dir):
    port = free_port()
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



"""A local OpenID Connect provider, and the app signed in through it (real servers, real Chromium).

The provider is `oidc-provider-mock` on 127.0.0.1; it knows the people of the test by their
subject (sub = their email) and returns their email and name claims. The app runs from a
temporary folder whose `.streamlit/secrets.toml` points Streamlit's sign-in at that
provider, exactly as a council's secrets point it at Microsoft Entra ID.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from retrofit.service import access
from retrofit.paths import ROOT
from retrofit.store import open_database
from tests.conftest import free_port
from tests.reviewing import MANAGER, store_run

PEOPLE = [
    {"sub": "cora@coventry.example", "email": "cora@coventry.example", "email_verified": True, "name": "Cora Partner"},
    {"sub": "pat@westmids.example", "email": "pat@westmids.example", "email_verified": True, "name": "Pat Manager"},
    {"sub": "mallory@example.org", "email": "mallory@example.org", "email_verified": True, "name": "Mallory"},
    # registered, but the provider has not verified the email this account claims
    {"sub": "eve-1", "email": "bo@birmingham.example", "email_verified": False, "name": "Eve"},
]
ENTRY = ROOT / "app" / "main.py"


def _wait_for(url: str, process: subprocess.Popen, log: Path, what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode}; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{what} did not start in 60 s; see {log}")


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory):
    """The provider's issuer URL, http://127.0.0.1:PORT."""
    folder = tmp_path_factory.mktemp("oidc")
    port = free_port()
    claims = [arg for person in PEOPLE for arg in ("--user-claims", json.dumps(person))]
    log_path = folder / "oidc.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1",
                                    "--port", str(port), *claims], stdout=log, stderr=subprocess.STDOUT)
    issuer = f"http://127.0.0.1:{port}"
    _wait_for(f"{issuer}/.well-known/openid-configuration", process, log_path, "the OIDC provider")
    yield issuer
    _stop(process)


@pytest.fixture(scope="session")
def signed_in_app(tmp_path_factory, oidc_provider):
    """The app's URL, served from a folder whose secrets configure sign-in through the provider.

    Its database holds one run (four homes in each city, ids BHM-*, COV-*, WLV-*); Cora,
    registered as Coventry's city partner, Pat as programme manager and Bo as Birmingham's partner.
    """
    var = tmp_path_factory.mktemp("auth-var")
    engine = open_database(f"sqlite:///{var / 'retrofit.db'}")
    store_run(engine)
    access.add_user(engine, MANAGER, "cora@coventry.example", "city_partner", "Coventry", name="Cora Partner")
    access.add_user(engine, MANAGER, "pat@westmids.example", "programme_manager", name="Pat Manager")
    access.add_user(engine, MANAGER, "bo@birmingham.example", "city_partner", "Birmingham", name="Bo Partner")
    engine.dispose()

    home = tmp_path_factory.mktemp("auth-app")
    port = free_port()
    (home / ".streamlit").mkdir()
    (home / ".streamlit" / "secrets.toml").write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_hex(32)}"\n'
        'client_id = "retrofit-planner"\n'
        'client_secret = "test-only"\n'
        f'server_metadata_url = "{oidc_provider}/.well-known/openid-configuration"\n', encoding="utf-8")
    env = {**os.environ, "RETROFIT_VAR_DIR": str(var)}
    env.pop("RETROFIT_DATABASE_URL", None)
    log_path = home / "streamlit.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ENTRY), "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
            cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    _wait_for(f"{url}/_stcore/health", server, log_path, "the app")
    yield url
    _stop(server)


def start_server(home: Path, var: Path, *args: str, timeout_s: float = 60) -> subprocess.CompletedProcess:
    """The app's server started from ``home`` (its .streamlit/ folder) and left to stop by itself:
    for settings it must refuse. Killed after ``timeout_s`` (then returncode is -9)."""
    env = {**os.environ, "RETROFIT_VAR_DIR": str(var)}
    env.pop("RETROFIT_DATABASE_URL", None)
    command = [sys.executable, "-m", "streamlit", "run", str(ENTRY), "--server.port", str(free_port()),
               "--server.headless", "true", "--browser.gatherUsageStats", "false", *args]
    try:
        return subprocess.run(command, cwd=home, env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as expired:  # its output is bytes whatever text= says
        def text(output) -> str:
            return output.decode(errors="replace") if isinstance(output, bytes) else output or ""

        return subprocess.CompletedProcess(command, -9, text(expired.stdout), text(expired.stderr))

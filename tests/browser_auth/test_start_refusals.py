"""The server refuses to start on sign-in settings that would open the app, in one line, exit code 2.

Real `streamlit run app/main.py` processes, started from a folder whose `.streamlit/` holds
the settings, as a council's server would be; the refusal is kept in the audit log.
"""

from __future__ import annotations

import secrets
import shutil

import pytest

from retrofit.service import access
from retrofit.paths import ROOT
from retrofit.store import open_database
from tests.browser_auth.conftest import start_server
from tests.reviewing import MANAGER

GOOD_AUTH = ('[auth]\nredirect_uri = "http://127.0.0.1:8501/oauth2callback"\n'
             f'cookie_secret = "{secrets.token_urlsafe(48)}"\n')
PROVIDER = ('client_id = "planner"\nclient_secret = "s3cret-value-of-the-app"\n'
            'server_metadata_url = "https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration"\n')


def refusal(tmp_path, secrets_toml: str | None, *args: str) -> str:
    """The one line the server printed before stopping with code 2."""
    home, var = tmp_path / "home", tmp_path / "var"
    (home / ".streamlit").mkdir(parents=True, exist_ok=True)
    if secrets_toml is not None:
        (home / ".streamlit" / "secrets.toml").write_text(secrets_toml, encoding="utf-8")
    done = start_server(home, var, *args)
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    return errors[0]


@pytest.mark.parametrize("secrets_toml, problem", [
    ("[auth\nredirect_uri = 1\n", "not valid TOML"),
    ("[access]\nprogramme_managers = []\n", "no [auth] section"),
    (GOOD_AUTH + "[auth.microsoft]\nclient_id = \"planner\"\n", "lacks client_secret, server_metadata_url"),
    (GOOD_AUTH + "[auth.microsoft]\n" + PROVIDER.format(tenant="common"), "multi-tenant endpoint 'common'"),
    ('[auth]\nredirect_uri = "http://127.0.0.1:8501/oauth2callback"\ncookie_secret = "test-only-secret"\n'
     "[auth.microsoft]\n" + PROVIDER.format(tenant="9d2c6a4e-1b7f-4c3a-8e5d-2f6b0a9c7e13"),
     "cookie_secret is 16 characters long"),
])
def test_unsafe_sign_in_settings_stop_the_server(tmp_path, secrets_toml, problem):
    line = refusal(tmp_path, secrets_toml)
    assert problem in line and str(tmp_path / "home" / ".streamlit" / "secrets.toml") in line
    engine = open_database(f"sqlite:///{tmp_path / 'var' / 'retrofit.db'}")
    refused = access.audit_events(engine, MANAGER, action="server.start_refused")
    engine.dispose()
    assert len(refused) == 1 and problem in refused["details"].iloc[0]["problem"]


def test_the_example_file_copied_as_it_is_stops_the_server(tmp_path):
    (tmp_path / "home" / ".streamlit").mkdir(parents=True)
    shutil.copy(ROOT / ".streamlit" / "secrets.example.toml", tmp_path / "home" / ".streamlit" / "secrets.toml")
    line = refusal(tmp_path, None)
    assert "cookie_secret is the example file's placeholder" in line and "secrets.token_urlsafe(48)" in line


def test_serving_to_a_network_without_sign_in_is_refused(tmp_path):
    line = refusal(tmp_path, None, "--server.address", "0.0.0.0")
    assert "no sign-in is configured" in line and "127.0.0.1" in line

"""The sign-in settings of `.streamlit/secrets.toml`, checked once per server (rules: `retrofit.service.identity`),
and where the server listens.

Only a missing secrets file means local mode. Anything else that is not safe to serve stops
the server at its start (`refuse_to_start_unless_safe`, called by `app/main.py`), in one line
naming the file and the problem, and the refusal is kept in the audit log. The server listens
on 127.0.0.1 unless told otherwise (`server.address`, which `make run` takes from
RETROFIT_HOST); serving to a network is said at start, and refused without sign-in: everyone
who reached it would be the programme manager.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import os
import sys

import streamlit as st
from streamlit import config

from retrofit.service import identity
from retrofit.errors import RetrofitError
from retrofit.paths import ROOT
from retrofit.store import log_event, open_database

EXAMPLE = ROOT / ".streamlit" / "secrets.example.toml"


@functools.cache
def _checked(secrets_json: str, source: str) -> identity.SignInSettings:
    return identity.check_settings(json.loads(secrets_json), source, EXAMPLE)


def sign_in_settings() -> identity.SignInSettings | None:
    """The checked settings of the secrets Streamlit reads (`st.secrets`); None in local mode.

    A RetrofitError when they are unsafe, or when a secrets file exists but cannot be read
    (it may have changed under a running server): callers refuse, never fall back to local mode.
    """
    files = list(config.get_option("secrets.files"))
    try:
        secrets = st.secrets.to_dict()
    except FileNotFoundError as error:  # Streamlit's "no secrets", also raised for a file it cannot parse
        if any(os.path.exists(f) for f in files):
            identity.read_secrets(files)  # says what is wrong with the file, naming it
            raise RetrofitError(f"the secrets could not be read: {error}") from None
        return None
    source = next((f for f in reversed(files) if os.path.exists(f)), "st.secrets")
    return _checked(json.dumps(secrets, sort_keys=True, default=str), source)


def loopback(address: str) -> bool:
    """Whether a listening address reaches only this machine ("" is every interface)."""
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def refuse_to_start_unless_safe() -> identity.SignInSettings | None:
    """The settings, or one line on stderr naming the file and the problem, and exit code 2.

    Says where the server listens; refuses a network address when no sign-in is configured.
    """
    address = config.get_option("server.address") or ""
    try:
        settings = identity.settings_from_files(list(config.get_option("secrets.files")), EXAMPLE)
        if settings is None and not loopback(address):
            raise RetrofitError(f"server.address is {address or 'every interface'!r} but no sign-in is configured: "
                                f"everyone who reaches this machine would act as the programme manager. Configure "
                                f"sign-in (.streamlit/secrets.toml), or serve on 127.0.0.1 (unset RETROFIT_HOST)")
    except RetrofitError as error:
        print(f"error: not safe to serve: {error}", file=sys.stderr, flush=True)
        _audit_refusal(str(error))
        raise SystemExit(2) from None
    if loopback(address):
        print(f"Serving on {address} only: browsers on this machine. To serve to a network, set RETROFIT_HOST "
              f"(e.g. RETROFIT_HOST=0.0.0.0 make run) with sign-in configured.", file=sys.stderr, flush=True)
    else:
        print(f"Serving to the network on {address or 'every interface'} (RETROFIT_HOST / server.address): "
              f"everyone who reaches it meets the sign-in of {settings.source}.", file=sys.stderr, flush=True)
    return settings


def _audit_refusal(problem: str) -> None:
    try:
        engine = open_database()
    except RetrofitError:
        return  # the database's own problem is reported once the server can start
    try:
        log_event(engine, "server", "server.start_refused", "sign-in settings", {"problem": problem})
    finally:
        engine.dispose()

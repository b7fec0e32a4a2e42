"""An identity provider's metadata on 127.0.0.1, for pages tested with AppTest (which sets the
signed-in person's claims itself): the app reads the provider's issuer from it, as it does
from Microsoft Entra ID's, and trusts a sign-in only from that issuer."""

from __future__ import annotations

import json
import secrets
import threading
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

METADATA_PATH = "/.well-known/openid-configuration"


class _Metadata(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server protocol
        issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        body = json.dumps({"issuer": issuer}).encode() if self.path == METADATA_PATH else b""
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@cache
def issuer() -> str:
    """The provider's issuer URL (started once per test session, in a daemon thread)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Metadata)
    threading.Thread(target=server.serve_forever, daemon=True, name="test-identity-provider").start()
    return f"http://127.0.0.1:{server.server_address[1]}"


@cache
def secrets_toml() -> dict:
    """[auth] for that provider, as a council's secrets.toml holds it for Microsoft Entra ID."""
    return {"auth": {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": secrets.token_urlsafe(48),
                     "client_id": "planner", "client_secret": "test-only",
                     "server_metadata_url": f"{issuer()}{METADATA_PATH}"}}


def claims(email: str, **more) -> dict:
    """A signed-in person's claims as the provider gives them: its issuer, a subject, a verified email."""
    return {"is_logged_in": True, "iss": issuer(), "sub": email, "email": email, "email_verified": True,
            "name": email, **more}

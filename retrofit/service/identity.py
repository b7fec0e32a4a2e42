"""Who someone is: what the planner trusts of its sign-in settings and of an identity provider's claims.

The app signs people in through OpenID Connect (Streamlit's `st.login`, Authlib) with the
settings in `.streamlit/secrets.toml`. A mistake there must never open the app, so the
settings are checked in full before the server serves anyone (`settings_from_files`):

- no secrets file at all: local mode (one local programme manager, said on every page);
- a file that exists but cannot be read or parsed, an `[auth]` section missing or incomplete,
  more than one provider, a placeholder from the example file, a cookie secret that is short
  or guessable, or a multi-tenant Microsoft endpoint: the server does not start.

What a sign-in is trusted for (`trusted_identity`), beyond the token's signature and audience,
which Authlib checks:

- the token's issuer (`iss`) must be the configured provider's, as its metadata names it;
- Microsoft Entra ID: the tenant (`tid`) must be the configured one, whose directory then
  vouches for the sign-in name (`email`, else `preferred_username`); the person is bound to
  their object id (`oid`), which never changes;
- any other provider: the `email` claim only, and only when `email_verified` is true; the
  person is bound to the issuer's subject (`sub`).

The binding (`Identity.subject`) is kept with the user at their first sign-in
(`retrofit.service.access.sign_in`): a later sign-in with the same email and another subject is
refused, so an email that is reassigned, or claimed by someone else's account, opens nothing.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
import urllib.request
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from retrofit.errors import RetrofitError

ENTRA_HOSTS = ("login.microsoftonline.com", "login.microsoftonline.us", "login.partner.microsoftonline.cn")
MULTI_TENANT = ("common", "organizations", "consumers")  # Entra endpoints any Microsoft account can use
COOKIE_SECRET_MIN_CHARS = 32
COOKIE_SECRET_MIN_DISTINCT = 10   # characters: a random 32-character hex string has about 14
COOKIE_SECRET_MIN_BITS_PER_CHAR = 3.0  # Shannon entropy of its characters: random hex about 3.5-4
PLACEHOLDER = re.compile(r"replace|change.?me|example|your[-_ ]|xxxx|tenant-id|<[^>]*>", re.IGNORECASE)
MAKE_SECRET = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'
METADATA_TIMEOUT_S = 10
CHECKED = ("redirect_uri", "client_id", "client_secret", "server_metadata_url")  # must not be the example's


@dataclass(frozen=True)
class Provider:
    """The one identity provider the planner signs people in with."""

    name: str | None          # [auth.NAME]; None for settings directly in [auth]
    metadata_url: str
    tenant: str | None = None  # Microsoft Entra ID: the tenant of the metadata URL (an id or a domain)

    @property
    def entra(self) -> bool:
        return self.tenant is not None


@dataclass(frozen=True)
class SignInSettings:
    """Checked sign-in settings: the file they came from, the provider and the first programme managers."""

    source: str
    provider: Provider
    programme_managers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Identity:
    """A person as a sign-in vouches for them: their email and the provider's fixed id for them."""

    email: str
    subject: str  # "oid:<object id>" (Entra ID) or "sub:<issuer>|<subject>"


def _read(path: Path) -> dict:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise RetrofitError(f"{path}: not UTF-8 text (byte {error.start}); save it as UTF-8 TOML "
                            f"(see .streamlit/secrets.example.toml)") from None
    except OSError as error:
        raise RetrofitError(f"{path}: cannot be read ({error.strerror}); fix its permissions or remove it "
                            f"to run without sign-in") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RetrofitError(f"{path}: not valid TOML ({error}); fix it (see .streamlit/secrets.example.toml) "
                            f"or remove the file to run without sign-in") from None


def _strings(table: Mapping, prefix: str = "") -> dict[str, str]:
    """Every text value of a TOML table, by dotted key."""
    found: dict[str, str] = {}
    for key, value in table.items():
        if isinstance(value, Mapping):
            found.update(_strings(value, f"{prefix}{key}."))
        elif isinstance(value, str):
            found[f"{prefix}{key}"] = value
    return found


def cookie_secret_problem(secret: object, example_values: set[str] = frozenset()) -> str | None:
    """Why ``secret`` may not sign session cookies (anyone who knows it can sign in as anyone), or None."""
    if not isinstance(secret, str) or not secret:
        return "is missing"
    if secret in example_values or PLACEHOLDER.search(secret):
        return "is the example file's placeholder"
    if len(secret) < COOKIE_SECRET_MIN_CHARS:
        return f"is {len(secret)} characters long; it needs at least {COOKIE_SECRET_MIN_CHARS}"
    counts = Counter(secret)
    bits = -sum(n / len(secret) * math.log2(n / len(secret)) for n in counts.values())
    if len(counts) < COOKIE_SECRET_MIN_DISTINCT or bits < COOKIE_SECRET_MIN_BITS_PER_CHAR:
        return "is not random enough (too few different characters)"
    repeats = next((p for p in range(1, len(secret) // 2 + 1) if secret == (secret[:p] * len(secret))[:len(secret)]), 0)
    steps = sum(ord(b) - ord(a) == 1 for a, b in zip(secret, secret[1:]))
    if repeats or steps > len(secret) // 3:
        return "is not random enough (a repeated or sequential pattern)"
    return None


def _provider(auth: Mapping, path: str) -> Provider:
    named = {key: value for key, value in auth.items() if isinstance(value, Mapping)}
    if "client_id" in auth or "server_metadata_url" in auth:
        if named:
            raise RetrofitError(f"{path}: [auth] has provider settings both directly and in "
                                f"[auth.{next(iter(named))}]; keep one provider")
        name, settings = None, auth
    elif len(named) == 1:
        name, settings = next(iter(named.items()))
    elif not named:
        raise RetrofitError(f"{path}: [auth] names no identity provider; add [auth.microsoft] with client_id, "
                            f"client_secret and server_metadata_url (see .streamlit/secrets.example.toml)")
    else:
        raise RetrofitError(f"{path}: [auth] has {len(named)} providers ({', '.join(named)}); the planner signs "
                            f"people in with one: keep only your council's")
    section = "[auth]" if name is None else f"[auth.{name}]"
    missing = [key for key in ("client_id", "client_secret", "server_metadata_url")
               if not isinstance(settings.get(key), str) or not settings.get(key).strip()]
    if missing:
        raise RetrofitError(f"{path}: {section} lacks {', '.join(missing)} (see .streamlit/secrets.example.toml)")
    url = urlparse(settings["server_metadata_url"])
    local = url.hostname in ("localhost", "127.0.0.1", "::1")
    if url.scheme != "https" and not (url.scheme == "http" and local):
        raise RetrofitError(f"{path}: {section} server_metadata_url must be an https:// URL (http only for a "
                            f"provider on this machine)")
    tenant = None
    if url.hostname in ENTRA_HOSTS:
        tenant = url.path.strip("/").split("/")[0] if url.path.strip("/") else ""
        if not tenant or tenant.lower() in MULTI_TENANT:
            raise RetrofitError(f"{path}: {section} server_metadata_url uses the multi-tenant endpoint "
                                f"{tenant or '(none)'!r}: any Microsoft account could sign in. Use your tenant's "
                                f"own: https://{url.hostname}/TENANT-ID/v2.0/.well-known/openid-configuration")
    return Provider(name, settings["server_metadata_url"], tenant)


def read_secrets(files: list[str | Path]) -> tuple[dict, str] | None:
    """The secrets of the files that exist, merged as Streamlit merges them (later files win), and the
    last one's path; None when none exists (local mode). A RetrofitError for one that cannot be read."""
    present = [Path(f) for f in files if Path(f).exists()]
    if not present:
        return None
    merged: dict = {}
    for path in present:
        if path.is_dir():
            raise RetrofitError(f"{path}: secrets kept in a folder are not supported by the planner; use one "
                                f"secrets.toml file")
        for key, value in _read(path).items():
            if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
    return merged, str(present[-1])


def check_settings(secrets: Mapping, source: str, example: str | Path | None = None) -> SignInSettings:
    """The sign-in settings of a secrets file's content, checked in full; a RetrofitError (one line,
    naming ``source``) for anything that would leave the app open or its cookies forgeable."""
    auth = secrets.get("auth")
    if not isinstance(auth, Mapping) or not auth:
        raise RetrofitError(f"{source}: no [auth] section, so nobody could sign in; configure one (see "
                            f".streamlit/secrets.example.toml), or remove the file to run as the local "
                            f"programme manager")
    example_values = set(_strings(_read(Path(example))).values()) if example and Path(example).exists() else set()
    redirect = auth.get("redirect_uri")
    if not isinstance(redirect, str) or not redirect.endswith("/oauth2callback"):
        raise RetrofitError(f"{source}: [auth] redirect_uri must be this app's address ending in /oauth2callback, "
                            f"e.g. https://planner.council.gov.uk/oauth2callback")
    problem = cookie_secret_problem(auth.get("cookie_secret"), example_values)
    if problem:
        raise RetrofitError(f"{source}: [auth] cookie_secret {problem}: anyone who knows it can sign their own "
                            f"cookie as anyone. Make one with {MAKE_SECRET}")
    provider = _provider(auth, source)
    placeholders = sorted(key for key, value in _strings(auth, "auth.").items()
                          if key.rsplit(".", 1)[-1] in CHECKED and (value in example_values or PLACEHOLDER.search(value)))
    if placeholders:
        raise RetrofitError(f"{source}: {', '.join(placeholders)}: still the example file's placeholder; "
                            f"fill in your identity provider's values")
    access = secrets.get("access", {})
    managers = access.get("programme_managers", []) if isinstance(access, Mapping) else None
    if not isinstance(managers, list) or not all(isinstance(m, str) for m in managers):
        raise RetrofitError(f"{source}: [access] programme_managers must be a list of emails")
    return SignInSettings(source, provider, tuple(m.strip().lower() for m in managers))


def settings_from_files(files: list[str | Path], example: str | Path | None = None) -> SignInSettings | None:
    """The checked sign-in settings of the secrets files that exist; None when none does (local mode)."""
    found = read_secrets(files)
    return None if found is None else check_settings(found[0], found[1], example)


# --- a sign-in's claims ---------------------------------------------------------------------

_issuers: dict[str, str] = {}


def provider_issuer(provider: Provider) -> str:
    """The issuer the provider's metadata names (fetched once per process)."""
    if provider.metadata_url not in _issuers:
        try:
            with urllib.request.urlopen(provider.metadata_url, timeout=METADATA_TIMEOUT_S) as response:
                metadata = json.loads(response.read().decode("utf-8"))
        except (OSError, ValueError) as error:
            raise RetrofitError(f"the identity provider's metadata ({provider.metadata_url}) could not be read "
                                f"({error}); sign-in is refused until it can be: try again shortly") from None
        issuer = metadata.get("issuer") if isinstance(metadata, dict) else None
        if not isinstance(issuer, str) or not issuer:
            raise RetrofitError(f"the identity provider's metadata ({provider.metadata_url}) names no issuer; "
                                f"sign-in is refused")
        _issuers[provider.metadata_url] = issuer
    return _issuers[provider.metadata_url]


def _text(claims: Mapping, key: str) -> str:
    value = claims.get(key)
    return value.strip() if isinstance(value, str) else ""


def trusted_identity(claims: Mapping, provider: Provider, issuer: str) -> Identity:
    """The email and fixed id a sign-in's claims vouch for; a RetrofitError saying what is not trusted."""
    if _text(claims, "iss") != issuer:
        raise RetrofitError(f"this sign-in was issued by {_text(claims, 'iss') or 'no issuer'!r}, not by the "
                            f"configured provider ({issuer}); it is refused")
    if provider.entra:
        tenant = _text(claims, "tid")
        expected = issuer.rstrip("/").split("/")[-2] if issuer.rstrip("/").endswith("/v2.0") else provider.tenant
        if not tenant or tenant.lower() != str(expected).lower():
            raise RetrofitError(f"this Microsoft account belongs to tenant {tenant or '(none)'}, not the planner's "
                                f"({expected}); partners sign in as guests of the planner's tenant: ask its "
                                f"administrator to invite you")
        oid = _text(claims, "oid")
        if not oid:
            raise RetrofitError("Microsoft Entra ID gave no object id (oid) for this account; sign-in is refused")
        email = next((_text(claims, key) for key in ("email", "preferred_username") if "@" in _text(claims, key)), "")
        subject = f"oid:{oid.lower()}"
    else:
        if claims.get("email_verified") is not True:
            raise RetrofitError("the identity provider has not verified this account's email (email_verified is "
                                "not true); sign-in is refused. Verify the email with the provider first")
        email = _text(claims, "email")
        sub = _text(claims, "sub")
        if not sub:
            raise RetrofitError("the identity provider gave no subject (sub) for this account; sign-in is refused")
        subject = f"sub:{issuer}|{sub}"
    if "@" not in email:
        raise RetrofitError("the identity provider gave no email for this account; ask its administrator to "
                            "release the email claim")
    return Identity(email.lower(), subject)

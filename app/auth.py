"""Who is using the app: a person signed in through OpenID Connect, or the local programme manager.

Sign-in is Streamlit's own (`st.login`, Authlib), configured by the `[auth]` section of
`.streamlit/secrets.toml` (see `.streamlit/secrets.example.toml` for Microsoft Entra ID).
The settings are checked in full before the server serves anyone (`app/settings.py`; the
rules are `retrofit.service.identity`'s): only a missing secrets file means local mode, one
programme manager with every right, said on every page (`local_mode_banner`). The identity
provider says who someone is, `retrofit.service.identity` what of it is trusted, and the
database (`retrofit.service.access`) what they may do.

`current_principal()` is the one door: `app/navigation.py` calls it before any page is chosen,
so every page, however it is reached, draws nothing until the person is signed in and
registered. Pages call it again for the person (checked again: a role change counts at once)
and pass them to `retrofit.service.access` / `retrofit.service.review`, which refuse what the
role and city do not allow.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import streamlit as st

from app import data
from app.settings import sign_in_settings
from retrofit.service import access, identity
from retrofit.service.access import Principal
from retrofit.errors import RetrofitError

SIGNED_IN = "auth.signed_in_as"  # session key: the email whose sign-in this session has audited


def auth_configured() -> bool:
    """Whether an identity provider is configured (a checked [auth] in .streamlit/secrets.toml)."""
    return _checked_settings() is not None


def _checked_settings() -> identity.SignInSettings | None:
    """The checked settings, or the page stops with the problem: a broken file never means "no sign-in"."""
    try:
        return sign_in_settings()
    except RetrofitError as error:
        st.error(f"Sign-in is misconfigured, so the planner is closed: {error}", icon=":material/block:")
        st.stop()


def provider() -> str | None:
    """The provider to sign in with: None for settings directly in [auth], else its [auth.NAME]."""
    signin = _checked_settings()
    return signin.provider.name if signin else None


def current_principal() -> Principal:
    """The person using this session, checked; the sign-in screen (the page stops) until there is one.

    Called by the navigation on every page run, before any page is chosen or drawn.
    """
    signin = _checked_settings()
    if signin is None:
        return access.local_principal()
    if not st.user.get("is_logged_in"):
        _sign_in_screen()
    engine = data.engine()
    try:
        person = identity.trusted_identity(st.user.to_dict(), signin.provider, identity.provider_issuer(signin.provider))
        if st.session_state.get(SIGNED_IN) != person.email:
            principal = access.sign_in(engine, person.email, st.user.get("name"), signin.programme_managers,
                                       subject=person.subject)
            st.session_state[SIGNED_IN] = principal.email
            return principal
        principal = access.principal_for(engine, person.email, person.subject)  # a role change counts at once
        if principal is None:
            st.session_state.pop(SIGNED_IN, None)
            raise RetrofitError(f"{person.email} may no longer use the planner: the account was deactivated. "
                                f"Ask a programme manager (Admin page)")
        return principal
    except RetrofitError as error:
        st.error(str(error), icon=":material/block:")
        if st.button("Sign out", key="auth.refused.sign_out"):
            st.logout()
        st.stop()


def _sign_in_screen() -> None:
    st.title("Retrofit Programme Planner")
    st.markdown("Sign in with your council account to review the programme. Your role and city are set by the "
                "programme manager.")
    if st.button("Sign in", type="primary", key="auth.sign_in", icon=":material/login:"):
        st.login(provider())
    st.stop()


def local_mode_banner() -> None:
    """A visible warning, when no identity provider is configured, that everyone is the local manager."""
    if auth_configured():
        return
    st.warning(f"**No sign-in is configured**: everyone who opens this app acts as the local programme manager "
               f"(**{access.local_principal().name}**), with every right. To share the app between the cities, "
               f"configure an identity provider in `.streamlit/secrets.toml` (README: *Review, sign-in and "
               f"access*).", icon=":material/lock_open:")


def account_box(principal: Principal) -> None:
    """Who is signed in, as what, and a sign-out button (in the sidebar)."""
    role = access.ROLE_NAMES[principal.role] + (f", {principal.city}" if principal.city else "")
    st.sidebar.caption(f"Signed in as **{principal.name}** ({role})" if not principal.local
                       else f"Local programme manager: **{principal.name}** (no sign-in)")
    if not principal.local and st.sidebar.button("Sign out", key="auth.sign_out", icon=":material/logout:"):
        st.session_state.pop(SIGNED_IN, None)
        st.logout()


# --- the same person, from a request beside the pages (app/served.py) ----------------------

def principal_from_cookies(cookies: Mapping[str, str]) -> Principal | None:
    """Who sent a plain HTTP request, from Streamlit's signed sign-in cookie; None when nobody is signed in.

    The same checks as `current_principal()`: the cookie's signature (the cookie secret), the claims
    `retrofit.service.identity` trusts, and an active registered user bound to that identity.
    """
    from streamlit.auth_util import get_cookie_with_chunks
    from streamlit.web.server.server_util import get_cookie_secret
    from streamlit.web.server.starlette.starlette_app_utils import decode_signed_value

    signin = sign_in_settings()
    if signin is None:
        return access.local_principal()
    secret = get_cookie_secret()

    def one(name: str) -> bytes | None:
        raw = cookies.get(name)
        return None if raw is None else decode_signed_value(secret, name, raw.encode("latin-1"))

    try:
        raw = get_cookie_with_chunks(one, "_streamlit_user")
        claims = json.loads(raw.decode("utf-8")) if raw else None
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(claims, dict) or claims.get("is_logged_in") is not True:
        return None
    try:
        person = identity.trusted_identity(claims, signin.provider, identity.provider_issuer(signin.provider))
        return access.principal_for(data.engine(), person.email, person.subject)
    except RetrofitError:
        return None

"""Who is using the app: a person signed in through OpenID Connect, or the local programme manager.

Sign-in is Streamlit's own (`st.login`, Authlib), configured by the `[auth]` section of
`.streamlit/secrets.toml` (see `.streamlit/secrets.example.toml` for Microsoft Entra ID).
The identity provider says who someone is; the database (`retrofit.access`) says what they
may do: their role and, for a city partner, their city. Without an `[auth]` section the app
runs as one local programme manager, and `local_mode_banner()` says so on every page.

Pages call `current_principal()` and pass the principal to `retrofit.access` / `retrofit.review`,
which refuse what the role and city do not allow.
"""

from __future__ import annotations

from collections.abc import Mapping

import streamlit as st

from app import data
from retrofit import access
from retrofit.access import Principal
from retrofit.errors import RetrofitError

SIGNED_IN = "auth.signed_in_as"  # session key: the email whose sign-in this session has audited


def _secrets(section: str) -> Mapping:
    try:
        return st.secrets.get(section) or {}
    except FileNotFoundError:  # no secrets.toml at all
        return {}


def auth_configured() -> bool:
    """Whether an identity provider is configured ([auth] in .streamlit/secrets.toml)."""
    return bool(_secrets("auth"))


def provider() -> str | None:
    """The provider to sign in with: None for settings directly in [auth], else the first [auth.NAME]."""
    settings = _secrets("auth")
    if "client_id" in settings:
        return None
    named = [name for name, value in settings.items() if isinstance(value, Mapping)]
    return named[0] if named else None


def _claimed_email() -> str | None:
    """The signed-in person's email: `email`, else Entra ID's `preferred_username` (their sign-in name)."""
    for claim in ("email", "preferred_username", "upn"):
        value = st.user.get(claim)
        if value and "@" in str(value):
            return str(value)
    return None


def current_principal() -> Principal:
    """The person using this session; shows the sign-in screen (and stops the page) until there is one."""
    if not auth_configured():
        return access.local_principal()
    if not st.user.get("is_logged_in"):
        _sign_in_screen()
    email = _claimed_email()
    engine = data.engine()
    try:
        if st.session_state.get(SIGNED_IN) != (email or "").lower():
            programme_managers = list(_secrets("access").get("programme_managers", []))
            principal = access.sign_in(engine, email, st.user.get("name"), programme_managers)
            st.session_state[SIGNED_IN] = principal.email
            return principal
        principal = access.principal_for(engine, email)  # a role change or deactivation counts at once
        if principal is None:
            st.session_state.pop(SIGNED_IN, None)
            raise RetrofitError(f"{email} may no longer use the planner: the account was deactivated. "
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

"""Admin: who may sign in as what, and the audit log with its CSV export (programme managers only)."""

from functools import partial

import streamlit as st

from app import auth, data
from app.widgets import attempt
from retrofit.service import access
from retrofit.reference import CITIES
from retrofit.store.models import ROLES

principal = auth.current_principal()
st.title("Admin: users and audit log")
if not access.can(principal, "manage_users"):
    st.error("Only a programme manager may manage users and read the audit log.", icon=":material/block:")
    st.stop()
engine = attempt(data.engine)
if principal.local:
    st.info("No sign-in is configured, so these users cannot sign in yet: they take effect once an identity "
            "provider is set in `.streamlit/secrets.toml`.", icon=":material/info:")

users_tab, audit_tab = st.tabs(["Users", "Audit log"])

with users_tab:
    users = attempt(access.list_users, engine, principal)
    if users.empty:
        st.caption("No user yet. People sign in with their council email; add each one with their role.")
    else:
        st.dataframe(users, hide_index=True, width="stretch", key="admin_users")

    st.markdown("**Add a person**")
    with st.form("admin_add", clear_on_submit=True):
        email_column, name_column, role_column, city_column = st.columns(4)
        email = email_column.text_input("Email (as they sign in)", key="admin_add_email")
        name = name_column.text_input("Name", key="admin_add_name")
        role = role_column.selectbox("Role", ROLES, format_func=access.ROLE_NAMES.get, key="admin_add_role")
        city = city_column.selectbox("City (city partners only)", [None, *CITIES], key="admin_add_city",
                                     format_func=lambda v: "—" if v is None else v)
        if st.form_submit_button("Add"):
            added = attempt(access.add_user, engine, principal, email, role, city, name)
            st.toast(f"Added {added.email} as {access.ROLE_NAMES[added.role]}")
            st.rerun()

    if not users.empty:
        st.markdown("**Change a person**")
        with st.form("admin_change"):
            email_column, role_column, city_column, active_column = st.columns(4)
            who = email_column.selectbox("Email", users["email"].tolist(), key="admin_change_email")
            current = users.set_index("email").loc[who]
            new_role = role_column.selectbox("Role", ROLES, index=ROLES.index(current["role"]),
                                             format_func=access.ROLE_NAMES.get,
                                             key="admin_change_role")
            cities = [None, *CITIES]
            new_city = city_column.selectbox("City (city partners only)", cities, key="admin_change_city",
                                             index=cities.index(current["city"]) if current["city"] in CITIES else 0,
                                             format_func=lambda v: "—" if v is None else v)
            active = active_column.checkbox("May sign in", value=bool(current["active"]), key="admin_change_active")
            forget = st.checkbox("Forget the account they signed in with (their account at the identity provider "
                                 "was replaced: the next sign-in binds the new one)", key="admin_change_forget")
            if st.form_submit_button("Save"):
                changed = attempt(access.change_user, engine, principal, who, role=new_role,
                                  city=new_city if new_role == "city_partner" else None, active=active,
                                  forget_identity=forget)
                st.toast(f"Saved {changed.email}")
                st.rerun()

with audit_tab:
    action_column, who_column, limit_column = st.columns(3)
    action = action_column.text_input("Action starts with", key="admin_audit_action",
                                      placeholder="e.g. review. or sign_in")
    who = who_column.text_input("Who (exact)", key="admin_audit_who")
    limit = limit_column.number_input("Latest events", min_value=10, max_value=100_000, value=500, step=100,
                                      key="admin_audit_limit")
    filters = {"action": action.strip() or None, "who": who.strip() or None}
    events = attempt(lambda: access.audit_events(engine, principal, limit=int(limit), **filters))
    st.caption(f"{len(events):,} events, newest first.")
    st.dataframe(events.assign(details=events["details"].map(str)), hide_index=True, width="stretch",
                 key="admin_audit_table")
    st.download_button("Export the audit log (CSV)", partial(access.audit_csv, engine, principal, **filters),
                       file_name="retrofit-audit-log.csv", mime="text/csv", on_click="ignore", key="admin_audit_csv")
    st.caption("The export holds every matching event (not only the latest shown), and is itself recorded.")

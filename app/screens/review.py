"""City review and sign-off: each city's partner reviews their part of a run; the programme manager signs off.

Everything shown comes through `retrofit.service.access` and `retrofit.service.review` with the signed-in
principal: a city partner gets their own city's homes and threads, and the programme's
aggregates for every city; the library refuses anything else.
"""

import streamlit as st

from app import auth, data
from app.widgets import attempt, choose_run, kpi_tiles, literal
from retrofit.service import access, review
from retrofit.present.format import count, gbp

SHOWN_HOMES = 1_000
HOME_COLUMNS = ["home_id", "lsoa_code", "ward", "tenure", "imd_decile", "package_id", "year", "cost_gbp",
                "annual_co2_t_saved", "fuel_poor_lifted", "band_before", "band_after"]
STATE_ICONS = {"draft": "⚪", "submitted": "🟡", "approved": "🟢", "changes_requested": "🔴"}

principal = auth.current_principal()
engine = attempt(data.engine)
st.title("City review and sign-off")
run_id = choose_run("review_run")
if run_id is None:
    st.stop()

status = attempt(review.review_status, engine, principal, run_id)
st.caption(f"Run #{run_id}: scenario **{literal(status.scenario_name)}** version {status.scenario_version}. "
           "Each city's partner approves their city's part; the programme manager gives the final approval, "
           "which locks the run.")
if status.locked:
    st.success(f"Locked: approved by all three cities and by the programme manager ({literal(status.final.says())}).",
               icon=":material/lock:")
if status.newer_versions:
    st.info(f"Scenario **{literal(status.scenario_name)}** has newer versions ({', '.join(map(str, status.newer_versions))}): "
            "their runs have reviews of their own.", icon=":material/history:")

cols = st.columns(len(status.cities) + 1)
for column, (city, step) in zip(cols, status.cities.items()):
    column.metric(city, f"{STATE_ICONS[step.state]} {step.state.replace('_', ' ')}")
    if step.by:
        column.caption(f"by {step.by}, {step.at:%d %b %Y %H:%M}")
cols[-1].metric("Final approval", "🔒 given" if status.locked else ("ready" if status.all_cities_approved else "waiting"))

# --- the programme, for everyone ---------------------------------------------------------------
st.subheader("The programme (all cities)")
attempt(access.require, principal, "read_aggregates")
run = attempt(data.run, run_id)
kpi_tiles(run.kpis)
by_city, by_year_city = attempt(data.city_year, run_id)
if not by_city.empty:
    st.dataframe(by_city.assign(spend=by_city["spend_gbp"].map(gbp))[
        ["city", "homes", "spend", "annual_co2_t_saved", "fuel_poor_lifted", "jobs_fte_years"]],
        hide_index=True, width="stretch", key="review_by_city")
    with st.expander("By city and year"):
        st.dataframe(by_year_city[["year", "city", "homes", "spend_gbp", "annual_co2_t_saved", "fuel_poor_lifted"]],
                     hide_index=True, width="stretch", key="review_by_year_city")

# --- one city's part, for those who may read its homes --------------------------------------------
cities = access.home_cities(principal)
if not cities:
    st.info("Your role sees the programme's aggregates only.")
    st.stop()
city = cities[0] if len(cities) == 1 else st.segmented_control("City", cities, default=cities[0], key="review_city")
city = city or cities[0]
st.subheader(f"{city}'s part")
homes = attempt(data.plan_rows, principal, run_id, [city])
st.markdown(f"**{count(len(homes), 'homes')}** in {city}, {gbp(homes['cost_gbp'].sum())}.")
if len(homes):
    lsoa_options = sorted(homes["lsoa_code"].dropna().unique())
    chosen_lsoas = st.multiselect("LSOA", lsoa_options, key="review_lsoa")
    shown = homes[homes["lsoa_code"].isin(chosen_lsoas)] if chosen_lsoas else homes
    if len(shown) > SHOWN_HOMES:
        st.caption(f"Showing the {SHOWN_HOMES:,} costliest homes of {len(shown):,}.")
    st.dataframe(shown.nlargest(SHOWN_HOMES, "cost_gbp")[[c for c in HOME_COLUMNS if c in shown]],
                 hide_index=True, width="stretch", key="review_homes")

step = status.cities[city]
with st.container(border=True):
    st.markdown(f"**{city}**")
    st.text(step.says() + (f" — “{step.note}”" if step.note else ""))  # plain text: a note may hold markup
    note = st.text_area("Note (required to request changes)", key="review_note", max_chars=review.NOTE_MAX_CHARS)
    actions = []
    if not status.locked and access.can(principal, "submit_review", city) and step.state in ("draft",
                                                                                             "changes_requested"):
        actions.append(("Submit for sign-off", review.submit))
    if not status.locked and access.can(principal, "decide_review", city) and step.state == "submitted":
        actions += [("Approve", review.approve), ("Request changes", review.request_changes)]
    for column, (label, action) in zip(st.columns(max(len(actions), 1)), actions):
        if column.button(label, key=f"review_{action.__name__}", type="primary" if label == "Approve" else "secondary"):
            attempt(action, engine, principal, run_id, city, note=note)
            st.session_state.pop("review_note", None)
            st.rerun()
    if not actions:
        st.caption("Nothing for you to do on this part now." if not status.locked else "The run is locked.")
    if access.can(principal, "final_approval") and not status.locked:
        if st.button("Final approval (locks the run)", key="review_final", disabled=not status.all_cities_approved,
                     help="Once all three cities have approved."):
            attempt(review.final_approve, engine, principal, run_id, note=note)
            st.rerun()

# --- comments ---------------------------------------------------------------------------------
st.subheader("Comments")
threads = attempt(review.comments_for, engine, principal, run_id)
if threads.empty:
    st.caption("No comment yet.")
for comment in threads.itertuples():
    with st.container(border=True):
        indent = "↳ " * int(comment.depth)
        st.text(f"{indent}#{comment.id} · {comment.author} · {comment.created_at:%d %b %Y %H:%M} · "
                f"on {comment.subject}")
        st.text(comment.text)  # plain text: no markdown, HTML or script is interpreted

if not status.locked:
    with st.form("review_comment", clear_on_submit=True):
        subject = st.radio("On", ["The whole run", f"{city}", "An LSOA", "A home"], horizontal=True,
                           key="review_comment_subject")
        target = st.text_input("LSOA code or home id (for an LSOA or a home)", key="review_comment_target")
        replies = [None, *threads["id"].astype(int).tolist()]
        reply_to = st.selectbox("Reply to", replies, format_func=lambda i: "(a new thread)" if i is None else f"#{i}",
                                key="review_comment_reply")
        body = st.text_area("Comment", max_chars=review.COMMENT_MAX_CHARS, key="review_comment_text")
        if st.form_submit_button("Post comment"):
            where = {"The whole run": {}, "An LSOA": {"lsoa_code": target.strip()},
                     "A home": {"home_id": target.strip()}}.get(subject, {"city": city})
            attempt(review.add_comment, engine, principal, run_id, body, reply_to=reply_to,
                    **({} if reply_to is not None else where))
            st.rerun()

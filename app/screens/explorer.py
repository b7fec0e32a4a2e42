"""Plan explorer: filter the chosen homes, their reserves, see why a home is in or out, download the plan."""

from functools import partial

import streamlit as st

from app import auth, data
from app.widgets import attempt, choose_run, kpi_tiles, literal
from retrofit.present import views
from retrofit.service import access
from retrofit.present.format import count
from retrofit.plan import plan_kpis
from retrofit.errors import RetrofitError

PAGE_ROWS = 200  # homes per page of the table; the downloads hold every home

st.title("Plan explorer")
principal = auth.current_principal()
run_id = choose_run("explorer_run")
if run_id is None:
    st.stop()
plan = attempt(data.plan_rows, principal, run_id)
choices = attempt(data.plan_choices, principal, run_id)
if principal.city:
    st.caption(f"You see the homes of {principal.city} only; the programme's figures are on the Overview.")
run = attempt(data.run, run_id)
schemes = views.run_funding(run.kpis, run.details, partial(data.run_scenario, run_id))
funded = views.has_funding(run.kpis, schemes)

homes_tab, reserves_tab = st.tabs(["Homes", "Reserves"])
with homes_tab:
    with st.container(border=True):
        city_column, ward_column, package_column = st.columns(3)
        cities = city_column.multiselect("City", choices["cities"], key="explore_city")
        wards = ward_column.multiselect("Ward", views.wards_of(choices, cities), key="explore_ward")
        packages = package_column.multiselect("Package", choices["packages"], key="explore_package")
        year_column, tenure_column, imd_column = st.columns(3)
        years = year_column.multiselect("Year", choices["years"], key="explore_year")
        tenures = tenure_column.multiselect("Tenure", choices["tenures"], key="explore_tenure")
        deciles = imd_column.slider("IMD decile (1 = most deprived)", 1, 10, (1, 10), key="explore_imd")

    chosen = views.filter_plan(plan, cities, wards, packages, years, tenures, deciles)
    st.markdown(f"**{count(len(chosen), 'homes')}** of {count(len(plan))} in the plan match.")
    if chosen.empty:
        st.info("No home of the plan matches these filters: widen them (clear a filter or move the IMD range).")
    else:
        kpi_tiles(plan_kpis(chosen))
        if funded:
            st.caption(literal(views.funding_line(plan_kpis(chosen), schemes)))
        pages = -(-len(chosen) // PAGE_ROWS)
        page = 1
        if pages > 1:
            if st.session_state.get("explore_page", 1) > pages:  # fewer pages since the filters changed
                st.session_state["explore_page"] = pages
            left, right = st.columns([1, 4])
            page = left.number_input(f"Page (of {pages:,})", min_value=1, max_value=pages, step=1, key="explore_page")
            first = (page - 1) * PAGE_ROWS + 1
            right.caption(f"Homes {first:,} to {min(page * PAGE_ROWS, len(chosen)):,} of {len(chosen):,}, costliest "
                          f"first, {PAGE_ROWS} a page; **Download** below holds all of them.")
        st.dataframe(views.costliest_page(chosen, page, PAGE_ROWS), hide_index=True, width="stretch",
                     key="explore_table", column_config=views.funding_column_labels(schemes) if funded else None)

with reserves_tab:
    st.markdown("Who to approach when a planned household says no: for each planned home, the next-best eligible "
                "homes not in the plan in the same LSOA (then elsewhere in its ward), best value per £ first, "
                "each to be done in that home's year.")
    lsoas = sorted(plan["lsoa_code"].astype(str).unique())
    lsoa = st.selectbox("Neighbourhood (LSOA)", lsoas, index=None, placeholder="Choose an LSOA of the plan",
                        key="explore_reserves_lsoa")
    if lsoa is not None:
        reserves = attempt(data.reserves, principal, run_id, lsoa)
        if reserves.empty:
            st.info(f"No eligible home outside the plan is left in {lsoa} or its ward: this area has no reserves.")
        else:
            st.markdown(f"**{count(len(reserves), 'reserves')}** for "
                        f"{count(reserves['planned_home_id'].nunique(), 'planned homes')} in {lsoa}.")
            st.dataframe(views.reserve_table(reserves), hide_index=True, width="stretch", key="explore_reserves")
            st.download_button("These reserves (CSV)", partial(views.csv_bytes, reserves),
                               file_name=f"run-{run_id}-reserves-{lsoa}.csv", mime="text/csv", on_click="ignore",
                               key="explore_reserves_csv")

st.subheader("One home: why in, why out")
home_id = st.text_input("Home id", key="explore_home", placeholder="e.g. the first id in the table above")
if home_id.strip():
    visible = access.home_cities(principal) == list(access.CITIES) or (plan["home_id"] == home_id.strip()).any()
    if not visible:
        st.warning(f"No home {home_id.strip()} in the part of the plan you may see.")
        st.stop()
    why = views.explain_home(home_id.strip(), plan, attempt(data.explanation, principal, run_id, home_id.strip()))
    (st.success if why["in_plan"] else st.warning)(why["text"])
    row = plan[plan["home_id"] == home_id.strip()]
    if len(row):
        st.dataframe(row.T.rename(columns=lambda _: "value"), width="stretch")
    if funded:
        st.markdown("**How it is paid for, and which grants could fund it**")
        if len(row):
            split, parts = views.home_split(row.iloc[0], schemes)
            st.markdown(literal(split))  # scheme names are people's text: drawn as written
            st.dataframe(parts, hide_index=True, key="explore_home_split")
        planned = (row.iloc[0]["package_id"], int(row.iloc[0]["year"])) if len(row) else (None, None)
        try:
            st.dataframe(data.funding_eligibility(principal, run_id, home_id.strip(), *planned), hide_index=True,
                         width="stretch", key="explore_home_grants",
                         column_config={"Why": st.column_config.TextColumn(width="large")})
            st.caption(("For the package and year the plan chose. " if len(row) else "For any package that "
                        "applies to this home. ") + "Low income is judged by proxy: the home's fuel-poverty "
                       "probability or its neighbourhood's IMD decile (the stock records no income).")
        except RetrofitError as error:
            st.warning(f"Which grants could fund this home cannot be worked out: {error}")

st.subheader("Download")
if not access.can(principal, "export_plan"):
    st.download_button("These homes (CSV)", partial(views.csv_bytes, chosen), file_name=f"run-{run_id}-filtered.csv",
                       mime="text/csv", on_click="ignore", key="explore_filtered")
    st.stop()
d1, d2, d3, d4 = st.columns(4)
d1.download_button("Plan (CSV)", partial(data.export, principal, run_id, "csv"), file_name=f"run-{run_id}.csv",
                   mime="text/csv", on_click="ignore", key="explore_csv")
d2.download_button("Plan (Excel)", partial(data.export, principal, run_id, "xlsx"), file_name=f"run-{run_id}.xlsx",
                   mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", on_click="ignore",
                   key="explore_xlsx")
d3.download_button("By neighbourhood (GeoJSON)", partial(data.export, principal, run_id, "geojson"),
                   file_name=f"run-{run_id}.geojson", mime="application/geo+json", on_click="ignore", key="explore_geojson")
d4.download_button("These homes (CSV)", partial(views.csv_bytes, chosen),
                   file_name=f"run-{run_id}-filtered.csv", mime="text/csv", on_click="ignore", key="explore_filtered")
st.caption("The CSV and Excel files carry the run's provenance (scenario version, stock and library hashes) "
           "and KPIs; the GeoJSON holds the plan's figures per LSOA.")

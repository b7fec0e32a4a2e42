"""Overview: the programme at a glance for the chosen run."""

from functools import partial

import altair as alt
import streamlit as st

from app import data
from app.widgets import attempt, choose_run, kpi_tiles, literal
from retrofit.present import views
from retrofit.present.format import percent

st.title("Programme overview")

run_id = choose_run("overview_run")
if run_id is None:
    st.stop()

run = attempt(data.run, run_id)
by_city, by_year_city = attempt(data.city_year, run_id)

st.caption(f"Run #{run.id}: scenario **{literal(run.scenario_name)}** version {run.scenario_version}, "
           f"{run.status.lower()} (gap {percent(100 * run.gap, 2)}), solved in {run.solve_seconds:.1f} s "
           f"by {literal(run.created_by)} on {run.created_at:%d %b %Y %H:%M}.")
synthetic = data.synthetic_share(run.stock_source)
if synthetic:
    st.info(f"The housing stock of this run is **synthetic** ({percent(100 * synthetic, 0)} of its homes): every "
            "household of the three cities placed in its real neighbourhood and calibrated to published "
            "statistics. No real home is described; import EPC data on the Data page for real homes.",
            icon=":material/info:")
problems = run.details.get("problems") or []
if problems:
    st.warning("The independent check of the plan found: " + "; ".join(problems))

kpi_tiles(run.kpis)
if "modelled_annual_co2_t_saved" in run.kpis:
    st.caption("Carbon and bill savings are **in use**: each home's energy is calibrated to its neighbourhood's "
               "metered gas and electricity, and each measure saves what measured homes realise. The certificates' "
               "modelled figure is shown beside it; the Data page compares the stock with the meters.")

if run.plan_rows == 0:
    st.info("This run chose no home: the budget or the rules leave nothing to do. Change the scenario and run again.")
    st.stop()

st.subheader("By city")
left, right = st.columns(2)
left.altair_chart(
    alt.Chart(by_city).mark_bar().encode(
        x=alt.X("spend_gbp:Q", title="Spend (£)"), y=alt.Y("city:N", title=None), color=alt.Color("city:N", legend=None),
        tooltip=["city:N", alt.Tooltip("spend_gbp:Q", format=",.0f", title="spend £"),
                 alt.Tooltip("homes:Q", format=",")]),
    width="stretch")
right.altair_chart(
    alt.Chart(by_city).mark_bar().encode(
        x=alt.X("annual_co2_t_saved:Q", title="Carbon saved (tCO2 a year)"), y=alt.Y("city:N", title=None),
        color=alt.Color("city:N", legend=None),
        tooltip=["city:N", alt.Tooltip("annual_co2_t_saved:Q", format=",.0f", title="tCO2/yr"),
                 alt.Tooltip("fuel_poor_lifted:Q", format=",.1f", title="fuel-poor lifted")]),
    width="stretch")
st.table(views.city_table(by_city), hide_index=True)

st.subheader("By year")
measure = st.segmented_control("Show", ["Spend (£)", "Homes", "Carbon (tCO2 a year)", "Fuel-poor lifted",
                                        "Jobs (FTE-years)"], default="Spend (£)", key="overview_measure")
column = {"Spend (£)": "spend_gbp", "Homes": "homes", "Carbon (tCO2 a year)": "annual_co2_t_saved",
          "Fuel-poor lifted": "fuel_poor_lifted", "Jobs (FTE-years)": "jobs_fte_years"}[measure or "Spend (£)"]
st.altair_chart(
    alt.Chart(by_year_city).mark_bar().encode(
        x=alt.X("year:O", title="Programme year"), y=alt.Y(f"{column}:Q", title=measure or "Spend (£)"),
        color=alt.Color("city:N", title="City"),
        tooltip=["year:O", "city:N", alt.Tooltip(f"{column}:Q", format=",.1f")]),
    width="stretch")

shaping = views.binding_table(run.details)
if shaping is not None:
    with st.expander("What shapes each year"):
        st.dataframe(shaping, hide_index=True, width="stretch", key="overview_binding")
        st.caption("The yearly rules the plan meets at their limit (within half a percent): a year's budget, a "
                   "city's homes or trade days, a ramp against the year before. Loosening one of them is what "
                   "would let that year do more.")

risk = views.delivery_table(run.details)
if risk is not None:
    st.subheader("Uptake and cost risk")
    for line in views.delivery_lines(run.details):
        st.markdown(line)
    st.dataframe(risk, hide_index=True, width="stretch", key="overview_risk")
    st.caption("P10 to P90: the range the figure falls in nine times out of ten when each household's decision "
               "and each home's cost are drawn at random (a normal approximation per city and year).")

delivered = attempt(data.delivery, run_id)
if delivered is not None:
    st.subheader("Planned and delivered")
    st.markdown(f"Actuals version {delivered['version']} ({literal(delivered['source'])}): "
                f"{delivered['delivered_homes']:,} planned homes contracted, under way or done, "
                f"£{delivered['delivered_gbp'] / 1e6:,.1f}m.")
    st.altair_chart(
        alt.Chart(delivered["chart"]).mark_bar().encode(
            x=alt.X("year:O", title="Programme year"), xOffset=alt.XOffset("series:N", sort=["Planned"]),
            y=alt.Y("sum(spend_m):Q", title="Spend (£m): planned (pale) and delivered (solid)"),
            color=alt.Color("city:N", title="City"),
            opacity=alt.Opacity("series:N", title=None, sort=["Planned"], scale=alt.Scale(range=[0.4, 1.0])),
            tooltip=["city:N", "year:O", alt.Tooltip("series:N", title="What"),
                     alt.Tooltip("spend_m:Q", format=",.2f", title="£m"), alt.Tooltip("homes:Q", format=",")]),
        width="stretch")
    if delivered["outside"]:
        st.caption(f"{delivered['outside']:,} further homes are reserves taken up (not in this plan, so not shown "
                   "by city); a re-plan from these actuals counts them.")

schemes = views.run_funding(run.kpis, run.details, partial(data.run_scenario, run_id))
if not views.has_funding(run.kpis, schemes):
    st.caption("All of this run's money is the council's: its scenario draws on no grant scheme.")
    st.stop()

st.subheader("How it is paid for")
figures = views.funding_figures(run.kpis, schemes)
for column, (label, value) in zip(st.columns(len(figures)), figures):
    column.metric(label, value)
st.caption("Leverage is the whole investment (council money, grants and owners' co-funding) per £1 of council "
           "money. Assumed money is a future round the programme expects but has not been awarded: it is kept "
           "apart from awarded money here and in every table.")
where = st.segmented_control("City", ["All cities", *by_city["city"]], default="All cities",
                             key="overview_funding_city")
money = views.money_by_source(by_year_city, schemes, "year", None if where in (None, "All cities") else where)
sources = list(views.source_labels(schemes).values())
st.altair_chart(
    alt.Chart(money).mark_bar().encode(
        x=alt.X("year:O", title="Programme year"), y=alt.Y("sum(money_m):Q", title="Money (£m)"),
        color=alt.Color("source:N", title="Paid by", scale=alt.Scale(domain=sources), sort=sources),
        order=alt.Order("order:Q"),
        tooltip=["year:O", alt.Tooltip("source:N", title="Paid by"),
                 alt.Tooltip("money_m:Q", format=",.2f", title="£m")]),
    width="stretch")
# scheme names are people's text: shown in tables that draw no Markdown
st.dataframe(views.money_table(by_city, schemes), hide_index=True, width="stretch", key="overview_money")
with st.expander("By city and year"):
    st.dataframe(views.money_table(by_year_city, schemes, ["year", "city"], total=False), hide_index=True,
                 width="stretch", key="overview_money_years")

st.markdown("**Grant left unused, and why**")
st.dataframe(views.unused_table(schemes), hide_index=True, width="stretch", key="overview_unused",
             column_config={"Why any is left": st.column_config.TextColumn(width="large")})

"""Scenario builder: every setting of a scenario as a form; save it as a new version and run it."""

from datetime import date
from pathlib import Path

import streamlit as st

from app import auth, data, warmup
from app.widgets import attempt, job_progress, literal
from retrofit import pipeline
from retrofit.present import scenario_form
from retrofit.service import access, workspace
from retrofit.candidates import TRADES
from retrofit.delivery import default_uptake
from retrofit.energy import BANDS
from retrofit.errors import RetrofitError
from retrofit.present.format import count, gbp, percent, tonnes
from retrofit.reference import CITIES
from retrofit.scenario import Scenario, scenario_to_toml
from retrofit.store import add_scenario, get_scenario, parse, scenario_names, scenario_versions
from retrofit.stock.schema import TENURES

st.title("Scenario builder")
principal = auth.current_principal()
attempt(access.require, principal, "edit_scenarios")
engine = attempt(data.engine)
NEW = "(a new scenario)"

# --- which scenario, stock and library -------------------------------------------------------
names = attempt(scenario_names, engine)
if st.session_state.get("builder_name") not in names + [NEW]:
    st.session_state.pop("builder_name", None)
top = st.columns([2, 1, 2, 2])
name = top[0].selectbox("Start from scenario", names + [NEW], key="builder_name")
if name != NEW:
    versions = [v.version for v in attempt(scenario_versions, engine, name)]
    if st.session_state.get("builder_version") not in versions:
        st.session_state["builder_version"] = versions[-1]
    version = top[1].selectbox("Version", versions[::-1], key="builder_version")
    record = attempt(get_scenario, engine, name, version)
    base, base_id = parse(record), f"{name}@{version}"
else:
    version, record = None, None
    base = Scenario.model_validate({"name": "New scenario", "budget": {"total_gbp": 100_000_000},
                                    "years": {"start": 2026, "end": 2030}})
    base_id = NEW
stocks = [str(p) for p in workspace.stock_files()]
if not stocks:
    st.error(f"No housing stock in {Path(data.default_stock()).parent}. Run `make stock`, or import EPC data on the "
             "Data page, then come back.")
    st.stop()
stock = top[2].selectbox("Housing stock", stocks, format_func=lambda p: Path(p).name, key="builder_stock")
libraries = attempt(workspace.library_versions)
library = top[3].selectbox("Measure library", [v["key"] for v in libraries], key="builder_library",
                           format_func=lambda k: next(f"{v['version']} ({v['note'] or 'saved'})" for v in libraries
                                                      if v["key"] == k))
packages = attempt(data.package_ids, library)

# --- the form's values: from the chosen version, once ----------------------------------------
FUNDING = scenario_form.FUNDING
KEYS = list(scenario_form.to_form(base, packages))


def set_funding(values: dict) -> None:
    """Replace the form's funding sections with those of ``values`` (after an add or a remove)."""
    for key in [k for k in st.session_state if str(k).startswith(f"f.{FUNDING}.")]:
        del st.session_state[key]
    st.session_state.update({f"f.{k}": v for k, v in values.items() if k == FUNDING or k.startswith(f"{FUNDING}.")})


if st.session_state.get("builder_base") != (base_id, library) or f"f.{KEYS[0]}" not in st.session_state:
    values = scenario_form.to_form(base, packages)
    set_funding(values)
    st.session_state.update({f"f.{k}": v for k, v in values.items()})
    st.session_state["builder_base"] = (base_id, library)
    st.session_state.pop("builder_errors", None)


def form_values() -> dict:
    keys = scenario_form.form_keys(KEYS, st.session_state.get(f"f.{FUNDING}") or [])
    return {k: st.session_state.get(f"f.{k}") for k in keys}


def add_scheme() -> None:
    values, error = scenario_form.add_funding(form_values(), st.session_state.get("builder_add_scheme"),
                                              st.session_state.get("builder_add_id") or "")
    st.session_state["builder_add_error"] = error
    if error is None:
        set_funding(values)
        st.session_state["builder_add_id"] = ""
        st.session_state["builder_funding_open"] = values[FUNDING][-1]


def remove_scheme(funding_id: str) -> None:
    set_funding(scenario_form.remove_funding(form_values(), funding_id))
    prefix = f"{FUNDING}.{funding_id}"
    errors = st.session_state.get("builder_errors") or {}
    st.session_state["builder_errors"] = {k: v for k, v in errors.items()
                                          if k != prefix and not k.startswith(prefix + ".")}


def scale_to_stock(factor: float) -> None:
    scenario, errors = scenario_form.from_form(form_values(), packages)
    if scenario is None:
        st.session_state["builder_errors"] = errors
        return
    scaled = workspace.scale_scenario(scenario, factor)
    st.session_state.update({f"f.{k}": v for k, v in scenario_form.to_form(scaled, packages).items()})


def submit(run: bool) -> None:
    """Validate, store as the next version and (when asked) start the run in a background job."""
    st.session_state.pop("builder_message", None)
    st.session_state.pop("builder_add_error", None)
    scenario, errors = scenario_form.from_form(form_values(), packages)
    st.session_state["builder_errors"] = errors
    if scenario is None:
        return
    try:
        added = add_scenario(engine, scenario_to_toml(scenario), source="scenario builder", who=principal.who)
    except RetrofitError as error:
        st.session_state["builder_errors"] = {scenario_form.TOP: [str(error)]}
        return
    saved = added.record
    st.session_state["builder_message"] = (
        f"Saved **{saved.name}** as version {saved.version}." if added.created
        else f"**{saved.name}** version {saved.version} already has these settings; nothing new to save.")
    st.session_state["builder_name"], st.session_state["builder_version"] = saved.name, saved.version
    st.session_state["builder_base"] = (f"{saved.name}@{saved.version}", library)
    if run:
        start_run(saved.name, saved.version)


def start_run(run_name: str, run_version: int) -> None:
    def work(progress, cancel):
        stored = pipeline.run_scenario(engine, run_name, run_version, stock=stock, library=library,
                                       who=principal.who, progress=progress, cancel=cancel)
        if stored is None:
            return None
        warmup.after_storing(stored.id, progress)  # its pages ready by the time they are opened
        return stored.id

    job = data.job_board().submit(f"Run {run_name} v{run_version}", work)
    st.session_state["builder_job"] = job.id


homes = attempt(pipeline.stock_homes, stock)
full = workspace.full_stock_homes()
if homes < 0.9 * full:
    note, button = st.columns([4, 1])
    note.info(f"This stock holds {count(homes, 'homes')}; the example scenarios are sized for all "
              f"{count(full, 'households')} of the three cities. Scale the budget and capacity to this stock "
              f"before running (shares and rules stay as they are).")
    button.button("Scale to this stock", on_click=scale_to_stock, args=(homes / full,), key="builder_scale")

# --- the form ---------------------------------------------------------------------------------
errors = st.session_state.get("builder_errors", {})
if errors:
    st.error("Some settings need fixing: see the messages next to the fields.")
for message in errors.get(scenario_form.TOP, []):
    st.error(message)


shown: set[str] = set()  # error keys shown next to their field


def explain(key: str, where=st) -> None:
    shown.add(key)
    for message in errors.get(key, []):
        where.error(message, icon=":material/error:")


def rule_field(where, funding_id: str, rule, use: str | None, changed: list[str]) -> None:
    """One scheme rule's widget(s), its errors, and what the shipped scheme says when it differs."""
    names = rule.fields
    key = f"f.{scenario_form.field(funding_id, names[0])}"
    tip = scenario_form.rule_help(rule, use, funding_id)
    words = scenario_form.choice_words(rule.key)
    if rule.kind == "text":
        where.text_input(rule.label, key=key, help=tip)
    elif rule.kind == "choice":
        where.selectbox(rule.label, list(words), format_func=words.get, key=key, help=tip)
    elif rule.kind == "date":
        where.date_input(rule.label, min_value=date(2000, 1, 1), max_value=date(2100, 12, 31), format="DD/MM/YYYY",
                         key=key, help=tip)
    elif rule.kind == "many":
        where.multiselect(rule.label, scenario_form.rule_choices(form_values(), funding_id, rule.key, packages),
                          format_func=lambda v: words.get(v, str(v)), key=key, help=tip,
                          placeholder="none chosen")
    elif rule.kind == "flag":
        where.checkbox(rule.label, key=key, help=tip)
    elif rule.kind == "pct":
        where.number_input(rule.label, min_value=0.0, max_value=100.0, step=5.0, format="%.1f", key=key, help=tip)
    elif rule.kind == "price":
        where.number_input(rule.label, min_value=0.0, step=1.0, value=None, key=key, help=tip,
                           placeholder="not score-based")
    elif rule.kind == "caps":
        where.text_area(rule.label, key=key, help=tip, height=80, placeholder="no cap")
    elif rule.kind == "shares":
        where.caption(rule.label, help=tip)
        for column, name, tenure in zip(where.columns(len(names)), names, scenario_form.TENURE_WORDS.values()):
            column.number_input(tenure, min_value=0.0, max_value=100.0, step=5.0, format="%.1f",
                                key=f"f.{scenario_form.field(funding_id, name)}")
    else:  # gbp, bands: text
        where.text_input(rule.label, key=key, help=tip, placeholder="none")
    for name in names:
        explain(scenario_form.field(funding_id, name), where)
    if rule.key in changed:
        where.caption(f"Changed; shipped: {scenario_form.shipped_words(use, rule.key)}")


def funding_section(funding_id: str) -> None:
    """One [funding.<id>] section: its award, every rule, and the shipped rules with their sources."""
    values = form_values()
    use = values.get(scenario_form.field(funding_id, "use"))
    row = next(r for r in scenario_form.funding_rows(values) if r["id"] == funding_id)
    changed = scenario_form.overridden(values, funding_id)
    prefix = f"{FUNDING}.{funding_id}"
    broken = any(k == prefix or k.startswith(prefix + ".") for k in errors)
    title = (f"**{literal(funding_id)}**: {literal(row['scheme'])} · {literal(row['award'])} · {row['years']} · "
             f"{row['status']}")
    with st.expander(title, expanded=broken or st.session_state.get("builder_funding_open") == funding_id):
        if scenario_form.shipped(use) is None:
            st.caption("Its own rules (no shipped scheme): every rule is saved with the scenario.")
        else:
            st.caption(f"Uses the shipped scheme **{literal(row['shipped'])}**" + (
                f"; changed: {literal(row['changed'])}." if row["changed"] else "; every rule as shipped."))
        explain(prefix)
        rules = {rule.key: rule for rule in scenario_form.RULES}
        a1, a2, a3, a4 = st.columns([2, 2, 2, 1])
        labels = scenario_form.AWARD_LABELS
        a1.text_input(labels["total_gbp"], key=f"f.{scenario_form.field(funding_id, 'total_gbp')}",
                      help=scenario_form.award_help("total_gbp", funding_id), placeholder="e.g. £40,000,000")
        explain(scenario_form.field(funding_id, "total_gbp"), a1)
        a2.multiselect(labels["years"], scenario_form.rule_choices(values, funding_id, "years"),
                       key=f"f.{scenario_form.field(funding_id, 'years')}",
                       help=scenario_form.award_help("years", funding_id), placeholder="the years its window overlaps")
        explain(scenario_form.field(funding_id, "years"), a2)
        rule_field(a3, funding_id, rules["status"], use, changed)
        a4.form_submit_button("Remove", on_click=remove_scheme, args=(funding_id,), key=f"builder_remove_{funding_id}")
        st.text_area(labels["per_year_gbp"], key=f"f.{scenario_form.field(funding_id, 'per_year_gbp')}",
                     help=scenario_form.award_help("per_year_gbp", funding_id), height=80,
                     placeholder="e.g.\n2026: £20,000,000\n2027: £20,000,000")
        explain(scenario_form.field(funding_id, "per_year_gbp"))
        for heading, group in (("Which homes", "homes"), ("What it pays", "costs"),
                               ("Co-funding and stacking", "cofunding"), ("Scheme and window", "window")):
            st.markdown(f"**{heading}**")
            group_rules = [rule for rule in scenario_form.RULES if rule.group == group]
            for rule in (rule for rule in group_rules if rule.kind == "shares"):
                rule_field(st, funding_id, rule, use, changed)
            columns = st.columns(2)
            for n, rule in enumerate(rule for rule in group_rules if rule.kind != "shares"):
                rule_field(columns[n % 2], funding_id, rule, use, changed)
        sources = scenario_form.rule_rows(use)
        if sources:
            st.markdown("**Shipped rules and their sources**")
            st.markdown("| Rule | Shipped | Source |\n|---|---|---|\n" + "\n".join(
                f"| {literal(r['label'])} | {literal(r['shipped'])} | {literal(r['source'])}"
                + "".join(f" [link]({url})" for url in r["links"]) + " |" for r in sources))
        for key in sorted(k for k in errors if (k == prefix or k.startswith(prefix + ".")) and k not in shown):
            explain(key)


# Enter in a field does not submit: it would press the form's first button, a scheme's Remove.
with st.form("scenario_form", border=True, enter_to_submit=False):
    st.subheader("Scenario")
    left, right = st.columns([1, 2])
    left.text_input("Name", key="f.name", help="Saving under a new name starts version 1 of it.")
    explain("name", left)
    right.text_input("Description", key="f.description")

    st.subheader("Budget and years")
    c1, c2, c3, c4 = st.columns([1, 3, 1, 1])
    c1.number_input("Total budget (£m)", min_value=0.0, step=10.0, key="f.budget.total_gbp_m", value=None)
    explain("budget.total_gbp_m", c1)
    c2.text_input("Budget per year (£m, one per programme year, comma-separated; empty: no yearly cap)",
                  key="f.budget.per_year_gbp_m")
    explain("budget.per_year_gbp_m", c2)
    c3.number_input("First year", min_value=2000, max_value=2100, step=1, key="f.years.start")
    explain("years.start", c3)
    c4.number_input("Last year", min_value=2000, max_value=2100, step=1, key="f.years.end")
    explain("years.end", c4)
    explain("budget")
    explain("years")

    st.subheader("Funding")
    st.caption("Grant schemes the programme draws on, beside the council's own money (the budget above). "
               "Each takes a shipped scheme's rules; change any of them here, and only the changes are saved.")
    funding_ids = st.session_state.get(f"f.{FUNDING}") or []
    if funding_ids:
        st.dataframe(scenario_form.funding_rows(form_values()), hide_index=True, width="stretch",
                     key="builder_funding_list", column_config={
                         "id": "Id", "scheme": "Scheme", "shipped": "Shipped scheme used", "award": "Award",
                         "years": "Years it may be spent", "status": "Status", "changed": "Rules changed"})
    else:
        st.info("No grant funding: the plan is paid from the council's budget alone. Add a shipped scheme below.")
    for funding_id in funding_ids:
        funding_section(funding_id)
    shipped_rows = scenario_form.shipped_scheme_rows()
    names_by_id = {r["id"]: r["name"] for r in shipped_rows}
    n1, n2, n3 = st.columns([3, 2, 1], vertical_alignment="bottom")
    n1.selectbox("Add a shipped scheme", list(names_by_id), format_func=names_by_id.get, key="builder_add_scheme")
    n2.text_input("Its id in this scenario (optional)", key="builder_add_id",
                  help="A short name for the section, e.g. whlg: other sections' 'may fund together with' name it. "
                       "Empty: the scheme's initials.")
    n3.form_submit_button("Add scheme", on_click=add_scheme, key="builder_add")
    if st.session_state.get("builder_add_error"):
        st.error(st.session_state["builder_add_error"], icon=":material/error:")
    with st.expander("Shipped schemes and their sources"):
        for r in shipped_rows:
            st.markdown(f"**{literal(r['name'])}** (`{r['id']}`), {literal(r['window'])}: {literal(r['summary'])}  \n"
                        f"Source: {literal(r['source'])}" + "".join(f" [link]({url})" for url in r["links"]))
    explain(FUNDING)

    st.subheader("Objective weights")
    w1, w2, w3, w4 = st.columns(4)
    w1.slider("Carbon (lifetime tCO2)", 0.0, 3.0, step=0.1, key="f.weights.carbon")
    explain("weights.carbon", w1)
    w2.slider("Fuel poverty (households lifted)", 0.0, 3.0, step=0.1, key="f.weights.fuel_poverty")
    explain("weights.fuel_poverty", w2)
    w3.slider("Jobs (FTE-years)", 0.0, 3.0, step=0.1, key="f.weights.jobs")
    explain("weights.jobs", w3)
    w4.selectbox("Normalise", ["ideal", "none"], key="f.weights.normalise",
                 help="ideal: each objective divided by its best value alone, so weight 1 on each gives each an "
                      "equal say; none: the raw weighted sum.")
    explain("weights")

    st.subheader("Cities: budget shares and delivery capacity")
    for column, city in zip(st.columns(3), CITIES):
        with column.container(border=True):
            st.markdown(f"**{city}**")
            min_column, max_column = st.columns(2)
            min_column.number_input("Min share of budget (%)", min_value=0.0, max_value=100.0, step=1.0, value=None,
                                    key=f"f.cities.{city}.min_share_pct")
            max_column.number_input("Max share of budget (%)", min_value=0.0, max_value=100.0, step=1.0, value=None,
                                    key=f"f.cities.{city}.max_share_pct")
            explain(f"cities.{city}.min_share_pct")
            explain(f"cities.{city}.max_share_pct")
            st.number_input("Homes per year", min_value=0, step=100, value=None, key=f"f.cities.{city}.homes_per_year")
            explain(f"cities.{city}.homes_per_year")
            st.caption("Trade days per year (empty: not limited)")
            for trade in TRADES:
                st.number_input(trade.capitalize(), min_value=0.0, step=1000.0, value=None,
                                key=f"f.cities.{city}.trade_days.{trade}")
                explain(f"cities.{city}.trade_days.{trade}")
            explain(f"cities.{city}")
    explain("cities")

    st.subheader("Equity and eligibility")
    e1, e2, e3, e4 = st.columns(4)
    e1.slider("Minimum share for priority homes (%)", 0.0, 100.0, step=5.0, key="f.rules.equity_min_share_pct",
              help="Priority homes: fuel poor, or in the most deprived IMD deciles.")
    e2.selectbox("Share of", ["spend", "homes"], key="f.rules.equity_basis")
    e3.number_input("Fuel poor when probability is at least", min_value=0.0, max_value=1.0, step=0.05,
                    key="f.rules.fuel_poor_probability")
    explain("rules.fuel_poor_probability", e3)
    e4.number_input("Priority IMD deciles (1 to this)", min_value=0, max_value=10, step=1,
                    key="f.rules.priority_imd_deciles")
    g1, g2, g3 = st.columns([2, 2, 1])
    g1.multiselect("Eligible tenures", list(TENURES), key="f.rules.eligible_tenures")
    explain("rules.eligible_tenures", g1)
    g2.multiselect("Eligible packages", packages, key="f.rules.eligible_packages")
    explain("rules.eligible_packages", g2)
    g3.selectbox("Minimum band after", [scenario_form.NO_MINIMUM, *BANDS], key="f.rules.min_band_after",
                 format_func=lambda b: "no minimum" if b == scenario_form.NO_MINIMUM else f"band {b} or better")
    h1, h2, h3, h4 = st.columns(4)
    h1.text_area("Must include (home ids)", key="f.rules.must_include", height=80)
    explain("rules.must_include", h1)
    h2.text_area("Exclude (home ids)", key="f.rules.exclude", height=80)
    explain("rules.exclude", h2)
    h3.number_input("Mobilisation cost per area and year (£)", min_value=0.0, step=1000.0,
                    key="f.rules.mobilisation_cost_gbp")
    h4.selectbox("Mobilisation area", ["lsoa_code", "ward"], key="f.rules.mobilisation_area",
                 format_func={"lsoa_code": "neighbourhood (LSOA)", "ward": "ward"}.get)
    explain("rules")

    st.subheader("Delivery: households who say no, costs that overrun")
    st.checkbox("Plan for uptake and cost risk", key="f.delivery.on",
                help="Each approached household goes ahead with its uptake probability; the plan approaches more "
                     "homes than it expects to retrofit, and holds back a contingency so that each rule holds with "
                     "the confidence below. Off: every chosen home goes ahead at its modelled cost.")
    u = st.columns(len(TENURES))
    for column, tenure in zip(u, TENURES):
        column.number_input(f"Uptake, {tenure.replace('_', ' ')} (%)", min_value=0.0, max_value=100.0, step=5.0,
                            value=None, key=f"f.delivery.uptake.{tenure}_pct",
                            placeholder=f"{100 * default_uptake()[tenure]:.0f} (shipped)",
                            help="The share of approached households of this tenure who go ahead; empty: the "
                                 "shipped figure (data/delivery/uptake.csv, with its source).")
        explain(f"delivery.uptake.{tenure}_pct", column)
    c1, c2, c3 = st.columns(3)
    c1.number_input("Confidence for uptake (%)", min_value=50.0, max_value=99.9, step=5.0,
                    key="f.delivery.confidence_pct",
                    help="The chance that each year's spend stays within its budget (and each share and capacity "
                         "rule holds) when households decide at random. 50: in expectation only.")
    explain("delivery.confidence_pct", c1)
    c2.number_input("Confidence for costs (%)", min_value=50.0, max_value=99.9, step=5.0,
                    key="f.delivery.cost_confidence_pct",
                    help="The same when each home's cost falls within its range (data/delivery/cost_ranges.csv). "
                         "50: costs at their point values.")
    explain("delivery.cost_confidence_pct", c2)
    c3.number_input("Reserve homes per planned home", min_value=0.0, max_value=10.0, step=0.5,
                    key="f.delivery.reserve_ratio",
                    help="How many next-best homes nearby the Plan explorer's Reserves tab lists for each planned home.")
    explain("delivery.reserve_ratio", c3)
    r = st.columns(1 + len(CITIES))
    r[0].number_input("Ramp: most change a year (%)", min_value=0.0, max_value=1000.0, step=5.0, value=None,
                      key="f.delivery.max_ramp_pct",
                      help="Crews cannot double overnight: each city's expected homes and spend in a year stay within "
                           "this share of the year before (25: at most 25% more, at least 25% less). Empty: no ramp.")
    explain("delivery.max_ramp_pct", r[0])
    for column, city in zip(r[1:], CITIES):
        column.number_input(f"{city}: first-year homes", min_value=0, step=100, value=None,
                            key=f"f.delivery.ramp_start.{city}",
                            help="The homes the city's crews can do in the programme's first year: where its ramp "
                                 "starts. Empty: no first-year limit.")
        explain(f"delivery.ramp_start.{city}", column)
    explain("delivery")

    st.subheader("Solver")
    s1, s2, s3 = st.columns(3)
    s1.number_input("Time limit (s)", min_value=1.0, max_value=86400.0, step=10.0, key="f.solver.time_limit_s")
    s2.number_input("Gap target (%)", min_value=0.0, max_value=99.0, step=0.01, format="%.3f",
                    key="f.solver.relative_gap_pct")
    s3.number_input("Seed", min_value=0, step=1, key="f.solver.seed")
    explain("solver")

    save_col, run_col, _ = st.columns([1, 1, 3])
    save_col.form_submit_button("Save as new version", on_click=submit, args=(False,), key="builder_save")
    run_col.form_submit_button("Save and run", type="primary", on_click=submit, args=(True,), key="builder_run")

if st.session_state.get("builder_message"):
    st.success(st.session_state["builder_message"])

# --- the run in progress, and the result ----------------------------------------------------------


def finished(snapshot) -> None:
    st.session_state["builder_done"] = {"state": snapshot.state, "error": snapshot.error,
                                        "run_id": snapshot.result, "seconds": snapshot.seconds,
                                        "label": snapshot.label}
    if snapshot.result is not None:
        st.session_state["run_id"] = snapshot.result


job_progress("builder_job", finished)
done = st.session_state.get("builder_done")
if done:
    if done["state"] == "done" and done["run_id"] is not None:
        st.success(f"{literal(done['label'])}: stored as run #{done['run_id']} in {done['seconds']:.0f} s.")
        st.caption("Open **Overview**, **Map** or **Plan explorer** to see it; every page now shows this run.")
    elif done["state"] == "cancelled":
        st.warning(f"{literal(done['label'])} was cancelled; nothing was stored.")
    else:
        st.error(f"{literal(done['label'])} failed: {literal(done['error'])}")

# --- re-plan from actuals ------------------------------------------------------------------------------


def start_replan(parent: int, as_of) -> None:
    """Re-plan run ``parent`` from its latest actuals, as of ``as_of``, in a background job."""
    st.session_state.pop("builder_done", None)
    summary = data.run(parent)

    def work(progress, cancel):
        stored = pipeline.run_scenario(engine, summary.scenario_name, summary.scenario_version, who=principal.who,
                                       progress=progress, cancel=cancel, from_run=parent, today=as_of)
        if stored is None:
            return None
        warmup.after_storing(stored.id, progress)
        return stored.id

    job = data.job_board().submit(f"Re-plan of run {parent} from its actuals", work)
    st.session_state["builder_job"] = job.id


st.subheader("Re-plan from actuals")
with_actuals = attempt(data.runs_with_actuals)
if not with_actuals:
    st.caption("No run has delivery actuals yet. Import a status file against a run (`retrofit actuals import RUN_ID "
               "FILE`); it can then be re-planned here: what is contracted or done is kept, declined homes are left "
               "out, the years that are over are closed and the rest is planned again.")
else:
    parents = sorted(with_actuals, reverse=True)
    left, middle, right = st.columns([3, 1, 1], vertical_alignment="bottom")
    parent = left.selectbox(
        "Run to re-plan", parents, key="builder_replan_run",
        format_func=lambda r: f"#{r} {data.run(r).scenario_name} v{data.run(r).scenario_version} "
                              f"(actuals version {with_actuals[r]})")
    as_of = middle.date_input("As of", value=date.today(), format="DD/MM/YYYY", key="builder_replan_as_of")
    right.button("Re-plan from actuals", on_click=start_replan, args=(parent, as_of), key="builder_replan")
    st.caption("Keeps every contracted, in-progress and completed home at its year and actual cost, leaves declined "
               "and withdrawn homes out, closes the programme years before the date and plans the rest again, on "
               "the run's own inputs and scenario version.")

# --- run history -------------------------------------------------------------------------------------
st.subheader("Run history")
history = attempt(data.runs)
if history.empty:
    st.info("No run yet: press **Save and run** above.")
else:
    shown = history.assign(
        scenario=history["scenario_name"] + " v" + history["scenario_version"].astype(str),
        gap=[percent(100 * g, 2) for g in history["gap"]],
        spend=[gbp(v) for v in history["spend_gbp"]],
        carbon=[tonnes(v, "yr") for v in history["annual_co2_t_saved"]],
        fuel_poor=[count(v) for v in history["fuel_poor_lifted"]],
        homes_text=[count(v) for v in history["homes"]],
        when=history["created_at"].map(lambda t: f"{t:%d %b %Y %H:%M}"),
    )[["id", "scenario", "status", "gap", "homes_text", "spend", "carbon", "fuel_poor", "created_by", "when"]]
    st.dataframe(shown, hide_index=True, width="stretch", key="builder_history", column_config={
        "id": "Run", "scenario": "Scenario", "status": "Status", "gap": "Gap", "homes_text": "Homes",
        "spend": "Spend", "carbon": "Carbon saved", "fuel_poor": "Fuel-poor lifted", "created_by": "By",
        "when": "When"})

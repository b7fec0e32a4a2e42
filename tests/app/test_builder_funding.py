"""The builder's Funding section: add a shipped scheme, give its award, change a rule, save; the
stored scenario holds the section as `use` plus only what differs; remove it again."""

from __future__ import annotations

from tests.app.test_pages import open_page, texts

from retrofit.store import get_scenario, open_database, parse, scenario_versions


def stored(name: str):
    engine = open_database()
    try:
        versions = scenario_versions(engine, name)
        return parse(get_scenario(engine, name, versions[-1].version)), len(versions)
    finally:
        engine.dispose()


def test_add_a_shipped_scheme_change_a_rule_and_save(fresh_var):
    at = open_page("builder")
    assert "No grant funding" in texts(at.info)
    at.selectbox(key="builder_add_scheme").set_value("warm_homes_local_grant")
    at.button(key="builder_add").click().run()
    assert not at.exception, [e.value for e in at.exception]
    # the shipped rules are filled in; the award is the user's to give
    assert at.multiselect(key="f.funding.whlg.tenures").value == ["owner_occupied", "private_rented"]
    assert at.text_area(key="f.funding.whlg.cap_gbp").value == "fabric + solar PV + other: £15,000\nheating: £15,000"
    assert at.number_input(key="f.funding.whlg.co_funding_share.private_rented_pct").value == 50.0
    assert "Source:" in at.multiselect(key="f.funding.whlg.tenures").help

    # saving without an award says so next to it, and stores nothing
    at.button(key="builder_save").click().run()
    assert "give the award this programme holds" in texts(at.error)
    assert at.selectbox(key="builder_version").options == ["1"]

    at.text_input(key="f.funding.whlg.total_gbp").set_value("£40m")
    at.selectbox(key="f.funding.whlg.cap_basis").set_value("per_home")
    at.button(key="builder_save").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "as version 2" in texts(at.success), texts(at.error)

    scenario, versions = stored("Balanced 2026-2035")
    assert versions == 2
    section = scenario.funding["whlg"]
    assert section.use == "warm_homes_local_grant" and section.total_gbp == 40_000_000
    assert section.rules == {"cap_basis": "per_home"}  # an override of the shipped scheme, nothing more
    assert section.spending_years(scenario.year_list) == [2026, 2027]
    listed = at.dataframe[0].value  # the funding list (run history comes last)
    assert list(listed["id"]) == ["whlg"] and listed["award"].iloc[0] == "£40,000,000"
    assert listed["years"].iloc[0] == "2026-2027" and listed["changed"].iloc[0] == "Caps hold"

    # opened again, the saved version shows the section, its award in pounds and the changed rule
    again = open_page("builder")
    assert again.selectbox(key="builder_version").value == 2
    assert again.text_input(key="f.funding.whlg.total_gbp").value == "£40,000,000"
    assert again.selectbox(key="f.funding.whlg.cap_basis").value == "per_home"
    assert "Changed; shipped: on average over the homes funded" in texts(again.caption)

    at.button(key="builder_remove_whlg").click().run()
    assert "No grant funding" in texts(at.info)
    at.button(key="builder_save").click().run()
    scenario, versions = stored("Balanced 2026-2035")
    assert versions == 3 and scenario.funding == {}


def test_a_funded_example_saved_unchanged_is_nothing_new(fresh_var):
    at = open_page("builder")
    at.selectbox(key="builder_name").set_value("Funded 2026-2035").run()
    assert not at.exception, [e.value for e in at.exception]
    listed = at.dataframe[0].value
    assert list(listed["id"]) == ["whlg", "whlg_2028", "shf", "bus", "eco4"]
    assert listed.set_index("id").loc["whlg_2028", "status"] == "assumed"
    at.button(key="builder_save").click().run()
    assert "already has these settings; nothing new to save" in texts(at.success), texts(at.error)

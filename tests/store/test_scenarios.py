"""Scenario versions: new content makes a new version; the same content does not."""

from __future__ import annotations

import pytest

from retrofit.errors import RetrofitError
from retrofit.store import add_scenario, get_scenario, list_scenarios, parse, scenario_names, scenario_versions

BASE = """# a small programme
name = "pilot"
description = "first go"

[budget]
total_gbp = 1000000

[years]
start = 2026
end = 2027
"""


def test_versions_follow_content(engine):
    first = add_scenario(engine, BASE, who="ana")
    assert (first.created, first.record.version, first.record.created_by) == (True, 1, "ana")

    # Other comments and layout, same content: nothing new.
    same = add_scenario(engine, BASE.replace("# a small programme", "# reworded").replace("1000000", "1_000_000"))
    assert (same.created, same.record.version, same.record.id) == (False, 1, first.record.id)

    bigger = add_scenario(engine, BASE.replace("1000000", "2000000"), who="ben")
    assert (bigger.created, bigger.record.version) == (True, 2)
    assert bigger.record.content_hash != first.record.content_hash

    # Going back to the first content is a change from the latest: version 3.
    back = add_scenario(engine, BASE)
    assert (back.created, back.record.version, back.record.content_hash) == (True, 3, first.record.content_hash)

    assert get_scenario(engine, "pilot").version == 3
    old = get_scenario(engine, "pilot", version=2)
    assert parse(old).budget.total_gbp == 2_000_000 and old.created_by == "ben"
    assert old.toml == BASE.replace("1000000", "2000000")  # the text as written, comments included
    assert [v.version for v in scenario_versions(engine, "pilot")] == [1, 2, 3]
    assert old.created_at.tzinfo is not None


def test_list_has_one_row_per_name(engine):
    add_scenario(engine, BASE)
    add_scenario(engine, BASE.replace("1000000", "5"))
    add_scenario(engine, BASE.replace('"pilot"', '"alpha"'))
    table = list_scenarios(engine)
    assert table["name"].tolist() == ["alpha", "pilot"]
    assert table["version"].tolist() == [1, 2]
    assert table["versions"].tolist() == [1, 2]
    assert table["runs"].tolist() == [0, 0]
    assert scenario_names(engine) == ["alpha", "pilot"]


def test_unknown_names_and_versions_list_what_exists(engine):
    with pytest.raises(RetrofitError, match="no scenario named 'pilot'; no scenario is stored yet"):
        get_scenario(engine, "pilot")
    add_scenario(engine, BASE)
    add_scenario(engine, BASE.replace('"pilot"', '"alpha"'))
    with pytest.raises(RetrofitError, match="no scenario named 'pliot'; known scenarios: 'alpha', 'pilot'"):
        get_scenario(engine, "pliot")
    with pytest.raises(RetrofitError, match="scenario 'pilot' has no version 7; its versions are 1"):
        get_scenario(engine, "pilot", version=7)


def test_an_invalid_scenario_is_not_stored(engine):
    with pytest.raises(RetrofitError, match="S.toml: invalid scenario: budget.total_gbp"):
        add_scenario(engine, BASE.replace("1000000", "-1"), source="S.toml")
    assert scenario_names(engine) == []

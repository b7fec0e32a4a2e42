"""Roles and cities: who reads which homes, who manages users, and the audit log (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io

import pytest

from retrofit.service import access
from retrofit.service.access import Principal, can, home_cities, local_principal, require
from retrofit.errors import RetrofitError
from retrofit.reference import CITIES
from retrofit.store.models import User
from tests.reviewing import ANALYST, BIRMINGHAM, COVENTRY, MANAGER, VIEWER, WOLVERHAMPTON, city_plan, store_run

# --- the rules, without a database ----------------------------------------------------------

# (action, city) -> who may: M manager, C Coventry partner, A analyst, V viewer
MATRIX = {
    ("read_aggregates", None): "MCAV",
    ("read_homes", "Coventry"): "MCA",
    ("read_homes", "Birmingham"): "MA",
    ("read_homes", None): "MA",
    ("export_plan", None): "MA",
    ("comment", None): "MCA",
    ("comment", "Coventry"): "MCA",
    ("comment", "Birmingham"): "MA",
    ("read_comments", "Birmingham"): "MA",
    ("submit_review", "Coventry"): "MC",
    ("submit_review", "Birmingham"): "M",
    ("decide_review", "Coventry"): "C",
    ("decide_review", "Birmingham"): "",
    ("final_approval", None): "M",
    ("edit_scenarios", None): "MA",
    ("run", None): "MA",
    ("edit_library", None): "MA",
    ("manage_users", None): "M",
    ("read_audit", None): "M",
}
LETTERS = {"M": MANAGER, "C": COVENTRY, "A": ANALYST, "V": VIEWER}


@pytest.mark.parametrize(("action", "city"), list(MATRIX))
def test_who_may_do_what(action, city):
    allowed = {letter for letter, principal in LETTERS.items() if can(principal, action, city)}
    assert allowed == set(MATRIX[(action, city)])


# Every action for every role, for the programme or run as a whole, a partner's own city and
# another city: who may (M manager, C the city's partner, A analyst, V viewer). Written out from
# the README's table, not from access.PERMISSIONS.
WHOLE_MATRIX = {
    # action:          (as a whole, own city, another city)
    "read_aggregates": ("MCAV", "MCAV", "MCAV"),
    "read_homes": ("MA", "MCA", "MA"),
    "export_plan": ("MA", "MA", "MA"),
    "read_comments": ("MCA", "MCA", "MA"),
    "comment": ("MCA", "MCA", "MA"),
    "submit_review": ("M", "MC", "M"),
    "decide_review": ("", "C", ""),
    "final_approval": ("M", "M", "M"),
    "edit_scenarios": ("MA", "MA", "MA"),
    "run": ("MA", "MA", "MA"),
    "edit_library": ("MA", "MA", "MA"),
    "import_stock": ("MA", "MA", "MA"),
    "manage_users": ("M", "M", "M"),
    "read_audit": ("M", "M", "M"),
}
PEOPLE = {"M": MANAGER, "A": ANALYST, "V": VIEWER}
CITY_PARTNERS = {"Birmingham": BIRMINGHAM, "Coventry": COVENTRY, "Wolverhampton": WOLVERHAMPTON}


def test_the_whole_matrix_names_every_action():
    assert set(WHOLE_MATRIX) == set(access.PERMISSIONS)


@pytest.mark.parametrize("action", list(WHOLE_MATRIX))
@pytest.mark.parametrize("partner_city", list(CITY_PARTNERS))
def test_every_role_for_every_action_and_city(action, partner_city):
    whole, own, other = WHOLE_MATRIX[action]
    partner = CITY_PARTNERS[partner_city]
    assert can(partner, action) == ("C" in whole)
    assert can(partner, action, partner_city) == ("C" in own)
    for city in CITIES:
        if city != partner_city:
            assert can(partner, action, city) == ("C" in other), city
    for letter, principal in PEOPLE.items():  # no city of their own: every city reads as "another"
        assert can(principal, action) == (letter in whole)
        for city in CITIES:
            assert can(principal, action, city) == (letter in own) == (letter in other), city


def test_an_unknown_action_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown action 'delete_everything'"):
        can(MANAGER, "delete_everything")


@pytest.mark.parametrize(("principal", "action", "city", "message"), [
    (VIEWER, "read_homes", None, "the viewer (vic@westmids.example) may not read home-level rows: only the "
                                 "programme manager, city partner (own city), analyst may"),
    (COVENTRY, "read_comments", "Birmingham", "Coventry's city partner (cora@coventry.example) may not read "
                                              "comments of Birmingham: city partners may do this for Coventry only"),
    (COVENTRY, "read_homes", None, "Coventry's city partner (cora@coventry.example) may not read home-level rows "
                                   "for the programme as a whole: city partners may do this for Coventry only"),
    (ANALYST, "decide_review", "Coventry", "the analyst (ann@westmids.example) may not approve or request changes "
                                           "to a city's part of a run: only the city partner (own city) may"),
    (COVENTRY, "manage_users", None, "Coventry's city partner (cora@coventry.example) may not manage users: only "
                                     "the programme manager may"),
])
def test_each_refusal_in_words(principal, action, city, message):
    with pytest.raises(RetrofitError) as refused:
        require(principal, action, city)
    assert str(refused.value) == message


def test_home_cities_to_read_are_checked_before_anything_is_read():
    assert access.allowed_home_cities(COVENTRY) == ["Coventry"]
    assert access.allowed_home_cities(MANAGER, ("Coventry", "Birmingham")) == ["Coventry", "Birmingham"]
    with pytest.raises(RetrofitError, match="unknown city 'Leeds'"):
        access.allowed_home_cities(MANAGER, ["Leeds"])
    with pytest.raises(RetrofitError, match="may not read home-level rows of Birmingham"):
        access.allowed_home_cities(COVENTRY, ["Coventry", "Birmingham"])


def user(role: str, active: bool = True, subject: str | None = None) -> User:
    return User(id=1, name="Pat", email="pat@westmids.example", role=role, active=active, identity_subject=subject)


@pytest.mark.parametrize(("args", "values"), [
    ((" Cora@Coventry.Example ", "city_partner", "Coventry", " Cora "),
     {"email": "cora@coventry.example", "role": "city_partner", "city": "Coventry", "name": "Cora"}),
    (("ann@westmids.example", "analyst", None, None),
     {"email": "ann@westmids.example", "role": "analyst", "city": None, "name": "ann@westmids.example"}),
    (("vic@westmids.example", "viewer", "", "  "),
     {"email": "vic@westmids.example", "role": "viewer", "city": None, "name": "vic@westmids.example"}),
])
def test_a_users_values_are_normalised(args, values):
    assert access.user_values(*args) == values


@pytest.mark.parametrize(("args", "message"), [
    (("bo@birmingham.example", "city_partner", None, None),
     "a city partner needs a city (Birmingham, Coventry, Wolverhampton); none given for bo@birmingham.example"),
    (("bo@birmingham.example", "city_partner", "Leeds", None),
     "unknown city 'Leeds': use one of Birmingham, Coventry, Wolverhampton"),
    (("vic@westmids.example", "viewer", "Coventry", None),
     "only city partners have a city; a viewer (vic@westmids.example) sees every city: leave the city empty"),
    (("ann@westmids.example", "admin", None, None),
     "unknown role 'admin': use one of programme_manager, city_partner, analyst, viewer"),
    ((" not an email ", "viewer", None, None),
     "'not an email' is not an email address; users are known by the email they sign in with"),
    ((None, "viewer", None, None), "'' is not an email address; users are known by the email they sign in with"),
])
def test_a_user_that_makes_no_sense_is_refused_in_words(args, message):
    with pytest.raises(RetrofitError) as refused:
        access.user_values(*args)
    assert str(refused.value) == message


# (role, active) before -> (role, active) after -> whether an active programme manager is lost
LOSES_A_MANAGER = [
    (("programme_manager", True), ("programme_manager", True), False),
    (("programme_manager", True), ("programme_manager", False), True),
    (("programme_manager", True), ("viewer", True), True),
    (("programme_manager", True), ("analyst", False), True),
    (("programme_manager", False), ("viewer", False), False),  # an inactive one manages nothing already
    (("analyst", True), ("viewer", False), False),
    (("viewer", True), ("programme_manager", True), False),
]


@pytest.mark.parametrize(("before", "after", "loses"), LOSES_A_MANAGER)
def test_which_changes_take_a_programme_manager_away(before, after, loses):
    assert access.takes_away_a_programme_manager(user(*before), {"role": after[0], "active": after[1]}) is loses


def test_a_change_lists_what_it_changes_only():
    before = user("city_partner")
    before.city = "Coventry"
    values = {"email": before.email, "role": "analyst", "city": None, "name": "Pat", "active": True}
    assert access.changes_to(before, values) == {"role": ["city_partner", "analyst"], "city": ["Coventry", None]}
    assert access.changes_to(before, {"name": "Pat", "active": True}) == {}


# (registered?, active, bound subject, signing in with subject) -> the refusal ("" signs in)
SIGN_INS = [
    (False, True, None, None, "not registered"),
    (False, True, None, "oid:a", "not registered"),
    (True, False, None, None, "deactivated"),
    (True, False, "oid:b", "oid:a", "deactivated"),
    (True, True, None, None, ""),
    (True, True, None, "oid:a", ""),  # bound at this first sign-in
    (True, True, "oid:a", "oid:a", ""),
    (True, True, "oid:a", None, ""),  # no subject given (local lookups): not compared
    (True, True, "oid:b", "oid:a", "another account"),
]


@pytest.mark.parametrize(("registered", "active", "bound", "subject", "refusal"), SIGN_INS)
def test_who_may_sign_in(registered, active, bound, subject, refusal):
    person = user("analyst", active, bound) if registered else None
    assert access.sign_in_refusal(person, subject) == refusal
    if registered and active:  # principal_for looks up active users only, by the same rule
        assert access.bound_elsewhere(person, subject) is (refusal == "another account")


def test_a_refusal_names_the_rule():
    with pytest.raises(RetrofitError, match=r"Coventry's city partner \(cora@coventry.example\) may not read "
                                            r"home-level rows of Birmingham: city partners .* Coventry only"):
        require(COVENTRY, "read_homes", "Birmingham")
    with pytest.raises(RetrofitError, match=r"the viewer .* may not manage users: only the programme manager may"):
        require(VIEWER, "manage_users")


def test_whose_homes_each_role_reads():
    assert home_cities(MANAGER) == home_cities(ANALYST) == list(CITIES)
    assert home_cities(COVENTRY) == ["Coventry"]
    assert home_cities(VIEWER) == []


def test_without_sign_in_the_one_user_is_a_programme_manager(monkeypatch):
    monkeypatch.setenv("RETROFIT_USER", "desk-7")
    me = local_principal()
    assert (me.name, me.role, me.local, me.who) == ("desk-7", "programme_manager", True, "desk-7")


def test_filtering_a_plan_in_memory_follows_the_same_rules():
    plan = city_plan()
    assert set(access.filter_plan_for(COVENTRY, plan)["city"]) == {"Coventry"}
    assert len(access.filter_plan_for(MANAGER, plan)) == len(plan)
    with pytest.raises(RetrofitError, match="Birmingham"):
        access.filter_plan_for(COVENTRY, plan, ["Birmingham"])
    with pytest.raises(RetrofitError, match="viewer"):
        access.filter_plan_for(VIEWER, plan)


# --- home rows and aggregates from the database -----------------------------------------------

def test_a_coventry_partner_reads_coventrys_homes_and_never_birminghams(engine):
    run = store_run(engine)
    mine = access.plan_rows_for(engine, COVENTRY, run.id)
    assert sorted(mine["home_id"]) == ["COV-0", "COV-1", "COV-2", "COV-3"]
    assert set(mine["city"]) == {"Coventry"}
    assert access.plan_rows_for(engine, COVENTRY, run.id, ["Coventry"]).equals(mine)
    for asked in (["Birmingham"], ["Coventry", "Birmingham"], ["Wolverhampton"]):
        with pytest.raises(RetrofitError, match="may not read home-level rows of"):
            access.plan_rows_for(engine, COVENTRY, run.id, asked)
    with pytest.raises(RetrofitError, match="unknown city 'Leeds'"):
        access.plan_rows_for(engine, COVENTRY, run.id, ["Leeds"])


def test_managers_and_analysts_read_every_city_viewers_none(engine):
    run = store_run(engine)
    assert len(access.plan_rows_for(engine, MANAGER, run.id)) == 12
    assert set(access.plan_rows_for(engine, ANALYST, run.id, ["Birmingham"])["home_id"]) == {
        "BHM-0", "BHM-1", "BHM-2", "BHM-3"}
    with pytest.raises(RetrofitError, match="viewer .* may not read home-level rows"):
        access.plan_rows_for(engine, VIEWER, run.id)


def test_everyone_reads_the_programme_aggregates_without_a_home_row(engine):
    run = store_run(engine)
    plan = city_plan()
    for principal in (MANAGER, COVENTRY, ANALYST, VIEWER):
        figures = access.programme_aggregates(engine, principal, run.id)
        by_city = figures["by_city"].set_index("city")
        assert list(by_city.index) == sorted(CITIES)
        assert by_city.loc["Birmingham", "homes"] == 4
        assert by_city.loc["Birmingham", "spend_gbp"] == pytest.approx(
            plan.loc[plan["city"] == "Birmingham", "cost_gbp"].sum())
        assert figures["kpis"]["homes"] == 12
        for name in ("by_city", "by_year", "by_city_year"):
            assert "home_id" not in figures[name].columns and "lsoa_code" not in figures[name].columns
        assert figures["by_city_year"]["homes"].sum() == 12


# --- users and sign-in ------------------------------------------------------------------------

def test_a_programme_manager_registers_people_by_email(engine):
    user = access.add_user(engine, MANAGER, " Cora@Coventry.Example ", "city_partner", "Coventry", name="Cora")
    assert (user.email, user.role, user.city, user.active) == ("cora@coventry.example", "city_partner", "Coventry", True)
    access.add_user(engine, MANAGER, "ann@westmids.example", "analyst")
    table = access.list_users(engine, MANAGER)
    assert set(table["email"]) == {"cora@coventry.example", "ann@westmids.example"}
    assert table.set_index("email").loc["ann@westmids.example", "name"] == "ann@westmids.example"


@pytest.mark.parametrize(("args", "message"), [
    (("bo@birmingham.example", "city_partner", None), "a city partner needs a city"),
    (("bo@birmingham.example", "city_partner", "Leeds"), "unknown city 'Leeds'"),
    (("ann@westmids.example", "analyst", "Coventry"), "only city partners have a city"),
    (("ann@westmids.example", "admin", None), "unknown role 'admin'"),
    (("not an email", "viewer", None), "is not an email address"),
])
def test_a_user_that_makes_no_sense_is_refused(engine, args, message):
    with pytest.raises(RetrofitError, match=message):
        access.add_user(engine, MANAGER, *args)
    assert access.list_users(engine, MANAGER).empty


def test_only_a_programme_manager_manages_users(engine):
    for principal in (COVENTRY, ANALYST, VIEWER):
        with pytest.raises(RetrofitError, match="may not manage users"):
            access.add_user(engine, principal, "eve@example.org", "programme_manager")
        with pytest.raises(RetrofitError, match="may not manage users"):
            access.list_users(engine, principal)
    access.add_user(engine, MANAGER, "eve@example.org", "viewer")
    with pytest.raises(RetrofitError, match="may not manage users"):
        access.change_user(engine, COVENTRY, "eve@example.org", role="programme_manager")


def test_a_duplicate_email_is_refused(engine):
    access.add_user(engine, MANAGER, "eve@example.org", "viewer")
    with pytest.raises(RetrofitError, match="already exists"):
        access.add_user(engine, MANAGER, "EVE@example.org", "analyst")


def test_changing_a_role_or_city_and_deactivating(engine):
    access.add_user(engine, MANAGER, "bo@birmingham.example", "city_partner", "Birmingham")
    moved = access.change_user(engine, MANAGER, "bo@birmingham.example", city="Wolverhampton")
    assert (moved.role, moved.city) == ("city_partner", "Wolverhampton")
    analyst = access.change_user(engine, MANAGER, "bo@birmingham.example", role="analyst")
    assert (analyst.role, analyst.city) == ("analyst", None)  # an analyst has no city
    assert access.sign_in(engine, "bo@birmingham.example").role == "analyst"
    access.deactivate_user(engine, MANAGER, "bo@birmingham.example")
    with pytest.raises(RetrofitError, match="not registered or was deactivated"):
        access.sign_in(engine, "bo@birmingham.example")
    with pytest.raises(RetrofitError, match="no user with email"):
        access.change_user(engine, MANAGER, "nobody@example.org", role="viewer")
    actions = access.audit_events(engine, MANAGER, who=MANAGER.who)["action"].tolist()
    assert actions == ["user.deactivate", "user.change", "user.change", "user.add"]


def test_the_last_programme_manager_cannot_be_removed(engine):
    access.add_user(engine, MANAGER, "pat@westmids.example", "programme_manager")
    with pytest.raises(RetrofitError, match="last active programme manager"):
        access.deactivate_user(engine, MANAGER, "pat@westmids.example")
    with pytest.raises(RetrofitError, match="last active programme manager"):
        access.change_user(engine, MANAGER, "pat@westmids.example", role="viewer")
    access.add_user(engine, MANAGER, "sam@westmids.example", "programme_manager")
    assert not access.deactivate_user(engine, MANAGER, "pat@westmids.example").active


def test_sign_in_maps_an_email_to_its_role_and_city(engine):
    access.add_user(engine, MANAGER, "cora@coventry.example", "city_partner", "Coventry", name="Cora")
    me = access.sign_in(engine, "CORA@coventry.example")
    assert me == Principal("Cora", "city_partner", "Coventry", email="cora@coventry.example")
    with pytest.raises(RetrofitError, match="mallory@example.org may not use the planner"):
        access.sign_in(engine, "mallory@example.org")
    with pytest.raises(RetrofitError, match="gave no email"):
        access.sign_in(engine, None)
    log = access.audit_events(engine, MANAGER, action="sign_in")
    assert log[["who", "action"]].values.tolist() == [["mallory@example.org", "sign_in.refused"],
                                                      ["cora@coventry.example", "sign_in"]]


def test_the_first_programme_manager_comes_from_the_settings(engine):
    me = access.sign_in(engine, "Pat@WestMids.example", name="Pat", programme_managers=["pat@westmids.example"])
    assert (me.role, me.city, me.name) == ("programme_manager", None, "Pat")
    assert access.sign_in(engine, "pat@westmids.example", programme_managers=[]).role == "programme_manager"
    with pytest.raises(RetrofitError, match="may not use the planner"):
        access.sign_in(engine, "eve@example.org", programme_managers=["pat@westmids.example"])


def test_a_person_is_bound_to_the_account_they_first_signed_in_with(engine):
    access.add_user(engine, MANAGER, "cora@coventry.example", "city_partner", "Coventry", name="Cora")
    first = access.sign_in(engine, "cora@coventry.example", subject="oid:aaaa")
    assert access.sign_in(engine, "cora@coventry.example", subject="oid:aaaa") == first
    # someone else's account claiming the same email (a reassigned address, a forged claim) opens nothing
    with pytest.raises(RetrofitError, match="registered to another account"):
        access.sign_in(engine, "cora@coventry.example", subject="oid:bbbb")
    assert access.principal_for(engine, "cora@coventry.example", "oid:bbbb") is None
    assert access.principal_for(engine, "cora@coventry.example", "oid:aaaa") == first
    refused = access.audit_events(engine, MANAGER, action="sign_in.refused")
    assert refused["details"].tolist() == [{"reason": "another account"}]
    assert access.list_users(engine, MANAGER).set_index("email").loc["cora@coventry.example", "account_bound"]
    # the person's account was replaced: a programme manager forgets the old one, the next sign-in binds the new
    access.change_user(engine, MANAGER, "cora@coventry.example", forget_identity=True)
    assert access.sign_in(engine, "cora@coventry.example", subject="oid:bbbb") == first
    with pytest.raises(RetrofitError, match="registered to another account"):
        access.sign_in(engine, "cora@coventry.example", subject="oid:aaaa")
    changes = access.audit_events(engine, MANAGER, action="user.change")["details"].tolist()
    assert changes == [{"identity_subject": ["bound", "forgotten"]}]


# --- audit log --------------------------------------------------------------------------------

def test_the_audit_log_holds_every_create_change_and_sign_in(engine):
    store_run(engine)
    access.add_user(engine, MANAGER, "cora@coventry.example", "city_partner", "Coventry")
    access.sign_in(engine, "cora@coventry.example")
    log = access.audit_events(engine, MANAGER)
    assert log["action"].tolist() == ["sign_in", "user.add", "run.store", "scenario.add"]
    assert log["created_at"].is_monotonic_decreasing
    assert log.iloc[1]["details"] == {"role": "city_partner", "city": "Coventry"}
    assert access.audit_events(engine, MANAGER, action="user.")["target"].tolist() == ["user:cora@coventry.example"]
    assert len(access.audit_events(engine, MANAGER, limit=2)) == 2


def test_only_a_programme_manager_reads_and_exports_the_audit_log(engine):
    store_run(engine)
    for principal in (COVENTRY, BIRMINGHAM, ANALYST, VIEWER):
        with pytest.raises(RetrofitError, match="may not read the audit log"):
            access.audit_events(engine, principal)
        with pytest.raises(RetrofitError, match="may not read the audit log"):
            access.audit_csv(engine, principal)
    rows = list(csv.DictReader(io.StringIO(access.audit_csv(engine, MANAGER).decode("utf-8"))))
    assert [r["action"] for r in rows] == ["run.store", "scenario.add"]
    assert rows[1]["who"] == MANAGER.who and rows[1]["target"] == "scenario:Pilot@1"
    assert access.audit_events(engine, MANAGER)["action"].iloc[0] == "audit.export"  # the export is audited

"""The people who sign in, stored (SQLite and PostgreSQL): the queries `retrofit.service.access` composes."""

from __future__ import annotations

import pytest

from retrofit.store import users
from retrofit.store.database import writing
from retrofit.store.models import utc_now


def person(email: str, role: str = "viewer", city: str | None = None, active: bool = True) -> dict:
    return {"email": email, "name": email.split("@")[0], "role": role, "city": city, "active": active,
            "created_at": utc_now()}


def test_users_are_found_by_email_or_name_and_listed_by_role_city_and_email(engine):
    with writing(engine) as connection:
        first = users.insert_user(connection, person("pat@westmids.example", "programme_manager"))
        users.insert_user(connection, person("cora@coventry.example", "city_partner", "Coventry"))
        users.insert_user(connection, person("bo@birmingham.example", "city_partner", "Birmingham", active=False))
        found = users.user_by_email(connection, "pat@westmids.example")
        assert (found.id, found.role, found.created_at.tzinfo is not None) == (first, "programme_manager", True)
        assert users.user_by_email(connection, "nobody@example.org") is None
        assert users.user_with_email_or_name(connection, "x@example.org", "cora").email == "cora@coventry.example"
        assert users.user_with_email_or_name(connection, "pat@westmids.example", "x").id == first
        assert users.user_with_email_or_name(connection, "x@example.org", "x") is None
    assert [user.email for user in users.all_users(engine)] == [
        "bo@birmingham.example", "cora@coventry.example", "pat@westmids.example"]
    assert users.active_user(engine, "bo@birmingham.example") is None  # deactivated
    assert users.active_user(engine, "cora@coventry.example").city == "Coventry"


def test_counting_the_other_active_users_of_a_role(engine):
    with writing(engine) as connection:
        pat = users.insert_user(connection, person("pat@westmids.example", "programme_manager"))
        sam = users.insert_user(connection, person("sam@westmids.example", "programme_manager"))
        users.insert_user(connection, person("old@westmids.example", "programme_manager", active=False))
        assert users.count_active(connection, "programme_manager", other_than=pat) == 1
        users.update_user(connection, sam, {"active": False})
        assert users.count_active(connection, "programme_manager", other_than=pat) == 0
        assert users.count_active(connection, "programme_manager", other_than=sam) == 1


def test_an_identity_is_bound_and_a_second_user_with_an_email_breaks_the_key(engine):
    with writing(engine) as connection:
        cora = users.insert_user(connection, person("cora@coventry.example", "city_partner", "Coventry"))
        users.bind_identity(connection, cora, "oid:aaaa")
    assert users.active_user(engine, "cora@coventry.example").identity_subject == "oid:aaaa"
    # what two people adding the same email at once meet: the service retries on KEY_RACES
    with pytest.raises(users.KEY_RACES):
        with writing(engine) as connection:
            users.insert_user(connection, {**person("cora@coventry.example"), "name": "another"})
    assert len(users.all_users(engine)) == 1

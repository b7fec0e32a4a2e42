"""A run's review steps and comments, stored (SQLite and PostgreSQL): the queries `retrofit.service.review` composes."""

from __future__ import annotations

from retrofit.store import reviews, run_rows
from retrofit.store.database import reading, writing
from retrofit.store.models import utc_now
from tests.reviewing import COVENTRY, MANAGER, city_plan, store_run


def test_locking_a_run_that_is_not_there_gives_none(engine):
    run = store_run(engine)
    with writing(engine) as connection:
        assert reviews.lock_run(connection, run.id).scenario_name == "Pilot"
        assert reviews.lock_run(connection, run.id + 1) is None


def test_steps_come_back_oldest_first_as_stored(engine):
    run = store_run(engine)
    with writing(engine) as connection:
        reviews.insert_step(connection, run.id, "Coventry", "submitted", "", MANAGER.who)
        reviews.insert_step(connection, run.id, "Coventry", "approved", "fine", COVENTRY.who)
        reviews.insert_step(connection, run.id, None, "approved", "", MANAGER.who)
    with reading(engine) as connection:
        steps = reviews.review_steps(connection, run.id)
        assert reviews.review_steps(connection, run.id + 1) == []
    assert [(step["city"], step["state"], step["note"], step["created_by"]) for step in steps] == [
        ("Coventry", "submitted", "", MANAGER.who), ("Coventry", "approved", "fine", COVENTRY.who),
        (None, "approved", "", MANAGER.who)]
    assert [step["id"] for step in steps] == sorted(step["id"] for step in steps)


def test_newer_versions_of_a_runs_scenario(engine):
    first = store_run(engine)
    store_run(engine, budget=2e9)
    store_run(engine, budget=3e9)
    store_run(engine, name="Other")
    with reading(engine) as connection:
        assert reviews.newer_versions(connection, "Pilot", first.scenario_version) == [2, 3]
        assert reviews.newer_versions(connection, "Pilot", 3) == []


def test_a_homes_city_and_lsoa_in_a_runs_plan(engine):
    run = store_run(engine)
    plan = city_plan().set_index("home_id")
    with reading(engine) as connection:
        assert reviews.home_place(connection, run.id, "COV-1") == ("Coventry", plan.loc["COV-1", "lsoa_code"])
        assert reviews.home_place(connection, run.id, "NOPE-1") is None
        assert reviews.home_place(connection, run.id + 1, "COV-1") is None


def test_comments_are_stored_and_read_back_by_run(engine):
    run = store_run(engine)
    other = store_run(engine, budget=2e9)
    values = dict(run_id=run.id, city="Coventry", lsoa_code=None, home_id="COV-1", reply_to=None,
                  author=COVENTRY.who, text="Listed building.", created_at=utc_now())
    with writing(engine) as connection:
        first = reviews.insert_comment(connection, values)
        reply = reviews.insert_comment(connection, {**values, "reply_to": first, "text": "Noted."})
        reviews.insert_comment(connection, {**values, "run_id": other.id})
    with reading(engine) as connection:
        assert reviews.comment_by_id(connection, reply)["reply_to"] == first
        assert reviews.comment_by_id(connection, reply + 100) is None
        assert [comment["text"] for comment in reviews.run_comments(connection, run.id)] == [
            "Listed building.", "Noted."]


def test_the_run_list_is_newest_first_with_the_columns_asked_for(engine):
    assert list(run_rows(engine, ("id", "scenario_name"))) == ["id", "scenario_name"]
    first, second = store_run(engine), store_run(engine, budget=2e9)
    table = run_rows(engine, ["scenario_version", "id", "plan_rows"])
    assert list(table) == ["scenario_version", "id", "plan_rows"]
    assert table.values.tolist() == [[2, second.id, 12], [1, first.id, 12]]

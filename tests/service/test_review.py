"""The review's state machine, its lock, and comment threads (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading

import pytest

from retrofit.service import access, review
from retrofit.errors import RetrofitError
from retrofit.reference import CITIES
from tests.reviewing import (
    ANALYST, BIRMINGHAM, COVENTRY, MANAGER, PARTNERS, VIEWER, WOLVERHAMPTON, lsoa_of, store_run,
)


@pytest.fixture
def run(engine):
    return store_run(engine)


def states(engine, run_id) -> dict:
    return {city: step.state for city, step in review.review_status(engine, MANAGER, run_id).cities.items()}


def sign_off(engine, run_id, cities=CITIES) -> None:
    for city in cities:
        review.submit(engine, MANAGER, run_id, city)
        review.approve(engine, PARTNERS[city], run_id, city, note="fine by us")


# --- the state machine ------------------------------------------------------------------------

def test_a_new_run_is_a_draft_for_every_city(engine, run):
    status = review.review_status(engine, VIEWER, run.id)
    assert states(engine, run.id) == dict.fromkeys(CITIES, "draft")
    assert not status.locked and status.final is None and status.newer_versions == []


def test_submit_approve_and_the_final_approval_lock_the_run(engine, run):
    review.submit(engine, MANAGER, run.id, "Birmingham")
    review.submit(engine, COVENTRY, run.id, "Coventry", note="ready")  # a partner may put their own city forward
    review.submit(engine, MANAGER, run.id, "Wolverhampton")
    assert states(engine, run.id) == dict.fromkeys(CITIES, "submitted")
    for city in CITIES:
        status = review.approve(engine, PARTNERS[city], run.id, city)
    assert status.all_cities_approved and not status.locked
    step = status.cities["Coventry"]
    assert (step.state, step.by) == ("approved", COVENTRY.who) and step.at.tzinfo is not None

    final = review.final_approve(engine, MANAGER, run.id, note="signed off")
    assert final.locked and final.final.by == MANAGER.who and final.final.note == "signed off"
    assert review.review_status(engine, COVENTRY, run.id).locked
    actions = access.audit_events(engine, MANAGER, action="review.")["action"].tolist()
    assert actions == ["review.final_approve"] + ["review.approve"] * 3 + ["review.submit"] * 3


def test_a_partner_cannot_approve_twice(engine, run):
    review.submit(engine, MANAGER, run.id, "Coventry")
    review.approve(engine, COVENTRY, run.id, "Coventry")
    with pytest.raises(RetrofitError, match=r"Coventry's part of run \d+ is already approved by "
                                            r"cora@coventry.example on .*: it cannot be approved twice"):
        review.approve(engine, COVENTRY, run.id, "Coventry")
    with pytest.raises(RetrofitError, match="already approved .* cannot be submitted now"):
        review.submit(engine, MANAGER, run.id, "Coventry")


def test_a_partner_cannot_approve_or_submit_another_city(engine, run):
    review.submit(engine, MANAGER, run.id, "Birmingham")
    with pytest.raises(RetrofitError, match="Coventry's city partner .* may not approve or request changes to a "
                                            "city's part of a run of Birmingham: city partners may do this for "
                                            "Coventry only"):
        review.approve(engine, COVENTRY, run.id, "Birmingham")
    with pytest.raises(RetrofitError, match="of Birmingham: city partners may do this for Coventry only"):
        review.request_changes(engine, COVENTRY, run.id, "Birmingham", note="no")
    with pytest.raises(RetrofitError, match="may not submit a city's part of a run for sign-off of Wolverhampton"):
        review.submit(engine, COVENTRY, run.id, "Wolverhampton")
    assert states(engine, run.id) == {"Birmingham": "submitted", "Coventry": "draft", "Wolverhampton": "draft"}


def test_only_the_citys_partner_decides(engine, run):
    review.submit(engine, MANAGER, run.id, "Coventry")
    for principal in (MANAGER, ANALYST, VIEWER):
        with pytest.raises(RetrofitError, match="may not approve or request changes"):
            review.approve(engine, principal, run.id, "Coventry")
    for principal in (ANALYST, VIEWER):
        with pytest.raises(RetrofitError, match="may not submit"):
            review.submit(engine, principal, run.id, "Birmingham")
    with pytest.raises(RetrofitError, match="unknown city 'Leeds'"):
        review.submit(engine, MANAGER, run.id, "Leeds")


def test_a_draft_cannot_be_approved_and_changes_need_a_note(engine, run):
    with pytest.raises(RetrofitError, match="is a draft: it must be submitted before it can be approved"):
        review.approve(engine, COVENTRY, run.id, "Coventry")
    review.submit(engine, MANAGER, run.id, "Coventry")
    with pytest.raises(RetrofitError, match="already submitted by pat@westmids.example"):
        review.submit(engine, COVENTRY, run.id, "Coventry")
    with pytest.raises(RetrofitError, match="a note is required"):
        review.request_changes(engine, COVENTRY, run.id, "Coventry", note="   ")


def test_changes_requested_go_back_for_submission(engine, run):
    review.submit(engine, MANAGER, run.id, "Coventry")
    status = review.request_changes(engine, COVENTRY, run.id, "Coventry", note="Foleshill needs more homes")
    assert (status.cities["Coventry"].state, status.cities["Coventry"].note) == (
        "changes_requested", "Foleshill needs more homes")
    with pytest.raises(RetrofitError, match="had changes requested .* must be submitted again before it can be approved"):
        review.approve(engine, COVENTRY, run.id, "Coventry")
    review.submit(engine, MANAGER, run.id, "Coventry", note="explained in the thread")
    assert review.approve(engine, COVENTRY, run.id, "Coventry").cities["Coventry"].state == "approved"
    history = review.review_history(engine, MANAGER, run.id)
    assert history["state"].tolist() == ["submitted", "changes_requested", "submitted", "approved"]
    assert history["created_by"].tolist() == [MANAGER.who, COVENTRY.who, MANAGER.who, COVENTRY.who]


def test_the_final_approval_waits_for_all_three_cities(engine, run):
    sign_off(engine, run.id, ["Birmingham", "Coventry"])
    review.submit(engine, MANAGER, run.id, "Wolverhampton")
    with pytest.raises(RetrofitError, match="cannot get the final approval yet: Wolverhampton is submitted"):
        review.final_approve(engine, MANAGER, run.id)
    review.approve(engine, WOLVERHAMPTON, run.id, "Wolverhampton")
    for principal in (COVENTRY, ANALYST, VIEWER):
        with pytest.raises(RetrofitError, match="may not give a run the final approval"):
            review.final_approve(engine, principal, run.id)
    assert review.final_approve(engine, MANAGER, run.id).locked


def test_nothing_changes_on_a_locked_run(engine, run):
    sign_off(engine, run.id)
    review.final_approve(engine, MANAGER, run.id)
    for attempt in (lambda: review.approve(engine, COVENTRY, run.id, "Coventry"),
                    lambda: review.request_changes(engine, COVENTRY, run.id, "Coventry", note="wait"),
                    lambda: review.submit(engine, MANAGER, run.id, "Birmingham"),
                    lambda: review.final_approve(engine, MANAGER, run.id)):
        with pytest.raises(RetrofitError, match=rf"run {run.id} is locked: .* needs a new version of scenario 'Pilot'"):
            attempt()
    with pytest.raises(RetrofitError, match="is locked .* comments are closed"):
        review.add_comment(engine, COVENTRY, run.id, "one more thing")


def test_a_new_scenario_version_starts_a_new_review(engine, run):
    sign_off(engine, run.id)
    review.final_approve(engine, MANAGER, run.id)
    newer = store_run(engine, budget=2e9, seed=5)  # version 2 of the scenario, its own run
    assert (newer.scenario_version, run.scenario_version) == (2, 1)
    assert states(engine, newer.id) == dict.fromkeys(CITIES, "draft")
    assert not review.review_status(engine, MANAGER, newer.id).locked
    assert review.review_status(engine, MANAGER, run.id).newer_versions == [2]
    review.submit(engine, MANAGER, newer.id, "Coventry")
    assert review.approve(engine, COVENTRY, newer.id, "Coventry").cities["Coventry"].state == "approved"


def test_two_partners_approving_at_once_approve_once(engine, run):
    review.submit(engine, MANAGER, run.id, "Coventry")
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def approve() -> None:
        start.wait()
        try:
            review.approve(engine, COVENTRY, run.id, "Coventry")
            outcomes.append("approved")
        except RetrofitError as error:
            outcomes.append(str(error))

    threads = [threading.Thread(target=approve) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("approved") == 1
    assert "cannot be approved twice" in next(o for o in outcomes if o != "approved")
    assert review.review_history(engine, MANAGER, run.id)["state"].tolist() == ["submitted", "approved"]


def test_a_partner_sees_only_their_citys_notes_and_history(engine, run):
    review.submit(engine, MANAGER, run.id, "Birmingham")
    review.request_changes(engine, BIRMINGHAM, run.id, "Birmingham", note="BHM-2 is listed twice")
    status = review.review_status(engine, COVENTRY, run.id)
    assert status.cities["Birmingham"].state == "changes_requested" and status.cities["Birmingham"].note == ""
    assert review.review_history(engine, COVENTRY, run.id).empty
    assert len(review.review_history(engine, BIRMINGHAM, run.id)) == 2
    with pytest.raises(RetrofitError, match="viewer .* may not read comments"):
        review.review_history(engine, VIEWER, run.id)


# --- comments ---------------------------------------------------------------------------------

def test_comments_on_the_run_a_city_an_lsoa_and_a_home(engine, run):
    on_run = review.add_comment(engine, COVENTRY, run.id, "Overall this looks right.")
    on_city = review.add_comment(engine, COVENTRY, run.id, "Coventry's share is low.", city="Coventry")
    on_lsoa = review.add_comment(engine, MANAGER, run.id, "Why so few here?", lsoa_code=lsoa_of("Coventry"))
    on_home = review.add_comment(engine, COVENTRY, run.id, "Already retrofitted in 2024.", home_id="COV-1")
    assert (on_run.city, on_city.city, on_lsoa.city) == (None, "Coventry", "Coventry")
    assert (on_home.city, on_home.home_id, on_home.author) == ("Coventry", "COV-1", COVENTRY.who)
    assert on_home.lsoa_code is not None
    table = review.comments_for(engine, MANAGER, run.id)
    assert table["subject"].tolist() == ["run", "city:Coventry", f"city:Coventry/lsoa:{lsoa_of('Coventry')}",
                                         f"city:Coventry/lsoa:{on_home.lsoa_code}/home:COV-1"]
    assert review.comments_for(engine, COVENTRY, run.id, home_id="COV-1")["text"].tolist() == [
        "Already retrofitted in 2024."]
    targets = access.audit_events(engine, MANAGER, action="comment.")["target"].tolist()
    assert targets[-1] == f"run:{run.id}/run" and targets[0].endswith("/home:COV-1")


def test_a_coventry_partner_cannot_comment_on_birminghams_part(engine, run):
    with pytest.raises(RetrofitError, match="may not comment of Birmingham"):
        review.add_comment(engine, COVENTRY, run.id, "hello", city="Birmingham")
    with pytest.raises(RetrofitError, match="may not comment of Birmingham"):
        review.add_comment(engine, COVENTRY, run.id, "hello", lsoa_code=lsoa_of("Birmingham"))
    # Another city's home reads as absent: the refusal says nothing about it.
    with pytest.raises(RetrofitError) as other_city:
        review.add_comment(engine, COVENTRY, run.id, "hello", home_id="BHM-1")
    with pytest.raises(RetrofitError) as absent:
        review.add_comment(engine, COVENTRY, run.id, "hello", home_id="NOPE-1")
    assert str(other_city.value).replace("BHM-1", "X") == str(absent.value).replace("NOPE-1", "X")
    assert "among Coventry's homes" in str(absent.value)
    with pytest.raises(RetrofitError, match="may not comment"):
        review.add_comment(engine, VIEWER, run.id, "hello")
    assert review.comments_for(engine, MANAGER, run.id).empty


def test_a_partner_reads_the_runs_threads_and_their_own_citys_only(engine, run):
    review.add_comment(engine, MANAGER, run.id, "Please review by Friday.")
    secret = review.add_comment(engine, BIRMINGHAM, run.id, "BHM-0's tenant moved out.", home_id="BHM-0")
    review.add_comment(engine, COVENTRY, run.id, "COV-0 is a listed building.", home_id="COV-0")
    seen = review.comments_for(engine, COVENTRY, run.id)
    assert seen["text"].tolist() == ["Please review by Friday.", "COV-0 is a listed building."]
    assert len(review.comments_for(engine, ANALYST, run.id)) == 3
    with pytest.raises(RetrofitError, match="may not read comments of Birmingham"):
        review.comments_for(engine, COVENTRY, run.id, city="Birmingham")
    with pytest.raises(RetrofitError, match=f"no comment {secret.id} on run {run.id} that you can reply to"):
        review.add_comment(engine, COVENTRY, run.id, "Really?", reply_to=secret.id)
    with pytest.raises(RetrofitError, match="may not read comments"):
        review.comments_for(engine, VIEWER, run.id)


def test_replies_form_threads_on_their_parents_subject(engine, run):
    question = review.add_comment(engine, COVENTRY, run.id, "Why COV-2?", home_id="COV-2")
    other = review.add_comment(engine, MANAGER, run.id, "General note.")
    answer = review.add_comment(engine, MANAGER, run.id, "High fuel poverty.", reply_to=question.id)
    review.add_comment(engine, COVENTRY, run.id, "Thanks.", reply_to=answer.id)
    review.add_comment(engine, ANALYST, run.id, "Also a solid wall.", reply_to=question.id)
    assert answer.home_id == "COV-2" and answer.city == "Coventry"  # the reply joins the thread's subject
    table = review.comments_for(engine, COVENTRY, run.id)
    assert list(zip(table["text"], table["depth"])) == [
        ("Why COV-2?", 0), ("High fuel poverty.", 1), ("Thanks.", 2), ("Also a solid wall.", 1), ("General note.", 0)]
    assert table["thread"].tolist() == [question.id] * 4 + [other.id]


def test_comments_are_plain_text_within_a_limit(engine, run):
    markup = "<script>alert('x')</script> **bold** [link](http://evil.example)"
    stored = review.add_comment(engine, COVENTRY, run.id, f"  {markup}\r\nsecond line\x00\x1b  ")
    assert stored.text == f"{markup}\nsecond line"  # kept as written (less control characters); shown as text
    assert review.comments_for(engine, MANAGER, run.id)["text"].tolist() == [stored.text]
    with pytest.raises(RetrofitError, match="the comment is 4,001 characters long; the limit is 4,000"):
        review.add_comment(engine, COVENTRY, run.id, "x" * 4_001)
    with pytest.raises(RetrofitError, match="the comment is empty"):
        review.add_comment(engine, COVENTRY, run.id, " \n ")
    with pytest.raises(RetrofitError, match="LSOA 'E00000000' is not one of the three cities"):
        review.add_comment(engine, MANAGER, run.id, "where?", lsoa_code="E00000000")
    with pytest.raises(RetrofitError, match="no run with id 999"):
        review.add_comment(engine, MANAGER, 999, "which run?")


def test_characters_that_reorder_or_hide_text_are_dropped_from_comments_and_notes(engine, run):
    # "approve\u202e..." would display reversed (Trojan Source); zero-width characters hide words
    sneaky = "Costs are fine\u202e\u2066 (not\u200b) \u200dchecked\ufeff"
    stored = review.add_comment(engine, COVENTRY, run.id, sneaky)
    assert stored.text == "Costs are fine (not) checked"
    review.submit(engine, COVENTRY, run.id, "Coventry", note="ready\u2067\u200e for sign-off")
    assert review.review_status(engine, MANAGER, run.id).cities["Coventry"].note == "ready for sign-off"


@pytest.mark.parametrize("bad", ["\ud800", "half \udfff a pair"])
def test_text_that_is_not_text_is_refused_in_words(engine, run, bad):
    with pytest.raises(RetrofitError, match="not text .*type or paste it again"):
        review.add_comment(engine, COVENTRY, run.id, bad)
    with pytest.raises(RetrofitError, match="the note holds a character that is not text"):
        review.submit(engine, COVENTRY, run.id, "Coventry", note=bad)
    with pytest.raises(RetrofitError, match="the home id holds a character that is not text"):
        review.add_comment(engine, COVENTRY, run.id, "on a home", home_id=bad)
    assert review.comments_for(engine, MANAGER, run.id).empty


@pytest.mark.parametrize("reply_to", ["abc", "12; DROP TABLE comment", True, 2.5, 10**20, "²", -1, 0, [1]])
def test_a_reply_to_something_that_is_not_a_comment_number_is_refused(engine, run, reply_to):
    with pytest.raises(RetrofitError, match="reply_to must be a comment's number"):
        review.add_comment(engine, COVENTRY, run.id, "a reply", reply_to=reply_to)
    first = review.add_comment(engine, COVENTRY, run.id, "a question")
    assert review.add_comment(engine, COVENTRY, run.id, "an answer", reply_to=str(first.id)).reply_to == first.id

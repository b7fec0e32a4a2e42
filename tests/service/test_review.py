"""The review's state machine, its lock, and comment threads (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest

from retrofit.service import access, review
from retrofit.errors import RetrofitError
from retrofit.reference import CITIES
from retrofit.store.models import Run
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


# --- the rules, without a database -----------------------------------------------------------

AT = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)
WHEN = "02 Mar 2026 09:30"
BY = "pat@westmids.example"
PART = "Coventry's part of run 7"
# Every (state, step): the state it leads to, or the exact refusal. Written out from the
# README's workflow (draft -> submitted -> approved | changes_requested -> submitted).
MACHINE = {
    ("draft", "submit"): "submitted",
    ("draft", "approve"): f"{PART} is a draft: it must be submitted before it can be approved",
    ("draft", "request_changes"): f"{PART} is a draft: it must be submitted before it can be sent back",
    ("submitted", "submit"): f"{PART} is already submitted by {BY} on {WHEN}: it cannot be submitted twice",
    ("submitted", "approve"): "approved",
    ("submitted", "request_changes"): "changes_requested",
    ("approved", "submit"): f"{PART} is already approved by {BY} on {WHEN}: it cannot be submitted now. Comment "
                            f"on it, or plan a new scenario version (its run starts a new review)",
    ("approved", "approve"): f"{PART} is already approved by {BY} on {WHEN}: it cannot be approved twice",
    ("approved", "request_changes"): f"{PART} is already approved by {BY} on {WHEN}: it cannot be sent back now. "
                                     f"Comment on it, or plan a new scenario version (its run starts a new review)",
    ("changes_requested", "submit"): "submitted",
    ("changes_requested", "approve"): f"{PART} had changes requested (changes requested by {BY} on {WHEN}): it "
                                      f"must be submitted again before it can be approved",
    ("changes_requested", "request_changes"): f"{PART} is already changes requested by {BY} on {WHEN}: it cannot "
                                              f"be sent back twice",
}
STATES = ("draft", "submitted", "approved", "changes_requested")
STEPS = ("submit", "approve", "request_changes")


def test_the_machine_names_every_state_and_step():
    assert set(MACHINE) == {(state, step) for state in STATES for step in STEPS}
    assert set(review.REVIEW_STATES) == set(STATES) and set(review.STEPS) == set(STEPS)


@pytest.mark.parametrize(("state", "step"), list(MACHINE))
def test_every_step_from_every_state(state, step):
    current = review.Step(state) if state == "draft" else review.Step(state, BY, AT, "a note")
    expected = MACHINE[(state, step)]
    if expected in STATES:
        assert review.next_state(7, "Coventry", current, step) == expected
    else:
        with pytest.raises(RetrofitError) as refused:
            review.next_state(7, "Coventry", current, step)
        assert str(refused.value) == expected


def a_run(run_id: int = 7) -> Run:
    return Run(id=run_id, scenario_name="Pilot", scenario_version=1)


def step_row(city, state, note="", by=BY, at=AT) -> dict:
    return {"city": city, "state": state, "note": note, "created_by": by, "created_at": at}


def test_a_status_is_each_citys_latest_step():
    steps = [step_row("Coventry", "submitted"), step_row("Birmingham", "submitted"),
             step_row("Coventry", "changes_requested", "COV-1 twice", by=COVENTRY.who),
             step_row("Birmingham", "approved", "fine", by=BIRMINGHAM.who, at=AT.replace(tzinfo=None))]
    status = review.status_of(a_run(), steps, [2, 3])
    assert {city: step.state for city, step in status.cities.items()} == {
        "Birmingham": "approved", "Coventry": "changes_requested", "Wolverhampton": "draft"}
    assert status.cities["Birmingham"] == review.Step("approved", BIRMINGHAM.who, AT, "fine")  # stored without zone: UTC
    assert status.cities["Wolverhampton"] == review.Step("draft")
    assert (status.final, status.locked, status.all_cities_approved, status.newer_versions) == (None, False, False, [2, 3])
    as_coventry = review.status_of(a_run(), steps, [], COVENTRY)
    assert (as_coventry.cities["Coventry"].note, as_coventry.cities["Birmingham"].note) == ("COV-1 twice", "")
    assert as_coventry.cities["Birmingham"].by == BIRMINGHAM.who  # who and when are the programme's to see


def test_the_final_approval_waits_for_every_city_and_then_locks():
    approved = [step_row(city, "approved") for city in CITIES]
    waiting = review.status_of(a_run(), approved[:2] + [step_row("Wolverhampton", "changes_requested", "no")], [])
    with pytest.raises(RetrofitError) as refused:
        review.check_final_approval(waiting)
    assert str(refused.value) == ("run 7 cannot get the final approval yet: Wolverhampton is changes requested; all "
                                  "three cities must approve first")
    ready = review.status_of(a_run(), approved, [])
    review.check_final_approval(ready)
    review.check_open(ready)
    review.check_open(ready, comment=True)
    locked = review.status_of(a_run(), [*approved, step_row(None, "approved", "signed off")], [])
    assert locked.locked and locked.final.note == "signed off"
    with pytest.raises(RetrofitError) as closed:
        review.check_open(locked)
    assert str(closed.value) == (f"run 7 is locked: all three cities and the programme manager approved it (approved "
                                 f"by {BY} on {WHEN}); nothing in it can change. A changed plan needs a new version "
                                 f"of scenario 'Pilot', whose run starts a new review")
    with pytest.raises(RetrofitError) as no_comments:
        review.check_open(locked, comment=True)
    assert str(no_comments.value) == (f"run 7 is locked (signed off: approved by {BY} on {WHEN}); comments are closed. "
                                      f"Discuss the next scenario version's run instead")


def test_a_request_for_changes_needs_a_note():
    assert review.step_note("submit", None) == ""
    assert review.step_note("request_changes", " more homes in Foleshill\r\n") == "more homes in Foleshill"
    for empty in ("", "  \n", "\u200b"):
        with pytest.raises(RetrofitError, match="^say what needs to change: a note is required when requesting"):
            review.step_note("request_changes", empty)


@pytest.mark.parametrize(("written", "kept"), [
    (None, ""),
    ("  plain  ", "plain"),
    ("one\r\ntwo\rthree", "one\ntwo\nthree"),
    ("tab\tkept\x00\x1b\x7f\x85", "tab\tkept"),  # C0, DEL and C1 controls dropped
    ("left\u202eright\u2066\u200b\u200d\ufeff", "leftright"),  # bidirectional and zero-width
    ("<b>markup</b> **stays** as text", "<b>markup</b> **stays** as text"),
])
def test_text_is_kept_as_written_less_invisible_characters(written, kept):
    assert review.clean_text(written, 100, "comment") == kept


def test_text_too_long_or_not_text_is_refused_in_words():
    assert review.clean_text("x" * 10 + "\u200b" * 5, 10, "note") == "x" * 10  # counted after cleaning
    with pytest.raises(RetrofitError) as long:
        review.clean_text("x" * 4_001, 4_000, "comment")
    assert str(long.value) == "the comment is 4,001 characters long; the limit is 4,000: shorten it"
    with pytest.raises(RetrofitError) as surrogate:
        review.clean_text("ab\ud800", 10, "note")
    assert str(surrogate.value) == ("the note holds a character that is not text (U+D800 at character 3, half of a "
                                    "UTF-16 pair): type or paste it again")
    with pytest.raises(RetrofitError) as number:
        review.clean_text(12, 10, "home id")
    assert str(number.value) == "the home id must be text, not int"


@pytest.mark.parametrize(("reply_to", "number"), [(None, None), (12, 12), ("12", 12), (" 7 ", 7), (2**31 - 1, 2**31 - 1)])
def test_a_reply_answers_a_comment_number(reply_to, number):
    assert review.comment_number(reply_to) == number


@pytest.mark.parametrize("reply_to", [True, 0, -1, 2**31, "abc", "1e3", 2.0, "²", [1]])
def test_anything_else_is_not_a_comment_number(reply_to):
    with pytest.raises(RetrofitError, match=r"^reply_to must be a comment's number \(e.g. 12\), not "):
        review.comment_number(reply_to)


def test_a_reply_joins_its_parents_subject_if_the_person_may_read_it():
    parent = {"id": 3, "run_id": 7, "city": "Birmingham", "lsoa_code": "E01", "home_id": "BHM-0"}
    assert review.reply_subject(MANAGER, 7, 3, parent) == ("Birmingham", "E01", "BHM-0")
    on_run = {**parent, "city": None, "lsoa_code": None, "home_id": None}
    assert review.reply_subject(COVENTRY, 7, 3, on_run) == (None, None, None)
    for principal, found in ((COVENTRY, parent), (MANAGER, None), (MANAGER, {**parent, "run_id": 8})):
        with pytest.raises(RetrofitError) as refused:
            review.reply_subject(principal, 7, 3, found)
        assert str(refused.value) == "no comment 3 on run 7 that you can reply to"


def test_a_comment_on_a_home_takes_the_homes_city_and_lsoa():
    place = ("Coventry", "E01009550")
    assert review.home_subject(COVENTRY, 7, "COV-1", place, None, None) == ("Coventry", "E01009550", "COV-1")
    assert review.home_subject(MANAGER, 7, "COV-1", place, "Coventry", "E01009550") == place + ("COV-1",)
    assert review.home_subject(MANAGER, 7, "COV-1", ("Coventry", ""), None, None) == ("Coventry", None, "COV-1")
    for city, lsoa_code, mismatch in (("Birmingham", None, "Birmingham"), (None, "E01000001", "E01000001")):
        with pytest.raises(RetrofitError) as refused:
            review.home_subject(MANAGER, 7, "COV-1", place, city, lsoa_code)
        assert str(refused.value) == f"home COV-1 is in Coventry, LSOA E01009550, not {mismatch}"
    # another city's home and an absent one are refused in the same words
    for found in (("Birmingham", "E01000001"), None):
        with pytest.raises(RetrofitError) as refused:
            review.home_subject(COVENTRY, 7, "BHM-1", found, None, None)
        assert str(refused.value) == ("home BHM-1 is not among Coventry's homes in run 7: comment on a home of the "
                                      "plan, or on its LSOA")
    with pytest.raises(RetrofitError) as absent:
        review.home_subject(MANAGER, 7, "NOPE", None, None, None)
    assert str(absent.value) == "home NOPE is not in run 7's plan: comment on a home of the plan, or on its LSOA"


def test_a_comment_on_an_lsoa_takes_its_city():
    coventry = lsoa_of("Coventry")
    assert review.lsoa_subject(coventry, None) == ("Coventry", coventry, None)
    assert review.lsoa_subject(coventry, "Coventry") == ("Coventry", coventry, None)
    with pytest.raises(RetrofitError) as elsewhere:
        review.lsoa_subject(coventry, "Birmingham")
    assert str(elsewhere.value) == f"LSOA {coventry} is in Coventry, not Birmingham"
    with pytest.raises(RetrofitError, match="^LSOA 'E00000000' is not one of the three cities' 2021 LSOAs"):
        review.lsoa_subject("E00000000", None)


@pytest.mark.parametrize(("subject", "name"), [
    ((None, None, None), "run"), (("Coventry", None, None), "city:Coventry"),
    (("Coventry", "E01", None), "city:Coventry/lsoa:E01"), (("Coventry", "E01", "COV-1"), "city:Coventry/lsoa:E01/home:COV-1"),
    (("Coventry", None, "COV-1"), "city:Coventry/home:COV-1"),
])
def test_how_a_subject_is_named(subject, name):
    assert review.subject_name(*subject) == name


def comment_row(comment_id, city=None, reply_to=None, home_id=None) -> dict:
    return {"id": comment_id, "run_id": 7, "city": city, "lsoa_code": None, "home_id": home_id, "reply_to": reply_to,
            "author": BY, "text": f"comment {comment_id}", "created_at": AT.replace(tzinfo=None)}


def test_threads_in_order_and_only_what_the_person_may_read():
    comments = [comment_row(1, "Coventry", home_id="COV-1"), comment_row(2), comment_row(3, "Coventry", 1, "COV-1"),
                comment_row(4, "Birmingham"), comment_row(5, "Coventry", 3, "COV-1"), comment_row(6, None, 2),
                comment_row(7, "Coventry", 1, "COV-1"), comment_row(8, "Birmingham", 4)]
    table = review.comment_table(MANAGER, comments)
    assert list(zip(table["id"], table["thread"], table["depth"])) == [
        (1, 1, 0), (3, 1, 1), (5, 1, 2), (7, 1, 1), (2, 2, 0), (6, 2, 1), (4, 4, 0), (8, 4, 1)]
    assert table["created_at"].map(lambda moment: moment.tzinfo is not None).all()
    assert table.loc[0, "subject"] == "city:Coventry/home:COV-1"
    assert review.comment_table(COVENTRY, comments)["id"].tolist() == [1, 3, 5, 7, 2, 6]
    assert review.comment_table(MANAGER, comments, city="Birmingham")["id"].tolist() == [4, 8]
    assert review.comment_table(MANAGER, comments, home_id="COV-1")["id"].tolist() == [1, 3, 5, 7]
    assert comments[0]["created_at"].tzinfo is None  # the rows given are left as they were


def test_a_partners_history_is_their_citys_and_the_final_approval():
    steps = [{**step_row(city, "approved"), "id": number, "run_id": 7} for number, city in enumerate(CITIES, 1)]
    steps.append({**step_row(None, "approved"), "id": 4, "run_id": 7})
    assert review.history_table(COVENTRY, steps)["id"].tolist() == [2, 4]
    assert review.history_table(MANAGER, steps)["id"].tolist() == [1, 2, 3, 4]
    assert list(review.history_table(MANAGER, [])) == ["id", "run_id", "city", "state", "note", "created_by",
                                                       "created_at"]


# --- the state machine, stored ----------------------------------------------------------------

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

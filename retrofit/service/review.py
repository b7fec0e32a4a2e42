"""The cross-city review of a run: each city's sign-off, the final approval, and comments.

Each run has, per city, a state that moves only along these steps:

    draft --submit--> submitted --approve--> approved
      changes_requested <--request_changes-- submitted;  changes_requested --submit--> submitted

- submit: the programme manager, or the city's partner, puts the city's part up for sign-off;
- approve / request changes: only that city's partner decides (a note says what must change);
- final approval: the programme manager, once all three cities have approved. The run is
  then locked: no review step and no comment is accepted any more.

Reviews belong to a run, and runs are immutable: a changed plan means a new scenario
version, whose run starts its own review in draft for every city. So "a new scenario
version starts a new review" holds by construction; the status of an older run says when
its scenario has newer versions. Steps are append-only rows (`review` table): the latest
row per city is its state, and the history says who did what and when. Every step and
comment is in the audit log, written in the same transaction, after the run's row is locked.

Comments are threads on the run as a whole, or on a city, an LSOA or a home of it; they are
stored and shown as plain text. A city partner reads and writes the run's threads and their
own city's only.

The rules (the state machine `next_state`, the lock, text cleaning, what a comment may be
on) are pure functions of plain values; the queries are `retrofit.store.reviews`'.
"""

from __future__ import annotations

import numbers
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pandas as pd

from retrofit.errors import INVISIBLE_CATEGORIES, RetrofitError
from retrofit.reference import CITIES, lsoas
from retrofit.service.access import CITY_PARTNER, Principal, can, check_city, require
from retrofit.store import Connection, Engine, reviews
from retrofit.store.audit import record_event
from retrofit.store.database import reading, retrying, writing
from retrofit.store.models import REVIEW_STATES, Comment, Run, utc_now
from retrofit.store.runs import get_run

DRAFT, SUBMITTED, APPROVED, CHANGES_REQUESTED = REVIEW_STATES
# (state, step) -> the state it leads to; any other pair is refused in words
TRANSITIONS = {
    (DRAFT, "submit"): SUBMITTED,
    (CHANGES_REQUESTED, "submit"): SUBMITTED,
    (SUBMITTED, "approve"): APPROVED,
    (SUBMITTED, "request_changes"): CHANGES_REQUESTED,
}
STEPS = ("submit", "approve", "request_changes")
STEP_PERMISSION = {"submit": "submit_review", "approve": "decide_review", "request_changes": "decide_review"}
COMMENT_MAX_CHARS = 4_000  # a comment is a remark, not a report: longer text belongs in a document
NOTE_MAX_CHARS = 2_000
ID_MAX_CHARS = 100  # a home id or LSOA code a comment is on
KEPT_WHITESPACE = "\n\t"  # the only control characters a comment or note keeps


@dataclass(frozen=True)
class Step:
    """A city's state (or the final approval), who set it and when (None while draft)."""

    state: str
    by: str | None = None
    at: datetime | None = None
    note: str = ""

    def says(self) -> str:
        return self.state.replace("_", " ") + (f" by {self.by} on {self.at:%d %b %Y %H:%M}" if self.by else "")


@dataclass(frozen=True)
class ReviewStatus:
    run_id: int
    scenario_name: str
    scenario_version: int
    cities: dict[str, Step]
    final: Step | None = None
    newer_versions: list[int] = field(default_factory=list)  # of the same scenario: each run has its own review

    @property
    def locked(self) -> bool:
        """Approved by all three cities and the programme manager: nothing may change."""
        return self.final is not None

    @property
    def all_cities_approved(self) -> bool:
        return all(step.state == APPROVED for step in self.cities.values())

    def table(self) -> pd.DataFrame:
        rows = [{"city": city, "state": step.state, "by": step.by, "at": step.at, "note": step.note}
                for city, step in self.cities.items()]
        rows.append({"city": "Final approval (programme manager)", "state": self.final.state if self.final else
                     ("ready" if self.all_cities_approved else "waiting for the cities"),
                     "by": self.final.by if self.final else None, "at": self.final.at if self.final else None,
                     "note": self.final.note if self.final else ""})
        return pd.DataFrame(rows)


# --- the state machine: rules over plain values ---------------------------------------------------

def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def status_of(run: Run, steps: list[dict], newer_versions: list[int],
              principal: Principal | None = None) -> ReviewStatus:
    """The review's state from its steps (oldest first; each a dict of the `review` table's columns):
    each city's latest step (draft before any), and the final approval (the step without a city).

    With ``principal``, the notes of cities whose comments they may not read are left out.
    """
    latest: dict[str | None, Step] = {}
    for row in steps:  # steps of one run: a handful
        latest[row["city"]] = Step(row["state"], row["created_by"], _utc(row["created_at"]), row["note"])
    cities = {}
    for city in CITIES:
        step = latest.get(city, Step(DRAFT))
        if principal is not None and step.note and not can(principal, "read_comments", city):
            step = Step(step.state, step.by, step.at, "")  # another city's note may name its homes
        cities[city] = step
    return ReviewStatus(run.id, run.scenario_name, run.scenario_version, cities, latest.get(None),
                        list(newer_versions))


def step_state(step: str) -> str:
    """The state a step leads to when it is allowed."""
    return {"submit": SUBMITTED, "approve": APPROVED, "request_changes": CHANGES_REQUESTED}[step]


def next_state(run_id: int, city: str, current: Step, step: str) -> str:
    """The state ``step`` moves ``city``'s part of run ``run_id`` to from ``current`` (TRANSITIONS),
    or a RetrofitError saying why it cannot."""
    new_state = TRANSITIONS.get((current.state, step))
    if new_state is None:
        raise _refusal(run_id, city, step, current)
    return new_state


def _refusal(run_id: int, city: str, step: str, current: Step) -> RetrofitError:
    part = f"{city}'s part of run {run_id}"
    verb = {"submit": "submitted", "approve": "approved", "request_changes": "sent back"}[step]
    if current.state == DRAFT:
        return RetrofitError(f"{part} is a draft: it must be submitted before it can be {verb}")
    if current.state == step_state(step):
        return RetrofitError(f"{part} is already {current.says()}: it cannot be {verb} twice")
    if current.state == APPROVED:
        return RetrofitError(f"{part} is already {current.says()}: it cannot be {verb} now. Comment on it, or "
                             f"plan a new scenario version (its run starts a new review)")
    if current.state == CHANGES_REQUESTED:
        return RetrofitError(f"{part} had changes requested ({current.says()}): it must be submitted again "
                             f"before it can be {verb}")
    return RetrofitError(f"{part} is {current.says()}: it cannot be {verb} now")


def check_open(status: ReviewStatus, comment: bool = False) -> None:
    """Refuse any change (a review step, or with ``comment`` a comment) to a locked run."""
    if not status.locked:
        return
    if comment:
        raise RetrofitError(f"run {status.run_id} is locked (signed off: {status.final.says()}); comments are "
                            f"closed. Discuss the next scenario version's run instead")
    raise RetrofitError(f"run {status.run_id} is locked: all three cities and the programme manager approved it "
                        f"({status.final.says()}); nothing in it can change. A changed plan needs a new "
                        f"version of scenario {status.scenario_name!r}, whose run starts a new review")


def check_final_approval(status: ReviewStatus) -> None:
    """Refuse the final approval until every city has approved, naming those that have not."""
    if status.all_cities_approved:
        return
    waiting = ", ".join(f"{city} is {step.state.replace('_', ' ')}" for city, step in status.cities.items()
                        if step.state != APPROVED)
    raise RetrofitError(f"run {status.run_id} cannot get the final approval yet: {waiting}; all three cities "
                        f"must approve first")


def step_note(step: str, note: str | None) -> str:
    """A step's note, cleaned; requesting changes needs one."""
    note = clean_text(note, NOTE_MAX_CHARS, "note")
    if step == "request_changes" and not note:
        raise RetrofitError("say what needs to change: a note is required when requesting changes")
    return note


def clean_text(text: str | None, limit: int, what: str) -> str:
    """Plain text as the person wrote it, less control and format characters (those that reorder
    or hide text); refused when too long or not text at all (a lone surrogate cannot be stored)."""
    if not isinstance(text, str | None):
        raise RetrofitError(f"the {what} must be text, not {type(text).__name__}")
    text = text or ""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise RetrofitError(f"the {what} holds a character that is not text (U+{ord(text[error.start]):04X} at "
                            f"character {error.start + 1}, half of a UTF-16 pair): type or paste it again") from None
    # control and format characters (bidirectional overrides reorder a line, Trojan Source;
    # zero-width ones hide words) are dropped: a note must read as it was written
    cleaned = "".join(character for character in text.replace("\r\n", "\n").replace("\r", "\n")
                      if character in KEPT_WHITESPACE
                      or unicodedata.category(character) not in INVISIBLE_CATEGORIES).strip()
    if len(cleaned) > limit:
        raise RetrofitError(f"the {what} is {len(cleaned):,} characters long; the limit is {limit:,}: shorten it")
    return cleaned


# --- review steps: stored ---------------------------------------------------------------------

def _status(connection: Connection, run: Run, principal: Principal | None) -> ReviewStatus:
    steps = reviews.review_steps(connection, run.id)
    newer = reviews.newer_versions(connection, run.scenario_name, run.scenario_version)
    return status_of(run, steps, newer, principal)


def review_status(engine: Engine, principal: Principal, run_id: int) -> ReviewStatus:
    """Each city's state, the final approval and the lock (anyone with a role may read them)."""
    require(principal, "read_aggregates")
    run = get_run(engine, run_id)
    with reading(engine) as connection:
        return _status(connection, run, principal)


HISTORY_COLUMNS = ["id", "run_id", "city", "state", "note", "created_by", "created_at"]


def history_table(principal: Principal, steps: list[dict]) -> pd.DataFrame:
    """The review steps ``principal`` may read (a partner: their city's and the final approval)."""
    table = pd.DataFrame(steps, columns=HISTORY_COLUMNS)
    visible = table["city"].isna() | table["city"].map(
        lambda city: city is not None and can(principal, "read_comments", city))
    return table[visible.astype(bool)].reset_index(drop=True)


def review_history(engine: Engine, principal: Principal, run_id: int) -> pd.DataFrame:
    """Every step of the run's review the principal may read (a partner: their city and the final one)."""
    require(principal, "read_comments")
    get_run(engine, run_id)
    with reading(engine) as connection:
        steps = reviews.review_steps(connection, run_id)
    return history_table(principal, steps)


def _open_for_change(connection: Connection, run_id: int, comment: bool = False) -> tuple[Run, ReviewStatus]:
    """Lock the run's row for this transaction and refuse when its review is finished (locked)."""
    run = reviews.lock_run(connection, run_id)
    if run is None:
        raise RetrofitError(f"no run with id {run_id}")
    status = _status(connection, run, None)
    check_open(status, comment)
    return run, status


def _take_step(engine: Engine, principal: Principal, run_id: int, city: str, step: str, note: str) -> ReviewStatus:
    check_city(city)
    require(principal, STEP_PERMISSION[step], city)
    note = step_note(step, note)

    def attempt() -> ReviewStatus:
        with writing(engine) as connection:
            run, status = _open_for_change(connection, run_id)
            current = status.cities[city]
            new_state = next_state(run_id, city, current, step)
            reviews.insert_step(connection, run_id, city, new_state, note, principal.who)
            record_event(connection, principal.who, f"review.{step}", f"run:{run_id}/city:{city}",
                         {"from": current.state, "to": new_state, "note": note})
            return _status(connection, run, principal)

    return retrying(attempt)


def submit(engine: Engine, principal: Principal, run_id: int, city: str, note: str = "") -> ReviewStatus:
    """Put a city's part of a run up for its partner's sign-off (programme manager or that partner)."""
    return _take_step(engine, principal, run_id, city, "submit", note)


def approve(engine: Engine, principal: Principal, run_id: int, city: str, note: str = "") -> ReviewStatus:
    """The city's partner signs off their city's part of a submitted run."""
    return _take_step(engine, principal, run_id, city, "approve", note)


def request_changes(engine: Engine, principal: Principal, run_id: int, city: str, note: str) -> ReviewStatus:
    """The city's partner sends their city's part back, saying what must change."""
    return _take_step(engine, principal, run_id, city, "request_changes", note)


def final_approve(engine: Engine, principal: Principal, run_id: int, note: str = "") -> ReviewStatus:
    """The programme manager's approval once all three cities approved: the run is then locked."""
    require(principal, "final_approval")
    note = clean_text(note, NOTE_MAX_CHARS, "note")

    def attempt() -> ReviewStatus:
        with writing(engine) as connection:
            run, status = _open_for_change(connection, run_id)
            check_final_approval(status)
            reviews.insert_step(connection, run_id, None, APPROVED, note, principal.who)
            record_event(connection, principal.who, "review.final_approve", f"run:{run_id}",
                         {"note": note, "locked": True})
            return _status(connection, run, principal)

    return retrying(attempt)


# --- comments: rules over plain values ------------------------------------------------------------

def subject_name(city: str | None, lsoa_code: str | None, home_id: str | None) -> str:
    """How the audit log and the threads name a comment's subject: "run", "city:X/lsoa:Y/home:Z"..."""
    parts = [f"city:{city}" if city else "", f"lsoa:{lsoa_code}" if lsoa_code else "",
             f"home:{home_id}" if home_id else ""]
    return "/".join(part for part in parts if part) or "run"


def comment_number(reply_to) -> int | None:
    """The comment a reply answers, as a number; a refusal for anything else (a bool, text, 2.5, 10**20)."""
    if reply_to is None:
        return None
    written = str(reply_to).strip()
    number = (int(reply_to) if isinstance(reply_to, numbers.Integral) and not isinstance(reply_to, bool)
              else int(written) if isinstance(reply_to, str) and re.fullmatch(r"[0-9]{1,10}", written) else None)
    if number is None or not 0 < number < 2**31:
        raise RetrofitError(f"reply_to must be a comment's number (e.g. 12), not {written[:40]!r}")
    return number


def reply_subject(principal: Principal, run_id: int, reply_to: int, parent: dict | None) -> tuple:
    """(city, LSOA, home) of the thread a reply joins: its parent's (``parent``: the comment
    numbered ``reply_to``, None when there is none); the same refusal for a comment of another
    run or one the principal may not read."""
    if parent is None or parent["run_id"] != run_id or not can(principal, "read_comments", parent["city"]):
        raise RetrofitError(f"no comment {reply_to} on run {run_id} that you can reply to")
    return parent["city"], parent["lsoa_code"], parent["home_id"]


def home_subject(principal: Principal, run_id: int, home_id: str, place: tuple[str, str | None] | None,
                 city: str | None, lsoa_code: str | None) -> tuple:
    """(city, LSOA, home) of a comment on a home, whose (city, LSOA) in the run's plan is ``place``
    (None: not in the plan); refused when ``city`` or ``lsoa_code`` say otherwise."""
    if place is None or not can(principal, "comment", place[0]):
        # The same words whether the home is absent or another city's: a partner learns nothing of it.
        where = (f"among {principal.city}'s homes in run {run_id}" if principal.role == CITY_PARTNER
                 else f"in run {run_id}'s plan")
        raise RetrofitError(f"home {home_id} is not {where}: comment on a home of the plan, or on its LSOA")
    home_city, home_lsoa = place
    if (city and city != home_city) or (lsoa_code and home_lsoa and lsoa_code != home_lsoa):
        raise RetrofitError(f"home {home_id} is in {home_city}, LSOA {home_lsoa}, not {lsoa_code or city}")
    return home_city, home_lsoa or None, home_id


def lsoa_subject(lsoa_code: str, city: str | None) -> tuple:
    """(city, LSOA, None) of a comment on one of the three cities' LSOAs; refused for any other,
    or when ``city`` is not the LSOA's."""
    areas = lsoas()
    match = areas.loc[areas["lsoa_code"] == lsoa_code, "city"]
    if match.empty:
        raise RetrofitError(f"LSOA {lsoa_code!r} is not one of the three cities' 2021 LSOAs (e.g. E01009150)")
    if city and city != match.iloc[0]:
        raise RetrofitError(f"LSOA {lsoa_code} is in {match.iloc[0]}, not {city}")
    return str(match.iloc[0]), lsoa_code, None


COMMENT_COLUMNS = ["id", "thread", "depth", "reply_to", "subject", "city", "lsoa_code", "home_id", "author", "text",
                   "created_at"]


def comment_table(principal: Principal, comments: list[dict], city: str | None = None,
                  lsoa_code: str | None = None, home_id: str | None = None) -> pd.DataFrame:
    """The comments (oldest first; dicts of the `comment` table's columns) ``principal`` may read,
    on ``city``, ``lsoa_code`` or ``home_id`` when given, in thread order with each one's thread and depth."""
    comments = [dict(comment) for comment in comments
                if comment["city"] is None or can(principal, "read_comments", comment["city"])]
    if city:
        comments = [comment for comment in comments if comment["city"] == city]
    if lsoa_code:
        comments = [comment for comment in comments if comment["lsoa_code"] == lsoa_code]
    if home_id:
        comments = [comment for comment in comments if comment["home_id"] == home_id]
    by_id = {comment["id"]: comment for comment in comments}
    for comment in comments:  # comments of one run: tens, not homes
        parent = by_id.get(comment["reply_to"])
        comment["thread"] = parent["thread"] if parent else comment["id"]
        comment["depth"] = parent["depth"] + 1 if parent else 0
        comment["subject"] = subject_name(comment["city"], comment["lsoa_code"], comment["home_id"])
        comment["created_at"] = _utc(comment["created_at"])
    return pd.DataFrame(thread_order(comments), columns=COMMENT_COLUMNS)


def thread_order(comments: list[dict]) -> list[dict]:
    """Depth-first: a thread's root, then each reply followed by its own replies, oldest first."""
    children: dict[int | None, list[dict]] = {}
    ids = {comment["id"] for comment in comments}
    for comment in comments:
        parent = comment["reply_to"] if comment["reply_to"] in ids else None
        children.setdefault(parent, []).append(comment)
    ordered: list[dict] = []
    stack = list(reversed(children.get(None, [])))
    while stack:
        comment = stack.pop()
        ordered.append(comment)
        stack.extend(reversed(children.get(comment["id"], [])))
    return ordered


# --- comments: stored -------------------------------------------------------------------------

def _resolve_target(connection: Connection, principal: Principal, run_id: int, city, lsoa_code, home_id) -> tuple:
    """(city, lsoa, home) of a comment's subject, each consistent with the others, or a refusal."""
    city = check_city(city) if city else None
    home_id = clean_text(None if home_id is None else str(home_id), ID_MAX_CHARS, "home id")
    lsoa_code = clean_text(None if lsoa_code is None else str(lsoa_code), ID_MAX_CHARS, "LSOA code")
    if home_id:
        place = reviews.home_place(connection, run_id, home_id)
        return home_subject(principal, run_id, home_id, place, city, lsoa_code)
    if lsoa_code:
        return lsoa_subject(lsoa_code, city)
    return city, None, None


def add_comment(engine: Engine, principal: Principal, run_id: int, text: str, *, city: str | None = None,
                lsoa_code: str | None = None, home_id: str | None = None, reply_to: int | None = None) -> Comment:
    """A comment on the run, or on one of its cities, LSOAs or homes; a reply joins its thread's subject."""
    require(principal, "comment", city)
    body = clean_text(text, COMMENT_MAX_CHARS, "comment")
    reply_to = comment_number(reply_to)
    if not body:
        raise RetrofitError("the comment is empty: write something first")

    def attempt() -> Comment:
        with writing(engine) as connection:
            _open_for_change(connection, run_id, comment=True)
            if reply_to is not None:
                subject = reply_subject(principal, run_id, reply_to, reviews.comment_by_id(connection, reply_to))
            else:
                subject = _resolve_target(connection, principal, run_id, city, lsoa_code, home_id)
            require(principal, "comment", subject[0])
            values = dict(run_id=run_id, city=subject[0], lsoa_code=subject[1], home_id=subject[2],
                          reply_to=reply_to, author=principal.who, text=body, created_at=utc_now())
            comment_id = reviews.insert_comment(connection, values)
            record_event(connection, principal.who, "comment.add", f"run:{run_id}/{subject_name(*subject)}",
                         {"comment": comment_id, "reply_to": reply_to, "characters": len(body)})
            return Comment(id=comment_id, **values)

    return retrying(attempt)


def comments_for(engine: Engine, principal: Principal, run_id: int, *, city: str | None = None,
                 lsoa_code: str | None = None, home_id: str | None = None) -> pd.DataFrame:
    """The run's comments the principal may read, in thread order (each reply under what it answers).

    With ``city``, ``lsoa_code`` or ``home_id``, only threads on that subject; a city partner
    asking for another city's threads is refused.
    """
    require(principal, "read_comments", city)
    get_run(engine, run_id)
    with reading(engine) as connection:
        comments = reviews.run_comments(connection, run_id)
    return comment_table(principal, comments, city, lsoa_code, home_id)

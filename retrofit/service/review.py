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
comment is in the audit log, written in the same transaction.

Comments are threads on the run as a whole, or on a city, an LSOA or a home of it; they are
stored and shown as plain text. A city partner reads and writes the run's threads and their
own city's only.
"""

from __future__ import annotations

import numbers
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pandas as pd
from sqlalchemy import insert, select, text
from sqlalchemy.engine import Connection, Engine

from retrofit.service.access import Principal, can, check_city, require
from retrofit.errors import INVISIBLE_CATEGORIES, RetrofitError
from retrofit.reference import CITIES, lsoas
from retrofit.store.audit import record_event
from retrofit.store.database import reading, retrying, writing
from retrofit.store.models import Comment, Review, Run, ScenarioVersion, utc_now
from retrofit.store.runs import get_run

DRAFT, SUBMITTED, APPROVED, CHANGES_REQUESTED = "draft", "submitted", "approved", "changes_requested"
# (state, step) -> the state it leads to; any other pair is refused in words
TRANSITIONS = {
    (DRAFT, "submit"): SUBMITTED,
    (CHANGES_REQUESTED, "submit"): SUBMITTED,
    (SUBMITTED, "approve"): APPROVED,
    (SUBMITTED, "request_changes"): CHANGES_REQUESTED,
}
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
        rows = [{"city": city, "state": s.state, "by": s.by, "at": s.at, "note": s.note}
                for city, s in self.cities.items()]
        rows.append({"city": "Final approval (programme manager)", "state": self.final.state if self.final else
                     ("ready" if self.all_cities_approved else "waiting for the cities"),
                     "by": self.final.by if self.final else None, "at": self.final.at if self.final else None,
                     "note": self.final.note if self.final else ""})
        return pd.DataFrame(rows)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _status(connection: Connection, run: Run, principal: Principal | None) -> ReviewStatus:
    rows = connection.execute(select(Review).where(Review.run_id == run.id).order_by(Review.id)).all()
    latest: dict[str | None, Step] = {}
    for row in rows:  # steps of one run: a handful
        latest[row.city] = Step(row.state, row.created_by, _utc(row.created_at), row.note)
    cities = {}
    for city in CITIES:
        step = latest.get(city, Step(DRAFT))
        if principal is not None and step.note and not can(principal, "read_comments", city):
            step = Step(step.state, step.by, step.at, "")  # another city's note may name its homes
        cities[city] = step
    newer = connection.execute(select(ScenarioVersion.version).where(
        (ScenarioVersion.name == run.scenario_name) & (ScenarioVersion.version > run.scenario_version))
        .order_by(ScenarioVersion.version)).scalars()
    return ReviewStatus(run.id, run.scenario_name, run.scenario_version, cities, latest.get(None), list(newer))


def review_status(engine: Engine, principal: Principal, run_id: int) -> ReviewStatus:
    """Each city's state, the final approval and the lock (anyone with a role may read them)."""
    require(principal, "read_aggregates")
    run = get_run(engine, run_id)
    with reading(engine) as connection:
        return _status(connection, run, principal)


def review_history(engine: Engine, principal: Principal, run_id: int) -> pd.DataFrame:
    """Every step of the run's review the principal may read (a partner: their city and the final one)."""
    require(principal, "read_comments")
    get_run(engine, run_id)
    with reading(engine) as connection:
        rows = connection.execute(select(Review).where(Review.run_id == run_id).order_by(Review.id)).all()
    table = pd.DataFrame([dict(r._mapping) for r in rows],
                         columns=["id", "run_id", "city", "state", "note", "created_by", "created_at"])
    visible = table["city"].isna() | table["city"].map(lambda c: c is not None and can(principal, "read_comments", c))
    return table[visible.astype(bool)].reset_index(drop=True)


def _lock_run(connection: Connection, run_id: int) -> Run:
    """The run, locked for this transaction (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises)."""
    query = select(Run).where(Run.id == run_id)
    if connection.dialect.name == "postgresql":
        query = query.with_for_update()
    row = connection.execute(query).first()
    if row is None:
        raise RetrofitError(f"no run with id {run_id}")
    return Run.model_validate(dict(row._mapping))


def _open_for_change(connection, run_id: int, comment: bool = False) -> tuple[Run, ReviewStatus]:
    """Lock the run's row for this transaction and refuse when its review is finished (locked)."""
    run = _lock_run(connection, run_id)
    status = _status(connection, run, None)
    if status.locked and comment:
        raise RetrofitError(f"run {run_id} is locked (signed off: {status.final.says()}); comments are "
                            f"closed. Discuss the next scenario version's run instead")
    if status.locked:
        raise RetrofitError(f"run {run_id} is locked: all three cities and the programme manager approved it "
                            f"({status.final.says()}); nothing in it can change. A changed plan needs a new "
                            f"version of scenario {status.scenario_name!r}, whose run starts a new review")
    return run, status


def _refusal(status: ReviewStatus, city: str, step: str, current: Step) -> RetrofitError:
    part = f"{city}'s part of run {status.run_id}"
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


def step_state(step: str) -> str:
    return {"submit": SUBMITTED, "approve": APPROVED, "request_changes": CHANGES_REQUESTED}[step]


def _clean(text_: str, limit: int, what: str) -> str:
    """Plain text as the person wrote it, less control and format characters (those that reorder
    or hide text); refused when too long or not text at all (a lone surrogate cannot be stored)."""
    if not isinstance(text_, str | None):
        raise RetrofitError(f"the {what} must be text, not {type(text_).__name__}")
    text_ = text_ or ""
    try:
        text_.encode("utf-8")
    except UnicodeEncodeError as error:
        raise RetrofitError(f"the {what} holds a character that is not text (U+{ord(text_[error.start]):04X} at "
                            f"character {error.start + 1}, half of a UTF-16 pair): type or paste it again") from None
    # control and format characters (bidirectional overrides reorder a line, Trojan Source;
    # zero-width ones hide words) are dropped: a note must read as it was written
    cleaned = "".join(ch for ch in text_.replace("\r\n", "\n").replace("\r", "\n")
                      if ch in KEPT_WHITESPACE or unicodedata.category(ch) not in INVISIBLE_CATEGORIES).strip()
    if len(cleaned) > limit:
        raise RetrofitError(f"the {what} is {len(cleaned):,} characters long; the limit is {limit:,}: shorten it")
    return cleaned


def _take_step(engine: Engine, principal: Principal, run_id: int, city: str, step: str, note: str) -> ReviewStatus:
    check_city(city)
    require(principal, STEP_PERMISSION[step], city)
    note = _clean(note, NOTE_MAX_CHARS, "note")
    if step == "request_changes" and not note:
        raise RetrofitError("say what needs to change: a note is required when requesting changes")

    def attempt() -> ReviewStatus:
        with writing(engine) as connection:
            run, status = _open_for_change(connection, run_id)
            current = status.cities[city]
            new_state = TRANSITIONS.get((current.state, step))
            if new_state is None:
                raise _refusal(status, city, step, current)
            connection.execute(insert(Review.__table__).values(
                run_id=run_id, city=city, state=new_state, note=note, created_by=principal.who, created_at=utc_now()))
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
    note = _clean(note, NOTE_MAX_CHARS, "note")

    def attempt() -> ReviewStatus:
        with writing(engine) as connection:
            run, status = _open_for_change(connection, run_id)
            if not status.all_cities_approved:
                waiting = ", ".join(f"{city} is {s.state.replace('_', ' ')}" for city, s in status.cities.items()
                                    if s.state != APPROVED)
                raise RetrofitError(f"run {run_id} cannot get the final approval yet: {waiting}; all three cities "
                                    f"must approve first")
            connection.execute(insert(Review.__table__).values(
                run_id=run_id, city=None, state=APPROVED, note=note, created_by=principal.who, created_at=utc_now()))
            record_event(connection, principal.who, "review.final_approve", f"run:{run_id}",
                         {"note": note, "locked": True})
            return _status(connection, run, principal)

    return retrying(attempt)


# --- comments -------------------------------------------------------------------------------

def _target(city: str | None, lsoa_code: str | None, home_id: str | None) -> str:
    parts = [f"city:{city}" if city else "", f"lsoa:{lsoa_code}" if lsoa_code else "", f"home:{home_id}" if home_id else ""]
    return "/".join(p for p in parts if p) or "run"


def _resolve_target(connection: Connection, principal: Principal, run_id: int, city, lsoa_code, home_id):
    """(city, lsoa, home) of a comment's subject, each consistent with the others, or a refusal."""
    city = check_city(city) if city else None
    home_id = _clean(None if home_id is None else str(home_id), ID_MAX_CHARS, "home id")
    lsoa_code = _clean(None if lsoa_code is None else str(lsoa_code), ID_MAX_CHARS, "LSOA code")
    if home_id:
        row = connection.execute(text("SELECT city, lsoa_code FROM plan_row WHERE run_id = :run AND home_id = :home"),
                                 {"run": run_id, "home": home_id}).first()
        if row is None or not can(principal, "comment", row.city):
            # The same words whether the home is absent or another city's: a partner learns nothing of it.
            where = (f"among {principal.city}'s homes in run {run_id}" if principal.role == "city_partner"
                     else f"in run {run_id}'s plan")
            raise RetrofitError(f"home {home_id} is not {where}: comment on a home of the plan, or on its LSOA")
        if (city and city != row.city) or (lsoa_code and row.lsoa_code and lsoa_code != row.lsoa_code):
            raise RetrofitError(f"home {home_id} is in {row.city}, LSOA {row.lsoa_code}, not {lsoa_code or city}")
        return row.city, row.lsoa_code or None, home_id
    if lsoa_code:
        table = lsoas()
        match = table.loc[table["lsoa_code"] == lsoa_code, "city"]
        if match.empty:
            raise RetrofitError(f"LSOA {lsoa_code!r} is not one of the three cities' 2021 LSOAs (e.g. E01009150)")
        if city and city != match.iloc[0]:
            raise RetrofitError(f"LSOA {lsoa_code} is in {match.iloc[0]}, not {city}")
        return str(match.iloc[0]), lsoa_code, None
    return city, None, None


def add_comment(engine: Engine, principal: Principal, run_id: int, text_: str, *, city: str | None = None,
                lsoa_code: str | None = None, home_id: str | None = None, reply_to: int | None = None) -> Comment:
    """A comment on the run, or on one of its cities, LSOAs or homes; a reply joins its thread's subject."""
    require(principal, "comment", city)
    body = _clean(text_, COMMENT_MAX_CHARS, "comment")
    reply_to = _comment_number(reply_to)
    if not body:
        raise RetrofitError("the comment is empty: write something first")

    def attempt() -> Comment:
        with writing(engine) as connection:
            run, status = _open_for_change(connection, run_id, comment=True)
            if reply_to is not None:
                parent = connection.execute(select(Comment).where(Comment.id == reply_to)).first()
                if parent is None or parent.run_id != run_id or not can(principal, "read_comments", parent.city):
                    raise RetrofitError(f"no comment {reply_to} on run {run_id} that you can reply to")
                subject = (parent.city, parent.lsoa_code, parent.home_id)
            else:
                subject = _resolve_target(connection, principal, run_id, city, lsoa_code, home_id)
            require(principal, "comment", subject[0])
            values = dict(run_id=run_id, city=subject[0], lsoa_code=subject[1], home_id=subject[2],
                          reply_to=reply_to, author=principal.who, text=body, created_at=utc_now())
            comment_id = connection.execute(insert(Comment.__table__).values(**values)
                                            .returning(Comment.__table__.c.id)).scalar_one()
            record_event(connection, principal.who, "comment.add", f"run:{run_id}/{_target(*subject)}",
                         {"comment": comment_id, "reply_to": reply_to, "characters": len(body)})
            return Comment(id=comment_id, **values)

    return retrying(attempt)


def _comment_number(reply_to) -> int | None:
    """The comment a reply answers, as a number; a refusal for anything else (a bool, text, 2.5, 10**20)."""
    if reply_to is None:
        return None
    text_ = str(reply_to).strip()
    number = (int(reply_to) if isinstance(reply_to, numbers.Integral) and not isinstance(reply_to, bool)
              else int(text_) if isinstance(reply_to, str) and re.fullmatch(r"[0-9]{1,10}", text_) else None)
    if number is None or not 0 < number < 2**31:
        raise RetrofitError(f"reply_to must be a comment's number (e.g. 12), not {text_[:40]!r}")
    return number


COMMENT_COLUMNS = ["id", "thread", "depth", "reply_to", "subject", "city", "lsoa_code", "home_id", "author", "text",
                   "created_at"]


def comments_for(engine: Engine, principal: Principal, run_id: int, *, city: str | None = None,
                 lsoa_code: str | None = None, home_id: str | None = None) -> pd.DataFrame:
    """The run's comments the principal may read, in thread order (each reply under what it answers).

    With ``city``, ``lsoa_code`` or ``home_id``, only threads on that subject; a city partner
    asking for another city's threads is refused.
    """
    require(principal, "read_comments", city)
    get_run(engine, run_id)
    with reading(engine) as connection:
        rows = connection.execute(select(Comment).where(Comment.run_id == run_id).order_by(Comment.id)).all()
    comments = [dict(r._mapping) for r in rows if r.city is None or can(principal, "read_comments", r.city)]
    if city:
        comments = [c for c in comments if c["city"] == city]
    if lsoa_code:
        comments = [c for c in comments if c["lsoa_code"] == lsoa_code]
    if home_id:
        comments = [c for c in comments if c["home_id"] == home_id]
    by_id = {c["id"]: c for c in comments}
    for comment in comments:  # comments of one run: tens, not homes
        parent = by_id.get(comment["reply_to"])
        comment["thread"] = parent["thread"] if parent else comment["id"]
        comment["depth"] = parent["depth"] + 1 if parent else 0
        comment["subject"] = _target(comment["city"], comment["lsoa_code"], comment["home_id"])
        comment["created_at"] = _utc(comment["created_at"])
    ordered = _thread_order(comments)
    return pd.DataFrame(ordered, columns=COMMENT_COLUMNS)


def _thread_order(comments: list[dict]) -> list[dict]:
    """Depth-first: a thread's root, then each reply followed by its own replies, oldest first."""
    children: dict[int | None, list[dict]] = {}
    ids = {c["id"] for c in comments}
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

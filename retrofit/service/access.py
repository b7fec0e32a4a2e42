"""Who may see and do what: roles, cities, the people who sign in, and the audit log.

Four roles (`retrofit.store.models.ROLES`):

- programme manager: every city; scenarios, runs, users, the audit log and the final approval;
- city partner: one city; that city's home-level rows, comments and sign-off, and the
  programme's aggregates (KPIs by city and year) for all cities;
- analyst: every city's rows; scenarios, runs and the measure library; no sign-off;
- viewer: the programme's aggregates only.

Access is enforced here, not by hiding widgets: every function that returns home-level rows
or writes takes the acting `Principal` and refuses in words (a RetrofitError naming the rule)
what their role and city do not allow. Pages only lay out what these functions return.

The rules (`can`, `require`, `user_values`, `sign_in_refusal`, ...) are pure functions of
plain values; the queries are `retrofit.store.users` and `retrofit.store.audit`'s. A change
and its audit event are written in one transaction.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from retrofit.errors import RetrofitError
from retrofit.plan import breakdown, plan_kpis
from retrofit.reference import CITIES
from retrofit.store import Connection, Engine, users
from retrofit.store.audit import current_user, read_events, record_event
from retrofit.store.database import retrying, writing
from retrofit.store.models import ROLES, User, utc_now
from retrofit.store.runs import get_run, read_plan

PROGRAMME_MANAGER, CITY_PARTNER, ANALYST, VIEWER = ROLES
ROLE_NAMES = {PROGRAMME_MANAGER: "programme manager", CITY_PARTNER: "city partner", ANALYST: "analyst",
              VIEWER: "viewer"}

# Scope of an action for a role: "all" cities, the partner's "own" city, or "own_or_run"
# (their own city, or the run as a whole, e.g. a comment on the whole run).
_ALL, _OWN, _OWN_OR_RUN = "all", "own", "own_or_run"
PERMISSIONS: dict[str, tuple[str, dict[str, str]]] = {
    # action: (what it is, in words; {role: scope})
    "read_aggregates": ("read the programme's aggregates",
                        {PROGRAMME_MANAGER: _ALL, CITY_PARTNER: _ALL, ANALYST: _ALL, VIEWER: _ALL}),
    "read_homes": ("read home-level rows", {PROGRAMME_MANAGER: _ALL, CITY_PARTNER: _OWN, ANALYST: _ALL}),
    "export_plan": ("export a whole plan", {PROGRAMME_MANAGER: _ALL, ANALYST: _ALL}),
    "read_comments": ("read comments", {PROGRAMME_MANAGER: _ALL, CITY_PARTNER: _OWN_OR_RUN, ANALYST: _ALL}),
    "comment": ("comment", {PROGRAMME_MANAGER: _ALL, CITY_PARTNER: _OWN_OR_RUN, ANALYST: _ALL}),
    "submit_review": ("submit a city's part of a run for sign-off", {PROGRAMME_MANAGER: _ALL, CITY_PARTNER: _OWN}),
    "decide_review": ("approve or request changes to a city's part of a run", {CITY_PARTNER: _OWN}),
    "final_approval": ("give a run the final approval", {PROGRAMME_MANAGER: _ALL}),
    "edit_scenarios": ("create or change scenarios", {PROGRAMME_MANAGER: _ALL, ANALYST: _ALL}),
    "run": ("run scenarios", {PROGRAMME_MANAGER: _ALL, ANALYST: _ALL}),
    "edit_library": ("edit the measure library", {PROGRAMME_MANAGER: _ALL, ANALYST: _ALL}),
    "import_stock": ("import a housing stock", {PROGRAMME_MANAGER: _ALL, ANALYST: _ALL}),
    "manage_users": ("manage users", {PROGRAMME_MANAGER: _ALL}),
    "read_audit": ("read the audit log", {PROGRAMME_MANAGER: _ALL}),
}
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Principal:
    """The person acting: their role and, for a city partner, their city."""

    name: str
    role: str
    city: str | None = None
    email: str | None = None
    local: bool = False  # the single local programme manager of an app without sign-in

    @property
    def who(self) -> str:
        """How the audit log and reviews name them: their email when they signed in."""
        return self.email or self.name

    def describe(self) -> str:
        role = f"{self.city}'s city partner" if self.role == CITY_PARTNER else f"the {ROLE_NAMES[self.role]}"
        return f"{role} ({self.who})"


def local_principal() -> Principal:
    """The one user of an app without an identity provider: a programme manager."""
    return Principal(name=current_user(), role=PROGRAMME_MANAGER, local=True)


def check_city(city: str) -> str:
    if city not in CITIES:
        raise RetrofitError(f"unknown city {city!r}: use one of {', '.join(CITIES)}")
    return city


def can(principal: Principal, action: str, city: str | None = None) -> bool:
    """Whether ``principal`` may do ``action`` (for ``city``; None: the programme or run as a whole)."""
    if action not in PERMISSIONS:
        raise ValueError(f"unknown action {action!r}")
    scope = PERMISSIONS[action][1].get(principal.role)
    if scope is None:
        return False
    if scope == _ALL:
        return True
    if city is None:
        return scope == _OWN_OR_RUN
    return city == principal.city


def require(principal: Principal, action: str, city: str | None = None) -> None:
    """Raise a RetrofitError naming the rule unless ``principal`` may do ``action`` (for ``city``)."""
    if can(principal, action, city):
        return
    what, scopes = PERMISSIONS[action]
    allowed = [ROLE_NAMES[role] + (" (own city)" if scope != _ALL else "") for role, scope in scopes.items()]
    if principal.role == CITY_PARTNER and principal.role in scopes:
        where = f"of {city}" if city else "for the programme as a whole"
        raise RetrofitError(f"{principal.describe()} may not {what} {where}: city partners may do this for "
                            f"{principal.city} only")
    raise RetrofitError(f"{principal.describe()} may not {what}: only the {', '.join(allowed)} may")


def home_cities(principal: Principal) -> list[str]:
    """The cities whose home-level rows ``principal`` may read (empty for a viewer)."""
    return [city for city in CITIES if can(principal, "read_homes", city)]


# --- access-controlled reads ------------------------------------------------------------------

def allowed_home_cities(principal: Principal, cities: list[str] | tuple[str, ...] | None = None) -> list[str]:
    """The cities to read home rows of: ``cities`` (all the principal may read when None), checked."""
    if cities is None:
        if not home_cities(principal):
            require(principal, "read_homes")
        return home_cities(principal)
    for city in cities:
        check_city(city)
        require(principal, "read_homes", city)
    return list(cities)


def filter_plan_for(principal: Principal, plan: pd.DataFrame, cities=None) -> pd.DataFrame:
    """A plan's rows that ``principal`` may read, of ``cities`` (a refusal for a city they may not)."""
    allowed = allowed_home_cities(principal, cities)
    return plan[plan["city"].isin(allowed)].reset_index(drop=True)


def plan_rows_for(engine: Engine, principal: Principal, run_id: int, cities=None) -> pd.DataFrame:
    """A stored run's home-level plan rows, of ``cities`` (default: all that ``principal`` may read).

    A city partner asking for another city's homes gets a RetrofitError, not an empty table.
    """
    allowed = allowed_home_cities(principal, cities)  # refuse before reading anything
    return filter_plan_for(principal, read_plan(engine, run_id), allowed)


def aggregates_of(plan: pd.DataFrame, kpis: dict | None = None) -> dict:
    """The programme's aggregates of a plan: KPIs overall, by city, by year and by city and year."""
    return {"kpis": kpis if kpis is not None else plan_kpis(plan), "by_city": breakdown(plan, "city"),
            "by_year": breakdown(plan, "year"), "by_city_year": breakdown(plan, ["city", "year"])}


def programme_aggregates(engine: Engine, principal: Principal, run_id: int) -> dict:
    """A run's KPIs overall and by city and year, with no home row: anyone with a role may read them."""
    require(principal, "read_aggregates")
    run = get_run(engine, run_id)
    return aggregates_of(read_plan(engine, run_id), run.kpis)


# --- users: the rules -----------------------------------------------------------------------

_UNCHANGED = object()


def normal_email(email: str | None) -> str:
    """An email as people are known by it: no surrounding spaces, lower case."""
    return (email or "").strip().lower()


def user_values(email: str, role: str, city: str | None, name: str | None) -> dict:
    """A user's email, role, city and name, checked and normalised; a refusal in words for a user
    that makes no sense (not an email, an unknown role, a partner without a city, a city for anyone else)."""
    email = normal_email(email)
    if not EMAIL.match(email):
        raise RetrofitError(f"{email!r} is not an email address; users are known by the email they sign in with")
    if role not in ROLES:
        raise RetrofitError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    if role == CITY_PARTNER:
        if not city:
            raise RetrofitError(f"a city partner needs a city ({', '.join(CITIES)}); none given for {email}")
        check_city(city)
    elif city:
        raise RetrofitError(f"only city partners have a city; a {ROLE_NAMES[role]} ({email}) sees every city: "
                            f"leave the city empty")
    return {"email": email, "role": role, "city": city if role == CITY_PARTNER else None,
            "name": (name or "").strip() or email}


def changes_to(user: User, values: dict) -> dict:
    """What ``values`` change in ``user``: {column: [before, after]} (empty when nothing)."""
    return {column: [getattr(user, column), value] for column, value in values.items()
            if getattr(user, column) != value}


def takes_away_a_programme_manager(user: User, values: dict) -> bool:
    """Whether giving ``user`` these ``values`` leaves one active programme manager fewer."""
    if user.role != PROGRAMME_MANAGER or not user.active:
        return False
    return not (values["role"] == PROGRAMME_MANAGER and values["active"])


def bound_elsewhere(user: User, subject: str | None) -> bool:
    """Whether ``user`` is bound to another account of the identity provider than ``subject``."""
    return subject is not None and user.identity_subject not in (None, subject)


def sign_in_refusal(user: User | None, subject: str | None) -> str:
    """Why ``user`` may not sign in with ``subject``, as the audit log says it ("" when they may)."""
    if user is None:
        return "not registered"
    if not user.active:
        return "deactivated"
    if bound_elsewhere(user, subject):
        return "another account"
    return ""


def principal_of(user: User) -> Principal:
    return Principal(name=user.name, role=user.role, city=user.city, email=user.email)


# --- users: stored ----------------------------------------------------------------------------

def add_user(engine: Engine, actor: Principal, email: str, role: str, city: str | None = None,
             name: str | None = None) -> User:
    """Register a person by the email they sign in with, with a role (and a city for a partner)."""
    require(actor, "manage_users")
    values = user_values(email, role, city, name)

    def attempt() -> User:
        with writing(engine) as connection:
            taken = users.user_with_email_or_name(connection, values["email"], values["name"])
            if taken is not None:
                field = "email" if taken.email == values["email"] else "name"
                raise RetrofitError(f"a user with {field} {values[field]!r} already exists; change that user instead")
            stamped = {**values, "active": True, "created_at": utc_now()}
            new_id = users.insert_user(connection, stamped)
            record_event(connection, actor.who, "user.add", f"user:{values['email']}",
                         {"role": role, "city": values["city"]})
            return User(id=new_id, **stamped)

    return retrying(attempt, retry_on=users.KEY_RACES)


def change_user(engine: Engine, actor: Principal, email: str, *, role: str | None = None, city=_UNCHANGED,
                active: bool | None = None, name: str | None = None, forget_identity: bool = False) -> User:
    """Change a user's role, city, name or whether they may sign in (None / unchanged: kept).

    ``forget_identity``: the account they signed in with is forgotten, and their next sign-in binds
    a new one (for a person whose account at the identity provider was replaced).
    """
    require(actor, "manage_users")
    email = normal_email(email)

    def attempt() -> User:
        with writing(engine) as connection:
            user = users.user_by_email(connection, email)
            if user is None:
                raise RetrofitError(f"no user with email {email!r}; add them first")
            new_role = role or user.role
            new_city = user.city if city is _UNCHANGED else city
            if new_role != CITY_PARTNER and city is _UNCHANGED:
                new_city = None
            values = user_values(email, new_role, new_city, name if name is not None else user.name)
            values["active"] = user.active if active is None else bool(active)
            _keep_a_programme_manager(connection, user, values)
            changes = changes_to(user, values)
            if forget_identity and user.identity_subject is not None:
                values["identity_subject"] = None
                changes["identity_subject"] = ["bound", "forgotten"]
            if not changes:
                return user
            users.update_user(connection, user.id, values)
            action = "user.deactivate" if changes.get("active") == [True, False] else "user.change"
            record_event(connection, actor.who, action, f"user:{email}", changes)
            return user.model_copy(update=values)

    return retrying(attempt, retry_on=users.KEY_RACES)


def _keep_a_programme_manager(connection: Connection, user: User, values: dict) -> None:
    """Nobody may remove the last active programme manager: no one could manage users after."""
    if not takes_away_a_programme_manager(user, values):
        return
    if not users.count_active(connection, PROGRAMME_MANAGER, other_than=user.id):
        raise RetrofitError(f"{user.email} is the last active programme manager; make someone else programme "
                            f"manager first")


def deactivate_user(engine: Engine, actor: Principal, email: str) -> User:
    """Stop a person signing in (their reviews, comments and audit events stay)."""
    return change_user(engine, actor, email, active=False)


def list_users(engine: Engine, actor: Principal) -> pd.DataFrame:
    require(actor, "manage_users")
    columns = ["email", "name", "role", "city", "active", "account_bound", "created_at"]
    people = [{**user.model_dump(), "account_bound": user.identity_subject is not None}
              for user in users.all_users(engine)]
    return pd.DataFrame(people, columns=["id", *columns])[columns]


def principal_for(engine: Engine, email: str | None, subject: str | None = None) -> Principal | None:
    """The active user with this email as a principal, or None (no audit event: a lookup each page run).

    With ``subject`` (the sign-in's fixed identity), None too when the user is bound to another one.
    """
    user = users.active_user(engine, normal_email(email))
    if user is None or bound_elsewhere(user, subject):
        return None
    return principal_of(user)


def sign_in(engine: Engine, email: str | None, name: str | None = None,
            programme_managers: tuple[str, ...] | list[str] = (), subject: str | None = None) -> Principal:
    """The principal for someone the identity provider vouched for, and a `sign_in` audit event.

    People are known by their email. ``programme_managers`` (from the app's secrets) are
    registered as programme managers the first time they sign in, so a new database has
    someone to add everyone else. ``subject`` (`retrofit.service.identity.Identity.subject`) is kept
    with the user at their first sign-in; a later sign-in with the same email and another
    subject is refused (someone else's account claiming the email). Unknown or deactivated
    people are refused too; every refusal is audited (`sign_in.refused`).
    """
    email = normal_email(email)
    if not email:
        raise RetrofitError("the identity provider gave no email for this account; ask its administrator to "
                            "release the email claim")
    bootstrap = email in {normal_email(listed) for listed in programme_managers}

    def attempt() -> tuple[Principal | None, str]:
        with writing(engine) as connection:
            user = users.user_by_email(connection, email)
            if user is None and bootstrap:
                values = {**user_values(email, PROGRAMME_MANAGER, None, name), "active": True,
                          "created_at": utc_now()}
                users.insert_user(connection, values)
                record_event(connection, email, "user.add", f"user:{email}",
                             {"role": PROGRAMME_MANAGER, "city": None, "source": "programme_managers in secrets"})
                user = users.user_by_email(connection, email)
            reason = sign_in_refusal(user, subject)
            if reason:
                record_event(connection, email, "sign_in.refused", f"user:{email}", {"reason": reason})
                return None, reason
            details = {"role": user.role, "city": user.city}
            if subject is not None and user.identity_subject is None:
                users.bind_identity(connection, user.id, subject)
                details["identity"] = "bound at first sign-in"
            record_event(connection, email, "sign_in", f"user:{email}", details)
            return principal_of(user), ""

    principal, reason = retrying(attempt, retry_on=users.KEY_RACES)
    if reason == "another account":
        raise RetrofitError(f"{email} is registered to another account of the identity provider: this sign-in is "
                            f"refused. If the person's account was replaced, a programme manager can clear the "
                            f"old one (Admin page, Forget sign-in identity)")
    if principal is None:
        raise RetrofitError(f"{email} may not use the planner: the account is not registered or was deactivated. "
                            f"Ask a programme manager to add it (Admin page)")
    return principal


# --- audit log --------------------------------------------------------------------------------

AUDIT_COLUMNS = ["id", "created_at", "who", "action", "target", "details"]


def audit_events(engine: Engine, principal: Principal, *, who: str | None = None, action: str | None = None,
                 since: datetime | None = None, until: datetime | None = None,
                 limit: int | None = None) -> pd.DataFrame:
    """The audit log, newest first, filtered by who, action (prefix, e.g. "review.") and time."""
    require(principal, "read_audit")
    if who and "@" in who:
        who = normal_email(who)  # people who sign in are logged by their email
    rows = read_events(engine, who=who, action_prefix=action, since=since, until=until, limit=limit)
    table = pd.DataFrame(rows, columns=AUDIT_COLUMNS)
    if len(table):
        table["created_at"] = pd.to_datetime(table["created_at"], utc=True)
    return table


def audit_csv(engine: Engine, principal: Principal, **filters) -> bytes:
    """The audit log as CSV (details as JSON); the export itself is audited."""
    table = audit_events(engine, principal, **filters)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(AUDIT_COLUMNS)
    for row in table.itertuples(index=False):  # events, not homes: a few thousand rows
        writer.writerow([row.id, row.created_at.isoformat(), row.who, row.action, row.target,
                         json.dumps(row.details, sort_keys=True)])
    with writing(engine) as connection:
        record_event(connection, principal.who, "audit.export", "audit", {"rows": len(table), **{
            key: str(value) for key, value in filters.items() if value is not None}})
    return buffer.getvalue().encode("utf-8")

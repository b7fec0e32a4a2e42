"""The database tables (SQLModel). Changing one needs a migration in `migrations/versions/`.

Scenarios are versioned (name + version, never overwritten); runs are immutable and keep
the hashes of their inputs; a run's plan rows live in their own table, one per chosen home.
Users, reviews, comments and audit events serve the cross-city review: reviews
and audit events are append-only histories, so "who did what when" is never lost.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import JSON, Column, DateTime, UniqueConstraint
from sqlmodel import Field, SQLModel

from retrofit.candidates import TRADE_COLUMNS

ROLES = ("programme_manager", "city_partner", "analyst", "viewer")
REVIEW_STATES = ("draft", "submitted", "approved", "changes_requested")

# The plan columns a run stores: the decision (home, package, year), the candidate's metrics
# and the home's context; optional ones are null when the plan did not carry them. Text and
# integer columns are listed; every other one is a float.
# How a row is paid for (grant funding): council money, grants and the owner's co-funding sum
# to cost_gbp; `funding` names the schemes that pay (";"-separated, "" for council money only).
# Each scheme's grant is a plan column grant_<id>_gbp (`retrofit.plan.grant_column`), stored
# together as `grants`, a JSON object {id: £} of the row's non-zero ones (null when none).
# All are null for a run stored before they existed, or whose plan is council money only:
# `runs.read_plan` gives such rows council_gbp = cost_gbp, no grant, no co-funding, funding "".
PLAN_FUNDING = ("council_gbp", "grant_gbp", "co_funding_gbp", "funding")
PLAN_GRANTS = "grants"
PLAN_TEXT = ("home_id", "package_id", "city", "lsoa_code", "tenure", "band_after", "band_before", "ward",
             "funding", PLAN_GRANTS)
PLAN_INTEGER = ("year", "imd_decile")
PLAN_DELIVERY = ("uptake", "cost_sd_gbp")  # [delivery]: each home's uptake probability and cost spread
PLAN_OPTIONAL = ("band_before", "ward", "sap_before", "fuel_poverty_probability", *TRADE_COLUMNS,
                 *PLAN_FUNDING, PLAN_GRANTS, *PLAN_DELIVERY)
PLAN_COLUMNS = (
    "home_id", "package_id", "year", "cost_gbp", *PLAN_FUNDING, PLAN_GRANTS, "annual_kwh_saved",
    "annual_co2_t_saved", "lifetime_co2_t_saved", "annual_bill_saving_gbp", "sap_before", "sap_after",
    "band_before", "band_after", "fuel_poor_lifted", "fp_bill_saving_gbp", "fuel_poverty_probability",
    "labour_days", "jobs_fte_years", *TRADE_COLUMNS, "city", "lsoa_code", "ward", "tenure", "imd_decile",
    *PLAN_DELIVERY,
)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _when() -> Column:
    return Column(DateTime(timezone=True), nullable=False)


class ScenarioVersion(SQLModel, table=True):
    """One version of a named scenario: the TOML as the user wrote it, and its content hash."""

    __tablename__ = "scenario"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_scenario_name_version"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True)
    version: int
    description: str = ""
    toml: str
    content_hash: str = Field(index=True)
    created_by: str
    created_at: datetime = Field(default_factory=utc_now, sa_column=_when())


class Run(SQLModel, table=True):
    """One solve of one scenario version on one set of inputs. Never updated once stored."""

    __tablename__ = "run"

    id: int | None = Field(default=None, primary_key=True)
    scenario_id: int = Field(foreign_key="scenario.id", index=True)
    scenario_name: str = Field(index=True)
    scenario_version: int
    stock_hash: str | None = None
    stock_source: str | None = None
    library_version: str | None = None
    candidates_hash: str
    candidates_source: str | None = None
    status: str
    objective: float
    bound: float
    gap: float
    solve_seconds: float
    kpis: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    details: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    plan_hash: str
    plan_rows: int
    retrofit_version: str
    created_by: str
    created_at: datetime = Field(default_factory=utc_now, sa_column=_when())


class PlanRow(SQLModel, table=True):
    """One chosen home of a run: its package, its year and the candidate's metrics.

    No foreign key to run: rows are only ever written with their run, in the same
    transaction, and runs are never deleted; a key would be checked for each of 100,000s
    of rows on every store (it doubled PostgreSQL's bulk load time).
    """

    __tablename__ = "plan_row"

    run_id: int = Field(primary_key=True)
    home_id: str = Field(primary_key=True)
    package_id: str
    year: int
    cost_gbp: float
    annual_kwh_saved: float
    annual_co2_t_saved: float
    lifetime_co2_t_saved: float
    annual_bill_saving_gbp: float
    sap_before: float | None = None
    sap_after: float
    band_before: str | None = None
    band_after: str
    fuel_poor_lifted: float
    fp_bill_saving_gbp: float
    fuel_poverty_probability: float | None = None
    labour_days: float
    jobs_fte_years: float
    trade_days_insulation: float | None = None
    trade_days_heating: float | None = None
    trade_days_electrical: float | None = None
    trade_days_glazing: float | None = None
    trade_days_coordination: float | None = None
    city: str
    lsoa_code: str
    ward: str | None = None
    tenure: str
    imd_decile: int
    council_gbp: float | None = None
    """The council's own money for the row, £ (null: all of cost_gbp, see PLAN_FUNDING)."""
    grant_gbp: float | None = None
    """All grants for the row, £ (null: none)."""
    co_funding_gbp: float | None = None
    """The owner's share (a landlord's co-funding), £ (null: none)."""
    funding: str | None = None
    """The funding ids that pay for the row, ";"-separated, "" for council money only (null: "")."""
    uptake: float | None = None
    """Under [delivery]: the probability that the household goes ahead (null: the plan has no [delivery])."""
    cost_sd_gbp: float | None = None
    """Under [delivery]: the standard deviation of the row's cost, £ (0 for a re-plan's held homes)."""
    grants: str | None = None
    """Each scheme's grant for the row: a JSON object {id: £} of the non-zero ones (null: none)."""


class User(SQLModel, table=True):
    """A person who signs in: their role, and their city when they are a city partner."""

    __tablename__ = "app_user"  # "user" is reserved in PostgreSQL

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True)
    email: str | None = Field(default=None, unique=True)
    role: str  # one of ROLES
    city: str | None = None
    active: bool = True
    created_at: datetime = Field(default_factory=utc_now, sa_column=_when())
    identity_subject: str | None = Field(default=None, unique=True)
    """The identity provider's fixed id for the person (Entra ID's oid, else issuer and sub), bound at
    their first sign-in: a later sign-in with this email from another account is refused."""


class Review(SQLModel, table=True):
    """One step of a city's review of a run (append-only: the latest row is the state)."""

    __tablename__ = "review"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="run.id", index=True)
    city: str | None = None  # None: the programme manager's final approval
    state: str  # one of REVIEW_STATES
    note: str = ""
    created_by: str
    created_at: datetime = Field(default_factory=utc_now, sa_column=_when())


class Comment(SQLModel, table=True):
    """A comment on a run, or on one city, LSOA or home of it."""

    __tablename__ = "comment"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="run.id", index=True)
    city: str | None = None
    lsoa_code: str | None = None
    home_id: str | None = None
    reply_to: int | None = Field(default=None, foreign_key="comment.id")
    author: str
    text: str
    created_at: datetime = Field(default_factory=utc_now, sa_column=_when())


class AuditEvent(SQLModel, table=True):
    """Something a person did (created a scenario, stored a run, approved, signed in)."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    who: str = Field(index=True)
    action: str  # e.g. "scenario.add", "run.store", "review.approve", "sign_in"
    target: str = ""  # e.g. "scenario:baseline@2", "run:12"
    details: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utc_now, sa_column=_when())


class Actuals(SQLModel, table=True):
    """One version of a run's delivery actuals (a status file as imported): versions 1, 2, ...
    per run, never changed once stored; the latest is what a re-plan starts from."""

    __tablename__ = "actuals"
    __table_args__ = (UniqueConstraint("run_id", "version", name="uq_actuals_run_version"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="run.id", index=True)
    version: int
    source: str
    """The file it was read from, as given."""
    content_hash: str
    rows: int
    counts: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    """Homes per status, e.g. {"completed": 120, "declined": 40}."""
    created_by: str
    created_at: datetime = Field(default_factory=utc_now, sa_column=_when())


class ActualRow(SQLModel, table=True):
    """What happened to one home, in one version of a run's actuals (`retrofit.actuals`)."""

    __tablename__ = "actual_row"

    actuals_id: int = Field(primary_key=True)  # no foreign key, as for plan rows: written with their version
    home_id: str = Field(primary_key=True)
    status: str  # one of retrofit.actuals.STATUSES
    day: date
    """The date of the status (the file's `date` column; "date" is a reserved word in SQL)."""
    year: int
    """The programme (financial) year the date falls in."""
    actual_cost_gbp: float | None = None
    package_id: str | None = None

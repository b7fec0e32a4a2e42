"""Delivery actuals: what happened to the homes of a plan, as a delivery partner reports it.

A status file (CSV or XLSX) has one row per home: ``home_id, status, date`` and, optionally,
``actual_cost_gbp`` (what the work cost) and ``package_id`` (what was actually installed,
when it differs from the plan). The column names and status values are a contract; extend,
never rename.

Checked strictly before anything is kept (`check_actuals`): every problem is listed at once,
each with the file's line numbers (line 1 is the header), so a partner fixes the file in one
go. A programme year Y is the financial year 1 April Y to 31 March Y+1, as for funding
windows; a row's `year` is the programme year its date falls in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from retrofit.errors import RetrofitError, printable

STATUSES = ("surveyed", "contracted", "in_progress", "completed", "declined", "withdrawn")
# A re-plan keeps these homes with their package, year and cost; it drops those that said no.
COMMITTED = ("contracted", "in_progress", "completed")
DROPPED = ("declined", "withdrawn")
REQUIRED = ("home_id", "status", "date")
OPTIONAL = ("actual_cost_gbp", "package_id")
COLUMNS = (*REQUIRED, *OPTIONAL)
MAX_COST_GBP = 1e7  # as the candidate table's cost_gbp: more is a typo or pence taken for pounds
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y")  # ISO, and the day-first form UK spreadsheets write
LINES_SHOWN = 5
HEADER_LINES = 1


@dataclass
class ActualsProblem:
    """One kind of problem in a status file: where (the file's lines), which column, what is
    wrong (with a few of the values found), and how to fix it."""

    column: str
    issue: str
    fix: str
    lines: list[int] = field(default_factory=list)
    values: list = field(default_factory=list)

    def __str__(self) -> str:
        where = "the file"
        if self.lines:
            shown = ", ".join(str(n) for n in self.lines[:LINES_SHOWN])
            more = f" and {len(self.lines) - LINES_SHOWN:,} more" if len(self.lines) > LINES_SHOWN else ""
            where = f"line{'s' if len(self.lines) > 1 else ''} {shown}{more}"
        found = ""
        if self.values:
            values = [v.item() if hasattr(v, "item") else v for v in self.values[:3]]
            found = f" (found {', '.join(printable(repr(v), limit=40) for v in values)})"
        return f"{where}: {self.column} {self.issue}{found}; {self.fix}"


class ActualsError(RetrofitError):
    """Every problem with a status file; nothing of it was stored."""

    def __init__(self, problems: list[ActualsProblem], source: str):
        self.problems = problems
        listed = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source} is not a valid delivery status file ({len(problems)} problem"
                         f"{'s' if len(problems) > 1 else ''}; nothing was stored):\n{listed}\n"
                         f"Columns: {', '.join(REQUIRED)} (required), {', '.join(OPTIONAL)} (optional); "
                         f"statuses: {' | '.join(STATUSES)}; see 'Delivery actuals' in README")


def programme_year(days) -> np.ndarray:
    """The programme (financial) year of each date: 1 April Y to 31 March Y+1 is year Y."""
    days = pd.DatetimeIndex(days)
    return (days.year - (days.month < 4)).to_numpy(dtype=np.int64)


def read_status_file(path: str | Path) -> pd.DataFrame:
    """The file's cells as written (a CSV's as text, blank cells empty); a spreadsheet's first
    sheet. Nothing is interpreted here (`check_actuals` does)."""
    path = Path(path)
    if not path.exists():
        raise RetrofitError(f"delivery status file {path} does not exist; give a CSV or XLSX file "
                            f"with columns {', '.join(COLUMNS)}")
    try:
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            table = pd.read_excel(path, sheet_name=0, dtype=object)
        elif path.suffix.lower() == ".csv":
            table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        else:
            raise RetrofitError(f"delivery status file {path} is neither CSV nor XLSX (by its name); "
                                f"save it as .csv or .xlsx")
    except (OSError, ValueError, pd.errors.ParserError, KeyError) as error:
        raise RetrofitError(f"cannot read delivery status file {path}: {printable(str(error), limit=200)}; "
                            f"give a CSV (UTF-8) or XLSX file") from error
    return table


def _text(column: pd.Series) -> pd.Series:
    """Cells as trimmed text, "" for a blank (a spreadsheet's empty cell, NaN, None)."""
    return column.map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip())


def _dates(column: pd.Series) -> pd.Series:
    """Each cell as a day (NaT where it is not one): a spreadsheet's own date, else text in one of
    `DATE_FORMATS` (a date and midnight, as Excel exports write, is a date too)."""
    days = pd.Series(pd.NaT, index=column.index, dtype="datetime64[ns]")
    is_day = column.map(lambda v: isinstance(v, date)).to_numpy(dtype=bool)
    if is_day.any():
        days[is_day] = pd.to_datetime(column[is_day]).dt.normalize()
    text = _text(column).str.replace(r"[ T]00:00(:00)?$", "", regex=True)
    for form in DATE_FORMATS:
        todo = days.isna().to_numpy() & ~is_day
        if not todo.any():
            break
        days[todo] = pd.to_datetime(text[todo], format=form, errors="coerce")
    return days


def _money(column: pd.Series) -> pd.Series:
    """Each cell as £ (NaN for blank; -inf where it is not a number, to be reported): "£1,234.50" reads 1234.5."""
    text = _text(column).str.replace(r"^£|,", "", regex=True)
    values = pd.to_numeric(text, errors="coerce")
    return values.where(values.notna() | (text == ""), -np.inf)


def _lines(mask) -> list[int]:
    return (np.flatnonzero(np.asarray(mask)) + HEADER_LINES + 1).tolist()


def check_actuals(raw: pd.DataFrame, candidates: pd.DataFrame, programme_start: int, source: str,
                  today: date | None = None) -> pd.DataFrame:
    """The status file as a clean table, or an `ActualsError` listing every problem.

    ``candidates`` (home_id, package_id) are the homes and packages of the run the actuals belong
    to: a home must be one of them (a reserve home, not in the plan, may be); a package, when
    given, one that applies to the home. Dates fall from 1 April of ``programme_start`` to
    ``today`` (a status is a fact, not a forecast). One row per home: its latest status.

    Columns of the result: home_id, status, date (datetime64, a day), year (programme year),
    actual_cost_gbp (float, NaN when not given), package_id (object, None when not given)."""
    today = today or date.today()
    raw = raw.set_axis([str(c).strip().lower() for c in raw.columns], axis=1)  # "Home_ID " is home_id
    problems: list[ActualsProblem] = []
    unknown = [c for c in raw.columns if c not in COLUMNS]
    if unknown:
        problems.append(ActualsProblem(", ".join(map(str, unknown)), "is not a column of the format",
                                       f"remove it, or rename it to one of {', '.join(COLUMNS)}"))
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        problems.append(ActualsProblem(", ".join(missing), "is missing", "add the column"))
    if len(raw) == 0:
        problems.append(ActualsProblem("home_id", "has no rows", "give one row per home with news"))
    duplicated = [c for c in set(raw.columns) if list(raw.columns).count(c) > 1]
    if duplicated:
        problems.append(ActualsProblem(", ".join(duplicated), "is given twice", "keep one of the columns"))
    if missing or duplicated or len(raw) == 0:
        raise ActualsError(problems, source)

    home = _text(raw["home_id"])
    status = _text(raw["status"]).str.lower().str.replace(r"[\s-]+", "_", regex=True)
    day = _dates(raw["date"])
    cost = _money(raw["actual_cost_gbp"]) if "actual_cost_gbp" in raw else pd.Series(np.nan, index=raw.index)
    package = _text(raw["package_id"]) if "package_id" in raw else pd.Series("", index=raw.index)

    def problem(column: str, issue: str, fix: str, mask, values=None) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            shown = [] if values is None else list(pd.unique(pd.Series(values)[mask]))
            problems.append(ActualsProblem(column, issue, fix, _lines(mask), shown))

    known_homes = pd.Index(candidates["home_id"].astype(str).unique())
    problem("home_id", "is empty", "give the home's id as in the plan", home == "")
    problem("home_id", "is not a home of this run (not in its candidate table)",
            "check the id against the run's export", (home != "") & ~home.isin(known_homes), home.to_numpy())
    repeated = (home != "") & home.duplicated(keep=False)
    problem("home_id", "is given on more than one line", "keep one row per home (its latest status)",
            repeated, home.to_numpy())
    problem("status", "is not a status", f"use one of {' | '.join(STATUSES)}", ~status.isin(STATUSES),
            _text(raw["status"]).to_numpy())
    problem("date", "is not a date", "write YYYY-MM-DD (or DD/MM/YYYY)", day.isna(), _text(raw["date"]).to_numpy())
    start = pd.Timestamp(year=programme_start, month=4, day=1)
    problem("date", f"is before the programme starts ({start:%-d %B %Y})", "check the year",
            day < start, day.dt.strftime("%Y-%m-%d"))
    problem("date", f"is after today ({today:%-d %B %Y})", "give the date it happened (a status is a fact, "
            "not a forecast)", day > pd.Timestamp(today), day.dt.strftime("%Y-%m-%d"))
    problem("actual_cost_gbp", "is not a number", "give pounds, e.g. 12500 or £12,500.00", np.isneginf(cost),
            _text(raw["actual_cost_gbp"]).to_numpy() if "actual_cost_gbp" in raw else None)
    problem("actual_cost_gbp", f"is outside £0 to £{MAX_COST_GBP:,.0f}", "give the work's cost in pounds",
            np.isfinite(cost) & ((cost < 0) | (cost > MAX_COST_GBP)), cost.to_numpy())
    if "package_id" in raw:
        pairs = pd.MultiIndex.from_arrays([candidates["home_id"].astype(str), candidates["package_id"].astype(str)])
        given = (package != "") & home.isin(known_homes)
        applies = pd.MultiIndex.from_arrays([home, package]).isin(pairs)
        problem("package_id", "is not a package that applies to the home", "give a package id of the run's "
                "candidate table for that home, or leave it blank for the planned one",
                given & ~applies, (home + " / " + package).to_numpy())
    if problems:
        raise ActualsError(problems, source)
    return pd.DataFrame({
        "home_id": home.to_numpy(dtype=object),
        "status": status.to_numpy(dtype=object),
        "date": day.to_numpy(dtype="datetime64[ns]"),
        "year": programme_year(day),
        "actual_cost_gbp": cost.to_numpy(dtype=float),
        "package_id": pd.Series(np.where(package != "", package.to_numpy(dtype=object), None), dtype=object),
    })


def actuals_summary(actuals: pd.DataFrame, plan: pd.DataFrame) -> dict:
    """What a version of actuals says against its run's plan: homes per status (in the plan, and
    not in it: reserves taken up), planned homes with no news yet, and the money reported."""
    in_plan = actuals["home_id"].isin(plan["home_id"])
    by_status = {}
    for status in STATUSES:
        here = (actuals["status"] == status).to_numpy()
        if here.any():
            by_status[status] = {"homes": int(here.sum()), "in_plan": int((here & in_plan).sum()),
                                 "not_in_plan": int((here & ~in_plan).sum())}
    committed = actuals["status"].isin(COMMITTED)
    planned_cost = plan.set_index("home_id")["cost_gbp"]
    costed = committed & actuals["actual_cost_gbp"].notna()
    return {
        "homes": len(actuals),
        "by_status": by_status,
        "planned_homes_without_news": int((~plan["home_id"].isin(actuals["home_id"])).sum()),
        "committed_homes": int(committed.sum()),
        "committed_actual_cost_gbp": float(actuals.loc[costed, "actual_cost_gbp"].sum()),
        "committed_homes_with_cost": int(costed.sum()),
        "planned_cost_of_costed_homes_gbp": float(planned_cost.reindex(actuals.loc[costed & in_plan, "home_id"]).sum()),
        "costed_homes_in_plan": int((costed & in_plan).sum()),
    }


DELIVERY_FIGURES = ("homes", "spend_gbp", "lifetime_co2_t_saved", "fuel_poor_lifted")


def delivered_rows(actuals: pd.DataFrame, plan: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The committed homes of ``actuals`` that ``plan`` holds, as plan rows in the year of their
    date at their actual cost (the planned cost where none was given), and how many committed
    homes the plan does not hold (reserves taken up: their city and figures are not in it)."""
    committed = actuals[actuals["status"].isin(COMMITTED)]
    rows = plan.drop(columns=["year"]).merge(committed[["home_id", "year", "actual_cost_gbp"]], on="home_id")
    rows["cost_gbp"] = rows["actual_cost_gbp"].fillna(rows["cost_gbp"])
    return rows.drop(columns=["actual_cost_gbp"]), int(len(committed) - len(rows))


def planned_and_delivered(planned: pd.DataFrame, delivered: pd.DataFrame) -> pd.DataFrame:
    """Per city and year: homes, spend, lifetime carbon and fuel-poor households lifted, as
    planned and as delivered (contracted, in progress or completed), side by side."""
    def grouped(table: pd.DataFrame, suffix: str) -> pd.DataFrame:
        figures = table.assign(homes=1.0, spend_gbp=table["cost_gbp"])
        return (figures.groupby(["city", "year"], observed=True)[list(DELIVERY_FIGURES)].sum()
                .add_suffix(suffix))

    both = grouped(planned, "_planned").join(grouped(delivered, "_delivered"), how="outer").fillna(0.0)
    ordered = [f"{k}_{side}" for k in DELIVERY_FIGURES for side in ("planned", "delivered")]
    out = both[ordered].reset_index()
    out["city"], out["year"] = out["city"].astype(str), out["year"].astype(int)
    return out.sort_values(["year", "city"], ignore_index=True)

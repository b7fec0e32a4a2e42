"""Stored scenarios: each name has numbered versions; a version is never changed.

Adding a scenario whose name is new makes version 1; adding it again with different
content makes the next version; adding the same content again (even with other comments
or layout) adds nothing. The content hash is taken over the parsed scenario, so it does
not depend on how the TOML is written; the TOML text is kept as the user wrote it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timezone

import pandas as pd
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from retrofit.errors import RetrofitError
from retrofit.hashing import text_hash
from retrofit.scenario import Scenario, canonical_json, parse_scenario
from retrofit.store.audit import current_user, record_event
from retrofit.store.database import reading, retrying, writing
from retrofit.store.models import Run, ScenarioVersion, utc_now


@dataclass(frozen=True)
class AddedScenario:
    record: ScenarioVersion
    created: bool  # False: the latest version already had this content


def scenario_hash(scenario: Scenario) -> str:
    """Hash of a parsed scenario's content (field values), not of its TOML layout."""
    return text_hash(canonical_json(scenario))


def parse(record: ScenarioVersion) -> Scenario:
    """The stored version as a `retrofit.scenario.Scenario`."""
    return parse_scenario(record.toml, source=f"scenario {record.name} version {record.version}")


def add_scenario(engine: Engine, toml_text: str, source: str = "scenario", who: str | None = None) -> AddedScenario:
    """Validate the TOML and store it as the next version of its name (unless unchanged)."""
    scenario = parse_scenario(toml_text, source=source)
    content_hash = scenario_hash(scenario)
    who = who or current_user()

    def attempt() -> AddedScenario:
        with writing(engine) as connection:
            latest = _latest(connection, scenario.name)
            if latest is not None and latest.content_hash == content_hash:
                return AddedScenario(latest, created=False)
            values = dict(name=scenario.name, version=1 if latest is None else latest.version + 1,
                          description=getattr(scenario, "description", "") or "", toml=toml_text,
                          content_hash=content_hash, created_by=who, created_at=utc_now())
            new_id = connection.execute(insert(ScenarioVersion.__table__).values(**values)
                                        .returning(ScenarioVersion.__table__.c.id)).scalar_one()
            record_event(connection, who, "scenario.add", f"scenario:{scenario.name}@{values['version']}",
                         {"source": source, "content_hash": content_hash})
            return AddedScenario(ScenarioVersion(id=new_id, **values), created=True)

    # Two people adding the same name at once: the loser's version number is taken; retry.
    return retrying(attempt, retry_on=(IntegrityError,))


def _record(row) -> ScenarioVersion:
    record = ScenarioVersion.model_validate(dict(row._mapping))
    if record.created_at.tzinfo is None:  # SQLite keeps no zone; we always write UTC
        record.created_at = record.created_at.replace(tzinfo=timezone.utc)
    return record


def _latest(connection, name: str) -> ScenarioVersion | None:
    row = connection.execute(select(ScenarioVersion).where(ScenarioVersion.name == name)
                             .order_by(ScenarioVersion.version.desc()).limit(1)).first()
    return None if row is None else _record(row)


def scenario_names(engine: Engine) -> list[str]:
    with reading(engine) as connection:
        return list(connection.execute(select(ScenarioVersion.name).distinct().order_by(ScenarioVersion.name)).scalars())


def get_scenario(engine: Engine, name: str, version: int | None = None) -> ScenarioVersion:
    """One stored version (the latest when ``version`` is None); a clear error when absent."""
    with reading(engine) as connection:
        query = select(ScenarioVersion).where(ScenarioVersion.name == name)
        if version is not None:
            query = query.where(ScenarioVersion.version == version)
        row = connection.execute(query.order_by(ScenarioVersion.version.desc()).limit(1)).first()
        if row is not None:
            return _record(row)
        versions = list(connection.execute(select(ScenarioVersion.version)
                                           .where(ScenarioVersion.name == name)
                                           .order_by(ScenarioVersion.version)).scalars())
    if versions:
        raise RetrofitError(f"scenario {name!r} has no version {version}; its versions are "
                            f"{', '.join(map(str, versions))}")
    known = scenario_names(engine)
    hint = f"known scenarios: {', '.join(map(repr, known))}" if known else "no scenario is stored yet"
    raise RetrofitError(f"no scenario named {name!r}; {hint} (add one with `retrofit scenario add FILE.toml`)")


def scenario_versions(engine: Engine, name: str) -> list[ScenarioVersion]:
    get_scenario(engine, name)  # the error for an unknown name
    with reading(engine) as connection:
        rows = connection.execute(select(ScenarioVersion).where(ScenarioVersion.name == name)
                                  .order_by(ScenarioVersion.version)).all()
    return [_record(row) for row in rows]


def list_scenarios(engine: Engine) -> pd.DataFrame:
    """One row per scenario name: latest version, its description, when and by whom, and runs."""
    with reading(engine) as connection:
        rows = connection.execute(select(ScenarioVersion).order_by(ScenarioVersion.name, ScenarioVersion.version)).all()
        runs = dict(connection.execute(select(Run.scenario_name, func.count()).group_by(Run.scenario_name)).all())
    columns = ["name", "version", "versions", "description", "created_by", "created_at", "runs"]
    if not rows:
        return pd.DataFrame(columns=columns)
    table = pd.DataFrame([_record(row).model_dump() for row in rows])
    latest = table.groupby("name").tail(1).set_index("name")
    latest["versions"] = table.groupby("name").size()
    latest["runs"] = latest.index.map(lambda name: runs.get(name, 0))
    return latest.reset_index()[columns]

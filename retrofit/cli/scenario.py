"""`retrofit scenario ...`: store scenario files as numbered versions, list and show them.

Imports are inside the commands for start-up time (see retrofit/cli/__init__.py).
"""

from __future__ import annotations

from pathlib import Path

import click

from retrofit.cli.common import emit_json, json_option


def database_option(function):
    """--database URL on every command that uses the database (default: RETROFIT_DATABASE_URL, else var/)."""
    return click.option("--database", "database", envvar="RETROFIT_DATABASE_URL", default=None, metavar="URL",
                        help="Database URL, e.g. postgresql+psycopg://user@host/db "
                             "[env RETROFIT_DATABASE_URL; default: SQLite file var/retrofit.db]")(function)


def open_store(url: str | None):
    from retrofit.store import open_database

    return open_database(url)


@click.group()
def scenario() -> None:
    """Store scenarios (TOML files) as numbered versions; list and show them."""


@scenario.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@database_option
@json_option
def add(path: Path, database: str | None, as_json: bool) -> None:
    """Store a scenario file: a new name is version 1, changed content the next version."""
    from retrofit.scenario import parse_scenario, read_scenario_text
    from retrofit.store import add_scenario

    text = read_scenario_text(path)
    parse_scenario(text, source=str(path))  # a bad file is refused before the database is opened or created
    added = add_scenario(open_store(database), text, source=str(path))
    record = added.record
    if as_json:
        emit_json({"name": record.name, "version": record.version, "created": added.created,
                   "content_hash": record.content_hash, "id": record.id})
    elif added.created:
        click.echo(f"stored scenario {record.name!r} version {record.version} (content {record.content_hash})")
    else:
        click.echo(f"scenario {record.name!r} unchanged: same content as version {record.version}; nothing stored")


@scenario.command(name="list")
@database_option
@json_option
def list_(database: str | None, as_json: bool) -> None:
    """Every stored scenario: latest version, how many versions and runs."""
    from retrofit.store import list_scenarios

    table = list_scenarios(open_store(database))
    if as_json:
        emit_json({"scenarios": table.to_dict(orient="records")})
    elif table.empty:
        click.echo("no scenario stored yet; add one with `retrofit scenario add FILE.toml`")
    else:
        table = table.assign(created_at=table["created_at"].map(lambda t: t.strftime("%Y-%m-%d %H:%M")),
                             description=table["description"].str.slice(0, 48))
        click.echo(table.rename(columns={"version": "latest", "created_at": "updated"}).to_string(index=False))


@scenario.command()
@click.argument("name")
@click.option("--version", "version", type=click.IntRange(min=1), default=None, help="A version (default: the latest).")
@database_option
@json_option
def show(name: str, version: int | None, database: str | None, as_json: bool) -> None:
    """One version of a scenario, as its TOML text."""
    from retrofit.store import get_scenario, parse, scenario_versions

    engine = open_store(database)
    record = get_scenario(engine, name, version)
    versions = [v.version for v in scenario_versions(engine, name)]
    if as_json:
        emit_json({"name": record.name, "version": record.version, "versions": versions,
                   "content_hash": record.content_hash, "created_by": record.created_by,
                   "created_at": record.created_at.isoformat(), "description": record.description,
                   "toml": record.toml, "scenario": parse(record).model_dump(mode="json")})
        return
    click.echo(f"# scenario {record.name!r} version {record.version} of {max(versions)}, "
               f"added by {record.created_by} on {record.created_at:%Y-%m-%d %H:%M} UTC, content {record.content_hash}")
    click.echo(record.toml, nl=not record.toml.endswith("\n"))

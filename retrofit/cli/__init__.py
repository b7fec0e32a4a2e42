"""The `retrofit` command: one entry point for every stage of the flow.

Each command imports what it uses inside its own function, on purpose: `retrofit --help` and
the light commands start without loading the solvers, the energy model or the database (the
only lazy imports of the library; its other modules import at the top).

Errors a user can fix (`RetrofitError`) print as one line and exit 2; anything else is a
bug and prints one line too (set RETROFIT_DEBUG=1 for the traceback), exit 1. Control
characters in a message (from a file name or a value the user gave) are printed as escapes,
so an error can never recolour or rewrite the terminal.
"""

from __future__ import annotations

import os
import sys

import click

from retrofit.errors import RetrofitError, printable
from retrofit.cli.stock import stock
from retrofit.cli.actuals import actuals
from retrofit.cli.appraise import appraise
from retrofit.cli.scenario import scenario
from retrofit.cli.runs import run, runs
from retrofit.cli.plan import frontier, plan


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Retrofit Programme Planner for Birmingham, Wolverhampton and Coventry."""


cli.add_command(stock)
cli.add_command(appraise)
cli.add_command(scenario)
cli.add_command(run)
cli.add_command(runs)
cli.add_command(plan)
cli.add_command(frontier)
cli.add_command(actuals)


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, standalone_mode=False, prog_name="retrofit")
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(2)
    except RetrofitError as error:
        message = printable(str(error), keep="\n")  # a list of problems (an invalid stock) keeps its lines
        click.echo(f"error: {message}", err=True)
        sys.exit(2)
    except Exception as error:  # a bug: one line unless debugging
        if os.environ.get("RETROFIT_DEBUG"):
            raise
        message = printable(str(error))
        click.echo(f"internal error: {type(error).__name__}: {message} (set RETROFIT_DEBUG=1 for details)", err=True)
        sys.exit(1)

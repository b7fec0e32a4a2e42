"""What every `retrofit` command shares: progress on the terminal, JSON output, errors."""

from __future__ import annotations

import json
import sys
import time

import click


class TerminalProgress:
    """A one-line progress bar on stderr, for steps that take more than a moment.

    Call it with (fraction done, what is happening). Quiet when stderr is not a terminal,
    except for a line each time the step changes, so logs still show what happened.
    """

    def __init__(self, label: str, enabled: bool = True):
        self.label = label
        self.enabled = enabled
        self.started = time.perf_counter()
        self.last_message = None
        self.tty = sys.stderr.isatty()

    def __call__(self, fraction: float, message: str = "") -> None:
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.started
        if self.tty:
            filled = int(30 * max(0.0, min(1.0, fraction)))
            bar = "#" * filled + "-" * (30 - filled)
            sys.stderr.write(f"\r{self.label} [{bar}] {100 * fraction:5.1f}% {elapsed:6.1f}s {message[:60]:<60}")
            if fraction >= 1:
                sys.stderr.write("\n")
        elif message != self.last_message:
            sys.stderr.write(f"{self.label}: {100 * fraction:5.1f}% {elapsed:6.1f}s {message}\n")
        sys.stderr.flush()
        self.last_message = message


def emit_json(payload) -> None:
    click.echo(json.dumps(payload, indent=2, default=str))


def json_option(function):
    return click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")(function)

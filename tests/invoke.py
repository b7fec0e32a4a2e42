"""`retrofit ...` run inside the test process: much faster than a new process per call, for
tests that run the command many times (the property tests)."""

from __future__ import annotations

import contextlib
import io
import re
from dataclasses import dataclass

from retrofit.cli import main

# The lines TerminalProgress writes when stderr is not a terminal: "plan:  40.0%    0.1s ..."
PROGRESS_LINE = re.compile(r"^[a-z-]+: +\d+\.\d% +\d+\.\ds")


@dataclass
class Invoked:
    code: int
    stdout: str
    stderr: str

    @property
    def messages(self) -> list[str]:
        """stderr without its progress lines."""
        return [line for line in self.stderr.splitlines() if not PROGRESS_LINE.match(line)]


def invoke(*args: str) -> Invoked:
    """``retrofit ARGS`` as `main` runs it: the exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in args])
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else 1
    return Invoked(code, out.getvalue(), err.getvalue())


def assert_one_line_error(result: Invoked, *fragments: str) -> None:
    """Exit 2 and exactly one line that says what is wrong (progress lines aside); no raw control characters."""
    assert result.code == 2, (result.code, result.stderr)
    assert len(result.messages) == 1 and result.messages[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr and "\x1b" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr

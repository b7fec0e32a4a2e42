"""The folders show the flow, and imports run one way: the import contracts in pyproject.toml
([tool.importlinter]) hold, checked by import-linter on every test run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from retrofit.paths import ROOT


def test_imports_run_one_way_down_the_flow():
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout

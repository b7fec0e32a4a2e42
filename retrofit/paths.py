"""Where the project keeps shipped data and what it generates.

Shipped data lives in `data/` (tracked); generated stocks, candidates and the default
SQLite database live in `var/` (git-ignored). `RETROFIT_VAR_DIR` moves the latter.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data"
REFERENCE_DIR = DATA_DIR / "reference"
STOCK_ASSUMPTIONS_DIR = DATA_DIR / "stock"
ENERGY_DIR = DATA_DIR / "energy"
FUNDING_DIR = DATA_DIR / "funding"


def var_dir() -> Path:
    """The git-ignored folder for generated files (created on first use)."""
    path = Path(os.environ.get("RETROFIT_VAR_DIR", ROOT / "var"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_stock_path() -> Path:
    return var_dir() / "stock" / "default.parquet"

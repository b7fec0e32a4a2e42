"""Small table helpers used across the library.

Looking a value up for each of 686,000 homes by its category (a fuel's price, a band's
weight) is done on the categories, not on every string: these helpers do that once.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from retrofit.errors import RetrofitError


def positions(index, values) -> np.ndarray:
    """Position of each value in ``index`` (-1 when absent), fast for many repeated strings."""
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        categorical = values.array
    elif isinstance(values, pd.Categorical):
        categorical = values
    else:
        categorical = pd.Categorical(np.asarray(values, dtype=object))
    lookup = pd.Index(index).get_indexer(categorical.categories)
    codes = np.asarray(categorical.codes)
    return np.where(codes >= 0, lookup[codes], -1)


def lookup(table: pd.Series, values, what: str = "value") -> np.ndarray:
    """``table[value]`` for each value, as an array; a value not in the table is an error."""
    where = positions(table.index, values)
    if (where < 0).any():
        unknown = sorted({str(v) for v in np.asarray(values, dtype=object)[where < 0]})
        raise ValueError(f"unknown {what} {unknown}; known: {list(table.index)}")
    return table.to_numpy()[where]


@contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only if the block succeeds.

    A reader never sees half a file, and a failed write leaves no file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.partial")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_json(path: str | Path, data: dict) -> None:
    """Write JSON atomically (temporary name, then rename)."""
    with atomic_write(path) as temporary:
        Path(temporary).write_text(json.dumps(data, indent=1), encoding="utf-8")


def read_table(path: str | Path, what: str, how_to_make: str, text_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a Parquet or CSV table; a missing or unreadable file is a RetrofitError saying what to do."""
    path = Path(path)
    if not path.exists():
        raise RetrofitError(f"{what} file {path} does not exist; {how_to_make}")
    try:
        if path.suffix.lower() == ".csv":
            return pd.read_csv(path, dtype={column: "str" for column in text_columns})
        return pd.read_parquet(path)
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise RetrofitError(f"cannot read {what} file {path}: {error}; give a Parquet or CSV {what}") from error


def write_table(table: pd.DataFrame, path: str | Path) -> Path:
    """Write a table as Parquet (or CSV or XLSX by suffix), atomically."""
    path = Path(path)
    with atomic_write(path) as temporary:
        if path.suffix.lower() == ".csv":
            table.to_csv(temporary, index=False)
        elif path.suffix.lower() == ".xlsx":
            table.to_excel(temporary, index=False, engine="openpyxl")
        else:
            table.to_parquet(temporary, index=False, compression="zstd")
    return path

"""Content hashes of tables, so a run can name exactly which stock, candidates and plan it used.

A table's hash depends on its column names and values, not on the order of its rows or
columns: the same stock read from a shuffled file has the same hash. It is a multiset
hash: each row is hashed (pandas' ``hash_pandas_object``), the row hashes are sorted, and
SHA-256 digests them with the column names. Dtypes count as far as values differ (1 and
1.0 hash differently), so a table and its CSV round trip match when the reader keeps types.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

HASH_LENGTH = 16  # hex characters kept: 64 bits, ample for telling inputs apart


def table_hash(df: pd.DataFrame) -> str:
    """A short, stable hex hash of ``df``'s content, independent of row and column order."""
    columns = sorted(str(c) for c in df.columns)
    table = df.set_axis([str(c) for c in df.columns], axis=1)[columns]
    digest = hashlib.sha256()
    digest.update("\x1f".join(columns).encode("utf-8"))
    digest.update(str(len(table)).encode("ascii"))
    if len(columns) and len(table):
        rows = pd.util.hash_pandas_object(table, index=False).to_numpy(dtype=np.uint64)
        digest.update(np.sort(rows).tobytes())
    return digest.hexdigest()[:HASH_LENGTH]


def text_hash(text: str) -> str:
    """The same kind of short hash for a piece of text (e.g. a scenario's canonical form)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_LENGTH]

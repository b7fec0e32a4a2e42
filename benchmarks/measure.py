"""Timing and peak-memory helpers for the benchmarks."""

from __future__ import annotations

import resource
import time
from contextlib import contextmanager


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def timed(results: dict, key: str):
    start = time.perf_counter()
    yield
    results[key] = time.perf_counter() - start


def verdict(value: float, target: float, unit: str) -> str:
    return f"{value:,.2f} {unit} (target < {target:g} {unit}: {'met' if value < target else 'MISSED'})"

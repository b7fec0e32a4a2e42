"""Shared fixtures: stocks are costly to build, so each is built once per test session."""

from __future__ import annotations

import pytest

from retrofit.stock.synthetic import generate_stock


@pytest.fixture(scope="session")
def full_stock():
    """Every household of the three cities (about 10 s to build)."""
    return generate_stock(seed=1)


@pytest.fixture(scope="session")
def sample_stock():
    """A 5,000-home sample stratified by LSOA, for tests that need variety, not totals."""
    return generate_stock(seed=7, homes=5_000)

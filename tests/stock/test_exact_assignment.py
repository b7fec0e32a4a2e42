"""Census counts per LSOA held exactly: property-based checks of the two helpers the stock uses."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from retrofit.stock.synthetic import assign_exactly, shares_to_counts


@st.composite
def areas(draw):
    """LSOAs (1-6) x categories (1-5): census counts, homes per LSOA and affinities for each home."""
    lsoas = draw(st.integers(1, 6))
    categories = draw(st.integers(1, 5))
    census = draw(arrays(np.int64, (lsoas, categories), elements=st.integers(0, 400)))
    homes = draw(arrays(np.int64, lsoas, elements=st.integers(0, 60)))
    affinity = draw(arrays(np.float64, (int(homes.sum()), categories),
                           elements=st.floats(0, 10, allow_nan=False, allow_infinity=False)))
    return census.astype("float64"), homes, affinity


@settings(max_examples=200, deadline=None)
@given(areas())
def test_counts_sum_to_each_lsoas_homes_and_stay_within_one_of_the_share(case):
    census, homes, _ = case
    counts = shares_to_counts(census, homes)
    assert (counts >= 0).all()
    assert (counts.sum(axis=1) == homes).all()
    total = census.sum(axis=1, keepdims=True)
    share = np.where(total > 0, census / np.where(total > 0, total, 1), 1 / census.shape[1])
    assert (np.abs(counts - share * homes[:, None]) < 1 + 1e-9).all()  # largest remainder: never a whole home off


@settings(max_examples=200, deadline=None)
@given(areas(), st.integers(0, 2**32 - 1))
def test_every_lsoa_gets_exactly_its_counts_whatever_the_affinities(case, seed):
    census, homes, affinity = case
    counts = shares_to_counts(census, homes)
    lsoa_index = np.repeat(np.arange(len(homes)), homes)
    codes = assign_exactly(np.random.default_rng(seed), lsoa_index, counts, affinity)
    held = np.zeros_like(counts)
    np.add.at(held, (lsoa_index, codes), 1)
    assert (held == counts).all()


def test_a_rare_category_goes_to_the_homes_with_affinity_for_it():
    # one LSOA, 100 homes, 10 of them flats; 10 homes on a heat network, which flats are 1,000x likelier to have
    lsoa_index = np.zeros(100, dtype=int)
    flat = np.arange(100) < 10
    affinity = np.column_stack([np.ones(100), np.where(flat, 1000.0, 1.0)])
    codes = assign_exactly(np.random.default_rng(1), lsoa_index, np.array([[90, 10]]), affinity)
    assert codes.sum() == 10
    assert codes[flat].sum() >= 9

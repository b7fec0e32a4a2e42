"""Spreading published fuel-poor counts over homes, shared by the synthetic stock and the EPC import.

Fuel poverty (LILEE) needs band D or worse, so an area's published count of fuel-poor
households is spread over its band D-G homes only, more on renters and on worse bands
(weights in `data/stock/fuel_poverty_weights.csv`, with their source).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from retrofit.frames import positions
from retrofit.paths import STOCK_ASSUMPTIONS_DIR


def fuel_poverty_weights(band: np.ndarray, tenure: np.ndarray) -> np.ndarray:
    """Each home's relative chance of being fuel poor: zero for bands A-C (a tenure not listed counts 1)."""
    table = pd.read_csv(STOCK_ASSUMPTIONS_DIR / "fuel_poverty_weights.csv")
    tenure_w = table[table["group"] == "tenure"].set_index("value")["weight"]
    band_w = table[table["group"] == "band"].set_index("value")["weight"]
    band_at, tenure_at = positions(band_w.index, band), positions(tenure_w.index, tenure)
    return (np.where(band_at >= 0, band_w.to_numpy()[band_at], 0.0)
            * np.where(tenure_at >= 0, tenure_w.to_numpy()[tenure_at], 1.0))


def spread_fuel_poverty(
    lsoa_index: np.ndarray, band: np.ndarray, tenure: np.ndarray, targets: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Spread each area's fuel-poor count over its band D-G homes (tenure- and band-weighted).

    ``lsoa_index`` numbers each home's area (an LSOA, or any other group) into ``targets``.
    Probabilities are ``min(1, s_l * w_i)`` with a scale ``s_l`` per area found by
    bisection so that they sum to the target. Returns the probabilities and, per area,
    the part of the target its D-G homes cannot hold (zero for a full stock).
    """
    weight = fuel_poverty_weights(band, tenure)
    lsoas_n = len(targets)
    capacity = np.bincount(lsoa_index, weights=(weight > 0).astype(float), minlength=lsoas_n)
    reachable = np.minimum(targets, capacity)
    low = np.zeros(lsoas_n)
    high = np.full(lsoas_n, 1.0 / max(weight[weight > 0].min(), 1e-9)) if (weight > 0).any() else np.ones(lsoas_n)
    for _ in range(60):
        middle = (low + high) / 2
        total = np.bincount(lsoa_index, weights=np.minimum(1.0, middle[lsoa_index] * weight), minlength=lsoas_n)
        too_much = total > reachable
        high = np.where(too_much, middle, high)
        low = np.where(too_much, low, middle)
    probability = np.minimum(1.0, high[lsoa_index] * weight)
    return probability, targets - reachable

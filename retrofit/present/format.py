"""Numbers with their units, the way a programme report writes them."""

from __future__ import annotations

import math


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def gbp(value: float | None) -> str:
    """£1.23bn, £12.3m, £45.6k or £123."""
    if _missing(value):
        return "–"
    sign = "-" if value < 0 else ""
    size = abs(value)
    if size >= 1e9:
        return f"{sign}£{size / 1e9:.2f}bn"
    if size >= 1e6:
        return f"{sign}£{size / 1e6:.1f}m"
    if size >= 1e4:
        return f"{sign}£{size / 1e3:.0f}k"
    return f"{sign}£{size:,.0f}"


def tonnes(value: float | None, per: str = "") -> str:
    """tCO2 with thousands separators (kt above 100,000 t)."""
    if _missing(value):
        return "–"
    suffix = f"/{per}" if per else ""
    if abs(value) >= 1e5:
        return f"{value / 1e3:,.0f} ktCO2{suffix}"
    return f"{value:,.0f} tCO2{suffix}"


def count(value: float | None, unit: str = "") -> str:
    """Whole things (homes, households) with separators."""
    if _missing(value):
        return "–"
    return f"{value:,.0f}{' ' + unit if unit else ''}"


def per_tonne(value: float | None) -> str:
    return "–" if _missing(value) else f"£{value:,.0f}/tCO2"


def percent(value: float | None, digits: int = 1) -> str:
    return "–" if _missing(value) else f"{value:.{digits}f}%"

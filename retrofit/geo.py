"""LSOA boundaries joined to figures, for maps and GeoJSON exports."""

from __future__ import annotations

import json
import math
import struct
import zlib
from functools import lru_cache

import numpy as np
import pandas as pd

from retrofit.paths import REFERENCE_DIR
from retrofit.reference import lsoas

BOUNDARIES = REFERENCE_DIR / "lsoa21_boundaries_bgc_bham_cov_wolv.geojson"
# Coordinates on the app's map: 5 decimal places of a degree, about 1 m here. The shipped
# boundaries are generalised to about 20 m (ONS BGC), so the map loses nothing visible and
# its JSON is 10% smaller; exports keep the shipped coordinates.
MAP_DIGITS = 5


@lru_cache(maxsize=2)
def _boundaries(digits: int | None = None) -> dict:
    """The shipped boundaries, coordinates rounded to ``digits`` decimal places (None: as shipped)."""
    with open(BOUNDARIES, encoding="utf-8") as handle:
        collection = json.load(handle)
    if digits is not None:
        for feature in collection["features"]:
            geometry = feature["geometry"]
            geometry["coordinates"] = _rounded(geometry["coordinates"], digits)
    return collection


def _rounded(coordinates, digits: int):
    if coordinates and isinstance(coordinates[0], (int, float)):
        return [round(value, digits) for value in coordinates]
    return [_rounded(part, digits) for part in coordinates]


def _plain(value):
    """JSON-safe scalar: numpy numbers to Python, NaN to None."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def lsoa_feature_collection(figures: pd.DataFrame | None = None, cities: list[str] | None = None,
                            digits: int | None = None) -> dict:
    """The 2021 LSOA polygons with each LSOA's reference figures and ``figures`` as properties.

    ``figures`` is indexed by lsoa_code (or has that column); LSOAs without figures get
    none of those properties (null), so a map can show them as empty. ``cities`` limits
    the LSOAs to those cities; ``digits`` rounds the coordinates (MAP_DIGITS for the map).
    The geometries are shared between calls: callers must not change them.
    """
    figures = pd.DataFrame(index=pd.Index([], name="lsoa_code")) if figures is None else figures
    if "lsoa_code" in figures.columns:
        figures = figures.set_index("lsoa_code")
    reference = lsoas().set_index("lsoa_code")[["lsoa_name", "city", "ward", "households",
                                                "fuel_poor_households", "imd_decile"]]
    reference["fuel_poverty_pct"] = (100 * reference["fuel_poor_households"] / reference["households"]).round(1)
    table = reference.join(figures, how="left", suffixes=("", "_plan"))
    if cities:
        table = table[table["city"].isin(cities)]
    records = {code: {k: _plain(v) for k, v in row.items()} for code, row in table.iterrows()}
    features = []
    for feature in _boundaries(digits)["features"]:
        code = feature["properties"]["LSOA21CD"]
        if code in records:
            features.append({"type": "Feature", "geometry": feature["geometry"],
                             "properties": {"lsoa_code": code, **records[code]}})
    return {"type": "FeatureCollection", "features": features}


# Colour ramp for choropleths: light yellow to dark red (ColorBrewer YlOrRd, 7 classes).
RAMP = [(255, 255, 178), (254, 217, 118), (254, 178, 76), (253, 141, 60), (252, 78, 42),
        (227, 26, 28), (177, 0, 38)]
EMPTY = [200, 200, 200, 60]
WITHHELD = [150, 160, 190, 120]  # figures not shown (small numbers): blue-grey, neither empty nor a class


def add_fill_colours(collection: dict, value: str, reverse: bool = False) -> dict:
    """Set each feature's ``fill_colour`` from ``value`` by quantile class (grey when missing).

    Equal values share a class (a map of homes counts has many ties); with fewer distinct
    values than colours, the classes spread over the whole ramp. ``reverse`` puts low values
    in the darkest colour (e.g. IMD decile 1 = most deprived).
    """
    values = pd.Series([f["properties"].get(value) for f in collection["features"]], dtype="float64")
    known = values.dropna()
    if known.empty or known.nunique() == 1:
        classes = pd.Series(len(RAMP) - 1, index=values.index)
    else:
        bins = pd.qcut(known.rank(method="dense"), len(RAMP), labels=False, duplicates="drop")
        classes = (bins * (len(RAMP) - 1) / max(int(bins.max()), 1)).round().astype(int)
    for feature, cls, raw in zip(collection["features"], classes.reindex(values.index), values):
        if pd.isna(raw):
            feature["properties"]["fill_colour"] = EMPTY
        else:
            index = int(cls) if not reverse else len(RAMP) - 1 - int(cls)
            feature["properties"]["fill_colour"] = [*RAMP[index], 180]
    return collection


# --- boundaries as an image ---------------------------------------------------------------------
# A map in a browser without a graphics card (software WebGL) spends about 0.1 ms per line
# segment per frame on outlines drawn as lines: 40,000 segments take seconds. The same
# outlines as one image cost one textured rectangle. Drawn at twice the resolution of the
# map's first view, they stay sharp when zooming in one level.

TILE_PIXELS = 512  # deck.gl's world is 512 px wide at zoom 0


def _mercator(lon, lat):
    """Web Mercator x, y in [0, 1] (y down), as the map projects."""
    lat = np.radians(np.asarray(lat, dtype="float64"))
    x = (np.asarray(lon, dtype="float64") + 180.0) / 360.0
    y = (1.0 - np.log(np.tan(lat) + 1.0 / np.cos(lat)) / math.pi) / 2.0
    return x, y


def _lon_lat(x: float, y: float) -> tuple[float, float]:
    """The longitude and latitude of a Web Mercator point (the inverse of _mercator)."""
    return x * 360.0 - 180.0, math.degrees(math.atan(math.sinh(math.pi * (1.0 - 2.0 * y))))


def _png(grey: int, alpha) -> bytes:
    """An 8-bit grey-and-alpha PNG of one grey level with the given alpha (rows x columns, uint8)."""
    height, width = alpha.shape
    rows = np.zeros((height, 1 + 2 * width), dtype=np.uint8)  # filter byte 0, then (grey, alpha) pairs
    rows[:, 1::2] = grey
    rows[:, 2::2] = alpha

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 4, 0, 0, 0)  # 8 bits, grey + alpha
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows.tobytes(), 9))
            + chunk(b"IEND", b""))


def boundary_image(cities: list[str] | None = None, zoom: float = 9.2, oversample: float = 2.0,
                   grey: int = 80, alpha: int = 150) -> tuple[bytes, list[float]]:
    """The LSOA boundaries of ``cities`` as thin lines on a transparent PNG, and where it lies.

    Returns (PNG bytes, [west, south, east, north]). The image is in Web Mercator pixels,
    ``oversample`` times as fine as a map at ``zoom``; each shared boundary is drawn once
    in strength (a pixel takes the strongest line through it, not their sum), lines about
    one screen pixel wide at ``zoom``, anti-aliased.
    """
    wanted = set(lsoas().loc[lambda t: t["city"].isin(cities), "lsoa_code"]) if cities else None
    rings = [np.asarray(ring, dtype="float64") for feature in _boundaries()["features"]
             if wanted is None or feature["properties"]["LSOA21CD"] in wanted
             for ring in feature["geometry"]["coordinates"]]
    if not rings:
        raise ValueError(f"no LSOA boundary in {cities}")
    points = np.concatenate(rings)
    scale = TILE_PIXELS * 2.0 ** zoom * oversample  # image pixels per unit of Mercator x or y
    x, y = _mercator(points[:, 0], points[:, 1])
    margin = 2.0
    left, top = x.min() - margin / scale, y.min() - margin / scale
    width = int(math.ceil((x.max() - left) * scale + margin))
    height = int(math.ceil((y.max() - top) * scale + margin))

    # each segment sampled every 0.4 px, each sample shared between its four nearest pixels
    starts = np.concatenate([ring[:-1] for ring in rings])
    ends = np.concatenate([ring[1:] for ring in rings])
    x0, y0 = _mercator(starts[:, 0], starts[:, 1])
    x1, y1 = _mercator(ends[:, 0], ends[:, 1])
    x0, x1, y0, y1 = (x0 - left) * scale, (x1 - left) * scale, (y0 - top) * scale, (y1 - top) * scale
    samples = np.maximum(np.ceil(np.hypot(x1 - x0, y1 - y0) / 0.4).astype("int64"), 1) + 1
    segment = np.repeat(np.arange(len(samples)), samples)
    step = np.arange(samples.sum()) - np.repeat(np.cumsum(samples) - samples, samples)
    t = step / np.repeat(samples - 1, samples)
    px = x0[segment] + (x1 - x0)[segment] * t - 0.5
    py = y0[segment] + (y1 - y0)[segment] * t - 0.5
    column, row = np.floor(px).astype("int64"), np.floor(py).astype("int64")
    fx, fy = px - column, py - row
    strength = np.zeros((height, width), dtype="float32")
    for dx, dy, weight in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        np.maximum.at(strength, (np.clip(row + dy, 0, height - 1), np.clip(column + dx, 0, width - 1)),
                      weight.astype("float32"))
    # a line through a pixel's centre gives it 1, one between two pixels about 0.5 each: lift to full strength
    lines = np.clip(strength * 1.6, 0.0, 1.0)
    levels = np.round(lines * 15) / 15  # 16 levels: a smaller PNG, no visible difference
    west, north = _lon_lat(left, top)
    east, south = _lon_lat(left + width / scale, top + height / scale)
    return _png(grey, (levels * alpha).astype(np.uint8)), [float(west), float(south), float(east), float(north)]

"""Import the EPC register's bulk files (certificates, recommendations) as a stock.

A council downloads `certificates.csv` (and `recommendations.csv`) for its area; the
importer turns them into one row per home in the stock schema:

1. Stream each certificates file in blocks (pyarrow), reading only the columns it needs,
   by name: the 93-column upper-case file, the older 92-column one without REPORT_TYPE and
   the newer register's lower-case reordered header (``certificate_number`` first) all
   work; ``ENVIRONMENT_IMPACT_*`` and ``ENVIRONMENTAL_IMPACT_*`` both do.
2. Each row is checked in turn and left out, counted by reason, when it is outside the
   three cities, has no property key (UPRN, else BUILDING_REFERENCE_NUMBER), no lodgement
   date, or cannot describe a home (no SAP score, a floor area missing or outside
   10-2,000 m2, no known property type).
3. One certificate per property: the latest usable one by LODGEMENT_DATETIME (then
   LODGEMENT_DATE), kept incrementally across blocks and files. A property whose latest
   certificate is unusable falls back to its latest usable one (counted); one with no
   usable certificate is left out (counted). A building reference number seen with a UPRN
   on any certificate is the same property as that UPRN.
4. Free text maps to the stock's categories through the tables in `data/epc/`
   (`retrofit.stock.epc_mappings`); unknown text goes to `other`/`unknown` and is counted.
5. Energy, bills and carbon come from `retrofit.energy.baseline_energy` on the
   certificate's SAP score, floor area, heating and fuel, like every other stock (kept as
   `modelled_*`), then calibrated to metered use (`retrofit.stock.calibration`) per area the
   homes cover; the certificate's own figures are kept beside them (`epc_*` columns).
6. LSOA from an ONS postcode directory file when given; fuel poverty and deprivation from
   the LSOA, or from the local authority for homes placed by authority only (flagged in
   `location_source`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from retrofit import energy
from retrofit.errors import RetrofitError, printable
from retrofit.reference import CITY_BY_LA, LA_CODES, lsoas
from retrofit.stock import epc_mappings as maps
from retrofit.stock.calibration import calibrate
from retrofit.stock.fuel_poverty import spread_fuel_poverty
from retrofit.stock.schema import CATEGORIES, NUMBERS, check_stock, ordered

Progress = Callable[[float, str], None]

# Column names are compared in lower case; the newer register renames a few.
ALIASES = {
    "certificate_number": "lmk_key",
    "environmental_impact_current": "environment_impact_current",
    "environmental_impact_potential": "environment_impact_potential",
}
# At least one of each group must be present.
REQUIRED_ONE_OF = (("uprn", "building_reference_number"), ("lodgement_datetime", "lodgement_date"),
                   ("local_authority", "local_authority_label"))
REQUIRED = ("current_energy_efficiency", "total_floor_area", "property_type", "built_form",
            "construction_age_band", "tenure", "walls_description", "roof_description",
            "floor_description", "windows_description", "mainheat_description", "main_fuel")
OPTIONAL = ("lmk_key", "postcode", "mains_gas_flag", "multi_glaze_proportion", "co2_emissions_current",
            "heating_cost_current", "hot_water_cost_current", "lighting_cost_current",
            "energy_consumption_current")
# Free text is read as bytes so a badly encoded character never stops an import.
TEXT_COLUMNS = {"property_type", "built_form", "construction_age_band", "tenure", "walls_description",
                "roof_description", "floor_description", "windows_description", "mainheat_description",
                "main_fuel", "local_authority_label", "mains_gas_flag"}
# Every column the importer reads from a certificates file.
WANTED = tuple(dict.fromkeys([c for group in REQUIRED_ONE_OF for c in group] + list(REQUIRED) + list(OPTIONAL)))

# Why a row is left out, in the order the checks run (a row counts under its first reason).
REASONS = ("outside_area", "no_property_key", "no_lodgement_date", "no_sap_score", "floor_area_invalid",
           "property_type_unknown")
# Fields whose text can be missing or unknown; counted per home kept.
UNKNOWN_FIELDS = ("built_form", "age_band", "tenure", "wall_type", "loft_insulation_mm", "glazing",
                  "floor_type", "heating_system", "main_fuel")
# Arrow parses small blocks faster (they stay in cache); blocks are then grouped so that
# each step of the import runs on about 65,000 rows at a time.
BLOCK_BYTES = 2 << 20
GROUP_ROWS = 65_536
# Category dtypes built once (building one per block and column costs more than the mapping).
DTYPES = {name: pd.CategoricalDtype(list(values)) for name, values in CATEGORIES.items()}
FLOOR_AREA_RANGE = NUMBERS["floor_area_m2"]


@dataclass
class ImportResult:
    """The stock and what happened on the way (the summary the command prints)."""

    stock: pd.DataFrame
    summary: dict = field(default_factory=dict)


# --- reading files by column name -------------------------------------------------------

# What a file is when it starts with these bytes, and how to get the CSV out of it.
PACKED = (
    (b"\x1f\x8b", "gzip-compressed", "decompress it first (gunzip -c FILE > plain.csv) and give the plain CSV"),
    (b"PK\x03\x04", "a zip archive (the bulk download, or an Excel workbook)",
     "unzip it and give the CSV inside (or save the workbook as CSV)"),
    (b"BZh", "bzip2-compressed", "decompress it first (bunzip2 -c FILE > plain.csv) and give the plain CSV"),
    (b"\xfd7zXZ\x00", "xz-compressed", "decompress it first (unxz -c FILE > plain.csv) and give the plain CSV"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed", "decompress it first (unzstd -c FILE > plain.csv) and give the plain CSV"),
    (b"PAR1", "a Parquet file", "give the CSV from the EPC register's bulk download"),
)
SNIFF_BYTES = 1 << 20  # the start of a file, read to tell text from binary (and to hold the header)
CONTROL_BYTES = bytes(b for b in range(32) if b not in b"\t\n\r\f")


def _header(path: Path, what: str) -> list[str]:
    """The file's column names, lower case, BOM and quotes removed.

    A compressed, packed or binary file is refused here, by its first bytes, with what to do
    (it would otherwise read as one odd header, and its bytes would be echoed back).
    """
    try:
        with open(path, "rb") as handle:
            start = handle.read(SNIFF_BYTES)
    except OSError as error:
        raise RetrofitError(f"cannot read {what} file {path}: {error.strerror or error}") from error
    if not start.strip():
        raise RetrofitError(f"{what} file {path} is empty; give the file from the EPC register's bulk download")
    for magic, kind, fix in PACKED:
        if start.startswith(magic):
            raise RetrofitError(f"{what} file {path} is {kind}, not CSV text; {fix}")
    control = start.translate(None, delete=bytes(range(32, 256)) + b"\t\n\r\f")
    if b"\x00" in start or len(control) > len(start) / 100:
        first = min(i for i in (start.find(bytes([b])) for b in CONTROL_BYTES) if i >= 0)
        raise RetrofitError(f"{what} file {path} is binary, not CSV text (a control byte at byte {first}); "
                            "give the CSV from the EPC register's bulk download")
    first_line = start.split(b"\n", 1)[0]
    text = first_line.decode("utf-8-sig", "replace")
    try:
        names = next(csv.reader(io.StringIO(text)))
    except csv.Error as error:
        raise RetrofitError(f"{what} file {path}: its first line is not a CSV header ({error}); give the CSV "
                            "from the EPC register's bulk download") from error
    return [name.strip().lower() for name in names]


def _columns(path: Path, header: list[str]) -> dict[str, str]:
    """Canonical column -> the name as written in this file; errors name the missing columns."""
    canonical = {ALIASES.get(name, name): original for name, original in zip(header, _raw_names(path))}
    if "lmk_key" not in canonical and not set(REQUIRED) & set(canonical):
        raise RetrofitError(
            f"{path} is not an EPC certificates file: its header has none of LMK_KEY, certificate_number or "
            f"the description columns (first columns: {', '.join(printable(h, limit=30) for h in header[:5])}); "
            "give certificates.csv from the EPC register's bulk download")
    missing = [name.upper() for name in REQUIRED if name not in canonical]
    missing += [" or ".join(n.upper() for n in group) for group in REQUIRED_ONE_OF
                if not any(n in canonical for n in group)]
    if missing:
        raise RetrofitError(f"{path} lacks required EPC column(s) {', '.join(missing)}; "
                            "give the certificates.csv of an EPC bulk download (any of its header versions)")
    return {name: canonical[name] for name in WANTED if name in canonical}


def _raw_names(path: Path) -> list[str]:
    with open(path, "rb") as handle:
        text = handle.readline(1 << 20).decode("utf-8-sig", "replace")
    return [name.strip() for name in next(csv.reader(io.StringIO(text)))]


def _stream(path: Path, columns: dict[str, str], text: set[str], what: str,
            skipped: list[int] | None = None) -> Iterator[tuple[pa.RecordBatch, float]]:
    """Blocks of the file (only ``columns``, all as text), with the fraction of the file read."""
    total = max(path.stat().st_size, 1)
    names = list(dict.fromkeys(columns.values()))
    types = {original: (pa.binary() if canonical in text else pa.string())
             for canonical, original in columns.items()}

    def skip_malformed(row) -> str:
        if skipped is None:
            return "error"
        skipped[0] += 1
        return "skip"

    handle = pa.OSFile(str(path), "rb")
    try:
        reader = pacsv.open_csv(
            handle,
            read_options=pacsv.ReadOptions(block_size=BLOCK_BYTES),
            parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=skip_malformed),
            convert_options=pacsv.ConvertOptions(include_columns=names, column_types=types,
                                                 strings_can_be_null=True, null_values=[""]),
        )
        rename = {original: canonical for canonical, original in columns.items()}
        pending: list[pa.RecordBatch] = []
        rows = 0
        for batch in reader:
            pending.append(batch)
            rows += batch.num_rows
            if rows >= GROUP_ROWS:
                yield _group(pending, rename), min(handle.tell() / total, 1.0)
                pending, rows = [], 0
        if pending:
            yield _group(pending, rename), 1.0
    except (pa.ArrowInvalid, UnicodeDecodeError) as error:  # the message may quote a row: escaped, cut short
        raise RetrofitError(f"cannot read {what} file {path}: {printable(str(error), limit=200)}; check it is the "
                            "CSV from the EPC register's bulk download, not edited into another format") from error
    finally:
        handle.close()


def _group(batches: list[pa.RecordBatch], rename: dict[str, str]) -> pa.RecordBatch:
    """Consecutive blocks as one batch, columns named canonically."""
    table = pa.Table.from_batches(batches).combine_chunks()
    return pa.RecordBatch.from_arrays([table.column(i).chunk(0) if table.column(i).num_chunks else
                                       pa.array([], type=table.schema.field(i).type)
                                       for i in range(table.num_columns)],
                                      names=[rename[n] for n in table.schema.names])


# --- one block of certificates -----------------------------------------------------------

NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
TIMESTAMP = r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$"


def _clean(batch: pa.RecordBatch, name: str, pattern: str, to: pa.DataType) -> pa.Array | None:
    """A column cast to ``to``: null where absent or not matching ``pattern`` (None if no column).

    Most blocks cast directly; only a block holding text such as 'NO DATA!' is cleaned first.
    """
    if name not in batch.schema.names:
        return None
    values = batch.column(name)
    if pa.types.is_binary(values.type):
        values = values.cast(pa.string())
    try:
        return values.cast(to)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        values = pc.utf8_trim_whitespace(values)
        values = pc.if_else(pc.match_substring_regex(values, pattern), values, pa.scalar(None, pa.string()))
        return values.cast(to)


def _numbers(batch: pa.RecordBatch, name: str) -> np.ndarray:
    """A column as float64 (NaN where absent or not a number)."""
    values = _clean(batch, name, NUMBER, pa.float64())
    if values is None:
        return np.full(batch.num_rows, np.nan)
    return values.to_numpy(zero_copy_only=False)


def _ids(batch: pa.RecordBatch, name: str) -> np.ndarray:
    """A UPRN or building reference number as int64 (0 when absent or not a whole number)."""
    values = _numbers(batch, name)
    ok = np.isfinite(values) & (values > 0) & (values == np.floor(values))
    return np.where(ok, values, 0).astype("int64")


def _lodged(batch: pa.RecordBatch) -> np.ndarray:
    """Lodgement time in seconds since 1970 (LODGEMENT_DATETIME, else LODGEMENT_DATE); -1 when absent."""
    seconds = np.full(batch.num_rows, -1, dtype="int64")
    for name in ("lodgement_date", "lodgement_datetime"):  # the datetime, where given, wins
        stamps = _clean(batch, name, TIMESTAMP, pa.timestamp("s"))
        if stamps is None:
            continue
        stamps = stamps.cast(pa.int64())
        known = stamps.is_valid().to_numpy(zero_copy_only=False)
        seconds = np.where(known, stamps.fill_null(0).to_numpy(zero_copy_only=False), seconds)
    return seconds


def _la_codes(batch: pa.RecordBatch) -> np.ndarray:
    """Code of the home's local authority in CATEGORIES['la_code'] (-1 outside the three cities).

    LOCAL_AUTHORITY (the ONS code) where given, else LOCAL_AUTHORITY_LABEL (the name).
    """
    index = pd.Index(CATEGORIES["la_code"])
    by_name = {city.lower(): code for city, code in LA_CODES.items()}
    out = np.full(batch.num_rows, -1, dtype="int8")
    if "local_authority" in batch.schema.names:
        out = maps.per_phrasing(batch.column("local_authority"),
                                lambda t: index.get_indexer([t.upper() if t else ""])[0], dtype="int8")
    if "local_authority_label" in batch.schema.names:
        named = maps.per_phrasing(batch.column("local_authority_label"),
                                  lambda t: index.get_indexer([by_name.get(t, "")])[0], dtype="int8")
        out = np.where(out < 0, named, out)
    return out


def _strings(batch: pa.RecordBatch, name: str) -> pd.Series:
    if name not in batch.schema.names:
        return pd.Series(pd.NA, index=range(batch.num_rows), dtype="str")
    return batch.column(name).to_pandas()


def _describe(batch: pa.RecordBatch) -> pd.DataFrame:
    """Stock fields of usable certificates (categories as codes), with a bit per field that had to be filled."""
    unknown = np.zeros(batch.num_rows, dtype="int32")
    out = {}

    def flag(name: str, missing: np.ndarray) -> None:
        nonlocal unknown
        unknown |= missing.astype("int32") << UNKNOWN_FIELDS.index(name)

    col = batch.column
    for name, column, function, default in (
        ("built_form", "built_form", maps.built_form, "unknown"),
        ("age_band", "construction_age_band", maps.age_band, "unknown"),
        ("tenure", "tenure", maps.tenure, "unknown"),
        ("wall_type", "walls_description", maps.wall_type, "other"),
        ("floor_type", "floor_description", maps.floor_type, "unknown"),
    ):
        codes, missing = maps.category_codes(col(column), function, CATEGORIES[name], default)
        out[name] = pd.Categorical.from_codes(codes, dtype=DTYPES[name])
        flag(name, missing)

    # NaN is a known answer (no loft of its own); None is an unknown roof, left empty and counted.
    texts, codes = maps.texts_and_codes(col("roof_description"))
    depth = maps.on_phrasings(texts, maps.loft_insulation_mm)
    flag("loft_insulation_mm", np.array([d is None for d in depth])[codes])
    out["loft_insulation_mm"] = np.array([np.nan if d is None else d for d in depth], dtype="float32")[codes]

    glazing_codes, missing = maps.category_codes(col("windows_description"), maps.glazing, CATEGORIES["glazing"], None)
    if missing.any():
        from_share = maps.glazing_from_proportion(_numbers(batch, "multi_glaze_proportion")[missing])
        still = pd.isna(from_share)
        filled = np.where(still, maps.defaults()["glazing"], from_share)
        glazing_codes[missing] = pd.Index(CATEGORIES["glazing"]).get_indexer(filled)
        missing[missing] = still
    out["glazing"] = pd.Categorical.from_codes(glazing_codes, dtype=DTYPES["glazing"])
    flag("glazing", missing)

    gas_flag = col("mains_gas_flag") if "mains_gas_flag" in batch.schema.names else None
    system, fuel, system_unknown, fuel_unknown = maps.map_heating(col("mainheat_description"), col("main_fuel"),
                                                                  gas_flag)
    out["heating_system"] = pd.Categorical.from_codes(system, dtype=DTYPES["heating_system"])
    out["main_fuel"] = pd.Categorical.from_codes(fuel, dtype=DTYPES["main_fuel"])
    flag("heating_system", system_unknown)
    flag("main_fuel", fuel_unknown)
    out["unknown"] = unknown
    return pd.DataFrame(out)


@dataclass
class _State:
    """What survives between blocks: the latest usable certificate per property, and more."""

    best: list[pd.DataFrame] = field(default_factory=list)
    best_rows: int = 0
    latest: list[pd.DataFrame] = field(default_factory=list)
    latest_rows: int = 0
    pairs: list[pd.DataFrame] = field(default_factory=list)
    rows_read: int = 0
    usable_rows: int = 0
    dropped: dict = field(default_factory=lambda: dict.fromkeys(REASONS, 0))
    malformed: list = field(default_factory=lambda: [0])
    seq: int = 0


def _latest_per_property(frame: pd.DataFrame, by_usable: bool = False) -> pd.DataFrame:
    """The last row per key when ordered by lodgement time (then usable, then reading order).

    Lodgement second, usable flag and reading order pack into one int64 (seconds < 2^31,
    rows read < 2^26), so this is one hash group-by rather than a sort of every row.
    """
    rank = frame["lodged"].to_numpy() << 27 | frame["seq"].to_numpy()
    if by_usable:
        rank = rank | frame["usable"].to_numpy().astype("int64") << 26
    best = pd.Series(rank).groupby(frame["key"].to_numpy(), sort=False).idxmax().to_numpy()
    return frame.take(np.sort(best)).reset_index(drop=True)


def _compact(parts: list[pd.DataFrame], by_usable: bool = False) -> list[pd.DataFrame]:
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    return [_latest_per_property(frame, by_usable)]


def _take_block(state: _State, batch: pa.RecordBatch) -> None:
    n = batch.num_rows
    state.rows_read += n
    la = _la_codes(batch)
    uprn, brn = _ids(batch, "uprn"), _ids(batch, "building_reference_number")
    key = np.where(uprn > 0, uprn, -brn)
    lodged = _lodged(batch)
    sap = _numbers(batch, "current_energy_efficiency")
    area = _numbers(batch, "total_floor_area")
    ptype, ptype_unknown = maps.category_codes(batch.column("property_type"), maps.property_type,
                                               CATEGORIES["property_type"], None)
    low, high = FLOOR_AREA_RANGE
    failed = [la < 0, key == 0, lodged < 0, ~(sap >= 1), ~((area >= low) & (area <= high)), ptype_unknown]
    reason = np.select(failed, np.arange(1, len(REASONS) + 1), 0)
    counts = np.bincount(reason, minlength=len(REASONS) + 1)
    for i, name in enumerate(REASONS, start=1):
        state.dropped[name] += int(counts[i])

    seq = np.arange(state.seq, state.seq + n, dtype="int64")
    state.seq += n
    if state.seq >= 1 << 26:
        raise RetrofitError(f"more than {1 << 26:,} certificates in one import; import each authority's files "
                            "separately")
    described = reason == 0
    candidate = (reason == 0) | (reason > 3)  # a property in the area whose certificate can be ordered
    both = candidate & (uprn > 0) & (brn > 0)
    if both.any():
        state.pairs.append(pd.DataFrame({"brn": brn[both], "uprn": uprn[both]}).drop_duplicates())
    latest = pd.DataFrame({"key": key[candidate], "lodged": lodged[candidate], "usable": described[candidate],
                           "seq": seq[candidate]})
    state.latest.append(latest)
    state.latest_rows += len(latest)

    if described.any():
        usable = batch.filter(pa.array(described))
        homes = _describe(usable)
        homes.insert(0, "key", key[described])
        homes.insert(1, "lodged", lodged[described])
        homes.insert(2, "seq", seq[described])
        homes["la_code"] = pd.Categorical.from_codes(la[described], dtype=DTYPES["la_code"])
        homes["property_type"] = pd.Categorical.from_codes(ptype[described], dtype=DTYPES["property_type"])
        homes["sap"] = np.minimum(sap[described], 100).astype("float32")
        homes["sap_capped"] = sap[described] > 100
        homes["floor_area_m2"] = area[described].astype("float32")
        homes["lmk_key"] = _strings(usable, "lmk_key").array
        homes["postcode"] = _strings(usable, "postcode").array
        costs = [_numbers(usable, f"{use}_cost_current") for use in ("heating", "hot_water", "lighting")]
        homes["epc_energy_cost_gbp_per_year"] = (costs[0] + costs[1] + costs[2]).astype("float32")
        homes["epc_co2_t_per_year"] = _numbers(usable, "co2_emissions_current").astype("float32")
        homes["epc_energy_kwh_per_m2"] = _numbers(usable, "energy_consumption_current").astype("float32")
        state.best.append(homes)
        state.best_rows += len(homes)
        state.usable_rows += len(homes)

    # Keep memory bounded: fold new rows in once they outnumber what is kept.
    if len(state.best) > 1 and state.best_rows > 2 * len(state.best[0]) + 200_000:
        state.best = _compact(state.best)
        state.best_rows = len(state.best[0])
    if len(state.latest) > 1 and state.latest_rows > 2 * len(state.latest[0]) + 500_000:
        state.latest = _compact(state.latest, by_usable=True)
        state.latest_rows = len(state.latest[0])


def _link_building_references(state: _State) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Final one-per-property tables, with BRN-keyed rows moved to the UPRN seen with that BRN."""
    link = None
    by_brn = -np.concatenate([part["key"].to_numpy() for part in state.best + state.latest])
    by_brn = by_brn[by_brn > 0]
    if state.pairs and len(by_brn):
        pairs = pd.concat(state.pairs, ignore_index=True)
        pairs = pairs[pairs["brn"].isin(by_brn)].drop_duplicates()
        single = pairs.groupby("brn")["uprn"].transform("nunique") == 1  # ambiguous links are not made
        link = pairs[single].drop_duplicates("brn").set_index("brn")["uprn"]

    def final(parts: list[pd.DataFrame], by_usable: bool) -> pd.DataFrame | None:
        if not parts:
            return None
        frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        if link is not None:
            keys = frame["key"].to_numpy().copy()
            by_brn = np.flatnonzero(keys < 0)
            linked = pd.Series(-keys[by_brn]).map(link).to_numpy()
            found = ~np.isnan(linked)
            keys[by_brn[found]] = linked[found].astype("int64")
            frame = frame.assign(key=keys)
        return _latest_per_property(frame, by_usable)

    return final(state.best, False), final(state.latest, True)


# --- LSOA, fuel poverty and deprivation --------------------------------------------------

def _postcode_key(values) -> pa.Array:
    """Postcodes compared without spaces and case: 'b15 2tt' and 'B152TT' are 'B152TT'."""
    values = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values, type=pa.string())
    return pc.replace_substring_regex(pc.utf8_upper(values), r"\s+", "")


def read_postcode_lookup(path: str | Path, postcodes) -> pd.DataFrame:
    """LSOA (2021) and, where given, latitude and longitude of the postcodes asked for.

    Accepts an ONS postcode directory or lookup file with `pcds` or `pcd`, and `lsoa21cd`
    or `lsoa21` (any case); postcodes are compared without spaces and case. Streamed, so
    the full national directory (2.7 million rows) is fine.
    """
    path = Path(path)
    header = _header(path, "postcode lookup")
    raw = dict(zip(header, _raw_names(path)))
    postcode = next((raw[c] for c in ("pcds", "pcd", "pcd2", "postcode") if c in raw), None)
    lsoa = next((raw[c] for c in ("lsoa21cd", "lsoa21") if c in raw), None)
    if postcode is None or lsoa is None:
        missing = [name for name, found in (("pcds or pcd", postcode), ("lsoa21cd or lsoa21", lsoa)) if found is None]
        raise RetrofitError(f"postcode lookup {path} lacks column(s) {' and '.join(missing)}; give the ONS "
                            "postcode directory (ONSPD) or a postcode to 2021 LSOA lookup")
    columns = {"postcode": postcode, "lsoa_code": lsoa}
    for name, options in (("lat", ("lat", "latitude")), ("lon", ("long", "lon", "longitude"))):
        found = next((raw[c] for c in options if c in raw), None)
        if found:
            columns[name] = found
    wanted = pc.unique(_postcode_key(postcodes)).drop_null()
    parts = []
    for batch, _done in _stream(path, columns, set(), "postcode lookup"):
        keys = _postcode_key(batch.column("postcode"))
        keep = pc.fill_null(pc.is_in(keys, value_set=wanted), False)
        if not pc.any(keep).as_py():
            continue
        part = batch.filter(keep).to_pandas()
        part["postcode"] = keys.filter(keep).to_pandas()
        parts.append(part)
    table = (pd.concat(parts, ignore_index=True) if parts
             else pd.DataFrame(columns=list(columns)))
    for name in ("lat", "lon"):
        table[name] = pd.to_numeric(table[name], errors="coerce") if name in table else np.nan
    table["lsoa_code"] = table["lsoa_code"].astype("str").str.strip()
    return table.drop_duplicates("postcode").set_index("postcode")


def _band_codes(sap: np.ndarray) -> np.ndarray:
    """Position in the stock's band categories (A..G) of each SAP score's band (as ``band_from_sap``)."""
    bounds = sorted(energy.BAND_LOWER_BOUNDS.items(), key=lambda item: item[1])  # G (1) up to A (92)
    edges = np.array([low for _band, low in bounds[1:]])
    to_categories = pd.Index(CATEGORIES["epc_band"]).get_indexer([band for band, _low in bounds])
    return to_categories[np.searchsorted(edges, np.round(sap), side="right")]


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, cumulative[-1] / 2)])


def _place(homes: pd.DataFrame, lookup: pd.DataFrame | None) -> dict:
    """Each home's LSOA (where its postcode gives one in its own authority), fuel poverty and IMD.

    Fuel poverty: an LSOA's published fuel-poor count, scaled by imported homes /
    published households (at most 1), spread over the imported D-G homes there with the
    synthetic stock's weights. A home placed by authority only takes the authority's
    fuel-poverty rate, spread the same way over the authority's other such D-G homes,
    and the authority's household-weighted median IMD decile.
    """
    ref = lsoas()
    n = len(homes)
    la = np.asarray(homes["la_code"].cat.categories)[homes["la_code"].cat.codes]
    lsoa = np.full(n, None, dtype=object)
    lat = np.full(n, np.nan)
    lon = np.full(n, np.nan)
    if lookup is not None and len(lookup):
        found = lookup.reindex(_postcode_key(pa.array(homes["postcode"].array)).to_pandas())
        lsoa = found["lsoa_code"].to_numpy(dtype=object)
        lat, lon = found["lat"].to_numpy(dtype="float64"), found["lon"].to_numpy(dtype="float64")
    position = pd.Index(ref["lsoa_code"]).get_indexer(pd.Series(lsoa, dtype=object))
    placed = position >= 0
    placed &= ref["la_code"].to_numpy()[np.where(placed, position, 0)] == la
    position = np.where(placed, position, -1)

    by_la = ref.groupby("la_code").agg(households=("households", "sum"), fuel_poor=("fuel_poor_households", "sum"))
    la_codes = list(LA_CODES.values())
    la_index = pd.Index(la_codes).get_indexer(la)
    la_decile = np.array([_weighted_median(ref.loc[ref["la_code"] == code, "imd_decile"].to_numpy(),
                                           ref.loc[ref["la_code"] == code, "households"].to_numpy())
                          for code in la_codes])

    # Groups 0..L-1 are LSOAs; L..L+2 the authorities' homes placed by authority only.
    groups = np.where(placed, position, len(ref) + la_index)
    imported = np.bincount(groups, minlength=len(ref) + len(la_codes)).astype("float64")
    lsoa_targets = (ref["fuel_poor_households"].to_numpy()
                    * np.minimum(1.0, imported[:len(ref)] / np.maximum(ref["households"].to_numpy(), 1)))
    la_rate = (by_la["fuel_poor"] / by_la["households"]).reindex(la_codes).to_numpy()
    targets = np.concatenate([lsoa_targets, la_rate * imported[len(ref):]])
    probability, shortfall = spread_fuel_poverty(groups, homes["epc_band"].to_numpy(),
                                                 homes["tenure"].astype(str).to_numpy(), targets)

    safe = np.where(placed, position, 0)
    wards = pd.Categorical(ref["ward"])
    return {
        "lsoa_code": pd.Categorical.from_codes(position, categories=pd.Index(ref["lsoa_code"])),
        "ward": pd.Categorical.from_codes(np.where(placed, wards.codes[safe], -1), dtype=wards.dtype),
        "location_source": pd.Categorical.from_codes(np.where(placed, 0, 1), dtype=DTYPES["location_source"]),
        "imd_decile": np.where(placed, ref["imd_decile"].to_numpy()[safe], la_decile[la_index]).astype("int64"),
        "fuel_poverty_probability": probability,
        "lat": np.where(placed, np.where(np.isnan(lat), ref["lat"].to_numpy()[safe], lat), np.nan).round(6),
        "lon": np.where(placed, np.where(np.isnan(lon), ref["lon"].to_numpy()[safe], lon), np.nan).round(6),
        "fuel_poor_unplaced": float(shortfall.sum()),
    }


# --- recommendations -----------------------------------------------------------------------

def read_recommendations(path: str | Path, lmk_keys: pd.Series) -> tuple[pd.Series, dict]:
    """Measure ids the assessor recommended, per certificate kept (';'-joined), and counts.

    A certificate with recommendations but none that maps to a measure gets '' (no
    restriction, as the appraisal's contract says for an empty value).
    """
    path = Path(path)
    header = _header(path, "recommendations")
    raw = dict(zip([ALIASES.get(h, h) for h in header], _raw_names(path)))
    texts = ("improvement_summary_text", "improvement_id_text", "improvement_id", "improvement_descr_text")
    if "lmk_key" not in raw or not any(t in raw for t in texts):
        missing = "LMK_KEY (or certificate_number)" if "lmk_key" not in raw else "IMPROVEMENT_SUMMARY_TEXT"
        raise RetrofitError(f"{path} is not an EPC recommendations file: it lacks {missing}; give the "
                            "recommendations.csv of the same bulk download")
    columns = {name: raw[name] for name in ("lmk_key", *texts) if name in raw}
    wanted = pa.array(lmk_keys.dropna().astype(str).unique(), type=pa.string())
    rows = unrecognised = 0
    parts = []
    for batch, _done in _stream(path, columns, set(texts), "recommendations"):
        keep = pc.fill_null(pc.is_in(batch.column("lmk_key"), value_set=wanted), False)
        batch = batch.filter(keep)
        if batch.num_rows == 0:
            continue
        measures = np.full(batch.num_rows, None, dtype=object)
        for name, function in (("improvement_summary_text", maps.recommended_measures),
                               ("improvement_id_text", maps.recommended_measures),
                               ("improvement_id", None),
                               ("improvement_descr_text", maps.recommended_measures)):
            if name not in batch.schema.names or not pd.isna(measures).any():
                continue
            if function is None:
                found = maps.per_phrasing(batch.column(name), lambda t: maps.recommended_measures(None, None, t, None))
            else:
                found = maps.per_phrasing(batch.column(name), lambda t: function(t, None, None, None))
            measures = np.where(pd.isna(measures), found, measures)
        rows += batch.num_rows
        unrecognised += int(pd.isna(measures).sum())
        parts.append(pd.DataFrame({"lmk_key": batch.column("lmk_key").to_pandas(),
                                   "measures": pd.Series(measures, dtype=object).fillna("")}))
    if not parts:
        return pd.Series(dtype="str"), {"rows": 0, "unrecognised": 0}
    # One bit per measure id, OR-ed per certificate, then each distinct set written once.
    table = pd.concat(parts, ignore_index=True)
    combos, codes = np.unique(table["measures"].to_numpy(dtype=object).astype(str), return_inverse=True)
    measure_ids = sorted({m for combo in combos for m in combo.split(";") if m})
    bits = np.array([sum(1 << measure_ids.index(m) for m in combo.split(";") if m) for combo in combos],
                    dtype="int64")
    row_bits = bits[codes]
    flags = pd.concat([pd.DataFrame({"lmk_key": table["lmk_key"][row_bits >> i & 1 == 1], "bit": 1 << i})
                       for i in range(len(measure_ids))] + [pd.DataFrame({"lmk_key": table["lmk_key"], "bit": 0})])
    per_certificate = flags.drop_duplicates().groupby("lmk_key")["bit"].sum()
    masks = np.unique(per_certificate.to_numpy())
    text = {mask: ";".join(m for i, m in enumerate(measure_ids) if mask >> i & 1) for mask in masks}
    return per_certificate.map(text).astype("str"), {"rows": rows, "unrecognised": unrecognised}


# --- the whole import ------------------------------------------------------------------------

def _read_certificates(paths: list[Path], report: Progress) -> _State:
    """Every certificate of the files, streamed in blocks into the running state (each file's
    columns checked before any is read); a file with no certificate row is an error."""
    columns = {path: _columns(path, _header(path, "certificates")) for path in paths}  # all checked up front
    sizes = np.array([max(path.stat().st_size, 1) for path in paths], dtype="float64")
    before = np.concatenate([[0], np.cumsum(sizes)[:-1]]) / sizes.sum()
    state = _State()
    for number, path in enumerate(paths):
        rows_before, malformed_before = state.rows_read, state.malformed[0]
        for batch, done in _stream(path, columns[path], TEXT_COLUMNS, "certificates", state.malformed):
            _take_block(state, batch)
            report(0.8 * (before[number] + done * sizes[number] / sizes.sum()),
                   f"{path.name}: {state.rows_read:,} certificates read")
        if state.rows_read == rows_before:
            malformed = state.malformed[0] - malformed_before
            why = (f"its {malformed:,} rows have the wrong number of fields" if malformed
                   else "it holds only the header")
            raise RetrofitError(f"{path} has no certificate rows ({why}); give the certificates.csv with its "
                                "rows from the EPC register's bulk download, or leave this file out")
    state.dropped["malformed_row"] = state.malformed[0]
    state.rows_read += state.malformed[0]
    return state


def _name_and_date(stock: pd.DataFrame) -> None:
    """The homes' city, home_id (the UPRN, else BRN + the building reference), data source,
    certificate date and postcode as written, and the certificate's own figures as floats."""
    city_of_la = pd.Index(CATEGORIES["city"]).get_indexer([CITY_BY_LA[c] for c in stock["la_code"].cat.categories])
    stock["city"] = pd.Categorical.from_codes(city_of_la[stock["la_code"].cat.codes], dtype=DTYPES["city"])
    keys = stock["key"].to_numpy()
    stock["home_id"] = pd.array(np.where(keys > 0, keys.astype(str), np.char.add("BRN", (-keys).astype(str))),
                                dtype="str")
    epc = DTYPES["data_source"].categories.get_loc("epc")
    stock["data_source"] = pd.Categorical.from_codes(np.full(len(stock), epc), dtype=DTYPES["data_source"])
    stock["epc_date"] = pd.to_datetime(stock["lodged"], unit="s").dt.normalize()
    compact = _postcode_key(pa.array(stock["postcode"].array)).to_pandas()
    stock["postcode"] = (compact.str[:-3] + " " + compact.str[-3:]).where(compact.str.len() >= 5, compact)
    for column in ("epc_co2_t_per_year", "epc_energy_cost_gbp_per_year", "epc_energy_kwh_per_m2"):
        stock[column] = stock[column].astype("float64")


def _summary(state: _State, stock: pd.DataFrame, fell_back: int, no_usable: int, fuel_poor_unplaced: float,
             recommendations: dict | None) -> dict:
    """What the import read, kept and left out, by reason (the `--json` report)."""
    unknown_bits = stock["unknown"].to_numpy()
    summary = {
        "rows_read": state.rows_read,
        "homes": len(stock),
        "superseded": state.usable_rows - len(stock),
        "dropped": {k: v for k, v in state.dropped.items()},
        "fell_back_to_earlier_certificate": fell_back,
        "properties_without_usable_certificate": no_usable,
        "homes_without_lsoa": int((stock["location_source"] == "local_authority").sum()),
        "unknown": {name: int(((unknown_bits >> i) & 1).sum()) for i, name in enumerate(UNKNOWN_FIELDS)},
        "sap_capped_at_100": int(stock["sap_capped"].sum()),
        "fuel_poor_households_unplaced": round(fuel_poor_unplaced, 1),
        "homes_by_city": {str(k): int(v) for k, v in stock["city"].value_counts().sort_index().items()},
    }
    if recommendations is not None:
        summary["recommendations"] = {
            "rows_for_homes": recommendations["rows"],
            "unrecognised_rows": recommendations["unrecognised"],
            "homes_with_recommendations": int(stock["epc_recommended_measures"].notna().sum()),
        }
    return summary


def import_epc(
    certificates: list[str | Path],
    recommendations: str | Path | None = None,
    postcode_lookup: str | Path | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Read EPC bulk files into a validated stock (nothing is written here)."""
    report = progress or (lambda fraction, message: None)
    paths = [Path(p) for p in certificates]
    if not paths:
        raise RetrofitError("give at least one certificates.csv to import")
    state = _read_certificates(paths, report)

    report(0.82, "one certificate per property")
    homes, latest = _link_building_references(state)
    if homes is None or homes.empty:
        raise RetrofitError(f"no usable certificate for a home in Birmingham, Coventry or Wolverhampton in "
                            f"{', '.join(map(str, paths))} (rows read {state.rows_read:,}, left out "
                            f"{ {k: v for k, v in state.dropped.items() if v} }); check these are the register's "
                            "files for those authorities")
    homes = homes.take(np.argsort(homes["key"].to_numpy(), kind="stable")).reset_index(drop=True)
    latest_usable = latest.set_index("key")["usable"]
    fell_back = int((~latest_usable.reindex(homes["key"]).fillna(True).astype(bool)).sum())
    no_usable = int((~latest_usable).sum() - fell_back)

    report(0.85, "energy, bills and carbon from the SAP score")
    homes = homes.rename(columns={"sap": "sap_score"})
    homes["sap_score"] = homes["sap_score"].round().astype("int64")
    homes["epc_band"] = pd.Categorical.from_codes(_band_codes(homes["sap_score"].to_numpy()), dtype=DTYPES["epc_band"])
    homes["floor_area_m2"] = homes["floor_area_m2"].astype("float64")
    homes["loft_insulation_mm"] = homes["loft_insulation_mm"].astype("float64")
    stock = pd.concat([homes, energy.baseline_energy(homes)], axis=1)

    lookup = None
    if postcode_lookup is not None:
        report(0.88, "postcodes to LSOAs")
        lookup = read_postcode_lookup(postcode_lookup, _postcode_key(pa.array(stock["postcode"].array)))
    report(0.92, "fuel poverty and deprivation")
    placed = _place(stock, lookup)
    fuel_poor_unplaced = placed.pop("fuel_poor_unplaced")
    for column, values in placed.items():
        stock[column] = values
    _name_and_date(stock)
    report(0.93, "energy in use, calibrated to metered gas and electricity")
    stock = calibrate(stock)

    summary_recs = None
    if recommendations is not None:
        report(0.95, "recommendations")
        measures, summary_recs = read_recommendations(recommendations, stock["lmk_key"])
        stock["epc_recommended_measures"] = pd.array(stock["lmk_key"].map(measures), dtype="str")

    summary = _summary(state, stock, fell_back, no_usable, fuel_poor_unplaced, summary_recs)

    stock = stock.drop(columns=["key", "lodged", "seq", "unknown", "sap_capped", "lmk_key"])
    stock = ordered(stock.reset_index(drop=True))
    report(0.98, "checking the stock")
    check_stock(stock, "imported EPC stock")
    report(1.0, "done")
    return ImportResult(stock=stock, summary=summary)


__all__ = ["ImportResult", "import_epc", "read_postcode_lookup", "read_recommendations"]

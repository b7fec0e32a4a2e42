"""Importing a 600,000-row EPC certificates file: target >= 100,000 rows/s and < 2 GB peak.

The file is generated in the register's current 93-column format (real phrasings, quoted
addresses, several certificates per property, rows outside the area and unusable rows),
written in blocks so that making it does not inflate the import's peak memory.
"""

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import peak_rss_mb, verdict  # noqa: E402

from retrofit.paths import REFERENCE_DIR  # noqa: E402
from retrofit.stock.epc import import_epc  # noqa: E402

ROWS = 600_000
BLOCK = 50_000
HEADER = (REFERENCE_DIR / "epc_schema" / "certificates_header.txt").read_text().strip().split(",")
CHOICES = {
    "PROPERTY_TYPE": ["House", "House", "House", "Flat", "Flat", "Maisonette", "Bungalow"],
    "BUILT_FORM": ["Semi-Detached", "Mid-Terrace", "End-Terrace", "Detached", "Enclosed Mid-Terrace", "NO DATA!"],
    "CONSTRUCTION_AGE_BAND": ["England and Wales: before 1900", "England and Wales: 1900-1929",
                              "England and Wales: 1930-1949", "England and Wales: 1950-1966",
                              "England and Wales: 1967-1975", "England and Wales: 1983-1990",
                              "England and Wales: 2012 onwards", "NO DATA!", "INVALID!", "2019"],
    "TENURE": ["owner-occupied", "Owner-occupied", "rental (social)", "Rented (social)", "rental (private)",
               "Rented (private)", "unknown", "NO DATA!"],
    "WALLS_DESCRIPTION": ["Cavity wall, as built, no insulation (assumed)", "Cavity wall, filled cavity",
                          "Solid brick, as built, no insulation (assumed)", "Solid brick, with internal insulation",
                          "System built, as built, no insulation (assumed)", "Timber frame, as built, insulated (assumed)",
                          "Average thermal transmittance 0.28 W/m²K", "Cavity wall, as built, insulated (assumed)"],
    "ROOF_DESCRIPTION": ["Pitched, 270 mm loft insulation", "Pitched, 100 mm loft insulation",
                         "Pitched, no insulation (assumed)", "(another dwelling above)", "Flat, insulated (assumed)",
                         "Pitched, 400+ mm loft insulation", "Average thermal transmittance 0.13 W/m²K"],
    "FLOOR_DESCRIPTION": ["Suspended, no insulation (assumed)", "Solid, no insulation (assumed)",
                          "(another dwelling below)", "Average thermal transmittance 0.15 W/m²K"],
    "WINDOWS_DESCRIPTION": ["Fully double glazed", "Partial double glazing", "Single glazed", "Mostly double glazing",
                            "Fully triple glazed", "High performance glazing"],
    "MAINHEAT_DESCRIPTION": ["Boiler and radiators, mains gas", "Boiler and radiators, mains gas",
                             "Boiler and radiators, mains gas", "Electric storage heaters", "Room heaters, electric",
                             "Air source heat pump, radiators, electric", "Community scheme", "Boiler and radiators, oil"],
    "MAIN_FUEL": ["mains gas (not community)", "mains gas (not community)", "electricity (not community)",
                  "Electricity: electricity, unspecified tariff", "NO DATA!"],
    "MAINS_GAS_FLAG": ["Y", "Y", "N", ""],
    "TRANSACTION_TYPE": ["marketed sale", "rental (private)", "ECO assessment", "new dwelling"],
    "POSTTOWN": ["BIRMINGHAM", "COVENTRY", "WOLVERHAMPTON"],
}
AREAS = np.array(["E08000025"] * 6 + ["E08000026"] * 2 + ["E08000031"] * 2 + ["E08000003"])
LABELS = {"E08000025": "Birmingham", "E08000026": "Coventry", "E08000031": "Wolverhampton", "E08000003": "Manchester"}


def write_certificates(path: Path, rows: int = ROWS, seed: int = 1) -> None:
    """A certificates.csv in the register's format: about 1.7 certificates per property."""
    rng = np.random.default_rng(seed)
    properties = int(rows / 1.7)
    options = pacsv.WriteOptions(include_header=True, quoting_style="needed")
    with pa.OSFile(str(path), "wb") as sink:
        writer = None
        for start in range(0, rows, BLOCK):
            n = min(BLOCK, rows - start)
            prop = rng.integers(0, properties, n)
            la = AREAS[prop % len(AREAS)]
            sap = rng.integers(1, 100, n).astype(str).astype(object)
            sap[rng.random(n) < 0.01] = ""
            area = np.round(rng.lognormal(4.4, 0.35, n), 1).astype(str).astype(object)
            area[rng.random(n) < 0.005] = "0"
            uprn = (100_000_000_000 + prop).astype(str).astype(object)
            uprn[prop % 20 == 0] = ""  # some properties only have a building reference
            days = rng.integers(0, 16 * 365, n)
            stamp = np.datetime64("2008-10-01T00:00:00") + days.astype("timedelta64[D]") \
                + rng.integers(0, 86_400, n).astype("timedelta64[s]")
            columns = {name: np.full(n, "", dtype=object) for name in HEADER}
            for name, values in CHOICES.items():
                columns[name] = np.asarray(values, dtype=object)[rng.integers(0, len(values), n)]
            columns.update({
                "LMK_KEY": np.char.add("LMK", (start + np.arange(n)).astype(str)).astype(object),
                "ADDRESS1": np.char.add("Flat ", (prop % 9 + 1).astype(str)).astype(object),
                "ADDRESS2": np.char.add(np.char.add((prop % 300 + 1).astype(str), ", "), "Example Road").astype(object),
                "POSTCODE": np.char.add("B", np.char.add((prop % 40 + 1).astype(str), " 2TT")).astype(object),
                "BUILDING_REFERENCE_NUMBER": (5_000_000 + prop).astype(str).astype(object),
                "CURRENT_ENERGY_EFFICIENCY": sap, "TOTAL_FLOOR_AREA": area, "UPRN": uprn,
                "LOCAL_AUTHORITY": la.astype(object), "LOCAL_AUTHORITY_LABEL": np.vectorize(LABELS.get)(la).astype(object),
                "LODGEMENT_DATE": stamp.astype("datetime64[D]").astype(str).astype(object),
                "LODGEMENT_DATETIME": np.char.replace(stamp.astype(str), "T", " ").astype(object),
                "CO2_EMISSIONS_CURRENT": np.round(rng.uniform(0.5, 9, n), 1).astype(str).astype(object),
                "HEATING_COST_CURRENT": rng.integers(200, 2000, n).astype(str).astype(object),
                "HOT_WATER_COST_CURRENT": rng.integers(50, 300, n).astype(str).astype(object),
                "LIGHTING_COST_CURRENT": rng.integers(30, 150, n).astype(str).astype(object),
                "ENERGY_CONSUMPTION_CURRENT": rng.integers(50, 500, n).astype(str).astype(object),
                "MULTI_GLAZE_PROPORTION": np.full(n, "100", dtype=object),
                "REPORT_TYPE": np.full(n, "100", dtype=object),
            })
            columns["ADDRESS"] = (columns["ADDRESS1"] + ", " + columns["ADDRESS2"]).astype(object)
            table = pa.table({name: pa.array(columns[name], type=pa.string()) for name in HEADER})
            if writer is None:
                writer = pacsv.CSVWriter(sink, table.schema, write_options=options)
            writer.write_table(table)
        writer.close()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "certificates.csv"
        write_certificates(path)
        size_mb = path.stat().st_size / 1e6
        start, cpu_start = time.perf_counter(), time.process_time()
        result = import_epc([path])
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    rate = ROWS / seconds
    print(f"certificates file: {ROWS:,} rows, {size_mb:,.0f} MB (93-column format)")
    print(f"homes kept: {result.summary['homes']:,}; superseded {result.summary['superseded']:,}; "
          f"left out {sum(result.summary['dropped'].values()):,}")
    print(f"time:        {seconds:,.2f} s")
    print(f"rows per second: {rate:,.0f} (target >= 100,000: {'met' if rate >= 100_000 else 'MISSED'})")
    print(f"rows per CPU-second: {ROWS / cpu_seconds:,.0f} (CPU {cpu_seconds:,.2f} s; on a shared machine "
          "this is closer to what an idle one gives)")
    print(f"peak memory: {verdict(peak_rss_mb(), 2048, 'MB')}")

"""Generating the full synthetic stock: target under 20 s and under 2 GB (2 cores)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import peak_rss_mb, timed, verdict  # noqa: E402

from retrofit.stock.synthetic import generate_stock  # noqa: E402

results: dict = {}
with timed(results, "generate"):
    stock = generate_stock(seed=1)
print(f"homes generated: {len(stock):,}")
print(f"time:        {verdict(results['generate'], 20, 's')}")
print(f"peak memory: {verdict(peak_rss_mb(), 2048, 'MB')}")
print(f"homes per second: {len(stock) / results['generate']:,.0f}")

"""The app in a real browser: first page, moving between pages of a stored run, a run from the builder.

Targets (issue 7, full default stock): first page shown within 3 s of opening; moving between
pages of a stored run within 1 s; a run of the default scenario from the builder within the
optimiser's target (30 s for the solve). Starts `streamlit run` on its own var folder and
drives the system Chromium with Playwright, as tests/browser does.

    python benchmarks/bench_app.py            # the full default stock (686,261 homes)
    python benchmarks/bench_app.py --sample   # a 5,000-home sample, the example scaled to it
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import verdict  # noqa: E402

from retrofit.paths import ROOT  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"]
PAGES = [  # (link, heading, what shows the page is drawn)
    ("Map", "Map", '[data-testid="stDeckGlJsonChart"] canvas'),
    ("Plan explorer", "Plan explorer", "text=in the plan match"),
    ("Trade-offs", "Trade-offs", "text=What more budget or capacity would buy"),
    ("Compare", "Compare runs", "text=Homes in common"),
    ("Overview", "Programme overview", '[data-testid="stMetricValue"]'),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(var: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "RETROFIT_VAR_DIR": str(var)}
    env.pop("RETROFIT_DATABASE_URL", None)
    log = open(var / "streamlit.log", "w")
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "app" / "main.py"),
                               "--server.port", str(port), "--server.headless", "true",
                               "--browser.gatherUsageStats", "false"], cwd=ROOT, env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1):
                return server, url
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError(f"the app did not start; see {var / 'streamlit.log'}")


def run_from_builder(page, scale: bool, number: int) -> float:
    """Press Save and run on the default scenario; seconds until run ``number`` is stored."""
    page.get_by_role("link", name="Scenario builder", exact=True).click()
    page.get_by_role("heading", name="Scenario builder").wait_for(timeout=60_000)
    page.get_by_role("button", name="Save and run").wait_for(timeout=60_000)
    if scale:
        page.get_by_role("button", name="Scale to this stock").click()
        page.wait_for_timeout(1500)
    start = time.perf_counter()
    page.get_by_role("button", name="Save and run").click()
    page.get_by_text(f"stored as run #{number} ").wait_for(timeout=900_000)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sample", action="store_true", help="a 5,000-home sample instead of the full stock")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from retrofit.stock.schema import write_stock
    from retrofit.stock.synthetic import generate_stock

    var = Path(tempfile.mkdtemp(prefix="bench-app-"))
    stock = generate_stock(seed=1, homes=5_000) if args.sample else generate_stock(seed=1)
    write_stock(stock, var / "stock" / "default.parquet")
    print(f"stock: {len(stock):,} homes ({'sample' if args.sample else 'full default'}); var folder {var}")
    print("machine: 2 cores shared with other work; figures are as measured")
    server, url = start_server(var)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()

            start = time.perf_counter()
            page.goto(url)
            page.get_by_role("heading", name="Programme overview").wait_for(timeout=60_000)
            page.get_by_text("No run yet").wait_for(timeout=60_000)
            cold = time.perf_counter() - start
            print(f"first page, fresh server and database: {verdict(cold, 3, 's')}")

            first = run_from_builder(page, args.sample, 1)
            print(f"run from the builder, first (appraises the stock, then solves): {first:,.1f} s")
            second = run_from_builder(page, False, 2)
            solve = re.search(r"in (\d+) s", page.get_by_text(re.compile(r"stored as run #2")).inner_text())
            print(f"run from the builder, candidates cached: {second:,.1f} s from click to stored run "
                  f"(job {solve.group(1) if solve else '?'} s; optimiser target 30 s for the solve)")

            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            other = context.new_page()
            start = time.perf_counter()
            other.goto(url)
            other.locator('[data-testid="stMetricValue"]').first.wait_for(timeout=60_000)
            warm = time.perf_counter() - start
            print(f"first page with a stored run, new browser: {verdict(warm, 3, 's')}")

            for round_name in ("first visit", "again (cached)"):
                times = []
                for link, heading, ready in PAGES:
                    start = time.perf_counter()
                    other.get_by_role("link", name=link, exact=True).click()
                    other.get_by_role("heading", name=heading, exact=True).wait_for(timeout=120_000)
                    other.locator(ready).first.wait_for(timeout=120_000)
                    times.append((link, time.perf_counter() - start))
                worst = max(t for _, t in times)
                print(f"pages of a stored run, {round_name}: " + ", ".join(f"{n} {t:.2f} s" for n, t in times)
                      + f"; slowest {verdict(worst, 1, 's')}")
            browser.close()
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()

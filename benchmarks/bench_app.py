"""The app in a real browser: first page, moving between pages of a stored run, a run from the builder.

Targets (full default stock): first page shown within 3 s of opening; moving between
pages of a stored run within 1 s; a run of the default scenario from the builder within the
optimiser's target (30 s for the solve). Starts `streamlit run` on its own var folder and
drives the system Chromium with Playwright, as tests/browser does. A page counts as shown
when its heading and its main element are there, checked at every frame (`shown`); the Map
only once the browser has drawn its polygons (the draws of deck.gl's polygon layer are
counted in the page) and finished drawing. How long the browser's main thread then stays
busy (drawing a chart) is printed beside it. On a shared machine one visit says
little: the pages are visited ``--rounds`` times (the first visit, then cached ones, with
the median per page), and a new browser opens the app three times (right after the run is
stored, then twice more once its pages are warm).

The browser has no graphics card (``--disable-gpu``): WebGL is drawn in software, which
compiles a deck.gl polygon layer's shaders again for every new map, whatever its data.
What that alone costs is measured on a page of nothing but a one-rectangle pydeck map, and
what Streamlit alone costs a new browser on a page of a title and one metric (`FLOOR_APP`);
both are printed beside the app's figures.

    python benchmarks/bench_app.py            # the full default stock (686,261 homes)
    python benchmarks/bench_app.py --sample   # a 5,000-home sample, the example scaled to it
    python benchmarks/bench_app.py --rounds 5 # more visits of each page
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
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
MAP = '[data-testid="stDeckGlJsonChart"] canvas'
PAGES = [  # (link, heading, what shows the page is drawn)
    ("Map", "Map", MAP),
    ("Plan explorer", "Plan explorer", "text=in the plan match"),
    ("Trade-offs", "Trade-offs", "text=What more budget or capacity would buy"),
    ("Compare", "Compare runs", "text=Homes in common"),
    ("Overview", "Programme overview", '[data-testid="stMetricValue"]'),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(var: Path, script: Path = ROOT / "app" / "main.py") -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "RETROFIT_VAR_DIR": str(var)}
    env.pop("RETROFIT_DATABASE_URL", None)
    log_path = var / f"{script.stem}.log"
    log = open(log_path, "w")
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(script),
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
    raise RuntimeError(f"the app did not start; see {log_path}")


FLOOR_APP = """
import streamlit as st
import pydeck as pdk

def blank():
    st.title("Blank")
    st.metric("Spend", "£1.0m")

def rectangle():
    st.title("Rectangle")
    square = {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [
        [[-2.0, 52.4], [-1.5, 52.4], [-1.5, 52.6], [-2.0, 52.6], [-2.0, 52.4]]]}}
    layer = pdk.Layer("GeoJsonLayer", {"type": "FeatureCollection", "features": [square]}, filled=True,
                      stroked=False, get_fill_color=[200, 80, 40, 160], pickable=True)  # as the Map's polygons
    view = pdk.ViewState(latitude=52.48, longitude=-1.75, zoom=9.2)
    st.pydeck_chart(pdk.Deck(layers=[layer], initial_view_state=view, map_style=None), height=620)

st.navigation([st.Page(blank, title="Blank", default=True), st.Page(rectangle, title="Rectangle")]).run()
"""


def settle(page) -> float:
    """Seconds until the page's main thread is free again (a frame, then a task): drawing not yet done shows."""
    start = time.perf_counter()
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => setTimeout(done, 0)))")
    return time.perf_counter() - start


SHOWN = """([heading, ready]) => {
    const visible = e => !!e && e.getClientRects().length > 0 && getComputedStyle(e).visibility !== "hidden";
    if (heading !== null && ![...document.querySelectorAll("h1, h2, h3")].some(
            h => visible(h) && h.innerText.trim() === heading)) return false;
    if (ready === null) return true;
    return ready.startsWith("text=") ? document.body.innerText.includes(ready.slice(5))
                                     : visible(document.querySelector(ready));
}"""


def shown(page, heading: str | None, ready: str | None, timeout_ms: int = 120_000) -> None:
    """Wait until the page shows ``heading`` and ``ready`` (a CSS selector, or ``text=`` and a text),
    checked at every frame. Playwright's own waits check at 0, 20, 70, 170 and 270 ms, then every
    500 ms: a page shown at 0.3 s would be counted at 0.77 s."""
    page.wait_for_function(SHOWN, arg=[heading, ready], polling="raf", timeout=timeout_ms)


POLYGON_DRAWS = """(() => {
    // Count the draws of deck.gl's polygon layer, known by its shaders' uniform block (solidPolygonUniforms).
    window.polygonDraws = 0;
    const shaders = new WeakSet(), programs = new WeakSet();
    for (const kind of [window.WebGLRenderingContext, window.WebGL2RenderingContext]) {
        if (!kind) continue;
        const p = kind.prototype, source = p.shaderSource, attach = p.attachShader, use = p.useProgram;
        p.shaderSource = function (shader, text) {
            if (text.includes("solidPolygonUniforms")) shaders.add(shader);
            return source.call(this, shader, text);
        };
        p.attachShader = function (program, shader) {
            if (shaders.has(shader)) programs.add(program);
            return attach.call(this, program, shader);
        };
        p.useProgram = function (program) {
            this.drawsPolygons = programs.has(program);
            return use.call(this, program);
        };
        for (const name of ["drawElements", "drawArrays", "drawElementsInstanced", "drawArraysInstanced"]) {
            const draw = p[name];
            if (draw) p[name] = function (...args) {
                if (this.drawsPolygons) window.polygonDraws++;
                return draw.apply(this, args);
            };
        }
    }
})();"""


def new_page(browser):
    """A page in a new browser context (its own cache and cookies: a new visitor) that counts polygon draws."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.add_init_script(POLYGON_DRAWS)
    return context.new_page()


def drawn(page) -> None:
    """Wait until the map's polygons are drawn (a draw of deck.gl's polygon layer since ``window.polygonDraws``
    was reset), then frames until one takes under 50 ms (at most 200): the browser has finished drawing."""
    page.wait_for_function("() => window.polygonDraws > 0", polling="raf", timeout=120_000)
    for _ in range(200):
        if settle(page) < 0.05:
            return


def visit(page, link: str, heading: str, ready: str) -> float:
    """Click ``link``; seconds until the page is shown (a map: drawn, its first quiet frame included)."""
    page.evaluate("() => { window.polygonDraws = 0; }")
    start = time.perf_counter()
    page.get_by_role("link", name=link, exact=True).click()
    shown(page, heading, ready)
    if ready == MAP:
        drawn(page)
    return time.perf_counter() - start


def floors(browser, var: Path, rounds: int) -> tuple[list[float], list[float]]:
    """What Streamlit and software WebGL alone cost here (`FLOOR_APP`): seconds to the metric of a
    one-metric page in a new browser (three times), and to a drawn one-rectangle map moving from it."""
    script = var / "floor.py"
    script.write_text(FLOOR_APP)
    server, url = start_server(var, script)
    try:
        first_pages = [first_page(browser, url) for _ in range(3)]
        page = open_in_new_browser(browser, url)[2]
        maps = []
        for _ in range(rounds + 1):  # the first visit loads the map's code
            maps.append(visit(page, "Rectangle", "Rectangle", MAP))
            visit(page, "Blank", "Blank", '[data-testid="stMetricValue"]')
        page.context.close()
        return first_pages, maps[1:]
    finally:
        server.terminate()
        server.wait(10)


def open_in_new_browser(browser, url: str):
    """Open the app in a new browser context: (seconds to the first KPI, then to a free main thread, the page)."""
    page = new_page(browser)
    start = time.perf_counter()
    page.goto(url, wait_until="commit")
    shown(page, None, '[data-testid="stMetricValue"]', 60_000)
    return time.perf_counter() - start, settle(page), page


def first_page(browser, url: str) -> float:
    """Seconds to the first KPI in a new browser context, closed afterwards (an open page keeps its session)."""
    seconds, _, page = open_in_new_browser(browser, url)
    page.context.close()
    return seconds


def run_from_builder(page, scale: bool, number: int) -> float:
    """Press Save and run on the default scenario; seconds until run ``number`` is stored.

    A click that lands while the page is still rerunning (right after the previous run was
    stored) can be lost: when no job starts within 30 s, the click is repeated, and timed
    from the click that started it.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.get_by_role("link", name="Scenario builder", exact=True).click()
    page.get_by_role("heading", name="Scenario builder").wait_for(timeout=60_000)
    page.get_by_role("button", name="Save and run").wait_for(timeout=60_000)
    if scale:
        page.get_by_role("button", name="Scale to this stock").click()
        page.wait_for_timeout(1500)
    stored = page.get_by_text(f"stored as run #{number} ")
    started = page.get_by_role("button", name="Cancel").or_(stored)
    for attempt in range(3):
        start = time.perf_counter()
        page.get_by_role("button", name="Save and run").click()
        try:
            started.first.wait_for(timeout=30_000)
            break
        except PlaywrightTimeout:
            print(f"  (no job started {attempt + 1} time(s) after Save and run for run #{number}: clicking again)")
    try:
        stored.wait_for(timeout=900_000)
    except PlaywrightTimeout:
        errors = page.locator('[data-testid="stAlertContentError"]').all_inner_texts()
        raise RuntimeError(f"run #{number} was not stored; the page says: {errors or 'no error'}") from None
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sample", action="store_true", help="a 5,000-home sample instead of the full stock")
    parser.add_argument("--rounds", type=int, default=3, help="visits of every page (the first, then cached ones)")
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
            page = new_page(browser)

            start = time.perf_counter()
            page.goto(url, wait_until="commit")
            shown(page, "Programme overview", "text=No run yet", 60_000)
            cold = time.perf_counter() - start
            print(f"first page, fresh server and database: {verdict(cold, 3, 's')} "
                  f"(main thread free {settle(page):.2f} s later)")

            first = run_from_builder(page, args.sample, 1)
            print(f"run from the builder, first (appraises the stock, then solves): {first:,.1f} s")
            second = run_from_builder(page, False, 2)
            solve = re.search(r"in (\d+) s", page.get_by_text(re.compile(r"stored as run #2")).inner_text())
            print(f"run from the builder, candidates cached: {second:,.1f} s from click to stored run "
                  f"(job {solve.group(1) if solve else '?'} s; optimiser target 30 s for the solve)")

            warm = open_in_new_browser(browser, url)
            print(f"first page with a stored run, new browser: {verdict(warm[0], 3, 's')} "
                  f"(main thread free {warm[1]:.2f} s later)")
            other = warm[2]

            rounds = {}
            for number in range(args.rounds):
                round_name = "first visit" if number == 0 else f"again (cached, {number})"
                times = []
                for link, heading, ready in PAGES:
                    seconds = visit(other, link, heading, ready)
                    times.append((link, seconds, settle(other)))
                rounds[round_name] = times
                worst = max(t for _, t, _ in times)
                print(f"pages of a stored run, {round_name}: " + ", ".join(f"{n} {t:.2f} s" for n, t, _ in times)
                      + f"; slowest {verdict(worst, 1, 's')}")
                print("  main thread free again after: " + ", ".join(f"{n} +{s:.2f} s" for n, _, s in times))
            cached = [times for name, times in rounds.items() if name != "first visit"]
            if len(cached) > 1:  # a shared machine is noisy: the median of the cached visits per page
                medians = [(link, statistics.median(times[i][1] for times in cached)) for i, (link, _, _) in
                           enumerate(PAGES)]
                print(f"pages of a stored run, cached, median of {len(cached)} visits: "
                      + ", ".join(f"{n} {t:.2f} s" for n, t in medians)
                      + f"; slowest {verdict(max(t for _, t in medians), 1, 's')}")

            later = [first_page(browser, url) for _ in range(2)]
            print("first page with a stored run, new browser, again (its pages warm): "
                  + ", ".join(f"{t:.2f} s" for t in later)
                  + f"; median of three {verdict(statistics.median([warm[0], *later]), 3, 's')}")
            for context in browser.contexts:  # pages left open would keep calling the stopped server
                context.close()
            server.terminate()
            server.wait(10)
            first_pages, maps = floors(browser, var, max(args.rounds, 3))
            print("floor, a page of a title and one metric in a new browser: "
                  + ", ".join(f"{t:.2f} s" for t in first_pages)
                  + f"; median {statistics.median(first_pages):.2f} s (what Streamlit alone costs a first page here)")
            print("floor, a one-rectangle pydeck map on an otherwise empty page (software WebGL): "
                  + ", ".join(f"{t:.2f} s" for t in maps) + f"; median {statistics.median(maps):.2f} s "
                  "(what any deck.gl polygon map costs here, before its data)")
            browser.close()
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()

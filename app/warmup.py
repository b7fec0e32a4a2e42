"""Getting the app ready before anyone waits for it.

When the server starts (`app/main.py`), before it serves the first visitor: the libraries
the pages import, the database (migrated, the example scenarios seeded) and the newest
run's Overview (a full-stock plan takes about two seconds to read). Then, in the
background, the first view of the newest runs' other pages (Map, Plan explorer, Compare).
When the builder stores a run, its job reads the plan back for the Overview before it says
the run is stored, and the run's other pages follow in the background a few seconds later,
once the first page opened has had the server to itself (a Python server serves the
browser's files and runs every page with one interpreter lock). All of it fills the shared
caches of `app.data` and `app.maps`, so the first person to open a page finds it ready; a
page that asks for something still being read waits for that one read (Streamlit computes
each cached value once).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from app.served import LOOKUP_THREAD
from retrofit.present import views
from retrofit.service import access

# app.data and app.maps (the pages' shared caches) are imported inside the functions below: this
# module is imported by app/main.py before Streamlit's runtime exists, and their caches want it.

THREAD = "warm-up"
QUIET_THREADS = (THREAD, LOOKUP_THREAD)  # use the shared caches outside any page, on purpose
NEWEST_RUNS = 2  # the Overview's run and the one Compare puts beside it
PAUSE_S = 3.0  # after a run is stored, its Overview first, alone; the other pages that much later


class _QuietOutsidePages(logging.Filter):
    """Streamlit warns when a cached function runs outside a page; these threads do so on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.args and str(record.args[0]).startswith(QUIET_THREADS))


logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(_QuietOutsidePages())


def prepare() -> None:
    """Import what the pages use and open the database (created or migrated, examples seeded)."""
    import altair  # noqa: F401 - the charts of Overview, Compare and Trade-offs

    from app import data, maps  # noqa: F401 - maps brings pydeck

    data.engine()


def warm_overview(run_id: int) -> None:
    """What the Overview of a stored run shows: its summary, its plan by city and year, its stock."""
    from app import data

    run = data.run(run_id)
    data.city_year(run_id)  # reads the plan
    data.synthetic_share(run.stock_source)


def warm_pages(run_id: int) -> None:
    """The first view of a stored run's Plan explorer and Map (its plan already read)."""
    from app import data, maps

    everyone = access.local_principal()  # a programme manager: every city (the caches are keyed by city)
    data.plan_rows(everyone, run_id)
    data.plan_choices(everyone, run_id)
    maps.plan_deck(everyone, run_id, next(iter(views.MAP_LAYERS)), None, tuple(access.home_cities(everyone)))


def warm_comparison(run_id: int) -> None:
    """Compare's first view for a run: it beside the newest other run."""
    from app import data

    table = data.runs()
    labels = dict(zip(table["id"].astype(int), table["label"]))
    others = [i for i in labels if i != run_id][:1]
    if others:
        data.comparison(access.local_principal(), {run_id: labels[run_id], others[0]: labels[others[0]]})


def warm_rest(run_id: int, pause_s: float = 0.0) -> None:
    """After ``pause_s`` (the first page opened gets the server to itself), the run's other pages."""
    time.sleep(pause_s)
    warm_pages(run_id)
    warm_comparison(run_id)


def after_storing(run_id: int, progress=None) -> None:
    """A run the builder just stored: its Overview now (the job ends when it can be shown), the rest soon after."""
    if progress:
        progress(1.0, "reading the plan back for its pages")
    in_background(warm_overview, run_id).join()
    in_background(warm_rest, run_id, PAUSE_S)


def newest_runs() -> list[int]:
    from app import data

    table = data.runs()
    return [int(i) for i in table["id"][:NEWEST_RUNS]] if not table.empty else []


def warm_newest() -> None:
    """The newest runs' pages (their Overviews first), and Compare's first view of them side by side."""
    newest = newest_runs()
    for run_id in newest:
        warm_overview(run_id)
    if newest:
        warm_rest(newest[0])
    for run_id in newest[1:]:
        warm_pages(run_id)


def _quietly(work, *args) -> None:
    try:
        work(*args)
    except Exception as error:  # noqa: BLE001 - a page that needs it will read it again and say what is wrong
        logging.getLogger(__name__).warning("warm-up of %s stopped: %s", work.__name__, error)


def in_background(work, *args) -> threading.Thread:
    """Run ``work(*args)`` in a background thread (its failure is logged; the pages will try again)."""
    thread = threading.Thread(target=_quietly, args=(work, *args), name=f"{THREAD}-{work.__name__}", daemon=True)
    thread.start()
    return thread


def prepare_first_page() -> None:
    """Before serving: the libraries, the database and the Overview of the newest run."""
    prepare()
    newest = newest_runs()
    if newest:
        warm_overview(newest[0])


@asynccontextmanager
async def lifespan(_app) -> AsyncIterator[None]:
    """The server's start: the first page ready before serving, the rest of the newest runs after."""
    await asyncio.to_thread(in_background(prepare_first_page).join)
    in_background(warm_newest)
    yield

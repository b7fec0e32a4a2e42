"""Pieces several pages share: the run picker, KPI tiles, errors in words, a job's live progress."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import streamlit as st

from app import data
from retrofit.present import views
from retrofit.errors import RetrofitError


_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def literal(text: object) -> str:
    """Text people typed (a scenario's name, an email), shown as written inside Markdown: a
    [link](...), an ![image](...) (a tracking pixel) or a :colour[...] in it is not drawn."""
    return _MARKDOWN.sub(r"\\\1", str(text))


def attempt(action: Callable[..., Any], *args, **kwargs) -> Any:
    """Call the library; a RetrofitError is shown on the page in words and the page stops there."""
    try:
        return action(*args, **kwargs)
    except RetrofitError as error:
        st.error(str(error))
        st.stop()


def choose_run(key: str, label: str = "Run", where=None) -> int | None:
    """A run picker that remembers the run across pages (None, with a hint, when there is no run)."""
    where = where or st.sidebar
    table = attempt(data.runs)
    if table.empty:
        st.info("No run yet. Open **Scenario builder**, pick a scenario and press **Run**: "
                "the plan appears here when it is solved.")
        return None
    ids = [int(i) for i in table["id"]]
    labels = dict(zip(ids, table["label"]))
    current = st.session_state.get("run_id")
    asked = st.query_params.get("run")
    if asked is not None and asked.isdigit() and int(asked) in ids and "run_id" not in st.session_state:
        current = int(asked)
    if current not in ids:
        current = ids[0]
    if st.session_state.get(key) not in ids:
        st.session_state[key] = current
    chosen = where.selectbox(label, ids, format_func=lambda i: labels[i], key=key)
    st.session_state["run_id"] = chosen
    return chosen


def kpi_tiles(kpis: dict, per_row: int = 3) -> None:
    cards = views.kpi_cards(kpis)
    for start in range(0, len(cards), per_row):
        for column, (label, value) in zip(st.columns(per_row), cards[start:start + per_row]):
            column.metric(label, value)


def job_progress(slot: str, finished: Callable[[Any], None]) -> None:
    """Live progress of this user's job in ``slot`` (polled every second) with a Cancel button.

    When the job ends, ``finished(snapshot)`` is recorded and the whole page reruns once.
    """
    job_id = st.session_state.get(slot)
    if not job_id:
        return

    @st.fragment(run_every=1)
    def panel() -> None:
        job = data.job_board().get(st.session_state.get(slot, ""))
        if job is None:
            st.session_state.pop(slot, None)
            return
        snapshot = job.snapshot()
        if snapshot.state == "running":
            st.progress(snapshot.fraction, text=f"{snapshot.label}: {snapshot.message} ({snapshot.seconds:.0f} s)")
            if st.button("Cancel", key=f"{slot}.cancel", help="Stop the solve; nothing is stored."):
                job.cancel()
                st.caption("Cancelling...")
            return
        st.session_state.pop(slot, None)
        finished(snapshot)
        st.rerun()

    panel()

"""Where each step of a solve stops: on deterministic work, with the user's time limit as the hard stop.

Same inputs, same plan. Every step that can stop early stops on a count of work that depends
only on the scenario and the problem: CP-SAT's deterministic time, HiGHS's iteration and node
limits, a fixed number of core-LP rounds (`solve.Work`). How busy the machine is never decides
the plan.

The scenario's `solver.time_limit_s` is the user's, and `Clock` holds it as a hard stop. Each
step also ends at its share of the limit at the latest (a `Stage`), so that later steps keep
some time; a step that the wall clock cut is recorded (`Clock.cuts`), and a plan from such a run
says so (`stopped_by: "time_limit"`, `reproducible: false`). `within_limit` runs the solve in a
worker thread and answers at the hard stop whatever the worker is doing, with the best plan it
published by then (every one checked), so no step, however long, can hold the answer back.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable

_now = time.perf_counter  # the one clock every limit reads (a test may replace it)

Progress = Callable[[float, str], None]
CANCEL_POLL_S = 0.1  # how often the caller looks at its cancel event while the worker is in a long step


class TimeUp(Exception):
    """The hard stop has passed: the solve stops where it is; what it published stands."""


class Clock:
    """The user's wall-clock limit from the start of a solve, the caller's cancel event, and the
    steps the wall clock cut (a run with any is not reproducible)."""

    def __init__(self, limit_s: float, cancel: threading.Event | None = None):
        self.limit = float(limit_s)
        self.started = _now()
        self.deadline = self.started + self.limit
        self.cancel = cancel
        self.cuts: list[str] = []
        self.step = "starting"  # the step under way (the last one checked)
        self._halted = threading.Event()
        self._lock = threading.Lock()

    def elapsed(self) -> float:
        return _now() - self.started

    def over(self) -> bool:
        """The hard stop has passed, the caller cancelled, or the caller waiting on the solve has given up on it."""
        return self._halted.is_set() or self.cancelled() or _now() >= self.deadline

    def halt(self) -> None:
        """Stop the solve at its next check: its answer is no longer awaited."""
        self._halted.set()

    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()

    def cut(self, step: str) -> None:
        with self._lock:
            if step not in self.cuts:
                self.cuts.append(step)

    def check(self, step: str) -> None:
        """Raise TimeUp once the hard stop has passed (or the caller cancelled), recording the step it cut."""
        self.step = step
        if self.over():
            if not self.cancelled():
                self.cut(step)
            raise TimeUp(step)

    def stage(self, step: str, until: float = 1.0) -> Stage:
        """The step ``step``, to end by ``until`` (a share of the limit) at the latest."""
        self.step = step
        return Stage(step, min(self.started + until * self.limit, self.deadline), self)


@dataclass(frozen=True)
class Stage:
    """One step's wall-clock end: a share of the user's limit, never later than it. A step that
    reaches it stops with what it has and records the cut; ``check`` is the hard stop."""

    step: str
    end: float = math.inf
    clock: Clock | None = None

    def left(self) -> float:
        """Seconds left to this step (inf when unlimited)."""
        return max(0.0, self.end - _now()) if math.isfinite(self.end) else math.inf

    def over(self) -> bool:
        return _now() >= self.end or (self.clock is not None and self.clock.over())

    def cut(self) -> None:
        if self.clock is not None:
            self.clock.cut(self.step)

    def cancelled(self) -> bool:
        return self.clock is not None and self.clock.cancelled()

    def check(self) -> None:
        """The hard stop: TimeUp once the user's limit has passed (this step's own end does not raise)."""
        if self.clock is not None:
            self.clock.check(self.step)


UNLIMITED = Stage("unlimited")


def within_limit(clock: Clock, solve: Callable[[Progress], None], progress: Progress | None = None) -> bool:
    """Run ``solve(report)`` in a worker thread until it returns or the hard stop comes, whichever
    is first; True when it returned. Its progress is reported on this thread (a UI's callbacks
    stay on the UI's thread); its exceptions are raised here (TimeUp is a normal end: False).

    A cancel is a stop too: the caller answers within CANCEL_POLL_S of it. At the hard stop the
    worker is told to stop (it does at its next check, a fraction of a
    second later) and this returns at once: whatever the worker published by then is the answer.
    The worker is not a daemon, so a process that exits meanwhile waits for it to stop cleanly."""
    events: queue.SimpleQueue = queue.SimpleQueue()

    def report(fraction: float, message: str) -> None:
        events.put(("progress", (fraction, message)))

    def work() -> None:
        try:
            solve(report)
            events.put(("done", True))
        except TimeUp:
            events.put(("done", False))
        except BaseException as error:  # noqa: BLE001 - raised again on the caller's thread
            events.put(("error", error))

    worker = threading.Thread(target=work, name="retrofit-optimise")
    worker.start()
    try:
        while True:
            try:
                kind, payload = events.get(timeout=min(CANCEL_POLL_S, max(0.0, clock.deadline - _now())))
            except queue.Empty:
                if clock.cancelled():
                    return False  # the caller gave up: it has the best plan so far, at once
                if _now() < clock.deadline:
                    continue
                clock.cut(clock.step)
                return False
            if kind == "progress":
                if progress is not None:
                    progress(*payload)
                if clock.cancelled():
                    return False  # cancelled (perhaps by that very progress callback): answer now
            elif kind == "done":
                return payload
            else:
                raise payload
    finally:
        clock.halt()

"""Long work off the caller's thread, with progress and cancellation.

The app must not freeze while a plan is solved, and two users must be able to solve at
once. A `Job` runs a function in a worker thread; the function receives a progress
callback and a cancel event. Callers poll `job.snapshot()` (the Streamlit page does so
from a fragment that reruns every second).
"""

from __future__ import annotations

import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from retrofit.errors import RetrofitError

WorkFunction = Callable[[Callable[[float, str], None], threading.Event], Any]


@dataclass
class JobSnapshot:
    id: str
    label: str
    state: str  # "running" | "done" | "failed" | "cancelled"
    fraction: float
    message: str
    seconds: float
    result: Any = None
    error: str | None = None


@dataclass
class Job:
    label: str
    work: WorkFunction
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    state: str = "running"
    fraction: float = 0.0
    message: str = "starting"
    result: Any = None
    error: str | None = None
    started: float = field(default_factory=time.perf_counter)
    finished: float | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Job:
        threading.Thread(target=self._run, name=f"job-{self.id}", daemon=True).start()
        return self

    def _progress(self, fraction: float, message: str = "") -> None:
        with self._lock:
            self.fraction = max(0.0, min(1.0, float(fraction)))
            self.message = message

    def _run(self) -> None:
        try:
            result = self.work(self._progress, self.cancel_event)
            state, error = ("cancelled" if self.cancel_event.is_set() else "done"), None
        except RetrofitError as problem:  # cancelled work may stop by saying it was cancelled
            result, state, error = None, ("cancelled" if self.cancel_event.is_set() else "failed"), str(problem)
        except Exception as problem:  # a bug: keep the details for the log, show one line
            traceback.print_exc()
            result, state, error = None, "failed", f"internal error: {type(problem).__name__}: {problem}"
        with self._lock:
            self.result, self.state, self.error = result, state, error
            self.finished = time.perf_counter()
            if state == "done":
                self.fraction, self.message = 1.0, "done"

    def cancel(self) -> None:
        self.cancel_event.set()

    def snapshot(self) -> JobSnapshot:
        with self._lock:
            end = self.finished or time.perf_counter()
            return JobSnapshot(self.id, self.label, self.state, self.fraction, self.message,
                               end - self.started, self.result, self.error)


class JobBoard:
    """All jobs of one process, by id (the app keeps one board for every user)."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def submit(self, label: str, work: WorkFunction) -> Job:
        job = Job(label=label, work=work)
        with self._lock:
            self._jobs[job.id] = job
        return job.start()

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

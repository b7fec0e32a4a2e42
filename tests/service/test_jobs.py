"""Jobs run off the caller's thread, report progress, can be cancelled and fail in words."""

import threading
import time

from retrofit.errors import RetrofitError
from retrofit.service.jobs import JobBoard


def wait(job, timeout=10):
    deadline = time.monotonic() + timeout
    while job.snapshot().state == "running" and time.monotonic() < deadline:
        time.sleep(0.01)
    return job.snapshot()


def test_job_reports_progress_and_result():
    gate = threading.Event()

    def work(progress, cancel):
        progress(0.5, "half way")
        gate.wait(5)
        return 42

    board = JobBoard()
    job = board.submit("answer", work)
    deadline = time.monotonic() + 5
    while job.snapshot().message != "half way" and time.monotonic() < deadline:
        time.sleep(0.01)
    running = job.snapshot()
    assert (running.state, running.fraction, running.message) == ("running", 0.5, "half way")
    gate.set()
    done = wait(job)
    assert (done.state, done.result, done.fraction) == ("done", 42, 1.0)
    assert board.get(job.id) is job


def test_cancel_stops_the_work():
    def work(progress, cancel):
        while not cancel.wait(0.01):
            pass
        return "partial"

    job = JobBoard().submit("long", work)
    job.cancel()
    assert wait(job).state == "cancelled"


def test_user_error_is_kept_in_words():
    def work(progress, cancel):
        raise RetrofitError("budget: £5m is less than the must-include homes cost (£6m)")

    snapshot = wait(JobBoard().submit("bad", work))
    assert snapshot.state == "failed" and snapshot.error.startswith("budget:")


def test_two_jobs_run_at_once():
    both_started = threading.Barrier(2, timeout=5)

    def work(progress, cancel):
        both_started.wait()  # would time out (BrokenBarrierError) if jobs ran one after another
        return "ok"

    board = JobBoard()
    jobs = [board.submit("a", work), board.submit("b", work)]
    assert [wait(j).state for j in jobs] == ["done", "done"]

"""BackgroundJobs: the one helper that runs the UI's slow work off the GUI thread."""

from __future__ import annotations

import threading

import pytest

from nnstudio.ui.jobs import BackgroundJobs

WAIT_MS = 10_000


@pytest.fixture
def jobs(qapp):
    runner = BackgroundJobs("test-jobs")
    yield runner
    runner.shutdown()


def _gate():
    """Returns (work that blocks until released, release function, started event)."""
    started, release = threading.Event(), threading.Event()

    def work():
        started.set()
        assert release.wait(WAIT_MS / 1000)
        return "gated"
    return work, release.set, started


def test_a_result_comes_back_on_the_gui_thread(qtbot, jobs):
    seen = []
    jobs.submit("a", lambda: threading.current_thread().name,
                lambda result: seen.append((result, threading.current_thread() is threading.main_thread())))
    qtbot.waitUntil(lambda: bool(seen), timeout=WAIT_MS)
    worker_name, on_gui_thread = seen[0]
    assert on_gui_thread and worker_name != threading.main_thread().name
    assert not jobs.is_busy()


def test_the_newest_request_of_a_lane_wins_and_replaced_ones_never_run(qtbot, jobs):
    gate, release, started = _gate()
    ran, delivered = [], []
    jobs.submit("analysis", gate, delivered.append)
    assert started.wait(WAIT_MS / 1000)
    for value in (1, 2, 3):  # while the first runs, three more ask: only the last may run
        jobs.submit("analysis", lambda v=value: ran.append(v) or v, delivered.append)
    assert jobs.is_busy("analysis")
    release()
    qtbot.waitUntil(lambda: bool(delivered), timeout=WAIT_MS)
    assert jobs.wait_idle(WAIT_MS)
    qtbot.wait(50)  # any stale outcome still queued would be delivered now
    assert ran == [3]
    assert delivered == [3]  # the first job's "gated" result was stale once 1, 2, 3 were asked for


def test_lanes_are_independent(qtbot, jobs):
    delivered = []
    jobs.submit("analysis", lambda: "shapes", delivered.append)
    jobs.submit("device", lambda: "cpu", delivered.append)
    qtbot.waitUntil(lambda: len(delivered) == 2, timeout=WAIT_MS)
    assert delivered == ["shapes", "cpu"]  # in the order asked, one at a time


def test_an_error_is_reported_and_the_thread_keeps_serving(qtbot, jobs):
    failures, delivered = [], []

    def broken():
        raise ValueError("bad layer fc1")
    jobs.submit("a", broken, delivered.append, failures.append)
    qtbot.waitUntil(lambda: bool(failures), timeout=WAIT_MS)
    assert failures == ["ValueError: bad layer fc1"] and delivered == []
    jobs.submit("a", lambda: 42, delivered.append, failures.append)
    qtbot.waitUntil(lambda: bool(delivered), timeout=WAIT_MS)
    assert delivered == [42]


def test_cancel_drops_the_result_in_flight(qtbot, jobs):
    gate, release, started = _gate()
    delivered = []
    jobs.submit("walk", gate, delivered.append)
    assert started.wait(WAIT_MS / 1000)
    jobs.cancel("walk")
    release()
    assert jobs.wait_idle(WAIT_MS)
    qtbot.wait(50)
    assert delivered == [] and not jobs.is_busy()


def test_shutdown_joins_the_thread_and_drops_what_is_left(qtbot, qapp):
    runner = BackgroundJobs("test-shutdown")
    gate, release, started = _gate()
    delivered = []
    runner.submit("a", gate, delivered.append)
    assert started.wait(WAIT_MS / 1000)
    runner.submit("b", lambda: "never", delivered.append)
    thread = runner._thread
    threading.Timer(0.05, release).start()  # the running job ends while shutdown waits for it
    runner.shutdown()
    assert thread is not None and thread.isFinished()
    runner.submit("a", lambda: "after", delivered.append)  # refused: the runner is closed
    qapp.processEvents()
    qtbot.wait(50)
    assert delivered == [] and runner._thread is None


def test_a_runner_never_used_starts_no_thread(qapp):
    runner = BackgroundJobs("test-unused")
    assert runner._thread is None and not runner.is_busy()
    runner.shutdown()

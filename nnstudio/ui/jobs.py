"""Background jobs for the window: one worker thread, the newest request of each kind wins.

:class:`BackgroundJobs` is the one way the UI runs slow work (shape inference, an autograd walk and
its layout, the device probe) away from the GUI thread. Each request names a *lane* ("analysis",
"walk", ...): a new request replaces the one still waiting in its lane, and the result of a request
that was replaced, or cancelled, while it ran is dropped. Jobs run one at a time, in the order their
lanes were asked for, on a single QThread started on first use; results and errors come back to the
GUI thread as calls of the ``done`` / ``failed`` callbacks given with the request. ``shutdown()``
drops everything pending and joins the thread, so no job outlives its owner.

A job must not touch widgets (it runs on the worker thread); it may return any object, which the GUI
thread then owns (treat it as read-only on both sides if the job keeps a reference).
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

log = logging.getLogger(__name__)

Work = Callable[[], Any]
Done = Callable[[Any], None]
Failed = Callable[[str], None]


@dataclass(eq=False)
class _Job:
    lane: str
    token: int
    work: Work
    done: Done
    failed: Failed | None
    #: Set by the worker thread once the job ran: ("done", result) or ("failed", message).
    outcome: tuple[str, Any] = field(default=("pending", None))


class _WorkerThread(QThread):
    """Takes jobs from the owner's queue and runs them until told to stop; touches no widget."""

    settled = Signal(object)  # a _Job with its outcome, delivered queued to the owner's thread

    def __init__(self, owner: BackgroundJobs, name: str) -> None:
        super().__init__(owner)
        self.setObjectName(name)
        self._owner = owner

    def run(self) -> None:
        owner = self._owner
        while True:
            job = owner._next_job()
            if job is None:
                return
            try:
                job.outcome = ("done", job.work())
            except Exception as exc:  # noqa: BLE001 - reported to the requester; the thread keeps serving
                log.error("background job %r failed:\n%s", job.lane, traceback.format_exc())
                job.outcome = ("failed", f"{type(exc).__name__}: {exc}")
            job.work = _spent  # let the closure (a graph copy, a model) go now, not at the next job
            owner._finished_running()
            self.settled.emit(job)


def _spent() -> None:
    return None


class BackgroundJobs(QObject):
    """Runs functions on one worker thread; per lane, only the newest request's result is delivered."""

    def __init__(self, name: str = "nnstudio-jobs", parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._name = name
        self._lock = threading.Condition()
        self._pending: OrderedDict[str, _Job] = OrderedDict()
        self._running: _Job | None = None
        #: Jobs taken by the worker whose outcome this thread has not seen yet, by token.
        self._in_flight: dict[int, str] = {}
        self._latest: dict[str, int] = {}
        self._tokens = 0
        self._stopping = False
        self._closed = False
        self._thread: _WorkerThread | None = None

    # --- asking -----------------------------------------------------------------------------------

    def submit(self, lane: str, work: Work, done: Done, failed: Failed | None = None) -> None:
        """Runs ``work()`` on the worker thread and calls ``done(result)`` on this object's thread.

        A request still waiting in ``lane`` is replaced; one already running there has its result
        dropped. An exception in ``work`` calls ``failed(message)`` (or is only logged without it).
        Nothing happens after :meth:`shutdown`.
        """
        if self._closed:
            return
        with self._lock:
            self._tokens += 1
            self._latest[lane] = self._tokens
            self._pending.pop(lane, None)
            self._pending[lane] = _Job(lane, self._tokens, work, done, failed)
            self._lock.notify_all()
        self._ensure_thread()

    def cancel(self, lane: str | None = None) -> None:
        """Forgets the waiting request of ``lane`` (every lane when None) and drops results in flight."""
        with self._lock:
            lanes = list(self._latest) if lane is None else [lane]
            for name in lanes:
                self._pending.pop(name, None)
                self._tokens += 1
                self._latest[name] = self._tokens  # no job carries this token: in-flight results drop

    def is_busy(self, lane: str | None = None) -> bool:
        """Returns True while a request of ``lane`` (any lane when None) waits, runs or is being delivered."""
        with self._lock:
            if lane is None:
                return bool(self._pending) or bool(self._in_flight)
            return lane in self._pending or lane in self._in_flight.values()

    def wait_idle(self, timeout_ms: int = 30_000) -> bool:
        """Blocks until no job waits or runs (at most ``timeout_ms``); True when idle.

        Results are still delivered through the event loop afterwards. For tests and shutdown only:
        the GUI thread must not wait on work in normal use.
        """
        with self._lock:
            return self._lock.wait_for(lambda: not self._pending and self._running is None,
                                       timeout=timeout_ms / 1000)

    def shutdown(self) -> None:
        """Drops what waits, lets a running job finish (its result dropped), and joins the thread."""
        self._closed = True
        with self._lock:
            self._pending.clear()
            self._stopping = True
            self._lock.notify_all()
        self.cancel()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.wait()
            thread.settled.disconnect(self._on_settled)
            # The finished thread stays a child of this object and goes with it: deleting it here
            # (deleteLater) while the owner may be deleted from Python first crashes PySide.
        with self._lock:
            self._in_flight.clear()  # their outcomes are dropped (closed)

    # --- the worker side --------------------------------------------------------------------------

    def _ensure_thread(self) -> None:
        if self._thread is None:
            self._thread = _WorkerThread(self, self._name)
            self._thread.settled.connect(self._on_settled)
            self._thread.start()

    def _next_job(self) -> _Job | None:
        """Worker thread: waits for the next job; None when the owner shuts down."""
        with self._lock:
            self._lock.wait_for(lambda: self._pending or self._stopping)
            if self._stopping:
                return None
            _lane, job = self._pending.popitem(last=False)
            self._running = job
            self._in_flight[job.token] = job.lane
            return job

    def _finished_running(self) -> None:
        with self._lock:
            self._running = None
            self._lock.notify_all()

    @Slot(object)
    def _on_settled(self, job: _Job) -> None:
        with self._lock:
            self._in_flight.pop(job.token, None)
            current = self._latest.get(job.lane) == job.token and not self._closed
        if not current:
            return
        kind, value = job.outcome
        if kind == "done":
            job.done(value)
        elif job.failed is not None:
            job.failed(value)

"""Bounds on one input run in this process: wall time and resident memory, enforced while it runs.

A watchdog thread samples the clock and the resident set (``/proc/self/statm``) every few
milliseconds; past either bound it interrupts the main thread with a signal whose handler raises
:class:`InputLimitExceeded` (a ``BaseException``, so the product's ``except Exception`` cannot swallow
it). A blocking system call (opening a FIFO, reading ``/dev/zero``) is interrupted too: the handler
raising makes the call fail with the exception instead of being retried. Peak memory is the kernel's
high-water mark (``VmHWM``), reset before each input (``/proc/self/clear_refs``), so it counts the
peaks between two samples as well.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_SIGNAL = signal.SIGUSR2
_SAMPLE_S = 0.005


class InputLimitExceeded(BaseException):  # noqa: N818 - not an error of the product: the harness's verdict
    """Raised in the main thread when an input ran past its time or memory bound."""


def resident_bytes() -> int:
    """Return this process's resident set size now (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def _status_kib(key: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def reset_peak() -> bool:
    """Reset the kernel's resident high-water mark to the current resident size; False if unsupported."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
            clear.write("5")
        return True
    except OSError:
        return False


def peak_bytes() -> int:
    """Return the resident high-water mark since the last :func:`reset_peak` (current size if unknown)."""
    kib = _status_kib("VmHWM")
    return kib * 1024 if kib is not None else resident_bytes()


@dataclass
class Usage:
    """What one bounded input used: wall seconds, peak resident growth over its start, which bound hit."""

    seconds: float = 0.0
    peak_growth: int = 0
    #: The whole process's resident high-water mark during the input (bytes).
    peak_total: int = 0
    exceeded: str | None = None


class Bounded:
    """``with Bounded(seconds, memory_bytes) as usage:`` runs the block under both bounds.

    Must be entered on the main thread (signals are delivered there). ``usage`` is filled on exit.
    """

    def __init__(self, seconds: float, memory_bytes: int) -> None:
        self.seconds = seconds
        self.memory_bytes = memory_bytes
        self.usage = Usage()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._previous: object = None

    def __enter__(self) -> Usage:
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("bounded inputs run on the main thread (signals are delivered there)")
        self._previous = signal.signal(_SIGNAL, self._interrupt)
        reset_peak()
        self._baseline = resident_bytes()
        self._start = time.perf_counter()
        self._main = threading.main_thread().ident
        self._thread = threading.Thread(target=self._watch, name="input-watchdog", daemon=True)
        self._thread.start()
        return self.usage

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        assert self._thread is not None
        self._thread.join()
        self.usage.seconds = time.perf_counter() - self._start
        self.usage.peak_total = peak_bytes()
        self.usage.peak_growth = max(0, self.usage.peak_total - self._baseline)
        if self.usage.exceeded is None and self.usage.peak_growth > self.memory_bytes:
            self.usage.exceeded = "memory"  # a peak between two samples, shorter than a sample
        signal.signal(_SIGNAL, self._previous)  # type: ignore[arg-type]

    def _interrupt(self, signum: int, frame: object) -> None:
        raise InputLimitExceeded(self.usage.exceeded or "limit")

    def _watch(self) -> None:
        last_signal = 0.0
        while not self._done.wait(_SAMPLE_S):
            now = time.perf_counter()
            if self.usage.exceeded is None:
                if now - self._start > self.seconds:
                    self.usage.exceeded = "time"
                elif resident_bytes() - self._baseline > self.memory_bytes:
                    self.usage.exceeded = "memory"
            # Signal again now and then: code that catches BaseException (or is busy in C) gets another.
            if self.usage.exceeded is not None and now - last_signal > 0.5:
                last_signal = now
                signal.pthread_kill(self._main, _SIGNAL)

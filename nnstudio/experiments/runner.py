"""``SweepRunner``: runs a prepared sweep's workers, in a thread of this process or as worker processes.

One worker trains in a background thread (no second copy of torch or of the data); several start
``nnstudio sweep-worker ...`` each (:mod:`~nnstudio.experiments.worker_process`), sharing the study through its storage. The
caller (the CLI's progress display, the window's Sweep dialog) reads the trials from the study
while they run, so both look the same whichever way the trials are trained.

Usage::

    runner = SweepRunner(sweep, workers=2).start()
    while runner.running:
        show(sweep.trial_rows()); time.sleep(0.5)
    runner.wait(); print(runner.errors)       # a worker that died says why (its log's last lines)
    runner.stop()                             # any time: trials in progress end as "interrupted"
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

from nnstudio.experiments.sweep import Sweep
from nnstudio.experiments.trials import SweepWorker

#: Lines of a dead worker's log shown with its error.
LOG_TAIL_LINES = 6


class SweepRunner:
    """Trains the trials of ``sweep`` with ``workers`` workers (threads when ``processes`` is False)."""

    def __init__(self, sweep: Sweep, workers: int | None = None, processes: bool | None = None) -> None:
        self.sweep = sweep
        self.workers = workers or sweep.spec.workers
        self.processes = self.workers > 1 if processes is None else processes
        #: One line per worker that failed (an exception, or a process that exited with an error).
        self.errors: list[str] = []
        self._threads: list[threading.Thread] = []
        self._workers: list[SweepWorker] = []
        self._procs: list[tuple[subprocess.Popen[bytes], Path]] = []
        self._stopped = False

    # --- starting -------------------------------------------------------------------------------
    def start(self) -> SweepRunner:
        """Start the workers and return at once."""
        if self.processes:
            self._start_processes()
        else:
            for index in range(self.workers):
                worker = SweepWorker(self.sweep, index)
                thread = threading.Thread(target=self._thread_main, args=(worker,), daemon=True,
                                          name=f"nnstudio-sweep-{index}")
                self._workers.append(worker)
                self._threads.append(thread)
                thread.start()
        return self

    def _thread_main(self, worker: SweepWorker) -> None:
        try:
            worker.run()
        except Exception as exc:  # noqa: BLE001 - reported by the caller, never lost in a thread
            self.errors.append(f"worker {worker.index}: {type(exc).__name__}: {exc}")

    def _start_processes(self) -> None:
        sweep = self.sweep
        folder = sweep.runs_folder
        folder.mkdir(parents=True, exist_ok=True)
        # The workers get the study by name and storage, so all of them open this very study.
        spec = replace(sweep.spec, study_name=sweep.study_name, storage=sweep.storage_url)
        spec_path = folder / f".{sweep.study_name}.spec.json"
        spec_path.write_text(spec.to_json(), encoding="utf-8")
        threads = max(1, (os.cpu_count() or 1) // self.workers)
        for index in range(self.workers):
            log = folder / f".{sweep.study_name}.worker-{index}.log"
            command = [*nnstudio_command(), "sweep-worker", str(spec_path), str(index), str(os.getpid()),
                       str(threads)]
            with open(log, "wb") as handle:
                proc = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            self._procs.append((proc, log))

    # --- watching -------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """Return whether any worker is still at work (collects the exit of those that ended)."""
        if self.processes:
            alive = False
            for proc, log in self._procs:
                code = proc.poll()
                if code is None:
                    alive = True
                elif code != 0 and not getattr(proc, "_nnstudio_reported", False):
                    proc._nnstudio_reported = True  # type: ignore[attr-defined]
                    if not (self._stopped and code in (-signal.SIGINT, 130, -signal.SIGTERM)):
                        self.errors.append(f"worker process {proc.pid} exited with status {code}: "
                                           f"{_tail(log)}")
            return alive
        return any(thread.is_alive() for thread in self._threads)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every worker has ended (or ``timeout`` seconds); return True when they all have."""
        for thread in self._threads:
            thread.join(timeout)
        for proc, _log in self._procs:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                return False
        return not self.running

    def stop(self) -> None:
        """Ask every worker to end its trial (marked interrupted, run again on resume) and claim no more."""
        self._stopped = True
        for worker in self._workers:
            worker.stop()
        for proc, _log in self._procs:
            if proc.poll() is None:
                if os.name == "nt":
                    proc.terminate()
                else:
                    proc.send_signal(signal.SIGINT)

    def kill(self) -> None:
        """End worker processes at once (a second Ctrl+C); their trials are marked interrupted later."""
        for proc, _log in self._procs:
            if proc.poll() is None:
                proc.kill()
        for proc, _log in self._procs:
            proc.wait()


def nnstudio_command() -> list[str]:
    """Return how to start ``nnstudio`` again: the frozen executable itself, or this Python with ``-m``."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, "-m", "nnstudio"]


def _tail(log: Path) -> str:
    try:
        lines = [line for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    except OSError:
        return "(no log)"
    return " | ".join(lines[-LOG_TAIL_LINES:]) or "(the log is empty)"

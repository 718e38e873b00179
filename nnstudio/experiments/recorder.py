"""``RunRecorder``: follows a ``TrainingRun`` through its psygnal events and keeps its record on disk.

Usage (the CLI, the window's training worker and every sweep trial do this)::

    recorder = RunRecorder(run, project, folder, source="cli", project_path=path)
    recorder.start()            # run.json says "running"; TensorBoard gets the hyperparameters
    result = run.run()          # each epoch updates run.json and the event file
    # finished / stopped / failed close the record by themselves; recorder.end(...) does it by hand

Nothing here stops a run: a record that cannot be written (a full disk) is noted in
``recorder.problems`` and training goes on. The recorder never touches Qt; it runs in whichever
thread trains.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nnstudio.core.errors import NnstudioError
from nnstudio.core.project import Project, project_to_dict
from nnstudio.core.settings import BINARY_LOSSES, CLASSIFICATION_LOSSES
from nnstudio.experiments.event_log import TensorBoardLog
from nnstudio.experiments.records import (
    EPOCH_FIELDS,
    RunRecord,
    best_metrics,
    graph_fingerprint,
    this_process,
    write_document,
    write_record,
)

#: run.json is rewritten at most this often while epochs go by (seconds); the end is always written.
WRITE_INTERVAL_S = 1.0


def describe_device(device: Any) -> str:
    """Return a device as people read it: ``cpu``, ``cuda:0 (NVIDIA H200)``, ``mps``."""
    text = str(device)
    if getattr(device, "type", None) == "cuda":
        import torch

        index = device.index if device.index is not None else torch.cuda.current_device()
        with contextlib.suppress(Exception):  # a name is a nicety; never fail a run over it
            return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return text


def epoch_row(metrics: Any) -> dict[str, Any]:
    """Return one epoch's numbers (an EpochMetrics or a dict) as the record keeps them."""
    get = metrics.get if isinstance(metrics, dict) else (lambda name: getattr(metrics, name, None))
    row = {}
    for name in EPOCH_FIELDS:
        value = get(name)
        row[name] = value if value is None or math.isfinite(float(value)) else None
    return row


def run_hparams(project: Project, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the hyperparameters TensorBoard shows for a run of ``project`` (plus ``extra``)."""
    settings = project.settings.model_dump(mode="json")
    dataset = settings.pop("dataset", {})
    values: dict[str, Any] = {"dataset": dataset.get("kind", "")}
    values.update({k: v for k, v in settings.items() if not isinstance(v, (dict, list))})
    values.update(extra or {})
    return values


class RunRecorder:
    """Keeps the record and TensorBoard events of one training run in ``folder``."""

    def __init__(self, run: Any, project: Project, folder: str | Path, *, source: str,
                 project_path: str | Path | None = None, example: str | None = None,
                 output_folder: str | Path | None = None, sweep: dict[str, Any] | None = None,
                 resumed_from: str | Path | None = None, write_outputs: bool = False,
                 analysis: Any = None) -> None:
        self.run = run
        self.project = project
        self.folder = Path(folder)
        #: Write the run's outputs (model.pth, model.py, ...) into its folder when it ends.
        self.write_outputs = write_outputs
        self._analysis = analysis  # the project's analysis, if at hand: model.py needs no new one
        #: What went wrong while recording (the run itself carries on); the CLI prints these.
        self.problems: list[str] = []
        document = project_to_dict(project)
        # The weights file a project may name stays beside the project; the run's copy names none
        # (its outputs, when written, bring their own).
        document.pop("weights", None)
        loss = project.settings.loss
        self._regression = loss not in CLASSIFICATION_LOSSES and loss not in BINARY_LOSSES
        self.record = RunRecord(
            run_id=self.folder.name, folder=self.folder, status="running",
            created=time.strftime("%Y-%m-%dT%H:%M:%S%z"), started_unix=time.time(), project_name=project.name,
            project_path=str(Path(project_path).resolve()) if project_path else None, example=example,
            source=source, settings=project.settings.model_dump(mode="json"), document=document,
            fingerprint=graph_fingerprint(document),
            epochs=[epoch_row(m) for m in getattr(run, "history", [])],
            device=describe_device(getattr(run, "device", "")),
            output_folder=str(Path(output_folder).resolve()) if output_folder else str(self.folder.resolve()),
            sweep=sweep, resumed_from=str(resumed_from) if resumed_from else None, process=this_process())
        self.record.best = best_metrics(self.record.epochs)
        self._started = time.monotonic()
        self._last_write = 0.0
        self._ending: tuple[str, str] | None = None
        self._log: TensorBoardLog | None = None
        self._writer = _Writer(self._problem)
        self._connected = False

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> RunRecorder:
        """Write the "running" record and the project, and follow the run's events.

        The record is on disk when this returns; TensorBoard's writer starts in the recorder's own
        thread (importing it takes a moment), which also writes every later epoch's files.
        """
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self._problem(f"run folder {self.folder}: {exc.strerror or exc}")
        try:
            write_document(self.record)
        except (OSError, NnstudioError, ValueError) as exc:
            self._problem(f"project.nns: {exc}")
        self._save(force=True, now=True)
        extra = {"graph": self.record.fingerprint}
        if self.record.sweep:
            extra.update({f"sweep/{k}": v for k, v in self.record.sweep.get("params", {}).items()})
        self._writer.submit(self._open_log, run_hparams(self.project, extra), list(self.record.epochs))
        events = self.run.events
        events.epoch_end.connect(self._on_epoch)
        events.finished.connect(self._on_finished)
        events.stopped.connect(self._on_stopped)
        events.failed.connect(self._on_failed)
        if hasattr(events, "telemetry"):
            events.telemetry.connect(self._on_telemetry)
        self._connected = True
        return self

    def expect(self, status: str, reason: str) -> None:
        """Say how the run will end before stopping it (a sweep prunes a trial with ``"pruned"``)."""
        self._ending = (status, reason)

    def end(self, status: str, reason: str = "") -> None:
        """Close the record with ``status`` and ``reason`` (only the first call counts).

        Returns once every file is written (the recorder's thread has finished).
        """
        if self.record.ended:
            return
        self._disconnect()
        if self._ending is not None and status == "stopped":
            status, reason = self._ending
        record = self.record
        record.status, record.reason = status, reason
        record.duration_s = time.monotonic() - self._started
        record.final = dict(record.epochs[-1]) if record.epochs else {}
        record.best = best_metrics(record.epochs)
        record.notes_from_run = list(getattr(self.run, "notes", []))
        if self.write_outputs and record.epochs:
            try:
                from nnstudio.train.outputs import write_outputs

                write_outputs(self.run, self.folder, self.project, analysis=self._analysis)
            except (OSError, NnstudioError) as exc:
                self._problem(f"outputs: {exc}")
        self._save(force=True)
        self._writer.submit(self._close_log, status, dict(record.final))
        self._writer.close()

    def __enter__(self) -> RunRecorder:
        return self.start()

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        """End a record the run left open: an exception (a second Ctrl+C) marks it stopped or failed."""
        if self.record.ended:
            return
        if exc_type is KeyboardInterrupt:
            self.end("stopped", "interrupted (Ctrl+C)")
        elif exc is not None:
            self.end("failed", f"{type(exc).__name__}: {exc}")
        else:
            self.end("stopped", "the run ended without saying how")

    # --- events (the training thread: bookkeeping only, files go to the recorder's thread) ---------
    def _on_epoch(self, metrics: Any) -> None:
        row = epoch_row(metrics)
        self.record.epochs.append(row)
        self.record.best = best_metrics(self.record.epochs)
        self.record.duration_s = time.monotonic() - self._started
        self._writer.submit(self._log_epoch, row)
        self._save()

    def _on_telemetry(self, sample: Any) -> None:
        self._writer.submit(self._log_telemetry, sample)

    def _on_finished(self, result: Any) -> None:
        done = len(self.record.epochs)
        early = next((n for n in getattr(result, "notes", []) if n.startswith("early stopping")), "")
        self.end("finished", early or f"trained {done} epoch{'s' if done != 1 else ''}")

    def _on_stopped(self, result: Any) -> None:
        done = len(self.record.epochs)
        self.end("stopped", f"stopped after epoch {done}" if done else "stopped before the first epoch ended")

    def _on_failed(self, failure: Any) -> None:
        self.end("failed", getattr(failure, "message", str(failure)))

    # --- the recorder's thread -------------------------------------------------------------------------
    def _open_log(self, hparams: dict[str, Any], earlier: list[dict[str, Any]]) -> None:
        self._log = TensorBoardLog(self.folder)
        self._log.start(hparams, self._regression)
        for row in earlier:  # a resumed run: the epochs of the checkpoint
            self._log.epoch(row)

    def _log_epoch(self, row: dict[str, Any]) -> None:
        if self._log is not None:
            self._log.epoch(row)

    def _log_telemetry(self, sample: Any) -> None:
        if self._log is not None:
            self._log.telemetry(sample)

    def _close_log(self, status: str, final: dict[str, Any]) -> None:
        if self._log is not None:
            self._log.end(status, final)

    # --- helpers -----------------------------------------------------------------------------------
    def _save(self, force: bool = False, now: bool = False) -> None:
        """Write run.json (at most every WRITE_INTERVAL_S unless ``force``); ``now``: in this thread."""
        moment = time.monotonic()
        if not force and moment - self._last_write < WRITE_INTERVAL_S:
            return
        self._last_write = moment
        # A snapshot: the training thread goes on appending epochs while the file is written.
        snapshot = dataclasses.replace(self.record, epochs=list(self.record.epochs), best=dict(self.record.best))
        if now:
            self._write_record(snapshot)
        else:
            self._writer.submit(self._write_record, snapshot)

    def _write_record(self, record: RunRecord) -> None:
        try:
            write_record(record)
        except (OSError, NnstudioError, ValueError) as exc:
            self._problem(f"run record: {exc}")

    def _problem(self, text: str) -> None:
        if text not in self.problems:
            self.problems.append(text)

    def _disconnect(self) -> None:
        if not self._connected:
            return
        self._connected = False
        events = self.run.events
        pairs = [(events.epoch_end, self._on_epoch), (events.finished, self._on_finished),
                 (events.stopped, self._on_stopped), (events.failed, self._on_failed)]
        if hasattr(events, "telemetry"):
            pairs.append((events.telemetry, self._on_telemetry))
        for signal, slot in pairs:
            with contextlib.suppress(Exception):
                signal.disconnect(slot)


class _Writer:
    """One thread writing a run's files in order, so the training thread never waits on a disk."""

    def __init__(self, problem: Callable[[str], None]) -> None:
        self._problem = problem
        self._queue: queue.SimpleQueue[tuple[Callable[..., None], tuple[Any, ...]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def submit(self, task: Callable[..., None], *args: Any) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="nnstudio-run-recorder", daemon=True)
            self._thread.start()
        self._queue.put((task, args))

    def close(self) -> None:
        """Write what is queued and end the thread (waits for it)."""
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join()
        self._thread = None

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            task, args = item
            try:
                task(*args)
            except Exception as exc:  # noqa: BLE001 - a file not written is noted; training goes on
                self._problem(f"{type(exc).__name__}: {exc}")

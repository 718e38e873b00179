"""Training runs driven from the GUI: a worker in its own QThread, its events as merged signals.

:class:`TrainingSession` is what the run's presenter holds. ``start()`` hands a copy of the project
and the document's analysis of it to a :class:`TrainingWorker` moved to a fresh QThread; the worker
builds the run there (compiling from that analysis, and loading data, import torch and may take
seconds), runs it, and turns the trainer's events into Qt signals. Per-step events are merged so the GUI thread receives at most ``MAX_UPDATES_PER_SECOND``
batch updates a second, however fast the steps are; epoch, note and the end of the run are always
delivered, in order. The worker never touches a widget.

``stop()`` ends the run before its next step; ``pause()``/``resume()`` hold it between steps; both
are thread-safe calls on the trainer. ``shutdown()`` stops and joins the thread, so nothing the
session started outlives it. A fault (NaN loss, out of memory, an exception in a layer, a network or
dataset the trainer refuses) ends the run with :class:`RunOutcome` naming the cause; the trainer keeps
the last good weights.
"""

from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

from nnstudio.core.project import Project

if TYPE_CHECKING:  # torch-side types: the window loads torch only once a run is built
    from nnstudio.compile.results import Analysis
    from nnstudio.experiments.recorder import RunRecorder
    from nnstudio.train.changes import SettingsChange
    from nnstudio.train.telemetry import TelemetrySample
    from nnstudio.train.trainer import EpochMetrics, RunResult, TrainingRun

#: The GUI is sent at most this many batch updates a second. Each one redraws the curves, and every
#: frame still calls some of pyqtgraph's Python (its axes, labels and legend), which takes the GIL
#: from the trainer; 6 a second reads as steady motion (benchmarks/bench_gui.py, tiny steps: 10 a
#: second 0.94-0.95x of the headless speed, 6 a second 0.96x).
MAX_UPDATES_PER_SECOND = 6
#: Validation samples shown with their predictions after each epoch of a classification run.
SAMPLES_SHOWN = 24
#: Per-layer telemetry of window runs: a quarter of the headless budget (the window's own cost leaves
#: little room under the GUI tax target, benchmarks/bench_gui.py) and at most twice a second, which is
#: as often as the cards redraw it.
GUI_TELEMETRY_BUDGET = 0.005
GUI_TELEMETRY_PER_SECOND = 2.0

Status = Literal["finished", "stopped", "failed"]


@dataclass(frozen=True)
class RunInfo:
    """What the panel needs to know once the run is built: sizes, device, task and classes."""

    epochs: int
    first_epoch: int
    steps_per_epoch: int
    train_size: int
    val_size: int
    device: str
    task: str
    class_names: list[str]
    description: str
    #: Where the run is recorded (run.json, events, outputs); None when it is not.
    run_folder: str | None = None


@dataclass
class BatchUpdate:
    """Steps merged into one update: their fractional-epoch positions, losses and learning rates.

    Steps whose loss was not read (a GPU reads it at most ~30 times a second) are left out of the
    arrays but still move ``epoch``/``step`` and ``samples_per_s``, which describe the last step.
    """

    epoch: int
    step: int
    steps_per_epoch: int
    samples_per_s: float
    positions: np.ndarray
    losses: np.ndarray
    lrs: np.ndarray


@dataclass(frozen=True)
class ValidationSamples:
    """A few validation samples with the network's predictions; ``images`` None for non-image data."""

    images: np.ndarray | None
    predicted: np.ndarray
    true: np.ndarray
    class_names: list[str]


@dataclass
class RunOutcome:
    """How a run ended: status, a sentence for the log, the node to point at, and the trainer's result."""

    status: Status
    message: str
    node_id: str | None = None
    result: RunResult | None = None
    details: str = ""
    notes: list[str] = field(default_factory=list)


class _BatchMerger:
    """Collects per-step values in the worker thread; ``due()`` says when to send them on."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._last_sent = 0.0
        self._positions: list[float] = []
        self._losses: list[float] = []
        self._lrs: list[float] = []
        self._latest: tuple[int, int, int, float] | None = None

    def add(self, epoch: int, step: int, steps: int, loss: float | None, lr: float, rate: float) -> None:
        self._latest = (epoch, step, steps, rate)
        if loss is not None:
            self._positions.append(epoch - 1 + step / steps)
            self._losses.append(loss)
            self._lrs.append(lr)

    def due(self, now: float) -> bool:
        return self._latest is not None and now - self._last_sent >= self.interval_s

    def take(self, now: float) -> BatchUpdate | None:
        """Return the merged update (None when nothing is pending) and start a new one."""
        if self._latest is None:
            return None
        epoch, step, steps, rate = self._latest
        update = BatchUpdate(epoch, step, steps, rate, np.asarray(self._positions, dtype=np.float64),
                             np.asarray(self._losses, dtype=np.float64), np.asarray(self._lrs, dtype=np.float64))
        self._positions, self._losses, self._lrs = [], [], []
        self._latest = None
        self._last_sent = now
        return update


class TrainingWorker(QObject):
    """Builds and runs one training run in the thread it was moved to; reports only through signals."""

    prepared = Signal(object)  # RunInfo
    batches = Signal(object)  # BatchUpdate
    epoch_ended = Signal(object, object)  # EpochMetrics, ValidationSamples | None
    note = Signal(str)
    gradients = Signal(object)  # {parameter name: gradient L2 norm}, at most once a second
    telemetry = Signal(object)  # TelemetrySample, at most GUI_TELEMETRY_PER_SECOND a second
    changed = Signal(object)  # SettingsChange: a mid-run change took effect
    ended = Signal(object)  # RunOutcome

    def __init__(self, project: Project, checkpoint: dict[str, Any] | None = None,
                 device: str | None = None, updates_per_second: float = MAX_UPDATES_PER_SECOND,
                 analysis: Analysis | None = None, runs_folder: Path | None = None,
                 project_path: str | Path | None = None) -> None:
        super().__init__()
        self._project = project
        self._analysis = analysis
        #: The project's runs folder: the run is recorded there (experiments.RunRecorder); None: not.
        self._runs_folder, self._project_path = runs_folder, project_path
        self._checkpoint = checkpoint
        self._device = device
        self._merger = _BatchMerger(1.0 / updates_per_second)
        self._lock = threading.Lock()
        self._stop_requested = False
        self._pause_requested = False
        #: The trainer, once built; the session reads its weights after the thread has ended.
        self.run: TrainingRun | None = None

    # --- control (GUI thread) ---------------------------------------------------------------------

    def stop(self) -> None:
        with self._lock:
            self._stop_requested = True
            if self.run is not None:
                self.run.stop()

    def pause(self) -> None:
        with self._lock:
            self._pause_requested = True
            if self.run is not None:
                self.run.pause()

    def resume(self) -> None:
        with self._lock:
            self._pause_requested = False
            if self.run is not None:
                self.run.resume()

    def change_settings(self, values: dict[str, float]) -> None:
        """Checks ``values`` now (ChangeError names a bad one) and has the run use them from its next
        batch; refused before the run exists."""
        with self._lock:
            if self.run is None:
                raise RuntimeError("the run is not ready yet")
            self.run.change_settings(**values)

    # --- the run (worker thread) ------------------------------------------------------------------

    @Slot()
    def work(self) -> None:
        """Build the run, train it, and always end with exactly one ``ended`` signal."""
        try:
            outcome = self._train()
        except Exception as exc:  # noqa: BLE001 - whatever breaks, the window stays up and says why
            outcome = RunOutcome("failed", f"training could not run: {type(exc).__name__}: {exc}",
                                 getattr(exc, "node_id", None), details=traceback.format_exc())
        self._flush()
        self.ended.emit(outcome)

    def _train(self) -> RunOutcome:
        from nnstudio.core.errors import NnstudioError
        from nnstudio.train.project_run import build_training_run

        try:
            run = build_training_run(self._project, device=self._device, analysis=self._analysis)
            if self._checkpoint is not None:
                run.load_checkpoint(self._checkpoint)
        except NnstudioError as exc:
            return RunOutcome("failed", str(exc), getattr(exc, "node_id", None))
        run.events.batch_end.connect(self._on_batch)
        run.events.epoch_end.connect(self._on_epoch)
        run.events.note.connect(self.note.emit)
        run.events.gradients.connect(self.gradients.emit)  # the trainer rate-limits it
        from nnstudio.train.telemetry import TelemetryOptions

        run.enable_telemetry(TelemetryOptions(budget=GUI_TELEMETRY_BUDGET, max_per_second=GUI_TELEMETRY_PER_SECOND))
        run.events.telemetry.connect(self.telemetry.emit)
        run.events.changed.connect(self.changed.emit)
        with self._lock:
            self.run = run
            if self._pause_requested:
                run.pause()
            stop_first = self._stop_requested
        data = run.data
        recorder = None
        if not stop_first and run.epochs_done < run.settings.epochs:
            recorder = self._record(run)
        self.prepared.emit(RunInfo(
            epochs=run.settings.epochs, first_epoch=run.epochs_done + 1, steps_per_epoch=run.steps_per_epoch,
            train_size=data.train_size, val_size=data.val_size, device=str(run.device), task=data.task,
            class_names=list(data.class_names), description=data.description,
            run_folder=str(recorder.folder) if recorder is not None else None))
        if stop_first:
            return RunOutcome("stopped", "stopped before the first step", result=None)
        if run.epochs_done >= run.settings.epochs:
            return RunOutcome("finished", f"the checkpoint already holds {run.epochs_done} epoch(s); raise "
                              "Epochs to train further")
        if recorder is not None:
            with recorder:  # starts the record, and ends it on each way out of the run
                result = run.run()
            for problem in recorder.problems:
                self.note.emit(f"recording the run: {problem}")
        else:
            result = run.run()
        if result.status == "failed":
            failure = result.failure
            assert failure is not None  # a failed run says why
            return RunOutcome("failed", failure.message, failure.node_id, result, run.failure_details,
                              list(result.notes))
        done = f"after epoch {run.epochs_done}" if run.epochs_done else "before the first epoch ended"
        message = (f"finished {run.epochs_done} epoch(s)" if result.status == "finished"
                   else f"stopped {done}; the weights are those of the last complete epoch")
        if run.weights_epoch != run.epochs_done:
            message += f"; the weights are those of epoch {run.weights_epoch}, the best validation loss"
        return RunOutcome(result.status, message, None, result, notes=list(result.notes))

    def _record(self, run: TrainingRun) -> RunRecorder | None:
        """Return a RunRecorder of ``run`` in a new folder of the runs folder (None: not recorded)."""
        if self._runs_folder is None:
            return None
        from nnstudio.core.errors import NnstudioError
        from nnstudio.experiments import RunRecorder, new_run_folder

        try:
            folder = new_run_folder(self._runs_folder)
        except NnstudioError as exc:
            self.note.emit(f"this run is not recorded: {exc}")
            return None
        # The window keeps each run's outputs (weights, model.py, ...) in its folder, for the Runs view.
        return RunRecorder(run, self._project, folder, source="window", project_path=self._project_path,
                           write_outputs=True, analysis=self._analysis)

    def _on_batch(self, epoch: int, step: int, steps: int, loss: float | None, lr: float, rate: float) -> None:
        merger = self._merger
        merger.add(epoch, step, steps, loss, lr, rate)
        now = time.perf_counter()
        # A pause holds the thread before the next step: send what is pending so the curves are current.
        if merger.due(now) or (self.run is not None and self.run.paused):
            self._flush(now)

    def _on_epoch(self, metrics: EpochMetrics) -> None:
        self._flush()
        self.epoch_ended.emit(metrics, validation_samples(self.run) if self.run is not None else None)

    def _flush(self, now: float | None = None) -> None:
        update = self._merger.take(time.perf_counter() if now is None else now)
        if update is not None:
            self.batches.emit(update)


def validation_samples(run: TrainingRun, count: int = SAMPLES_SHOWN) -> ValidationSamples | None:
    """Return predictions for ``count`` validation samples spread over the set (None for regression).

    Runs in the worker thread between epochs, on the run's device, without gradients.
    """
    from nnstudio.train.samples import sample_predictions

    found = sample_predictions(run, count)
    return None if found is None else ValidationSamples(*found)


class TrainingSession(QObject):
    """One run at a time in a background QThread; re-emits the worker's signals on the GUI thread."""

    prepared = Signal(object)
    batches = Signal(object)
    epoch_ended = Signal(object, object)
    note = Signal(str)
    #: Per-parameter gradient norms of the running model ({name: norm}), at most once a second.
    gradients = Signal(object)
    #: Per-layer statistics of a sampled step (a TelemetrySample), at most twice a second.
    telemetry = Signal(object)
    #: A change made while paused took effect (a SettingsChange).
    changed = Signal(object)
    #: The run is over (its thread has been joined): a RunOutcome.
    ended = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: TrainingWorker | None = None
        self._paused = False
        #: The trainer of the last run (weights, history, checkpoint), kept after it ended.
        self.last_run: TrainingRun | None = None

    @property
    def is_running(self) -> bool:
        return self._thread is not None

    @property
    def is_paused(self) -> bool:
        return self.is_running and self._paused

    def start(self, project: Project, checkpoint: dict[str, Any] | None = None, device: str | None = None,
              analysis: Analysis | None = None, runs_folder: Path | None = None,
              project_path: str | Path | None = None) -> None:
        """Trains a copy of ``project`` (edits made meanwhile do not reach the run).

        ``analysis`` is the document's current analysis of ``project``: the run compiles from it
        instead of analysing the network again (it is only read, on the worker thread). With
        ``runs_folder`` the run is recorded there (``project_path`` names the project's file).
        """
        if self._thread is not None:
            raise RuntimeError("a training run is already in progress")
        self._paused = False
        thread = QThread(self)
        thread.setObjectName("nnstudio-training")
        worker = TrainingWorker(project.copy(), checkpoint, device, analysis=analysis, runs_folder=runs_folder,
                                project_path=project_path)
        worker.moveToThread(thread)
        thread.started.connect(worker.work)
        thread.finished.connect(worker.deleteLater)
        # Bound methods of this GUI-thread object, so every delivery is queued onto the GUI thread.
        worker.prepared.connect(self._relay_prepared)
        worker.batches.connect(self._relay_batches)
        worker.epoch_ended.connect(self._relay_epoch)
        worker.note.connect(self._relay_note)
        worker.gradients.connect(self._relay_gradients)
        worker.telemetry.connect(self._relay_telemetry)
        worker.changed.connect(self._relay_changed)
        worker.ended.connect(self._on_worker_ended)
        self._thread, self._worker = thread, worker
        thread.start()

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.stop()
            self._paused = False

    def pause(self) -> None:
        if self._worker is not None:
            self._worker.pause()
            self._paused = True

    def resume(self) -> None:
        if self._worker is not None:
            self._worker.resume()
            self._paused = False

    def current_values(self) -> dict[str, float] | None:
        """Returns the learning rate, momentum (when the optimizer has one), weight decay and batch size
        the run uses now; None before the run is built. Meant while paused."""
        run = self._worker.run if self._worker is not None else None
        if run is None:
            return None
        from nnstudio.train.changes import current_values

        return current_values(run.settings, run.optimizer)

    def change_settings(self, **values: float) -> None:
        """Changes the learning rate, momentum, weight decay or batch size of the run from its next
        batch (meant while paused); raises ChangeError naming a refused value."""
        if self._worker is None:
            raise RuntimeError("no run to change")
        self._worker.change_settings(values)

    def shutdown(self) -> None:
        """Stop the run and join its thread (the window is closing); signals still queued are dropped."""
        if self._worker is None or self._thread is None:
            return
        self._worker.stop()
        self._join()

    def _join(self) -> None:
        worker, thread = self._worker, self._thread
        assert worker is not None and thread is not None
        # Cleared first: signals of this worker still queued find no current worker and are dropped.
        self._worker = self._thread = None
        self._paused = False
        self.last_run = worker.run
        thread.quit()  # takes effect once work() returns: at the latest one training step after stop()
        thread.wait()
        thread.deleteLater()

    @Slot(object)
    def _relay_prepared(self, info: RunInfo) -> None:
        if self._worker is not None:
            self.prepared.emit(info)

    @Slot(object)
    def _relay_batches(self, update: BatchUpdate) -> None:
        if self._worker is not None:
            self.batches.emit(update)

    @Slot(object, object)
    def _relay_epoch(self, metrics: EpochMetrics, samples: ValidationSamples | None) -> None:
        if self._worker is not None:
            self.epoch_ended.emit(metrics, samples)

    @Slot(str)
    def _relay_note(self, text: str) -> None:
        if self._worker is not None:
            self.note.emit(text)

    @Slot(object)
    def _relay_gradients(self, norms: dict[str, float]) -> None:
        if self._worker is not None:
            self.gradients.emit(norms)

    @Slot(object)
    def _relay_telemetry(self, sample: TelemetrySample) -> None:
        if self._worker is not None:
            self.telemetry.emit(sample)

    @Slot(object)
    def _relay_changed(self, change: SettingsChange) -> None:
        if self._worker is not None:
            self.changed.emit(change)

    @Slot(object)
    def _on_worker_ended(self, outcome: RunOutcome) -> None:
        if self._worker is None:
            return
        self._join()
        self.ended.emit(outcome)

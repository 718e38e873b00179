"""The run's presenter: starts, holds and ends training runs, and shows them on the Training tab.

:class:`TrainingPresenter` (``panel.presenter``) owns the :class:`~nnstudio.ui.training_worker.
TrainingSession` (runs in a thread of the window) and, for the Recipe's "All GPUs (N)", the
:class:`~nnstudio.ui.training_processes.ProcessTrainingSession` (torchrun worker processes); both
give the same events. It also owns the :class:`~nnstudio.ui.memory_preflight.MemoryPreflight`, and
asks before a run whose training step will not fit its device. ``start()`` takes the document's current analysis (waiting for it when an edit is
still being analysed, without blocking the GUI thread), refuses a network with errors, and hands the
project and that analysis to the session, so the run compiles the network the editor analysed
instead of analysing it again. The session's events become the panel's progress text and bar, its
curves and results, its log and the run history, each on its own cadence: data is stored at once,
drawn when due (curves at most ``MAX_UPDATES_PER_SECOND``, read-outs ``READOUTS_PER_SECOND``,
results ``RESULTS_PER_SECOND``, progress ``PROGRESS_UPDATES_PER_SECOND``), because every frame drawn
on the GUI thread takes the GIL from the trainer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal

from nnstudio.core.errors import NnstudioError
from nnstudio.core.formatting import format_duration
from nnstudio.core.settings import BINARY_LOSSES, CLASSIFICATION_LOSSES
from nnstudio.ui.document import Document
from nnstudio.ui.memory_preflight import ALL_GPUS_DEVICE, MemoryPreflight, ask_memory_fit
from nnstudio.ui.theme import ERROR_COLOR, OK_COLOR, WARNING_COLOR
from nnstudio.ui.torch_loading import torch_is_loaded
from nnstudio.ui.training_processes import ProcessTrainingSession
from nnstudio.ui.training_worker import (
    MAX_UPDATES_PER_SECOND,
    BatchUpdate,
    RunInfo,
    RunOutcome,
    TrainingSession,
    ValidationSamples,
)

if TYPE_CHECKING:
    from nnstudio.ui.training_panel import TrainingPanel

#: The progress text and bar change at most this often: ETA and samples/s cannot be read faster, and
#: each change is a repaint while training.
PROGRESS_UPDATES_PER_SECOND = 4
#: The confusion matrix and the sample grid change at most this often (the last epoch's always show):
#: nobody reads a matrix that changes ten times a second, and each one drawn holds the GIL.
RESULTS_PER_SECOND = 2
#: The plots' read-outs (latest values) change at most this often while a run is live; the curves
#: redraw at MAX_UPDATES_PER_SECOND. Hovering, pausing and the end of a run show them at once.
READOUTS_PER_SECOND = 2


def import_training_views() -> None:
    """Imports the modules of the Training tab's curves, run history and LR finder (pyqtgraph); creates no widget."""
    import nnstudio.ui.lr_finder_panel
    import nnstudio.ui.plots
    import nnstudio.ui.run_history  # noqa: F401


def analysis_errors(analysis: Any) -> list[str]:
    """Returns the errors of ``analysis`` as lines (none for no analysis yet)."""
    if analysis is None or analysis.ok:
        return []
    return [str(problem) for problem in analysis.errors]


class TrainingPresenter(QObject):
    """One training run at a time for ``panel``'s document; see the module docstring."""

    #: True while a run is in progress (the window locks the editor), False once it ended.
    running_changed = Signal(bool)
    #: A run ended; the argument is its RunOutcome.
    run_ended = Signal(object)
    #: A sentence for the window's status bar.
    status_message = Signal(str)
    #: The running model's gradient norms ({parameter name: norm}), whichever session trains it.
    gradients = Signal(object)

    def __init__(self, panel: TrainingPanel, document: Document) -> None:
        super().__init__(panel)
        self.panel = panel
        self.document = document
        #: Single-device runs: a thread of the window. Multi-GPU runs ("All GPUs"): torchrun worker
        #: processes. ``session`` is the one of the current (or last) run.
        self.threads = TrainingSession(self)
        self.processes = ProcessTrainingSession(self)
        self.session: Any = self.threads
        #: Data-parallel workers of the next run (the Recipe's "All GPUs (N)"), 1 for one device.
        self.workers = 1
        #: The memory pre-flight of the open project (the Inspector and the Training tab show it).
        self.memory = MemoryPreflight(document, self)
        self.info: RunInfo | None = None
        self.outcome: RunOutcome | None = None
        self._waiting_for_analysis = False
        #: Imports the curves' modules off the GUI thread (made when first needed).
        self._views_jobs: Any = None
        self._views_imported = False
        self._views_deferred = False
        self._views_waiting: list[Callable[[], None]] = []
        #: The analysis the last run was built from (it describes that run's network).
        self._run_analysis: Any = None
        self._started_at = 0.0
        self._paused_at: float | None = None
        self._paused_total = 0.0
        self._last_update: BatchUpdate | None = None
        self._progress_shown_at = 0.0
        self._closed = False
        # Curves and results are redrawn on one cadence, at most MAX_UPDATES_PER_SECOND times a
        # second, whether batches or (short) epochs arrive: data is stored at once, drawn when due.
        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.timeout.connect(self._redraw_now)
        self._results_timer = QTimer(self)
        self._results_timer.setSingleShot(True)
        self._results_timer.timeout.connect(self._show_pending_results)
        self._redrawn_at = 0.0
        self._readout_at = 0.0
        self._results_at = 0.0
        self._pending_results: tuple[Any, ValidationSamples | None] | None = None
        for session in (self.threads, self.processes):
            session.prepared.connect(self._on_prepared)
            session.batches.connect(self._on_batches)
            session.epoch_ended.connect(self._on_epoch)
            session.note.connect(self._on_note)
            session.gradients.connect(self.gradients)
            session.ended.connect(self._on_ended)
        self.running_changed.connect(self.memory.hold)  # estimates would take the GIL from the trainer

    # --- state -----------------------------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        """Returns True from Train until the run ended (waiting for the analysis included)."""
        return self._waiting_for_analysis or self.session.is_running

    @property
    def is_paused(self) -> bool:
        return self.session.is_paused

    @property
    def trained_run(self) -> Any:
        """Returns the trainer of the last run when it completed at least one epoch (else None)."""
        run = self.session.last_run
        return run if run is not None and run.history and not self.is_running else None

    # --- controlling -----------------------------------------------------------------------------

    def start(self, checkpoint: dict[str, Any] | None = None) -> bool:
        """Starts training the open project; returns False (and says why) when it cannot start now.

        The run begins once the document's analysis is current (at once when it already is).
        """
        if self.is_running or self._closed:
            return False
        document, panel = self.document, self.panel
        errors = analysis_errors(document.analysis) if document.analysis_is_current else []
        if errors:
            self._refuse(errors)
            return False
        if not self._memory_fits():
            return False
        self.info, self.outcome, self._last_update = None, None, None
        self._waiting_for_analysis = True
        if torch_is_loaded():
            panel.set_state("Preparing…", WARNING_COLOR)
            panel.set_progress_text("Loading the data and building the network…")
        else:  # pressed in the first seconds: the analysis worker is still importing torch
            panel.set_state("Loading PyTorch…", WARNING_COLOR)
            panel.set_progress_text("Loading PyTorch… the run starts as soon as it is ready")
            panel.log_message("loading PyTorch; the run starts as soon as it is ready")
        self.running_changed.emit(True)
        panel.update_actions()
        self.when_views_ready(lambda: self._show_new_run(checkpoint))
        return True

    def when_views_ready(self, then: Callable[[], None]) -> None:
        """Calls ``then`` once the curves' modules are imported: at once, or after a background import.

        pyqtgraph and the curves take a second to import; imported on the GUI thread (while torch
        loads, too) the window would stand still that long. Every caller waiting meanwhile is called,
        in order, when the one import ends.
        """
        if self._closed:
            return
        if self._views_imported or self.panel.loss_plot is not None:
            then()
            return
        self._views_waiting.append(then)
        if self._views_jobs is None:
            from nnstudio.ui.jobs import BackgroundJobs

            self._views_jobs = BackgroundJobs("nnstudio-training-views", self)
            # A failed import is repeated on the GUI thread by whoever needs the modules, which then says why.
            self._views_jobs.submit("views", import_training_views, self._on_views_imported,
                                    lambda _reason: self._on_views_imported(None))

    def _on_views_imported(self, _result: Any) -> None:
        if not torch_is_loaded() and not self._closed and not self._views_deferred:
            # Building the curves while the analysis worker still imports torch would take twice as
            # long (the two threads take turns at the GIL): build them once torch is in (once the
            # analysis, which needs it, is there; or could not be made).
            self._views_deferred = True
            self.document.when_analysed(self._on_views_imported, self._on_views_imported)
            return
        self._views_imported = True
        waiting, self._views_waiting = self._views_waiting, []
        for then in waiting:
            if not self._closed:
                then()

    def _show_new_run(self, checkpoint: dict[str, Any] | None) -> None:
        """Clears the curves for the new run, records it, and asks for the analysis to launch it."""
        if not self._waiting_for_analysis:
            return  # stopped (or the window closed) meanwhile
        document, panel = self.document, self.panel
        settings = document.project.settings
        regression = settings.loss not in CLASSIFICATION_LOSSES and settings.loss not in BINARY_LOSSES
        panel.ensure_plots()
        panel.accuracy_plot.set_mode("mae" if regression else "accuracy")
        for plot in (panel.loss_plot, panel.accuracy_plot):
            plot.clear()
            # The planned run, at once: a run that fails before it is prepared must not keep the
            # previous run's epoch axis.
            plot.set_epoch_span(0.0, float(settings.epochs))
        panel.show_results(False)
        self._started_at, self._paused_at, self._paused_total = time.perf_counter(), None, 0.0
        from nnstudio.ui.run_history import summarize_settings

        panel.progress.setValue(0)
        panel.log_message(f"new run: {summarize_settings(settings)}")
        document.when_analysed(lambda analysis: self._launch(analysis, checkpoint), self._analysis_unavailable)

    def _launch(self, analysis: Any, checkpoint: dict[str, Any] | None) -> None:
        if not self._waiting_for_analysis:
            return  # stopped (or the window closed) while the analysis ran
        self._waiting_for_analysis = False
        errors = analysis_errors(analysis)
        if errors:
            self._refuse(errors)
            self._end_without_run(RunOutcome("failed", f"the network has {len(errors)} error(s)"))
            return
        self._run_analysis = analysis
        self.panel.set_state("Preparing…", WARNING_COLOR)  # torch is loaded: the analysis used it
        self.panel.set_progress_text("Loading the data and building the network…")
        from nnstudio.ui.run_history import document_runs_folder

        # Every run is recorded in the project's runs folder (the Runs tab lists it), whichever
        # session trains it: a thread on one device, or torchrun worker processes ("All GPUs").
        recording = {"runs_folder": document_runs_folder(self.document), "project_path": self.document.path}
        if self.workers > 1:
            self.session = self.processes
            self.processes.start(self.document.project, checkpoint, device=ALL_GPUS_DEVICE, workers=self.workers,
                                 analysis=analysis, **recording)
        else:
            self.session = self.threads
            self.threads.start(self.document.project, checkpoint, analysis=analysis, **recording)
        self.panel.history.run_started()
        self.panel.update_actions()  # Pause is possible from now on

    def set_workers(self, workers: int) -> None:
        """Train the next run in ``workers`` data-parallel processes (1: in a thread, on one device)."""
        self.workers = workers
        self.memory.set_workers(workers)

    def _memory_fits(self) -> bool:
        """Returns False when the person cancels a run whose step will not fit its device.

        Only a current estimate (this batch size and worker count) is held against the device; the
        person may take the largest batch size that fits (an undoable settings edit) or train anyway.
        """
        result = self.memory.result
        settings = self.document.project.settings
        if result is None or result.fits:
            return True
        estimate = result.estimate
        if estimate.workers != self.workers or estimate.batch_size != -(-settings.batch_size // self.workers):
            return True  # an estimate of other settings: the new one is on its way, do not guess
        choice = ask_memory_fit(self.panel, result)
        if choice == "cancel":
            self.panel.log_message(f"not started: {result.warning()}", "error")
            return False
        if choice == "largest":
            from nnstudio.ui.training_settings import settings_command

            command = settings_command(self.document, {"batch_size": result.largest_batch},
                                       "Use the largest batch size that fits")
            command.merge_key = None  # its own undo step: Undo gives back the batch size that was asked for
            self.document.push(command)
            self.panel.log_message(f"batch size set to {result.largest_batch}, the largest that fits")
        return True

    def _on_note(self, text: str) -> None:
        self.panel.log_message(text, "note")

    def _analysis_unavailable(self, reason: str) -> None:
        if self._waiting_for_analysis:
            self._waiting_for_analysis = False
            self._end_without_run(RunOutcome("failed", f"training could not start: {reason}"))

    def _refuse(self, errors: list[str]) -> None:
        text = f"Training cannot start: the network has {len(errors)} error(s). Fix them first:"
        self.panel.log_message("\n".join([text, *(f"  • {e}" for e in errors)]), "error")
        self.status_message.emit(text.rstrip(":"))
        self.panel.set_state("Cannot train: fix the errors", ERROR_COLOR)

    def toggle_pause(self) -> None:
        if self.session.is_paused:
            self.resume()
        else:
            self.pause()

    def pause(self) -> None:
        if not self.session.is_running or self.session.is_paused:
            return
        self.session.pause()
        self._paused_at = time.perf_counter()
        self.panel.set_state("Paused", WARNING_COLOR)
        self.panel.log_message("paused")
        self.panel.update_actions()

    def resume(self) -> None:
        if not self.session.is_paused:
            return
        self.session.resume()
        if self._paused_at is not None:
            self._paused_total += time.perf_counter() - self._paused_at
            self._paused_at = None
        self.panel.set_state("Training", OK_COLOR)
        self.panel.log_message("resumed")
        self.panel.update_actions()

    def stop(self) -> None:
        if self._waiting_for_analysis:
            self._waiting_for_analysis = False
            self._end_without_run(RunOutcome("stopped", "stopped before the first step"))
            return
        if not self.session.is_running:
            return
        self.session.stop()
        self.panel.set_state("Stopping…", WARNING_COLOR)
        self.panel.update_actions()

    def shutdown(self) -> None:
        """Stops a run and joins its thread (the window is closing); stops the cadence timers."""
        self._closed = True
        was_running = self.is_running
        self._waiting_for_analysis = False
        self.threads.shutdown()
        self.processes.shutdown()
        self.memory.shutdown()
        if self._views_jobs is not None:
            self._views_jobs.shutdown()
        self.panel.shutdown_runs()
        self._redraw_timer.stop()
        self._results_timer.stop()
        if was_running:
            self.running_changed.emit(False)

    # --- events of the run ---------------------------------------------------------------------

    def _on_prepared(self, info: RunInfo) -> None:
        panel = self.panel
        self.info = info
        if info.run_folder:
            panel.log_message(f"recording the run in {info.run_folder}")
        self._started_at = time.perf_counter()
        self._paused_total = 0.0
        if not self.session.is_paused:
            panel.set_state("Training", OK_COLOR)
        resumed = f", continuing after epoch {info.first_epoch - 1}" if info.first_epoch > 1 else ""
        panel.log_message(f"{info.description}; {info.train_size:,} training / {info.val_size:,} validation "
                          f"samples, {info.steps_per_epoch} steps per epoch on {info.device}{resumed}")
        panel.set_progress_text(f"Epoch {info.first_epoch}/{info.epochs} · starting…")
        for plot in (panel.loss_plot, panel.accuracy_plot):
            plot.set_epoch_span(0.0, float(info.epochs))

    def _on_batches(self, update: BatchUpdate) -> None:
        self._last_update = update
        if len(update.losses):
            self.panel.loss_plot.add_batches(update.positions, update.losses, update.lrs)
            self._request_redraw()
        now = time.perf_counter()
        if now - self._progress_shown_at >= 1.0 / PROGRESS_UPDATES_PER_SECOND or update.step == update.steps_per_epoch:
            self._progress_shown_at = now
            self._show_progress(update)

    def _show_progress(self, update: BatchUpdate) -> None:
        info = self.info
        if info is None:
            return
        total_steps = info.epochs * update.steps_per_epoch
        done = (update.epoch - 1) * update.steps_per_epoch + update.step
        done_here = done - (info.first_epoch - 1) * update.steps_per_epoch
        self.panel.set_progress(int(1000 * done / max(total_steps, 1)))
        elapsed = time.perf_counter() - self._started_at - self._paused_total
        eta = elapsed / max(done_here, 1) * (total_steps - done)
        self.panel.set_progress_text(
            f"Epoch {update.epoch}/{info.epochs} · step {update.step}/{update.steps_per_epoch} · "
            f"{update.samples_per_s:,.0f} samples/s · {format_duration(elapsed)} elapsed · "
            f"about {format_duration(eta)} left")

    def _request_redraw(self) -> None:
        """Draws what is stored now, or when the cadence next allows it."""
        if self._redraw_timer.isActive():
            return
        wait_s = self._redrawn_at + 1.0 / MAX_UPDATES_PER_SECOND - time.perf_counter()
        if wait_s <= 0:
            self._redraw_now()
        else:
            self._redraw_timer.start(max(1, int(wait_s * 1000)))

    def _redraw_now(self, final: bool = False) -> None:
        self._redraw_timer.stop()
        now = self._redrawn_at = time.perf_counter()
        readout = final or self.session.is_paused or now - self._readout_at >= 1.0 / READOUTS_PER_SECOND
        if readout:
            self._readout_at = now
        panel = self.panel
        if panel.loss_plot is not None:
            panel.loss_plot.flush(readout)
            panel.accuracy_plot.flush(readout)
        self._show_pending_results(final)

    def _show_pending_results(self, final: bool = False) -> None:
        """Shows the latest epoch's results now if their cadence allows (or ``final``), else later."""
        if self._pending_results is None:
            return
        now = time.perf_counter()
        wait_s = self._results_at + 1.0 / RESULTS_PER_SECOND - now
        if final or wait_s <= 0:
            self._results_timer.stop()
            metrics, samples = self._pending_results
            self._pending_results = None
            self._results_at = now
            self.panel.show_epoch_results(metrics, samples, self.info)
        elif not self._results_timer.isActive():
            self._results_timer.start(max(1, int(wait_s * 1000)))

    def _on_epoch(self, metrics: Any, samples: ValidationSamples | None) -> None:
        panel = self.panel
        panel.loss_plot.add_epoch(metrics.epoch, metrics.train_loss, metrics.val_loss)
        if panel.accuracy_plot.mode == "mae":
            panel.accuracy_plot.add_epoch(metrics.epoch, metrics.train_mae, metrics.val_mae)
            metric = f"train MAE {metrics.train_mae:.4g} · val MAE {metrics.val_mae:.4g}"
        else:
            panel.accuracy_plot.add_epoch(metrics.epoch, metrics.train_acc, metrics.val_acc)
            metric = f"train acc {metrics.train_acc:.1%} · val acc {metrics.val_acc:.1%}"
        epochs = self.info.epochs if self.info else metrics.epoch
        panel.log_message(f"epoch {metrics.epoch}/{epochs}: train loss {metrics.train_loss:.4f} · val loss "
                          f"{metrics.val_loss:.4f} · {metric} · lr {metrics.lr:.3g} · "
                          f"{metrics.samples_per_s:,.0f} samples/s · {metrics.epoch_time_s:.1f} s", "epoch")
        # Only the latest epoch's results are worth drawing when epochs end faster than the cadence.
        self._pending_results = (metrics, samples)
        self._request_redraw()

    def _on_ended(self, outcome: RunOutcome) -> None:
        panel = self.panel
        self.outcome = outcome
        try:
            self._redraw_now(final=True)  # whatever the cadence held back
        except Exception as exc:  # noqa: BLE001 - the run is over either way: the panel must say so
            panel.log_message(f"could not draw the last curves: {type(exc).__name__}: {exc}", "error")
        for note in outcome.notes:
            if note not in panel.log.toPlainText():
                panel.log_message(note, "note")
        if outcome.status == "failed":
            where = f" (layer {outcome.node_id})" if outcome.node_id and outcome.node_id not in outcome.message else ""
            panel.log_message(f"{outcome.message}{where}", "error")
            panel.set_state("Failed", ERROR_COLOR)
            self.status_message.emit(f"Training failed: {outcome.message}")
        else:
            panel.log_message(outcome.message)
            colour = OK_COLOR if outcome.status == "finished" else WARNING_COLOR
            panel.set_state("Finished" if outcome.status == "finished" else "Stopped", colour)
            self.status_message.emit(f"Training {outcome.message}")
        panel.history.run_ended()
        if outcome.status == "finished" and self.info is not None:
            panel.progress.setValue(1000)
        elapsed = time.perf_counter() - self._started_at - self._paused_total
        panel.set_progress_text(f"{outcome.message[:1].upper()}{outcome.message[1:]} · "
                                     f"{format_duration(elapsed)}")
        self.running_changed.emit(False)
        panel.update_actions()
        self.run_ended.emit(outcome)

    def _end_without_run(self, outcome: RunOutcome) -> None:
        """Ends a run that never reached the trainer (stopped or refused while awaiting the analysis)."""
        self.session.last_run = None
        self._on_ended(outcome)

    # --- results -------------------------------------------------------------------------------

    def export_results(self, folder: str | Path, extra_formats: tuple[str, ...] = ()) -> Path:
        """Writes the last run's outputs (as ``nnstudio train`` does) to ``folder``; returns it.

        ``extra_formats`` adds safetensors / ONNX / pt2 files. Raises NnstudioError when there is
        nothing trained or an export fails.
        """
        run = self._trained_or_refuse()
        from nnstudio.train.outputs import write_outputs

        return write_outputs(run, folder, analysis=self._run_analysis, extra_formats=extra_formats)

    def save_checkpoint(self, path: str | Path) -> Path:
        """Writes the last run's checkpoint (weights, optimizer, epoch, history) to ``path``."""
        run = self._trained_or_refuse()
        from nnstudio.train.checkpoints import save_checkpoint

        return save_checkpoint(run.checkpoint(), path)  # atomic, checked; FileWriteError keeps the old file

    def resume_from(self, path: str | Path) -> bool:
        """Continues training from a checkpoint file (read with ``weights_only=True``)."""
        from nnstudio.train.checkpoints import read_checkpoint_file

        try:
            checkpoint = read_checkpoint_file(path)  # every part typed: a damaged one is refused here
        except NnstudioError as exc:
            self.panel.log_message(str(exc), "error")
            return False
        self.panel.log_message(f"resuming from {Path(path).name} after epoch {len(checkpoint['history'])}")
        return self.start(checkpoint)

    def _trained_or_refuse(self) -> Any:
        run = self.trained_run
        if run is None:
            raise NnstudioError("there is no trained model yet: train at least one epoch first")
        return run


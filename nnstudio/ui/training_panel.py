"""Returns the Training tab: dataset and recipe on the left, live progress, curves and results on the right.

:class:`TrainingPanel` (objectName and accessible name ``trainingPanel``) trains the open document's
network in a background thread (:class:`~nnstudio.ui.training_worker.TrainingSession`) and shows it:

- a progress bar with epoch / step, samples per second and the time left, and a log of epochs and
  messages;
- ``LossPlot`` and ``AccuracyPlot`` (MAE for regression) fed live, earlier runs listed in the run
  history and overlaid on request;
- after each epoch of a classification run, the confusion matrix and a grid of validation samples
  with predicted and true labels.

Its actions (the window puts them in the toolbar and the Train menu): ``action_train`` (F5),
``action_pause`` (Pause / Resume), ``action_stop``, ``action_export_results``, ``action_save_checkpoint``
and ``action_resume_checkpoint``; each is enabled only when it can do something. Training refuses to
start while the network has errors and lists them. ``running_changed(bool)`` tells the window to lock
the editor; ``shutdown()`` stops and joins a run when the window closes.
"""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence, QPalette
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QProgressBar,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from nnstudio.core.errors import NnstudioError
from nnstudio.core.settings import BINARY_LOSSES, CLASSIFICATION_LOSSES
from nnstudio.ui.document import Document
from nnstudio.ui.results import ConfusionMatrixWidget, SampleGridWidget
from nnstudio.ui.theme import ERROR_COLOR, OK_COLOR, WARNING_COLOR, muted_text_color
from nnstudio.ui.training_dataset import DatasetChooser
from nnstudio.ui.training_icons import run_control_icon
from nnstudio.ui.training_settings import TrainingSettingsForm
from nnstudio.ui.training_worker import (
    MAX_UPDATES_PER_SECOND,
    BatchUpdate,
    RunInfo,
    RunOutcome,
    TrainingSession,
    ValidationSamples,
)

#: The progress text and bar change at most this often: ETA and samples/s cannot be read faster, and
#: each change is a repaint while training.
PROGRESS_UPDATES_PER_SECOND = 4
#: The confusion matrix and the sample grid change at most this often (the last epoch's always show):
#: nobody reads a matrix that changes ten times a second, and each one drawn holds the GIL.
RESULTS_PER_SECOND = 2
#: The plots' read-outs (latest values) change at most this often while a run is live; the curves
#: redraw at MAX_UPDATES_PER_SECOND. Hovering, pausing and the end of a run show them at once.
READOUTS_PER_SECOND = 2
#: Extra formats the results export can add to model.pth / model.py / project.nns / metrics.csv.
EXTRA_EXPORTS = {"safetensors": "model.safetensors", "onnx": "model.onnx", "pt2": "model.pt2"}


def format_duration(seconds: float) -> str:
    """Return ``seconds`` as ``m:ss`` (or ``h:mm:ss``)."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def set_progress_value(bar: QProgressBar, value: int) -> None:
    """Set ``bar``'s value and let the event loop paint it.

    ``QProgressBar.setValue`` repaints synchronously whenever a pixel or its text changes; called from
    Python that paint runs with the GIL held, so the training thread would wait for it. With updates
    briefly disabled the synchronous repaint is skipped and the bar is painted by the event loop,
    without Python on the stack.
    """
    if bar.value() == value:
        return
    bar.setUpdatesEnabled(False)
    bar.setValue(value)
    bar.setUpdatesEnabled(True)
    bar.update()


class TrainingPanel(QWidget):
    """The Training tab of ``document``; see the module docstring."""

    #: True while a run is in progress (the window locks the editor), False once it ended.
    running_changed = Signal(bool)
    #: A run ended; the argument is its RunOutcome.
    run_ended = Signal(object)
    #: A sentence for the window's status bar.
    status_message = Signal(str)

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("trainingPanel")
        self.setAccessibleName("trainingPanel")
        self.document = document
        self.session = TrainingSession(self)
        self.info: RunInfo | None = None
        self.outcome: RunOutcome | None = None
        self._run_id: str | None = None
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

        self._build_actions()
        self._build_layout()
        self.session.prepared.connect(self._on_prepared)
        self.session.batches.connect(self._on_batches)
        self.session.epoch_ended.connect(self._on_epoch)
        self.session.note.connect(lambda text: self.log_message(text, "note"))
        self.session.ended.connect(self._on_ended)
        self.dataset.message.connect(self.log_message)
        document.analysis_ready.connect(lambda _analysis: self.update_actions())
        document.replaced.connect(self.update_actions)
        document.device_found.connect(self._list_devices)
        self.update_actions()

    # --- construction --------------------------------------------------------------------------

    def _action(self, name: str, text: str, slot: Any, tip: str, shortcut: str | None = None) -> QAction:
        action = QAction(text, self)
        action.setObjectName(name)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
            tip = f"{tip} ({shortcut})"
        action.setToolTip(tip)
        action.setStatusTip(tip)
        action.triggered.connect(lambda _checked=False: slot())
        return action

    def _build_actions(self) -> None:
        a = self._action
        self.action_train = a("actionTrain", "&Train", self.start, "Train the network on the chosen dataset", "F5")
        self.action_pause = a("actionPause", "&Pause", self.toggle_pause, "Pause the run between two steps")
        self.action_stop = a("actionStop", "&Stop", self.stop, "Stop the run; the weights of the last epoch stay")
        self.action_export_results = a("actionExportResults", "&Export Results…", self.export_results_dialog,
                                       "Write model.pth, model.py, project.nns and metrics.csv to a folder")
        self.action_save_checkpoint = a("actionSaveCheckpoint", "Save &Checkpoint…", self.save_checkpoint_dialog,
                                        "Save weights, optimizer and history to continue later")
        self.action_resume_checkpoint = a("actionResumeCheckpoint", "&Resume from Checkpoint…",
                                          self.resume_checkpoint_dialog,
                                          "Continue training from a saved checkpoint.pth")
        self.export_formats: dict[str, QAction] = {}
        for fmt, filename in EXTRA_EXPORTS.items():
            option = QAction(f"Also write {filename}", self)
            option.setObjectName(f"exportAlso_{fmt}")
            option.setCheckable(True)
            self.export_formats[fmt] = option
        self._apply_icons()

    def _apply_icons(self) -> None:
        text = self.palette().color(QPalette.ColorRole.ButtonText)
        self.action_train.setIcon(run_control_icon("train", text))
        self.action_pause.setIcon(run_control_icon("resume" if self.session.is_paused else "pause", text))
        self.action_stop.setIcon(run_control_icon("stop", text))

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "action_stop"):
            self._apply_icons()  # the system switched between light and dark

    def _tool_button(self, action: QAction, primary: bool = False) -> QToolButton:
        button = QToolButton(self)
        button.setDefaultAction(action)
        button.setObjectName(f"button_{action.objectName()}")
        button.setAccessibleName(action.text().replace("&", "").rstrip("…"))
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon
                                  if not action.icon().isNull() else Qt.ToolButtonStyle.ToolButtonTextOnly)
        button.setMinimumHeight(30)
        if primary:
            button.setProperty("primary", True)
            button.setMinimumWidth(88)
        return button

    def _build_layout(self) -> None:
        self.dataset = DatasetChooser(self.document, self)
        self.settings_form = TrainingSettingsForm(self.document, self)
        side = QWidget(self)
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(10, 10, 6, 10)
        side_layout.setSpacing(10)
        for title, name, widget in (("Data", "dataGroup", self.dataset), ("Recipe", "recipeGroup", self.settings_form)):
            group = QGroupBox(title, side)
            group.setObjectName(name)
            inner = QVBoxLayout(group)
            inner.addWidget(widget)
            side_layout.addWidget(group)
        side_layout.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setObjectName("trainingSide")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(side)
        scroll.setMinimumWidth(330)

        # Controls and progress.
        self.state_label = QLabel(self)
        self.state_label.setObjectName("trainingState")
        self.state_label.setTextFormat(Qt.TextFormat.RichText)
        export_button = self._tool_button(self.action_export_results)
        export_menu = QMenu(export_button)
        export_menu.addActions(list(self.export_formats.values()))
        export_button.setMenu(export_menu)
        export_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        controls = QHBoxLayout()
        controls.setSpacing(6)
        for action, primary in ((self.action_train, True), (self.action_pause, False), (self.action_stop, False)):
            controls.addWidget(self._tool_button(action, primary))
        controls.addSpacing(12)
        controls.addWidget(self.state_label, 1)
        controls.addWidget(export_button)
        controls.addWidget(self._tool_button(self.action_save_checkpoint))
        controls.addWidget(self._tool_button(self.action_resume_checkpoint))
        self.progress = QProgressBar(self)
        self.progress.setObjectName("trainingProgress")
        self.progress.setAccessibleName("Training progress")
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(8)
        self.progress.setAutoFillBackground(True)  # opaque: repainting it leaves the window alone
        # Changes several times a second. A QLabel would re-lay the whole window on each change; a
        # read-only, frameless, opaque line edit repaints alone, painted by Qt without Python, and its
        # text can still be selected and copied.
        self.progress_label = QLineEdit(self)
        self.progress_label.setObjectName("progressText")
        self.progress_label.setReadOnly(True)
        self.progress_label.setFrame(False)
        self.progress_label.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.progress_label.setAutoFillBackground(True)
        self.progress_label.setBackgroundRole(QPalette.ColorRole.Window)
        self.progress_label.setStyleSheet("QLineEdit#progressText { background: palette(window); border: none; }")
        self.progress_label.setAccessibleName("Training progress details")

        # Curves: built when the tab is first shown (pyqtgraph would slow the window's start).
        self.loss_plot: Any = None
        self.accuracy_plot: Any = None
        self.history: Any = None
        self._plots_area = QWidget(self)
        self._plots_area.setObjectName("plotsArea")
        QVBoxLayout(self._plots_area).setContentsMargins(0, 0, 0, 0)

        # Results, log and history.
        self.confusion = ConfusionMatrixWidget(self)
        self.samples = SampleGridWidget(self, tile_size=56)
        self.results_hint = QLabel("Results appear after the first epoch of a classification run.", self)
        self.results_hint.setObjectName("resultsHint")
        self.results_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        results = QWidget(self)
        results_layout = QHBoxLayout(results)
        results_layout.setContentsMargins(6, 6, 6, 6)
        results_layout.addWidget(self.results_hint)
        self.confusion.setMinimumWidth(380)
        results_layout.addWidget(self.confusion, 1)
        samples_scroll = QScrollArea(results)
        samples_scroll.setWidgetResizable(True)
        samples_scroll.setFrameShape(QFrame.Shape.NoFrame)
        samples_scroll.setWidget(self.samples)
        self.samples_scroll = samples_scroll
        results_layout.addWidget(samples_scroll, 1)
        self._show_results(False)
        self.log = QPlainTextEdit(self)
        self.log.setObjectName("trainingLog")
        self.log.setAccessibleName("Training log")
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(5000)
        self.bottom_tabs = QTabWidget(self)
        self.bottom_tabs.setObjectName("trainingTabs")
        self.bottom_tabs.setDocumentMode(True)
        self.bottom_tabs.addTab(results, "Results")
        self.bottom_tabs.addTab(self.log, "Log")

        main = QWidget(self)
        main_layout = QVBoxLayout(main)
        main_layout.setContentsMargins(6, 10, 10, 6)
        main_layout.setSpacing(6)
        main_layout.addLayout(controls)
        main_layout.addWidget(self.progress)
        main_layout.addWidget(self.progress_label)
        vertical = QSplitter(Qt.Orientation.Vertical, main)
        vertical.setObjectName("trainingSplitter")
        vertical.addWidget(self._plots_area)
        vertical.addWidget(self.bottom_tabs)
        vertical.setStretchFactor(0, 3)
        vertical.setStretchFactor(1, 2)
        vertical.setSizes([480, 320])
        vertical.setChildrenCollapsible(False)
        main_layout.addWidget(vertical, 1)

        outer = QSplitter(Qt.Orientation.Horizontal, self)
        outer.setObjectName("trainingOuterSplitter")
        outer.addWidget(scroll)
        outer.addWidget(main)
        outer.setStretchFactor(1, 1)
        outer.setSizes([360, 1000])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(outer)
        # An explicit minimum keeps the layouts' (wide) one from forcing the window's size: a small
        # window squeezes this tab instead of growing past the screen.
        self.setMinimumSize(320, 240)
        self._set_state("Ready", muted_text_color(self).name())
        self.progress_label.setText("Choose a dataset and a recipe, then press Train (F5).")

    def ensure_plots(self) -> None:
        """Build the curves and the run history (once; they import pyqtgraph)."""
        if self.loss_plot is not None:
            return
        from nnstudio.ui.plots import AccuracyPlot, LossPlot
        from nnstudio.ui.run_history import RunHistoryWidget

        self.loss_plot = LossPlot(self)
        self.accuracy_plot = AccuracyPlot(self)
        # Side by side, the plots keep their own x ranges: pyqtgraph aligns linked views by pixel, which
        # would crop the narrower one; both span the same epochs anyway.
        plots = QSplitter(Qt.Orientation.Horizontal, self._plots_area)
        plots.setObjectName("plotSplitter")
        plots.addWidget(self.loss_plot)
        plots.addWidget(self.accuracy_plot)
        plots.setChildrenCollapsible(False)
        self._plots_area.layout().addWidget(plots)
        self.history = RunHistoryWidget(self)
        self.history.attach_plots(self.loss_plot, self.accuracy_plot)
        self.bottom_tabs.addTab(self.history, "Runs")

    def showEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        self.ensure_plots()

    # --- state ---------------------------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        return self.session.is_running

    @property
    def trained_run(self) -> Any:
        """Return the trainer of the last run when it completed at least one epoch (else None)."""
        run = self.session.last_run
        return run if run is not None and run.history and not self.is_running else None

    def update_actions(self) -> None:
        """Enable each action only when it can do something now."""
        running = self.is_running
        errors = self._analysis_errors()
        self.action_train.setEnabled(not running and not errors)
        self.action_train.setToolTip("Fix the network's errors first:\n" + "\n".join(errors[:6]) if errors
                                     else "Train the network on the chosen dataset (F5)")
        self.action_pause.setEnabled(running)
        self.action_pause.setText("&Resume" if self.session.is_paused else "&Pause")
        self._apply_icons()
        self.action_stop.setEnabled(running)
        trained = self.trained_run is not None
        self.action_export_results.setEnabled(trained)
        self.action_save_checkpoint.setEnabled(trained)
        self.action_resume_checkpoint.setEnabled(not running and not errors)
        self.settings_form.setEnabled(not running)
        self.dataset.setEnabled(not running)

    def _list_devices(self, _description: str = "") -> None:
        # The analysis thread has imported torch by the time it names the device, so this is quick.
        from nnstudio.train.devices import list_devices

        self.settings_form.set_devices(list_devices())

    def _analysis_errors(self) -> list[str]:
        analysis = self.document.analysis
        if analysis is None or analysis.ok:
            return []
        return [str(problem) for problem in analysis.errors]

    def _set_state(self, text: str, colour: str) -> None:
        self.state_label.setText(f"<span style='color:{colour}; font-weight:600'>● {html.escape(text)}</span>")
        self.state_label.setAccessibleName(text)

    def _show_results(self, shown: bool) -> None:
        self.results_hint.setVisible(not shown)
        self.confusion.setVisible(shown)
        self.samples_scroll.setVisible(shown)

    def log_message(self, text: str, kind: str = "info") -> None:
        """Append a line to the log (``kind`` info / note / error / epoch)."""
        stamp = time.strftime("%H:%M:%S")
        self.log.appendPlainText(f"{stamp}  {'error: ' if kind == 'error' else ''}{text}")
        if kind == "error":
            self.bottom_tabs.setCurrentWidget(self.log)

    # --- running -------------------------------------------------------------------------------

    def start(self, checkpoint: dict[str, Any] | None = None) -> bool:
        """Start training the open project; return False (and say why) when it cannot start now."""
        if self.is_running or self._closed:
            return False
        errors = self._analysis_errors()
        if errors:
            text = f"Training cannot start: the network has {len(errors)} error(s). Fix them first:"
            self.log_message("\n".join([text, *(f"  • {e}" for e in errors)]), "error")
            self.status_message.emit(text.rstrip(":"))
            self._set_state("Cannot train: fix the errors", ERROR_COLOR)
            return False
        project = self.document.project
        settings = project.settings
        regression = settings.loss not in CLASSIFICATION_LOSSES and settings.loss not in BINARY_LOSSES
        self.ensure_plots()
        self.accuracy_plot.set_mode("mae" if regression else "accuracy")
        # The curves redraw when merged updates arrive (at most MAX_UPDATES_PER_SECOND), not from the
        # plots' own 30 Hz timers: every wake-up of the GUI thread takes the GIL from the trainer.
        for plot in (self.loss_plot, self.accuracy_plot):
            plot.clear()
        self._show_results(False)
        self.info, self.outcome, self._last_update = None, None, None
        self._started_at, self._paused_at, self._paused_total = time.perf_counter(), None, 0.0
        from nnstudio.ui.run_history import RunRecord

        record = RunRecord.start(settings)
        self._run_id = self.history.add_run(record)
        self.progress.setValue(0)
        self.progress_label.setText("Loading the data and building the network…")
        self._set_state("Preparing…", WARNING_COLOR)
        self.log_message(f"{record.title}: {record.settings_summary}")
        self.session.start(project, checkpoint)
        self.running_changed.emit(True)
        self.update_actions()
        return True

    def toggle_pause(self) -> None:
        if self.session.is_paused:
            self.resume()
        else:
            self.pause()

    def pause(self) -> None:
        if not self.is_running or self.session.is_paused:
            return
        self.session.pause()
        self._paused_at = time.perf_counter()
        self._set_state("Paused", WARNING_COLOR)
        self.log_message("paused")
        self.update_actions()

    def resume(self) -> None:
        if not self.session.is_paused:
            return
        self.session.resume()
        if self._paused_at is not None:
            self._paused_total += time.perf_counter() - self._paused_at
            self._paused_at = None
        self._set_state("Training", OK_COLOR)
        self.log_message("resumed")
        self.update_actions()

    def stop(self) -> None:
        if not self.is_running:
            return
        self.session.stop()
        self._set_state("Stopping…", WARNING_COLOR)
        self.update_actions()

    def shutdown(self) -> None:
        """Stop a run and join its thread (the window is closing); stop the plots' timers."""
        self._closed = True
        was_running = self.is_running
        self.session.shutdown()
        self._redraw_timer.stop()
        self._results_timer.stop()
        if was_running:
            self.running_changed.emit(False)

    # --- events of the run ---------------------------------------------------------------------

    def _on_prepared(self, info: RunInfo) -> None:
        self.info = info
        self._started_at = time.perf_counter()
        self._paused_total = 0.0
        if not self.session.is_paused:
            self._set_state("Training", OK_COLOR)
        resumed = f", continuing after epoch {info.first_epoch - 1}" if info.first_epoch > 1 else ""
        self.log_message(f"{info.description}; {info.train_size:,} training / {info.val_size:,} validation "
                         f"samples, {info.steps_per_epoch} steps per epoch on {info.device}{resumed}")
        self.progress_label.setText(f"Epoch {info.first_epoch}/{info.epochs} · starting…")
        for plot in (self.loss_plot, self.accuracy_plot):
            plot.set_epoch_span(0.0, float(info.epochs))

    def _on_batches(self, update: BatchUpdate) -> None:
        self._last_update = update
        if len(update.losses):
            self.loss_plot.add_batches(update.positions, update.losses, update.lrs)
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
        set_progress_value(self.progress, int(1000 * done / max(total_steps, 1)))
        elapsed = time.perf_counter() - self._started_at - self._paused_total
        eta = elapsed / max(done_here, 1) * (total_steps - done)
        self.progress_label.setText(
            f"Epoch {update.epoch}/{info.epochs} · step {update.step}/{update.steps_per_epoch} · "
            f"{update.samples_per_s:,.0f} samples/s · {format_duration(elapsed)} elapsed · "
            f"about {format_duration(eta)} left")

    def _request_redraw(self) -> None:
        """Draw what is stored now, or when the cadence next allows it."""
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
        if self.loss_plot is not None:
            self.loss_plot.flush(readout)
            self.accuracy_plot.flush(readout)
        self._show_pending_results(final)

    def _show_pending_results(self, final: bool = False) -> None:
        """Show the latest epoch's results now if their cadence allows (or ``final``), else later."""
        if self._pending_results is None:
            return
        now = time.perf_counter()
        wait_s = self._results_at + 1.0 / RESULTS_PER_SECOND - now
        if final or wait_s <= 0:
            self._results_timer.stop()
            metrics, samples = self._pending_results
            self._pending_results = None
            self._results_at = now
            self._show_epoch_results(metrics, samples)
        elif not self._results_timer.isActive():
            self._results_timer.start(max(1, int(wait_s * 1000)))

    def _on_epoch(self, metrics: Any, samples: ValidationSamples | None) -> None:
        self.loss_plot.add_epoch(metrics.epoch, metrics.train_loss, metrics.val_loss)
        if self.accuracy_plot.mode == "mae":
            self.accuracy_plot.add_epoch(metrics.epoch, metrics.train_mae, metrics.val_mae)
            metric = f"train MAE {metrics.train_mae:.4g} · val MAE {metrics.val_mae:.4g}"
        else:
            self.accuracy_plot.add_epoch(metrics.epoch, metrics.train_acc, metrics.val_acc)
            metric = f"train acc {metrics.train_acc:.1%} · val acc {metrics.val_acc:.1%}"
        epochs = self.info.epochs if self.info else metrics.epoch
        self.log_message(f"epoch {metrics.epoch}/{epochs}: train loss {metrics.train_loss:.4f} · val loss "
                         f"{metrics.val_loss:.4f} · {metric} · lr {metrics.lr:.3g} · "
                         f"{metrics.samples_per_s:,.0f} samples/s · {metrics.epoch_time_s:.1f} s", "epoch")
        # Only the latest epoch's results are worth drawing when epochs end faster than the cadence.
        self._pending_results = (metrics, samples)
        self._request_redraw()

    def _show_epoch_results(self, metrics: Any, samples: ValidationSamples | None) -> None:
        """Show the confusion matrix and the validation samples of ``metrics``'s epoch."""
        names = samples.class_names if samples is not None else (self.info.class_names if self.info else None)
        if metrics.confusion is not None:
            counts = np.asarray(metrics.confusion, dtype=np.int64)
            self.confusion.set_matrix(counts, names if names and len(names) == len(counts) else None)
        if samples is not None and samples.images is not None:
            self.samples.set_samples(samples.images, samples.predicted, samples.true, samples.class_names)
        self._show_results(metrics.confusion is not None)
        self.samples_scroll.setVisible(metrics.confusion is not None and samples is not None
                                       and samples.images is not None)

    def _on_ended(self, outcome: RunOutcome) -> None:
        self.outcome = outcome
        try:
            self._redraw_now(final=True)  # whatever the cadence held back
        except Exception as exc:  # noqa: BLE001 - the run is over either way: the panel must say so
            self.log_message(f"could not draw the last curves: {type(exc).__name__}: {exc}", "error")
        for note in outcome.notes:
            if note not in self.log.toPlainText():
                self.log_message(note, "note")
        if outcome.status == "failed":
            where = f" (layer {outcome.node_id})" if outcome.node_id and outcome.node_id not in outcome.message else ""
            self.log_message(f"{outcome.message}{where}", "error")
            self._set_state("Failed", ERROR_COLOR)
            self.status_message.emit(f"Training failed: {outcome.message}")
        else:
            self.log_message(outcome.message)
            colour = OK_COLOR if outcome.status == "finished" else WARNING_COLOR
            self._set_state("Finished" if outcome.status == "finished" else "Stopped", colour)
            self.status_message.emit(f"Training {outcome.message}")
        run = self.session.last_run
        last = run.history[-1] if run is not None and run.history else None
        metrics = {k: v for k, v in (last.as_dict().items() if last else ())
                   if k in ("train_loss", "val_loss", "val_acc", "val_mae") and v is not None}
        if self._run_id is not None:
            self.history.finish_run(self._run_id, outcome.status, metrics,
                                    series={**self.loss_plot.snapshot(), **self.accuracy_plot.snapshot()},
                                    message=outcome.message)
        if outcome.status == "finished" and self.info is not None:
            self.progress.setValue(1000)
        elapsed = time.perf_counter() - self._started_at - self._paused_total
        self.progress_label.setText(f"{outcome.message[:1].upper()}{outcome.message[1:]} · "
                                    f"{format_duration(elapsed)}")
        self.running_changed.emit(False)
        self.update_actions()
        self.run_ended.emit(outcome)

    # --- results -------------------------------------------------------------------------------

    def export_results(self, folder: str | Path, extra_formats: tuple[str, ...] | None = None) -> Path:
        """Write the last run's outputs (as ``nnstudio train`` does) to ``folder``; return it.

        ``extra_formats`` (default: the ticked ``Also write`` options) adds safetensors / ONNX / pt2.
        Raises NnstudioError when there is nothing trained or an export fails.
        """
        run = self.trained_run
        if run is None:
            raise NnstudioError("there is no trained model yet: train at least one epoch first")
        from nnstudio.train.export import export_model
        from nnstudio.train.outputs import write_outputs

        if extra_formats is None:
            extra_formats = tuple(fmt for fmt, action in self.export_formats.items() if action.isChecked())
        target = write_outputs(run, folder)
        weights = run.weights()
        for fmt in extra_formats:
            export_model(run.project, fmt, target / EXTRA_EXPORTS[fmt], weights=weights)
        return target

    def save_checkpoint(self, path: str | Path) -> Path:
        """Write the last run's checkpoint (weights, optimizer, epoch, history) to ``path``."""
        run = self.trained_run
        if run is None:
            raise NnstudioError("there is no trained model yet: train at least one epoch first")
        from nnstudio.train.checkpoints import save_checkpoint

        return save_checkpoint(run.checkpoint(), path)  # atomic, checked; FileWriteError keeps the old file

    def resume_from(self, path: str | Path) -> bool:
        """Continue training from a checkpoint file (read with ``weights_only=True``)."""
        from nnstudio.train.checkpoints import read_checkpoint_file

        try:
            checkpoint = read_checkpoint_file(path)  # every part typed: a damaged one is refused here
        except NnstudioError as exc:
            self.log_message(str(exc), "error")
            return False
        done = len(checkpoint["history"])
        self.log_message(f"resuming from {Path(path).name} after epoch {done}")
        return self.start(checkpoint)

    def export_results_dialog(self) -> None:
        folder = self.ask_folder("Export results to a folder")
        if not folder:
            return
        try:
            target = self.export_results(folder)
        except NnstudioError as exc:
            self.log_message(f"export failed: {exc}", "error")
            return
        self.log_message(f"exported the results to {target}")
        self.status_message.emit(f"Exported results to {target}")

    def save_checkpoint_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save checkpoint", "checkpoint.pth", "Checkpoints (*.pth)")
        if not path:
            return
        try:
            self.log_message(f"saved checkpoint {self.save_checkpoint(path)}")
        except (NnstudioError, OSError) as exc:
            self.log_message(f"could not save the checkpoint: {exc}", "error")

    def resume_checkpoint_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Resume from checkpoint", "", "Checkpoints (*.pth)")
        if path:
            self.resume_from(path)

    def ask_folder(self, title: str) -> str:
        """Ask for a folder (tests replace this)."""
        return QFileDialog.getExistingDirectory(self, title)

"""The Training tab: dataset and recipe on the left, controls, progress, curves and results on the right.

:class:`TrainingPanel` (objectName and accessible name ``trainingPanel``) is the tab's layout and
actions: a progress bar and text, ``LossPlot`` and ``AccuracyPlot`` (MAE for regression, built when
the tab is first shown), earlier runs in the run history, the confusion matrix and a grid of
validation samples with predicted and true labels, and a log. Runs themselves are the
:class:`~nnstudio.ui.training_presenter.TrainingPresenter`'s (``panel.presenter``): it starts,
pauses and stops them and shows their events here.

Its actions (the window puts them in the toolbar and the Train menu): ``action_train`` (F5),
``action_pause`` (Pause / Resume), ``action_stop``, ``action_export_results``, ``action_save_checkpoint``
and ``action_resume_checkpoint``; each is enabled only when it can do something.
"""

from __future__ import annotations

import html
import time
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, Qt, Signal
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
from nnstudio.core.formatting import printable
from nnstudio.ui.document import Document
from nnstudio.ui.results import ConfusionMatrixWidget, SampleGridWidget
from nnstudio.ui.status_bar import wrapping_tooltip
from nnstudio.ui.theme import ERROR_COLOR, OK_COLOR, muted_text_color
from nnstudio.ui.training_dataset import DatasetChooser
from nnstudio.ui.training_icons import run_control_icon
from nnstudio.ui.training_presenter import TrainingPresenter, analysis_errors
from nnstudio.ui.training_settings import TrainingSettingsForm
from nnstudio.ui.training_worker import (
    RunInfo,
    ValidationSamples,
)


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

    #: Open this Project (a recorded run's network) in the editor, as a new unsaved document.
    open_project_requested = Signal(object)

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("trainingPanel")
        self.setAccessibleName("trainingPanel")
        self.document = document
        self.presenter = TrainingPresenter(self, document)
        self._build_actions()
        self._build_layout()
        self.dataset.message.connect(self.log_message)
        document.analysis_ready.connect(self.update_actions)
        document.replaced.connect(self.update_actions)
        document.device_found.connect(self._list_devices)
        self.settings_form.workers_changed.connect(self.presenter.set_workers)
        self.presenter.memory.changed.connect(self._show_memory)
        self._show_memory()
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
        presenter = self.presenter
        self.action_train = a("actionTrain", "&Train", presenter.start, "Train the network on the chosen dataset",
                              "F5")
        self.action_pause = a("actionPause", "&Pause", presenter.toggle_pause, "Pause the run between two steps")
        self.action_stop = a("actionStop", "&Stop", presenter.stop, "Stop the run; the weights of the last epoch stay")
        self.action_export_results = a("actionExportResults", "&Export Results…", self.export_results_dialog,
                                       "Write model.pth, model.py, project.nns and metrics.csv to a folder")
        self.action_save_checkpoint = a("actionSaveCheckpoint", "Save &Checkpoint…", self.save_checkpoint_dialog,
                                        "Save weights, optimizer and history to continue later")
        self.action_resume_checkpoint = a("actionResumeCheckpoint", "&Resume from Checkpoint…",
                                          self.resume_checkpoint_dialog,
                                          "Continue training from a saved checkpoint.pth")
        self.action_sweep = a("actionSweep", "S&weep…", self.open_sweep_dialog,
                              "Search training settings and layer parameters for the best values (Optuna)")
        self.sweep_dialog: Any = None
        #: "Also write model.onnx" options of the export button's menu, by format (filled when first shown).
        self.export_formats: dict[str, QAction] = {}
        self._apply_icons()

    def _fill_export_menu(self, menu: QMenu) -> None:
        if self.export_formats:
            return
        from nnstudio.train.outputs import EXTRA_OUTPUTS  # torch: a run has loaded it by now

        for fmt, filename in EXTRA_OUTPUTS.items():
            option = menu.addAction(f"Also write {filename}")
            option.setObjectName(f"exportAlso_{fmt}")
            option.setCheckable(True)
            self.export_formats[fmt] = option

    def _apply_icons(self) -> None:
        text = self.palette().color(QPalette.ColorRole.ButtonText)
        self.action_train.setIcon(run_control_icon("train", text))
        self.action_pause.setIcon(run_control_icon("resume" if self.presenter.is_paused else "pause", text))
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
        # The memory pre-flight of the chosen batch size and device, under the recipe.
        self.memory_label = QLabel(self)
        self.memory_label.setObjectName("memoryEstimate")
        self.memory_label.setAccessibleName("Memory per training step")
        self.memory_label.setTextFormat(Qt.TextFormat.RichText)
        self.memory_label.setWordWrap(True)
        for title, name, widgets in (("Data", "dataGroup", (self.dataset,)),
                                     ("Recipe", "recipeGroup", (self.settings_form, self.memory_label))):
            group = QGroupBox(title, side)
            group.setObjectName(name)
            inner = QVBoxLayout(group)
            for widget in widgets:
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
        export_menu.aboutToShow.connect(lambda: self._fill_export_menu(export_menu))
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
        controls.addWidget(self._tool_button(self.action_sweep))
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
        self.show_results(False)
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
        self.set_state("Ready", muted_text_color(self).name())
        self.set_progress_text("Choose a dataset and a recipe, then press Train (F5).")

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
        self.history.follow_document(self.document)
        self.history.message.connect(self.presenter.status_message)
        self.history.open_network_requested.connect(self._open_run_network)
        self.bottom_tabs.addTab(self.history, "Runs")

    def _open_run_network(self, project: Any, _title: str) -> None:
        self.open_project_requested.emit(project)

    def open_sweep_dialog(self) -> Any:
        """Open the Sweep dialog on the open project (one at a time; it stays open beside the window)."""
        from nnstudio.core.examples import list_examples
        from nnstudio.ui.run_history import document_runs_folder
        from nnstudio.ui.sweep_dialog import SweepDialog

        if self.sweep_dialog is not None and not self.sweep_dialog.is_running:
            self.sweep_dialog.close()
            self.sweep_dialog.deleteLater()
            self.sweep_dialog = None
        if self.sweep_dialog is None:
            document = self.document
            name = document.project.name
            example = name if document.path is None and name in {e.name for e in list_examples()} else None
            self.sweep_dialog = SweepDialog(document, document_runs_folder(document), self,
                                            project_path=str(document.path) if document.path else None,
                                            example=example)
            self.sweep_dialog.finished_sweep.connect(self._on_sweep_finished)
        self.sweep_dialog.show()
        self.sweep_dialog.raise_()
        return self.sweep_dialog

    def _on_sweep_finished(self, text: str) -> None:
        self.presenter.status_message.emit(text)
        if self.history is not None:
            self.history.refresh()

    def shutdown_runs(self) -> None:
        """Stop the Sweep dialog's workers and the Runs view's timers (the window is closing)."""
        if self.sweep_dialog is not None:
            self.sweep_dialog.shutdown()
        if self.history is not None:
            self.history.shutdown()

    def showEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        # Built once their modules are imported, off the GUI thread: the tab shows at once.
        self.presenter.when_views_ready(self.ensure_plots)

    # --- state ---------------------------------------------------------------------------------

    def update_actions(self, _analysis: Any = None) -> None:
        """Enables each action only when it can do something now."""
        running = self.presenter.is_running
        errors = analysis_errors(self.document.analysis)
        self.action_train.setEnabled(not running and not errors)
        self.action_train.setToolTip("Fix the network's errors first:\n" + "\n".join(errors[:6]) if errors
                                     else "Train the network on the chosen dataset (F5)")
        self.action_pause.setEnabled(self.presenter.session.is_running)
        self.action_pause.setText("&Resume" if self.presenter.is_paused else "&Pause")
        self._apply_icons()
        self.action_stop.setEnabled(running)
        trained = self.presenter.trained_run is not None
        self.action_export_results.setEnabled(trained)
        self.action_save_checkpoint.setEnabled(trained)
        self.action_resume_checkpoint.setEnabled(not running and not errors)
        self.settings_form.setEnabled(not running)
        self.dataset.setEnabled(not running)

    def _list_devices(self, _description: str = "") -> None:
        # The analysis thread has imported torch by the time it names the device, so this is quick.
        from nnstudio.train.devices import list_devices

        self.settings_form.set_devices(list_devices())

    def _show_memory(self) -> None:
        memory = self.presenter.memory
        self.memory_label.setText(f"Memory: {memory.html(OK_COLOR, ERROR_COLOR)}")
        self.memory_label.setToolTip(memory.details())

    def set_state(self, text: str, colour: str) -> None:
        """Shows the run's state ("Training", "Paused", ...) as a coloured dot and word."""
        self.state_label.setText(f"<span style='color:{colour}; font-weight:600'>● {html.escape(text)}</span>")
        self.state_label.setAccessibleName(text)

    def set_progress(self, value: int) -> None:
        """Moves the progress bar (0..1000) without a synchronous repaint (see set_progress_value)."""
        set_progress_value(self.progress, value)

    def set_progress_text(self, text: str) -> None:
        """Shows ``text`` on the progress line from its start; the whole of it on hover.

        A line edit scrolls to its cursor, which ``setText`` puts at the end: a long failure would
        show its last words and hide the file or layer it names.
        """
        self.progress_label.setText(text)
        self.progress_label.setCursorPosition(0)
        self.progress_label.setToolTip(wrapping_tooltip(text))

    def show_results(self, shown: bool) -> None:
        """Shows the results (confusion matrix, samples) or the hint that they come after an epoch."""
        self.results_hint.setVisible(not shown)
        self.confusion.setVisible(shown)
        self.samples_scroll.setVisible(shown)

    def log_message(self, text: str, kind: str = "info") -> None:
        """Append a line to the log (``kind`` info / note / error / epoch)."""
        stamp = time.strftime("%H:%M:%S")
        # escaped as the command line does: Qt drops lone surrogates and honours direction overrides
        self.log.appendPlainText(printable(f"{stamp}  {'error: ' if kind == 'error' else ''}{text}"))
        if kind == "error":
            self.bottom_tabs.setCurrentWidget(self.log)

    # --- results -------------------------------------------------------------------------------

    def show_epoch_results(self, metrics: Any, samples: ValidationSamples | None, info: RunInfo | None) -> None:
        """Shows the confusion matrix and the validation samples of ``metrics``'s epoch."""
        names = samples.class_names if samples is not None else (info.class_names if info else None)
        if metrics.confusion is not None:
            counts = np.asarray(metrics.confusion, dtype=np.int64)
            self.confusion.set_matrix(counts, names if names and len(names) == len(counts) else None)
        if samples is not None and samples.images is not None:
            self.samples.set_samples(samples.images, samples.predicted, samples.true, samples.class_names)
        self.show_results(metrics.confusion is not None)
        self.samples_scroll.setVisible(metrics.confusion is not None and samples is not None
                                       and samples.images is not None)

    def export_results_dialog(self) -> None:
        folder = self.ask_folder("Export results to a folder")
        if not folder:
            return
        try:
            extra = tuple(fmt for fmt, action in self.export_formats.items() if action.isChecked())
            target = self.presenter.export_results(folder, extra)
        except NnstudioError as exc:
            self.log_message(f"export failed: {exc}", "error")
            return
        self.log_message(f"exported the results to {target}")
        self.presenter.status_message.emit(f"Exported results to {target}")

    def save_checkpoint_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save checkpoint", "checkpoint.pth", "Checkpoints (*.pth)")
        if not path:
            return
        try:
            self.log_message(f"saved checkpoint {self.presenter.save_checkpoint(path)}")
        except (NnstudioError, OSError) as exc:
            self.log_message(f"could not save the checkpoint: {exc}", "error")

    def resume_checkpoint_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Resume from checkpoint", "", "Checkpoints (*.pth)")
        if path:
            self.presenter.resume_from(path)

    def ask_folder(self, title: str) -> str:
        """Ask for a folder (tests replace this)."""
        return QFileDialog.getExistingDirectory(self, title)

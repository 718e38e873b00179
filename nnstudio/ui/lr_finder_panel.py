"""Returns the Training tab's learning-rate finder: the range test on a copy of the network, plotted,
with the suggested rate one click (one undoable step) away.

:class:`LrFinderPanel` (objectName ``lrFinder``): **Find** runs :func:`nnstudio.train.lr_finder.find_lr`
on a copy of the open project in a background thread (:class:`LrFinderSession`; the project and its
weights are not touched), drawing the loss against the rising rate as it goes (at most ten updates a
second), then the smoothed curve, the range where it falls fastest (shaded) and the suggestion (a
vertical line). **Use** sets the project's learning rate to the suggestion through the undo stack.
**Stop** ends the test early with what it measured. ``shutdown()`` stops and joins the thread.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, Qt, QThread, Signal, Slot
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from nnstudio.core.project import Project
from nnstudio.ui.document import Document
from nnstudio.ui.theme import ERROR_COLOR
from nnstudio.ui.training_settings import SettingsEditError, settings_command

#: Progress reaches the GUI at most this often (each one redraws the plot).
UPDATES_PER_SECOND = 10


class _FinderWorker(QObject):
    """Runs one range test in the thread it was moved to; reports only through signals."""

    progress = Signal(object)  # list of (lr, loss) since the last progress
    finished = Signal(object)  # LrFinderResult
    failed = Signal(str)

    def __init__(self, project: Project) -> None:
        super().__init__()
        self._project = project
        self._stop = threading.Event()
        self._pending: list[tuple[float, float]] = []
        self._last_sent = 0.0

    def stop(self) -> None:
        self._stop.set()

    @Slot()
    def work(self) -> None:
        try:
            from nnstudio.train.lr_finder import find_lr_for_project

            result = find_lr_for_project(self._project, on_step=self._on_step, should_stop=self._stop.is_set)
        except Exception as exc:  # noqa: BLE001 - the window stays up and says why
            self.failed.emit(f"{type(exc).__name__}: {exc}" if not hasattr(exc, "node_id") else str(exc))
            return
        self._send()
        self.finished.emit(result)

    def _on_step(self, _index: int, lr: float, loss: float) -> None:
        self._pending.append((lr, loss))
        if time.perf_counter() - self._last_sent >= 1.0 / UPDATES_PER_SECOND:
            self._send()

    def _send(self) -> None:
        if self._pending:
            self.progress.emit(self._pending)
            self._pending, self._last_sent = [], time.perf_counter()


class LrFinderSession(QObject):
    """One range test at a time in a background QThread; re-emits its signals on the GUI thread."""

    progress = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    #: The test is over (finished, failed or stopped) and its thread joined.
    ended = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: _FinderWorker | None = None

    @property
    def is_running(self) -> bool:
        return self._thread is not None

    def start(self, project: Project) -> None:
        """Runs the test on a copy of ``project``."""
        if self._thread is not None:
            raise RuntimeError("a learning-rate test is already running")
        thread = QThread(self)
        thread.setObjectName("nnstudio-lr-finder")
        worker = _FinderWorker(project.copy())
        worker.moveToThread(thread)
        thread.started.connect(worker.work)
        thread.finished.connect(worker.deleteLater)
        worker.progress.connect(self._relay_progress)
        worker.finished.connect(self._relay_finished)
        worker.failed.connect(self._relay_failed)
        self._thread, self._worker = thread, worker
        thread.start()

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.stop()

    def shutdown(self) -> None:
        """Stops the test and joins its thread (the window is closing)."""
        if self._worker is not None:
            self._worker.stop()
            self._join()

    def _join(self) -> None:
        thread = self._thread
        self._thread = self._worker = None
        if thread is not None:
            thread.quit()
            thread.wait()
            thread.deleteLater()

    @Slot(object)
    def _relay_progress(self, points: Any) -> None:
        if self._worker is not None:
            self.progress.emit(points)

    @Slot(object)
    def _relay_finished(self, result: Any) -> None:
        if self._worker is not None:
            self._join()
            self.finished.emit(result)
            self.ended.emit()

    @Slot(str)
    def _relay_failed(self, message: str) -> None:
        if self._worker is not None:
            self._join()
            self.failed.emit(message)
            self.ended.emit()


class LrFinderPanel(QWidget):
    """The range test's controls, curve and suggestion for ``document``'s project."""

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("lrFinder")
        self.setAccessibleName("Learning-rate finder")
        self.document = document
        self.session = LrFinderSession(self)
        self.result: Any = None
        self._points: list[tuple[float, float]] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        buttons = QHBoxLayout()
        self.find_button = QPushButton("Find", self)
        self.find_button.setObjectName("lrFind")
        self.find_button.setToolTip("Train a copy of the network for a few dozen steps with a rising learning "
                                    "rate and suggest the rate where the loss falls fastest")
        self.find_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setObjectName("lrFindStop")
        self.stop_button.clicked.connect(self.session.stop)
        self.use_button = QPushButton("Use", self)
        self.use_button.setObjectName("lrUse")
        self.use_button.clicked.connect(self.apply_suggestion)
        for button in (self.find_button, self.stop_button, self.use_button):
            buttons.addWidget(button)
        layout.addLayout(buttons)
        self.plot = pg.PlotWidget(self)
        self.plot.setObjectName("lrFinderPlot")
        self.plot.setMinimumHeight(150)
        self.plot.setLogMode(x=True, y=False)
        self.plot.setLabel("bottom", "learning rate")
        self.plot.setLabel("left", "loss")
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.plot.setXRange(-7, 1, padding=0.02)  # log10 of the default sweep, 1e-7 .. 10
        self.plot.setYRange(0, 1)
        self._apply_palette()
        self.raw_curve = self.plot.plot([], [], pen=pg.mkPen((120, 120, 120, 110), width=1))
        self.smooth_curve = self.plot.plot([], [], pen=pg.mkPen("#1f77b4", width=2))
        self.region = pg.LinearRegionItem(movable=False, brush=pg.mkBrush(44, 160, 44, 40), pen=pg.mkPen(None))
        self.marker = pg.InfiniteLine(angle=90, pen=pg.mkPen("#d62728", width=1.5))
        for item in (self.region, self.marker):
            item.setVisible(False)
            self.plot.addItem(item)
        layout.addWidget(self.plot)
        self.summary = QLabel(self)
        self.summary.setObjectName("lrFinderSummary")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.summary)
        self.session.progress.connect(self._on_progress)
        self.session.finished.connect(self._on_finished)
        self.session.failed.connect(self._on_failed)
        self.session.ended.connect(self._update_buttons)
        self._training = False
        self.reset()

    def _apply_palette(self) -> None:
        palette = self.palette()
        self.plot.setBackground(palette.color(QPalette.ColorRole.Base))
        text = palette.color(QPalette.ColorRole.Text)
        for side in ("left", "bottom"):
            axis = self.plot.getAxis(side)
            axis.setTextPen(text)
            axis.setPen(QColor(text.red(), text.green(), text.blue(), 110))
            axis.label.setDefaultTextColor(text)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_palette()

    def set_training(self, training: bool) -> None:
        """A run is training (the test waits until it ends: both would share the machine)."""
        self._training = training
        self._update_buttons()

    def _update_buttons(self) -> None:
        running = self.session.is_running
        self.find_button.setEnabled(not running and not self._training)
        self.stop_button.setEnabled(running)
        suggestion = self.result.suggested_lr if self.result is not None else None
        self.use_button.setEnabled(suggestion is not None and not running)
        self.use_button.setText(f"Use {suggestion:.3g}" if suggestion is not None else "Use")

    def reset(self) -> None:
        """Forgets the last test (another document is open: its suggestion does not apply there)."""
        self._forgotten = self.session.is_running
        self.session.stop()
        self.result, self._points = None, []
        self.raw_curve.setData([], [])
        self.smooth_curve.setData([], [])
        self.region.setVisible(False)
        self.marker.setVisible(False)
        self._say("Finds a good learning rate for this network and data: a short test run on a copy of the "
                  "network (your weights are not changed).")
        self._update_buttons()

    def start(self) -> bool:
        """Starts the test on the open project; returns False when it cannot start now."""
        if self.session.is_running or self._training:
            return False
        analysis = self.document.analysis
        if analysis is not None and not analysis.ok:
            self._say("Fix the network's errors first (see the Problems list).", error=True)
            return False
        self.result, self._points, self._forgotten = None, [], False
        self.raw_curve.setData([], [])
        self.smooth_curve.setData([], [])
        self.region.setVisible(False)
        self.marker.setVisible(False)
        self._say("Running the test on a copy of the network…")
        self.session.start(self.document.project)
        self._update_buttons()
        return True

    def _on_progress(self, points: list[tuple[float, float]]) -> None:
        if self._forgotten:
            return
        self._points.extend(points)
        lrs, losses = zip(*self._points)
        finite = np.isfinite(losses)
        self.raw_curve.setData(np.asarray(lrs)[finite], np.asarray(losses)[finite])
        self._fit_loss_axis(np.asarray(losses)[finite])

    def _fit_loss_axis(self, losses: np.ndarray) -> None:
        # The last steps of a diverging test shoot up; keep the interesting part in view.
        if len(losses):
            top = min(float(losses.max()), 2.0 * float(losses[: max(1, len(losses) // 3)].mean()))
            self.plot.setYRange(float(losses.min()) * 0.9, max(top, float(losses.min()) * 1.1), padding=0.02)

    def _on_finished(self, result: Any) -> None:
        if self._forgotten:
            self._forgotten = False
            return  # a test of a document no longer open
        self.result = result
        if result.lrs:
            self.raw_curve.setData(result.lrs, result.losses)
            self.smooth_curve.setData(result.lrs, result.smoothed)
            self._fit_loss_axis(np.asarray(result.losses))
        ended = {"end": "", "diverged": f"; stopped where the loss diverged (lr {result.lrs[-1]:.3g})"
                 if result.lrs else "", "stopped": "; stopped early"}[result.stop_reason]
        if result.suggested_lr is None or result.falling_range is None:
            self._say(f"The loss did not fall anywhere in this range{ended}: check the network and the data.",
                      error=True)
        else:
            lo, hi = result.falling_range
            self.region.setRegion((math.log10(lo), math.log10(hi)))
            self.marker.setValue(math.log10(result.suggested_lr))
            self.region.setVisible(True)
            self.marker.setVisible(True)
            self._say(f"<b>Suggested learning rate: {result.suggested_lr:.3g}</b> — the loss falls fastest "
                      f"between {lo:.3g} and {hi:.3g}{ended}. The project uses "
                      f"{self.document.project.settings.lr:.3g}.")
        self._update_buttons()

    def _on_failed(self, message: str) -> None:
        self._say(f"The test could not run: {message}", error=True)

    def apply_suggestion(self) -> bool:
        """Sets the project's learning rate to the suggestion (one undoable step)."""
        if self.result is None or self.result.suggested_lr is None:
            return False
        value = float(f"{self.result.suggested_lr:.3g}")
        try:
            command = settings_command(self.document, {"lr": value}, f"Set learning rate to {value:g} (LR finder)")
        except SettingsEditError as exc:
            self._say(str(exc), error=True)
            return False
        self.document.push(command)
        self._say(f"The project's learning rate is now {value:g} (Undo puts it back).")
        return True

    def _say(self, text: str, error: bool = False) -> None:
        self.summary.setStyleSheet(f"color: {ERROR_COLOR}" if error else "")
        self.summary.setText(text)

    def shutdown(self) -> None:
        self.session.shutdown()

"""The open document: a project, its undo stack, its file path, its modified flag and its analysis.

Shape inference needs torch and may take a while on a large network, so it never runs on the GUI
thread: each structural change restarts a short debounce timer; when it fires, a copy of the graph is
sent to a worker living in its own QThread. Only one analysis runs at a time; changes made meanwhile
are folded into a single follow-up run, and a result that no longer matches the open graph is dropped.
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from nnstudio.core.commands import Command, UndoStack
from nnstudio.core.graph import Graph
from nnstudio.core.project import Project
from nnstudio.core.settings import TrainingSettings

log = logging.getLogger(__name__)

#: Quiet time after the last edit before shapes are recomputed; short enough to feel live.
DEFAULT_DEBOUNCE_MS = 60


class AnalysisWorker(QObject):
    """Runs shape inference (and the one-time device probe) in the worker thread; touches no widget."""

    finished = Signal(object, object)  # token, Analysis
    failed = Signal(object, str)  # token, message
    device_found = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self._inference: Any = None  # created on first use: it imports torch

    @Slot(object, object, object)
    def analyze(self, token: object, graph: Graph, settings: TrainingSettings) -> None:
        try:
            if self._inference is None:
                from nnstudio.compile import ShapeInference

                self._inference = ShapeInference()
            analysis = self._inference.analyze(graph, settings)
        except Exception as exc:  # noqa: BLE001 - any failure is reported to the window, not lost
            log.error("shape analysis failed:\n%s", traceback.format_exc())
            self.failed.emit(token, f"{type(exc).__name__}: {exc}")
            return
        self.finished.emit(token, analysis)

    @Slot()
    def probe_device(self) -> None:
        self.device_found.emit(describe_training_device())


def describe_training_device() -> str:
    """Returns a short description of the device training would use ("CUDA: NVIDIA ...", "CPU")."""
    try:
        from nnstudio.train.devices import list_devices

        name, description = list_devices()[0]
    except ImportError:
        import torch

        if torch.cuda.is_available():
            name, description = "cuda", torch.cuda.get_device_name(0)
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            name, description = "mps", "Apple GPU (Metal)"
        else:
            name, description = "cpu", "CPU"
    if name == "cpu":
        return description
    return f"{name.split(':')[0].upper()}: {description}"


class Document(QObject):
    """The project being edited, with undo history, file path, modified flag and live analysis."""

    #: A different project is now open (New, Open, recovery): views must re-read everything.
    replaced = Signal()
    #: The modified flag or the file path changed (window title, Save action).
    state_changed = Signal()
    #: The undo history changed (Undo/Redo texts and enabled states).
    history_changed = Signal()
    #: A fresh analysis of the current graph; the argument is an ``nnstudio.compile`` Analysis.
    analysis_ready = Signal(object)
    #: Shape inference itself failed (a bug or a missing package); the argument says why.
    analysis_failed = Signal(str)
    #: The description of the device training would use.
    device_found = Signal(str)
    _analyze_request = Signal(object, object, object)
    _device_request = Signal()

    def __init__(self, parent: QObject | None = None, debounce_ms: int = DEFAULT_DEBOUNCE_MS) -> None:
        super().__init__(parent)
        self.project = Project()
        self.undo_stack = UndoStack()
        self.path: Path | None = None
        self.analysis: Any = None
        self._dirty_without_history = False
        self._epoch = 0
        # Counts the changes that call for a new analysis (graph edits, and settings edits, which do
        # not touch the graph's revision); a result is current only if none happened since it began.
        self._generation = 0
        self._in_flight: tuple[int, int] | None = None
        self._rerun = False
        self._device_probed = False
        # Analysis imports torch; the window holds it until it is on screen (fast start-up).
        self._held = True
        self._wanted_while_held = False
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(debounce_ms)
        self._debounce.timeout.connect(self._start_analysis)
        self._thread: QThread | None = None
        self._worker: AnalysisWorker | None = None
        self._connect_models()

    # --- reading ---------------------------------------------------------------------------------

    @property
    def graph(self) -> Graph:
        return self.project.graph

    @property
    def is_modified(self) -> bool:
        return self._dirty_without_history or not self.undo_stack.is_clean()

    @property
    def display_name(self) -> str:
        """Returns the file name, or the project's name for a document never saved."""
        return self.path.name if self.path else self.project.name

    @property
    def analysis_is_current(self) -> bool:
        """Returns True when the last applied analysis describes the graph as it is now."""
        return (self.analysis is not None and self._in_flight is None and not self._debounce.isActive()
                and not self._rerun and not self._wanted_while_held)

    # --- changing --------------------------------------------------------------------------------

    def push(self, command: Command) -> None:
        """Runs ``command`` through the undo stack (errors propagate before anything changed)."""
        self.undo_stack.push(command)

    def replace(self, project: Project, path: Path | None = None, *, modified: bool = False) -> None:
        """Makes ``project`` the open document with a fresh history; ``modified`` marks unsaved work."""
        self._disconnect_models()
        self.project = project
        self.undo_stack = UndoStack()
        self.path = Path(path) if path is not None else None
        self._dirty_without_history = modified
        self._epoch += 1
        self.analysis = None
        self._connect_models()
        self.replaced.emit()
        self._emit_state()
        self.history_changed.emit()
        self.schedule_analysis()

    def mark_saved(self, path: Path) -> None:
        """Records that the document was written to ``path``."""
        self.path = Path(path)
        self._dirty_without_history = False
        self.undo_stack.set_clean()
        self._emit_state()

    # --- analysis --------------------------------------------------------------------------------

    def schedule_analysis(self) -> None:
        """Restarts the debounce timer; the analysis runs once the edits pause.

        Call it after changing the training settings outside a command (lints read them too).
        """
        self._generation += 1
        self._debounce.start()

    def release_analysis(self) -> None:
        """Lets analyses run (the window calls this once it is shown); runs one if any is due."""
        self._held = False
        if self._wanted_while_held:
            self._wanted_while_held = False
            self.analyze_now()

    def analyze_now(self) -> None:
        """Skips the debounce wait (used when a document was just opened)."""
        self._debounce.stop()
        self._start_analysis()

    def probe_device(self) -> None:
        """Asks the worker, once, which device training would use (this imports torch there)."""
        if not self._device_probed and not self._held:
            self._device_probed = True
            self._ensure_worker()
            self._device_request.emit()

    def shutdown(self) -> None:
        """Stops the timer and joins the worker thread; call before the window goes away."""
        self._debounce.stop()
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait()
            self._thread = None
            self._worker = None

    def _ensure_worker(self) -> None:
        if self._thread is not None:
            return
        self._thread = QThread(self)
        self._thread.setObjectName("nnstudio-analysis")
        self._worker = AnalysisWorker()
        self._worker.moveToThread(self._thread)
        self._thread.finished.connect(self._worker.deleteLater)
        self._analyze_request.connect(self._worker.analyze)
        self._device_request.connect(self._worker.probe_device)
        self._worker.finished.connect(self._on_analysis_finished)
        self._worker.failed.connect(self._on_analysis_failed)
        self._worker.device_found.connect(self.device_found)
        self._thread.start()

    def _start_analysis(self) -> None:
        if self._held:
            self._wanted_while_held = True
            return
        if self._in_flight is not None:
            self._rerun = True
            return
        self._ensure_worker()
        self._rerun = False
        token = self._current_token()
        self._in_flight = token
        self._analyze_request.emit(token, self.graph.copy(), self.project.settings.model_copy(deep=True))

    def _current_token(self) -> tuple[int, int]:
        return (self._epoch, self._generation)

    def _on_analysis_finished(self, token: object, analysis: Any) -> None:
        self._in_flight = None
        if token == self._current_token() and not self._rerun:
            self.analysis = analysis
            self.analysis_ready.emit(analysis)
        elif not self._debounce.isActive():
            self._start_analysis()  # the graph moved on while this ran: catch up at once

    def _on_analysis_failed(self, token: object, message: str) -> None:
        self._in_flight = None
        if token == self._current_token() and not self._rerun:
            self.analysis_failed.emit(message)
        elif not self._debounce.isActive():
            self._start_analysis()

    # --- model wiring ----------------------------------------------------------------------------

    def _connect_models(self) -> None:
        self.graph.events.structure_changed.connect(self.schedule_analysis)
        self.undo_stack.changed.connect(self._on_history_changed)

    def _disconnect_models(self) -> None:
        self.graph.events.structure_changed.disconnect(self.schedule_analysis)
        self.undo_stack.changed.disconnect(self._on_history_changed)

    def _on_history_changed(self) -> None:
        # Commands may change the training settings (a lint's fix switching the loss), which the
        # graph's events do not announce; an analysis of an unchanged graph is cheap (cached).
        self.schedule_analysis()
        self.history_changed.emit()
        self._emit_state()

    def _emit_state(self) -> None:
        self.state_changed.emit()

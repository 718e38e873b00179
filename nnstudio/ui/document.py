"""The open document: a project, its undo stack, its file path, its modified flag and its analysis.

The document's analysis is the one analysis of the open network: the views show it, and training,
export and the autograd view take it (:meth:`Document.when_analysed`) instead of analysing again.
Shape inference needs torch and may take a while on a large network, so it never runs on the GUI
thread: each change restarts a short debounce timer; when it fires, a copy of the graph goes to the
document's :class:`~nnstudio.ui.jobs.BackgroundJobs` ("analysis" lane). Only the newest request's
result is applied; one that no longer matches the open graph is dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from nnstudio.core.commands import Command, UndoStack
from nnstudio.core.graph import Graph
from nnstudio.core.project import Project
from nnstudio.core.settings import TrainingSettings
from nnstudio.ui.jobs import BackgroundJobs
from nnstudio.ui.torch_loading import preload_torch_libraries

log = logging.getLogger(__name__)

#: Quiet time after the last edit before shapes are recomputed; short enough to feel live.
DEFAULT_DEBOUNCE_MS = 60


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


class _Inference:
    """The document's incremental shape inference; used only on the jobs' worker thread."""

    def __init__(self) -> None:
        self._inference: Any = None  # created on first use: it imports torch

    def analyze(self, graph: Graph, settings: TrainingSettings) -> Any:
        if self._inference is None:
            # torch's libraries mapped without the GIL first: the window keeps painting meanwhile.
            preload_torch_libraries()
            from nnstudio.compile import ShapeInference

            self._inference = ShapeInference()
        return self._inference.analyze(graph, settings)


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
        self._analysed: tuple[int, int] | None = None  # the token of self.analysis
        self._waiters: list[tuple[Callable[[Any], None], Callable[[str], None] | None]] = []
        self._device_probed = False
        # Analysis imports torch; the window holds it until it is on screen (fast start-up).
        self._held = True
        self._wanted_while_held = False
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(debounce_ms)
        self._debounce.timeout.connect(self._start_analysis)
        self._jobs = BackgroundJobs("nnstudio-analysis", self)
        self._inference = _Inference()
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
        """Returns True when the last applied analysis describes the project as it is now."""
        return self.analysis is not None and self._analysed == self._current_token()

    def when_analysed(self, callback: Callable[[Any], None],
                      failed: Callable[[str], None] | None = None) -> None:
        """Calls ``callback(analysis)`` with an analysis of the project as it is now.

        At once when the latest analysis is current, else when the pending one arrives (never
        blocking the GUI thread). ``failed(reason)`` is called instead if the analysis itself fails
        or another project replaces this one first.
        """
        if self.analysis_is_current:
            callback(self.analysis)
            return
        self._waiters.append((callback, failed))
        if not self._debounce.isActive() and not self._jobs.is_busy("analysis"):
            self.analyze_now()

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
        self._analysed = None
        self._fail_waiters("another project was opened")
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
            self._jobs.submit("device", describe_training_device, self.device_found.emit)

    def shutdown(self) -> None:
        """Stops the timer and joins the worker thread; call before the window goes away."""
        self._debounce.stop()
        self._waiters.clear()
        self._jobs.shutdown()

    def _start_analysis(self) -> None:
        if self._held:
            self._wanted_while_held = True
            return
        token = self._current_token()
        graph, settings = self.graph.copy(), self.project.settings.model_copy(deep=True)
        inference = self._inference
        self._jobs.submit("analysis", lambda: inference.analyze(graph, settings),
                          lambda analysis: self._on_analysis_finished(token, analysis),
                          lambda message: self._on_analysis_failed(token, message))

    def _current_token(self) -> tuple[int, int]:
        return (self._epoch, self._generation)

    def _on_analysis_finished(self, token: tuple[int, int], analysis: Any) -> None:
        if token != self._current_token():
            return  # the project changed while this ran; the debounced request follows
        self.analysis, self._analysed = analysis, token
        self.analysis_ready.emit(analysis)
        waiters, self._waiters = self._waiters, []
        for callback, _failed in waiters:
            callback(analysis)

    def _on_analysis_failed(self, token: tuple[int, int], message: str) -> None:
        if token != self._current_token():
            return
        log.error("shape analysis failed: %s", message)
        self.analysis_failed.emit(message)
        self._fail_waiters(f"shape analysis failed: {message}")

    def _fail_waiters(self, reason: str) -> None:
        waiters, self._waiters = self._waiters, []
        for _callback, failed in waiters:
            if failed is not None:
                failed(reason)

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

"""The Autograd tab of the main window: the autograd view tied to the editor and to training.

:class:`AutogradTab` adds an "Autograd" page beside the editor and connects the
:class:`~nnstudio.ui.autograd_view.AutogradView` on it to the rest of the window:

- **selection, both ways**: clicking a node of the graph selects its layer on the canvas (so the
  Inspector shows it); selecting layers on the canvas highlights their operations in the graph;
- **refresh**: once the document's analysis says the network is valid, a network or loss that
  changed since the last walk is walked again (off the GUI thread, after a short quiet time, compiled
  from that same analysis) -- only while the page is shown, or when it is next shown, so people who
  never open it pay nothing;
- **training**: the running session's gradient norms colour parameters and operations (the view
  repaints at most once a second), and vanishing, exploding and NaN gradients are added to the
  Problems list, each tied to its layer, until the next run, an edit of the network or another
  document makes them stale;
- **export**: a menu that saves the drawing as SVG, PNG or Graphviz DOT through the view's one export
  dialog (failures in a message box, success in the status bar).

The view's module imports torch, and the window must reach the screen before torch loads, so the
view is created the first time it is needed: when the page is first shown, or when gradients arrive
from a run (training has loaded torch by then).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QMenu, QVBoxLayout, QWidget

from nnstudio.autograd.gradients import EXPLODING, NAN, VANISHING, GradientProblem
from nnstudio.core.problems import Problem

if TYPE_CHECKING:
    from nnstudio.ui.autograd_view import AutogradView
    from nnstudio.ui.main_window import MainWindow

#: Quiet time after the last analysis before the graph is walked again (walks cost a forward pass).
REFRESH_DEBOUNCE_MS = 400
#: The source name of gradient problems in the Problems list.
GRADIENT_SOURCE = "gradients"
#: Entries of the export menu: file suffix, menu text.
EXPORT_MENU = ((".svg", "&SVG…"), (".png", "&PNG Image…"), (".dot", "Graphviz &DOT…"))

_ADVICE = {
    NAN: "check the learning rate and the data; gradient clipping can help",
    EXPLODING: "lower the learning rate or set gradient clipping",
    VANISHING: "this layer barely learns: look for saturated Sigmoid/Tanh, dead ReLUs or a very deep "
               "stack without normalisation",
}


def gradient_problem_as_problem(problem: GradientProblem) -> Problem:
    """Returns the Problems-list entry of a vanishing, exploding or NaN gradient (a warning on its layer)."""
    return Problem("warning", f"gradient-{problem.kind}", f"{problem.message}: {_ADVICE[problem.kind]}",
                   node_id=problem.layer)


class AutogradTab(QObject):
    """The Autograd page of ``window`` and its links to the document, canvas, problems and training."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.view: AutogradView | None = None
        #: What the shown graph was walked from: (document epoch, graph revision, loss); None: nothing.
        self._walked: tuple[int, int, str] | None = None
        #: The network the gradients shown were measured on; an edit makes them stale.
        self._gradients_of: tuple[int, int, str] | None = None
        self._document_epoch = 0
        self._selecting_from_view = False
        self.page = QWidget(window)
        self.page.setObjectName("autogradTab")
        self.page.setAccessibleName("Autograd")
        self._placeholder = QLabel("The autograd graph appears here once the network is analysed.", self.page)
        self._placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._placeholder.setEnabled(False)  # drawn in the muted text colour
        layout = QVBoxLayout(self.page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._placeholder)
        self.page.installEventFilter(self)
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setObjectName("autogradRefresh")
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(REFRESH_DEBOUNCE_MS)
        self._refresh_timer.timeout.connect(self.refresh)
        self.export_menu, self.export_actions = self._build_export_menu()
        self._update_export_actions()
        window.add_tab(self.page, "Autograd")
        self._connect()

    def _build_export_menu(self) -> tuple[QMenu, dict[str, QAction]]:
        menu = QMenu("Export A&utograd Graph", self.window)
        menu.setObjectName("menuExportAutograd")
        menu.setToolTipsVisible(True)
        actions = {}
        for suffix, text in EXPORT_MENU:
            action = menu.addAction(text)
            action.setObjectName(f"actionExportAutograd{suffix[1:].capitalize()}")
            action.setStatusTip(f"Save the autograd graph as shown, as a {suffix} file")
            action.triggered.connect(lambda _checked=False, s=suffix: self.ensure_view().export_dialog(s))
            actions[suffix] = action
        return menu, actions

    def _connect(self) -> None:
        window = self.window
        window.document.analysis_ready.connect(self._on_analysis)
        window.document.replaced.connect(self._on_document_replaced)
        window.canvas.selection_changed.connect(self._on_canvas_selection)
        window.training_panel.presenter.gradients.connect(self._on_gradients)
        window.training_panel.presenter.running_changed.connect(self._on_running_changed)
        window.about_to_close.connect(self.shutdown)

    # --- the view, created on first use ------------------------------------------------------------

    def ensure_view(self) -> AutogradView:
        """Returns the autograd view, creating it (and importing torch) the first time."""
        if self.view is not None:
            return self.view
        from nnstudio.ui.autograd_view import AutogradView  # imports torch: only once it is needed

        view = AutogradView(self.page)
        view.layer_selected.connect(self._on_view_layer_selected)
        view.graph_shown.connect(self._on_graph_shown)
        view.gradient_problems_changed.connect(self._on_gradient_problems)
        view.exported.connect(lambda path: self.window.status_bar.showMessage(
            f"Exported the autograd graph to {path}", 6000))
        view.export_failed.connect(lambda message: self.window.dialogs.show_error(
            "Could not export the autograd graph", message))
        self._placeholder.hide()
        self.page.layout().addWidget(view)
        self.view = view
        self._show_validity()
        return view

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if watched is self.page and event.type() == QEvent.Type.Show:
            self.ensure_view()
            self.refresh()  # no waiting on first sight: the person is looking at the page
        return False

    @property
    def is_shown(self) -> bool:
        """Returns True while the Autograd page is on screen."""
        return self.page.isVisible()

    # --- keeping the graph current -----------------------------------------------------------------

    def refresh(self) -> bool:
        """Walks the document's network again if it is valid and changed; returns True if a walk started.

        Does nothing while the analysis is outdated (an edit is pending: its result calls this again),
        when the network has errors (the view says so), or when the graph shown is already current.
        """
        self._refresh_timer.stop()
        document = self.window.document
        if self.view is None or not document.analysis_is_current:
            return False
        if not document.analysis.ok:
            self._show_validity()
            return False
        source = self._source()
        if source == self._walked:
            return False
        self._walked = source
        self.view.export_start = self._export_start()
        self.view.set_project(document.project, analysis=document.analysis)
        return True

    def _source(self) -> tuple[int, int, str]:
        project = self.window.document.project
        return (self._document_epoch, project.graph.revision, project.settings.loss)

    def _on_analysis(self, analysis: Any) -> None:
        if self._gradients_of is not None and self._gradients_of != self._source():
            self._forget_gradients()  # they were measured on a network that no longer exists
        self._show_validity()
        if self.is_shown and analysis.ok:
            self._refresh_timer.start()

    def _show_validity(self) -> None:
        analysis = self.window.document.analysis
        if self.view is None or analysis is None or analysis.ok:
            return
        errors = len(analysis.errors)
        shown = ("the graph shown is of the last network that worked" if self._walked is not None
                 else "fix them to see its autograd graph")
        self.view.status.setText(f"⚠ the network has {errors} error{'s' * (errors != 1)} "
                                 f"(see Problems); {shown}")

    def _on_document_replaced(self) -> None:
        self._document_epoch += 1
        self._refresh_timer.stop()
        self._forget_gradients()

    # --- selection -----------------------------------------------------------------------------------

    def _on_view_layer_selected(self, layer: str) -> None:
        canvas = self.window.canvas
        self._selecting_from_view = True  # the view already shows it; do not scroll it again
        try:
            canvas.select_nodes([layer])
            canvas.center_on_node(layer)
        finally:
            self._selecting_from_view = False

    def _on_canvas_selection(self, node_ids: list[str]) -> None:
        if self.view is not None and not self._selecting_from_view:
            self.view.select_layers(node_ids)

    def _on_graph_shown(self) -> None:
        assert self.view is not None
        self._update_export_actions()
        selected = self.window.canvas.selected_node_ids()
        if selected:
            self.view.select_layers(selected)

    # --- gradients -------------------------------------------------------------------------------------

    def _on_gradients(self, norms: dict[str, float]) -> None:
        self._gradients_of = self._source()
        self.ensure_view().update_gradients(norms)

    def _on_gradient_problems(self, problems: list[GradientProblem]) -> None:
        self.window.problems.set_extra_problems(GRADIENT_SOURCE, [gradient_problem_as_problem(p)
                                                                  for p in problems])

    def _on_running_changed(self, running: bool) -> None:
        if running:
            self._forget_gradients()  # the colours and flags of the last run describe other weights

    def _forget_gradients(self) -> None:
        self._gradients_of = None
        if self.view is not None:
            self.view.clear_gradients()
        self.window.problems.set_extra_problems(GRADIENT_SOURCE, [])

    # --- export ----------------------------------------------------------------------------------------

    def _update_export_actions(self) -> None:
        ready = self.view is not None and self.view.trace is not None
        for action in self.export_actions.values():
            action.setEnabled(ready)
            action.setToolTip("" if ready else "Open the Autograd tab first: the graph is drawn there")

    def _export_start(self) -> Path:
        document = self.window.document
        folder = document.path.parent if document.path else Path.cwd()
        return folder / f"{document.project.name}-autograd"

    # --- closing -----------------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stops the refresh timer and joins the view's background walk (the window is closing)."""
        self._refresh_timer.stop()
        if self.view is not None:
            self.view.shutdown()  # drops results in flight and joins its worker thread

"""Returns the window's view of a run from inside: per-layer telemetry, the NaN culprit, mid-run
changes and the learning-rate finder, wired to the canvas, the Problems list and the Training tab.

:class:`TelemetryController` connects to the training session of ``window.training_panel``:

- **telemetry samples** (twice a second at most, a small share of the run's time) go into a
  :class:`~nnstudio.ui.telemetry_history.TelemetryHistory`; at most twice a second the cards' badges
  (:mod:`nnstudio.ui.telemetry_badges`), the Problems list (source ``telemetry``: dead units,
  vanishing / exploding gradients, update ratios) and, while it is shown, the "Layer telemetry" dock
  beside the Inspector (:class:`~nnstudio.ui.telemetry_inspector.LayerTelemetryView`, the selected
  layer's history) are redrawn from it;
- **a failed run** whose first NaN was traced to a layer marks that card ("NaN here" / "NaN ∇"), puts
  the failure in the Problems list on that layer (source ``training``) and brings the card into view;
- **mid-run changes**: the "While paused" box of the Training tab (:mod:`nnstudio.ui.midrun_changes`)
  sends its values to the paused run; each change that takes effect is logged and marked on the
  learning-rate strip of the loss plot;
- **the learning-rate finder** (:mod:`nnstudio.ui.lr_finder_panel`) sits in the Training tab, built the
  first time it is shown (it imports pyqtgraph, which the window's start does without).

Badges and problems stay after the run until the next run, an edit of the network or another
document makes them stale.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import QDockWidget, QGroupBox, QLabel, QScrollArea, QVBoxLayout, QWidget

from nnstudio.ui.midrun_changes import MidRunChangesBox
from nnstudio.ui.telemetry_badges import CardTelemetry
from nnstudio.ui.telemetry_history import TelemetryHistory

if TYPE_CHECKING:
    from nnstudio.ui.main_window import MainWindow

#: Cards, problems and the layer view redraw at most this often while a run trains.
REDRAW_INTERVAL_MS = 500
TELEMETRY_SOURCE = "telemetry"
TRAINING_SOURCE = "training"


class TelemetryController(QObject):
    """Shows the running network's telemetry in ``window``; see the module docstring."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.history = TelemetryHistory()
        self.cards = CardTelemetry(window.canvas.canvas_scene)
        self.view: Any = None  # LayerTelemetryView, made when first needed (pyqtgraph)
        self.lr_finder: Any = None  # LrFinderPanel, made when first shown (pyqtgraph)
        self.change_markers: list[Any] = []
        self._shown_problems: list[Any] = []
        self._revision: int | None = None  # the graph revision the telemetry describes
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REDRAW_INTERVAL_MS)
        self._timer.timeout.connect(self.redraw)
        self._build_dock()
        self._build_training_groups()
        self._connect()

    # --- construction ----------------------------------------------------------------------------

    def _build_dock(self) -> None:
        window = self.window
        self.page = QWidget(window)
        self.page.setObjectName("layerTelemetryPage")
        layout = QVBoxLayout(self.page)
        layout.setContentsMargins(6, 6, 6, 6)
        self.placeholder = QLabel("Select a layer and train the network to see how its outputs, gradients "
                                  "and updates evolve during the run.", self.page)
        self.placeholder.setWordWrap(True)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.placeholder)
        scroll = QScrollArea(window)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(self.page)
        self.dock = QDockWidget("Layer telemetry", window)
        self.dock.setObjectName("layerTelemetryDock")
        self.dock.setAccessibleName("Layer telemetry")
        self.dock.setWidget(scroll)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        window.tabifyDockWidget(window.inspector_dock, self.dock)
        window.inspector_dock.raise_()
        self.dock.visibilityChanged.connect(lambda visible: visible and self.redraw())

    def _build_training_groups(self) -> None:
        """Adds "Learning-rate finder" and "While paused" to the Training tab's side column."""
        panel = self.window.training_panel
        side = panel.findChild(QScrollArea, "trainingSide").widget()
        column = side.layout()
        self.midrun = MidRunChangesBox(side)
        self.lr_group = QGroupBox("Learning-rate finder", side)
        self.lr_group.setObjectName("lrFinderGroup")
        QVBoxLayout(self.lr_group)
        self.lr_group.installEventFilter(self)
        midrun_group = QGroupBox("While paused", side)
        midrun_group.setObjectName("midRunGroup")
        QVBoxLayout(midrun_group).addWidget(self.midrun)
        stretch_at = column.count() - 1  # before the column's closing stretch
        column.insertWidget(stretch_at, self.lr_group)
        column.insertWidget(stretch_at + 1, midrun_group)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if watched is self.lr_group and event.type() == QEvent.Type.Show and self.lr_finder is None:
            # Built once its plot's modules are imported off the GUI thread (the tab shows at once).
            self.window.training_panel.presenter.when_views_ready(self.ensure_lr_finder)
        return False

    def ensure_lr_finder(self) -> Any:
        """Returns the learning-rate finder panel, building it the first time."""
        if self.lr_finder is None:
            from nnstudio.ui.lr_finder_panel import LrFinderPanel

            self.lr_finder = LrFinderPanel(self.window.document, self.lr_group)
            self.lr_group.layout().addWidget(self.lr_finder)
            self.lr_finder.set_training(self.window.training_panel.presenter.is_running)
        return self.lr_finder

    def ensure_view(self) -> Any:
        """Returns the layer telemetry view, building it the first time."""
        if self.view is None:
            from nnstudio.ui.telemetry_inspector import LayerTelemetryView

            self.view = LayerTelemetryView(self.page)
            self.page.layout().addWidget(self.view)
            self.placeholder.hide()
        return self.view

    def _connect(self) -> None:
        window = self.window
        panel = window.training_panel
        presenter = panel.presenter
        # Single-device runs (a thread) and multi-GPU runs (worker processes) give the same signals.
        for session in (presenter.threads, presenter.processes):
            session.prepared.connect(self._on_run_prepared)
            session.telemetry.connect(self._on_sample)
            session.changed.connect(self._on_change)
        presenter.run_ended.connect(self._on_run_ended)
        presenter.running_changed.connect(self._on_running_changed)
        panel.action_pause.triggered.connect(self._on_pause_toggled)
        self.midrun.apply_requested.connect(self.apply_midrun_changes)
        window.canvas.selection_changed.connect(self._on_selection)
        window.document.replaced.connect(self._on_document_replaced)
        window.document.analysis_ready.connect(self._on_analysis)
        window.canvas.canvas_scene.items_changed.connect(self._on_cards_changed)
        window.about_to_close.connect(self.shutdown)

    # --- a run -----------------------------------------------------------------------------------

    def _on_run_prepared(self, _info: Any) -> None:
        self.forget()
        self._revision = self.window.document.graph.revision
        if self.window.canvas.selected_node_ids():
            self.dock.raise_()

    def _on_sample(self, sample: Any) -> None:
        self.history.add(sample)
        if not self._timer.isActive():
            self._timer.start()

    def redraw(self) -> None:
        """Draws the latest telemetry on the cards, the Problems list and the layer view."""
        self.cards.show(self.history.layers, self.history.problems)
        problems = list(self.history.problems)
        if problems != self._shown_problems:
            self._shown_problems = problems
            self._show_problems(TELEMETRY_SOURCE, problems)
        if self.dock.isVisible() and self.history.samples:
            selected = self.window.canvas.selected_node_ids()
            if len(selected) == 1:
                view = self.ensure_view()
                if view.node_id != selected[0]:
                    view.show_layer(selected[0], self.history)
                else:
                    view.refresh()

    def _show_problems(self, source: str, problems: list[Any]) -> None:
        """Lists ``problems`` in the Problems panel and marks them on their cards."""
        self.window.problems.set_extra_problems(source, problems)
        self.window.canvas.canvas_scene.set_extra_problems(source, problems)

    def _on_selection(self, node_ids: list[str]) -> None:
        if self.history.samples and len(node_ids) == 1 and self.dock.isVisible():
            self.ensure_view().show_layer(node_ids[0], self.history)

    def _on_run_ended(self, outcome: Any) -> None:
        self._timer.stop()
        self.redraw()
        self.midrun.set_paused(False)
        result = getattr(outcome, "result", None)
        failure = getattr(result, "failure", None)
        if outcome.status != "failed" or failure is None:
            return
        self._show_problems(TRAINING_SOURCE, [failure.problem()])
        if failure.kind == "nan" and failure.node_id and failure.node_id in self.window.document.graph:
            self.cards.mark_culprit(failure.node_id, failure.side, failure.message)
            self.window.canvas.center_on_node(failure.node_id)

    def _on_running_changed(self, running: bool) -> None:
        if self.lr_finder is not None:
            self.lr_finder.set_training(running)
        if not running:
            self.midrun.set_paused(False)

    # --- mid-run changes ---------------------------------------------------------------------------

    def _on_pause_toggled(self) -> None:
        session = self.window.training_panel.presenter.session
        paused = session.is_paused
        self.midrun.set_paused(paused)
        values = session.current_values() if paused else None
        if values is not None:
            self.midrun.load(values)
        elif paused and getattr(session, "changes_unavailable", None):
            self.midrun.show_unavailable(session.changes_unavailable)

    def apply_midrun_changes(self, values: dict[str, float]) -> bool:
        """Sends ``values`` to the paused run; returns False (and says why) when it refuses them."""
        from nnstudio.core.errors import NnstudioError

        try:
            self.window.training_panel.presenter.session.change_settings(**values)
        except (NnstudioError, RuntimeError) as exc:
            self.midrun.show_error(str(exc))
            return False
        self.midrun.show_applied("Applied: the run uses these values from its next step. Resume to continue.")
        return True

    def _on_change(self, change: Any) -> None:
        panel = self.window.training_panel
        panel.log_message(f"changed at epoch {change.epoch}, step {change.step}: {change.describe()}")
        plot = panel.loss_plot
        if plot is None:
            return
        import pyqtgraph as pg

        text = ", ".join(f"{name.replace('_', ' ')} {new:g}" for name, (_old, new) in change.values.items())
        marker = pg.InfiniteLine(change.position, angle=90, pen=pg.mkPen("#d97706", width=1.5),
                                 label=text, labelOpts={"position": 0.85, "color": "#d97706"})
        marker.setToolTip(change.describe())
        plot.lr_plot.addItem(marker)
        self.change_markers.append(marker)

    # --- staleness -------------------------------------------------------------------------------------

    def _on_cards_changed(self) -> None:
        # Cards made after the numbers came (a block opened, stepped into) get their badges too.
        if self.history.samples:
            self.cards.show(self.history.layers, self.history.problems)

    def _on_document_replaced(self) -> None:
        self.forget()
        if self.lr_finder is not None:
            self.lr_finder.reset()

    def _on_analysis(self, _analysis: Any) -> None:
        graph = self.window.document.graph
        if self._revision is not None and graph.revision != self._revision \
                and not self.window.training_panel.presenter.is_running:
            self.forget()  # the numbers describe a network that has since been edited

    def forget(self) -> None:
        """Drops the telemetry shown (a new run, an edit, another document)."""
        self._timer.stop()
        self.history.clear()
        self.cards.clear()
        self._shown_problems = []
        self._revision = None
        self._show_problems(TELEMETRY_SOURCE, [])
        self._show_problems(TRAINING_SOURCE, [])
        plot = self.window.training_panel.loss_plot
        for marker in self.change_markers:
            if plot is not None:
                plot.lr_plot.removeItem(marker)
        self.change_markers = []
        if self.view is not None:
            self.view.clear()

    def shutdown(self) -> None:
        self._timer.stop()
        if self.lr_finder is not None:
            self.lr_finder.shutdown()

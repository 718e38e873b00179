"""The canvas scene: mirrors a core Graph as cards and wires, following the graph's events.

"Views watch, commands change": the scene subscribes to ``graph.events`` and adds, removes or
refreshes items when the model announces a change. It never edits the graph itself.
"""

from __future__ import annotations

import math
import weakref
from functools import partial
from typing import Any

import shiboken6
from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Signal
from PySide6.QtGui import QPainter, QPen
from PySide6.QtWidgets import QApplication, QGraphicsItem, QGraphicsScene

from nnstudio.core.formatting import format_count, format_shape
from nnstudio.core.graph import Edge, Graph
from nnstudio.core.problems import Problem
from nnstudio.ui.canvas_items import EdgeItem, NodeItem
from nnstudio.ui.canvas_style import (
    GRID_MAJOR,
    GRID_STEP,
    NODE_HEIGHT,
    NODE_WIDTH,
    CanvasColours,
    CardFonts,
)

#: Empty room kept around the network so there is always space to pan into and drop on.
SCENE_MARGIN = 1500.0


class CanvasScene(QGraphicsScene):
    """Cards and wires for one graph, kept in step with it through its events."""

    #: Emitted after the items changed because the graph changed (for the view's bookkeeping).
    items_changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.graph: Graph | None = None
        self.node_items: dict[str, NodeItem] = {}
        self.edge_items: dict[Edge, EdgeItem] = {}
        self._analysis: Any = None
        self._problems_by_node: dict[str | None, list[Problem]] = {}
        #: Problems found outside the analysis (a run's telemetry, its failure), by source.
        self._extra_problems: dict[str, list[Problem]] = {}
        self._binding = False
        self._subscription: _GraphSubscription | None = None
        self._colours = CanvasColours.from_palette(QApplication.palette())
        self._fonts = CardFonts(QApplication.font())
        # A static scene: a BSP index makes itemAt and the view's exposed-area queries fast.
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.BspTreeIndex)
        self.setSceneRect(QRectF(-SCENE_MARGIN, -SCENE_MARGIN, 2 * SCENE_MARGIN, 2 * SCENE_MARGIN))

    # --- binding to a graph ----------------------------------------------------------------------

    def bind(self, graph: Graph) -> None:
        """Show ``graph`` (replacing whatever was shown) and follow its events from now on."""
        self.unbind()
        self.graph = graph
        self._analysis = None
        self._problems_by_node = {}
        self._binding = True  # one scene-rect fit at the end instead of one per card
        try:
            for node in graph.nodes():
                self._on_node_added(node.id)
            for edge in graph.edges():
                self._on_edge_added(edge)
        finally:
            self._binding = False
        self._subscription = _GraphSubscription(graph, self)
        self.fit_scene_rect()
        self.items_changed.emit()

    def unbind(self) -> None:
        """Stop following the current graph and remove every item."""
        if self._subscription is not None:
            self._subscription.cancel()
            self._subscription = None
        self.graph = None
        self.clearSelection()
        self.clear()
        self.node_items.clear()
        self.edge_items.clear()

    # --- analysis --------------------------------------------------------------------------------

    def set_analysis(self, analysis: Any) -> None:
        """Annotate cards and wires from an ``nnstudio.compile`` Analysis (or clear them with None)."""
        self._analysis = analysis
        self._problems_by_node = {}
        for problem in analysis.problems if analysis is not None else ():
            self._problems_by_node.setdefault(problem.node_id, []).append(problem)
        for node_id, item in self.node_items.items():
            self._annotate_node(node_id, item)
        for edge, item in self.edge_items.items():
            self._annotate_edge(edge, item)

    def set_extra_problems(self, source: str, problems: list[Problem]) -> None:
        """Shows ``problems`` found by ``source`` outside the analysis on their cards ([] removes them)."""
        before = {p.node_id for p in self._extra_problems.get(source, [])}
        if problems:
            self._extra_problems[source] = list(problems)
        else:
            self._extra_problems.pop(source, None)
        for node_id in before | {p.node_id for p in problems}:
            item = self.node_items.get(node_id) if node_id is not None else None
            if item is not None:
                self._annotate_node(node_id, item)

    def _annotate_node(self, node_id: str, item: NodeItem) -> None:
        analysis = self._analysis
        extra = [p for found in self._extra_problems.values() for p in found if p.node_id == node_id]
        if analysis is None:
            item.annotate("", "", extra)
            return
        result = analysis.nodes.get(node_id)
        problems = self._problems_by_node.get(node_id, []) + extra
        if result is None:
            item.annotate("", "", problems)
            return
        # A card names an unknown shape ("?"); a layer without parameters shows no count.
        item.annotate(format_shape(result.output_shape), format_count(result.params) if result.params else "",
                      problems)

    def _annotate_edge(self, edge: Edge, item: EdgeItem) -> None:
        shape = self._analysis.edge_shapes.get(edge) if self._analysis is not None else None
        item.set_label(format_shape(shape) if shape is not None else "")  # only known shapes label a wire

    # --- looks -----------------------------------------------------------------------------------

    @property
    def colours(self) -> CanvasColours:
        return self._colours

    def event(self, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.FontChange):
            self.refresh_looks()
        return super().event(event)

    def refresh_looks(self) -> None:
        """Re-derive colours and fonts from the application (after a light/dark switch)."""
        self._colours = CanvasColours.from_palette(self.palette())
        self._fonts = CardFonts(self.font())
        for item in self.node_items.values():
            item._fonts = self._fonts
            item.update()
        for edge_item in self.edge_items.values():
            edge_item._fonts = self._fonts
            edge_item.update_path()
        self.update()

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802 - Qt override
        colours = self._colours
        painter.fillRect(rect, colours.background)
        zoom = painter.worldTransform().m11()
        # Fine lines would blur into a grey wash when zoomed out; show only what stays legible.
        step = GRID_STEP * 2 if zoom >= 0.6 else GRID_MAJOR
        # Qt may ask for far more than is on screen (the union of the old and new view after a long
        # scroll): draw grid lines only where they can be seen, so the cost stays one viewport's worth.
        for view in self.views()[:1]:
            visible = view.mapToScene(view.viewport().rect()).boundingRect()
            rect = rect.intersected(visible.adjusted(-step, -step, step, step))
        left = math.floor(rect.left() / step) * step
        top = math.floor(rect.top() / step) * step
        minor, major = [], []
        x = left
        while x <= rect.right():
            (major if x % GRID_MAJOR == 0 else minor).append((QPointF(x, rect.top()), QPointF(x, rect.bottom())))
            x += step
        y = top
        while y <= rect.bottom():
            (major if y % GRID_MAJOR == 0 else minor).append((QPointF(rect.left(), y), QPointF(rect.right(), y)))
            y += step
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        for lines, colour in ((minor, colours.grid_minor), (major, colours.grid_major)):
            if lines:
                painter.setPen(QPen(colour, 0))  # cosmetic: one device pixel at every zoom
                for a, b in lines:
                    painter.drawLine(a, b)

    def fit_scene_rect(self) -> None:
        """Grow (never shrink while editing) the scene so every card has room around it."""
        if not self.node_items:
            return
        xs = [item.pos().x() for item in self.node_items.values()]
        ys = [item.pos().y() for item in self.node_items.values()]
        content = QRectF(min(xs), min(ys), max(xs) - min(xs) + NODE_WIDTH, max(ys) - min(ys) + NODE_HEIGHT)
        wanted = content.adjusted(-SCENE_MARGIN, -SCENE_MARGIN, SCENE_MARGIN, SCENE_MARGIN)
        if not self.sceneRect().contains(wanted):
            self.setSceneRect(self.sceneRect().united(wanted))

    def content_rect(self) -> QRectF:
        """The rectangle around every card (empty when there is none)."""
        rect = QRectF()
        for item in self.node_items.values():
            rect = rect.united(item.sceneBoundingRect())
        return rect

    # --- graph events ----------------------------------------------------------------------------

    def _on_node_added(self, node_id: str) -> None:
        assert self.graph is not None
        item = NodeItem(self.graph.node(node_id), lambda: self._colours, self._fonts)
        self.node_items[node_id] = item
        self.addItem(item)
        if self._analysis is not None:
            self._annotate_node(node_id, item)
        self._grow_around(item)
        self.items_changed.emit()

    def _on_node_removed(self, node_id: str) -> None:
        item = self.node_items.pop(node_id, None)
        if item is not None:
            self.removeItem(item)
            self.items_changed.emit()

    def _on_edge_added(self, edge: Edge) -> None:
        source, target = self.node_items[edge.source], self.node_items[edge.target]
        item = EdgeItem(edge, source, target, lambda: self._colours, self._fonts)
        self.edge_items[edge] = item
        self.addItem(item)
        # Siblings on a variadic port fan out again around the newcomer.
        for other in target.edges:
            if other is not item and other.edge.port == edge.port and other.target is target:
                other.update_path()
        if self._analysis is not None:
            self._annotate_edge(edge, item)
        self.items_changed.emit()

    def _on_edge_removed(self, edge: Edge) -> None:
        item = self.edge_items.pop(edge, None)
        if item is not None:
            item.detach()
            self.removeItem(item)
            for other in item.target.edges:
                other.update_path()
            self.items_changed.emit()

    def _on_param_changed(self, node_id: str, name: str = "") -> None:
        assert self.graph is not None
        item = self.node_items.get(node_id)
        if item is not None:
            item.refresh_params(self.graph.node(node_id))

    def _on_node_moved(self, node_id: str) -> None:
        assert self.graph is not None
        item = self.node_items.get(node_id)
        if item is not None:
            item.follow_model_position(self.graph.node(node_id).position)
            self._grow_around(item)

    def _grow_around(self, item: QGraphicsItem) -> None:
        if self._binding:
            return
        wanted = item.sceneBoundingRect().adjusted(-SCENE_MARGIN, -SCENE_MARGIN, SCENE_MARGIN, SCENE_MARGIN)
        if not self.sceneRect().contains(wanted):
            self.setSceneRect(self.sceneRect().united(wanted))


class _GraphSubscription:
    """Forwards a graph's events to a scene for as long as the scene's C++ object lives.

    A graph can outlive its canvas (the document stays open while a window or test drops the view);
    an event reaching a deleted scene would raise inside whatever command is running. The first
    event after the scene is gone cancels the subscription instead.
    """

    _HANDLERS = (("node_added", "_on_node_added"), ("node_removed", "_on_node_removed"),
                 ("edge_added", "_on_edge_added"), ("edge_removed", "_on_edge_removed"),
                 ("param_changed", "_on_param_changed"), ("node_moved", "_on_node_moved"),
                 ("training_flags_changed", "_on_param_changed"))

    def __init__(self, graph: Graph, scene: CanvasScene) -> None:
        self._scene = weakref.ref(scene)
        self._links: list[tuple[Any, Any]] = []
        for signal_name, handler_name in self._HANDLERS:
            signal = getattr(graph.events, signal_name)
            callback = partial(self._forward, handler_name)
            signal.connect(callback)
            self._links.append((signal, callback))

    def _forward(self, handler_name: str, *args: Any) -> None:
        scene = self._scene()
        if scene is None or not shiboken6.isValid(scene):
            self.cancel()
            return
        getattr(scene, handler_name)(*args)

    def cancel(self) -> None:
        for signal, callback in self._links:
            signal.disconnect(callback)
        self._links.clear()

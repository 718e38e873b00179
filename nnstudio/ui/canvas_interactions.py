"""Mouse gestures on the canvas, one object per gesture while it lasts (orange-canvas style).

The view hands a press that starts a gesture to a new interaction object and forwards the moves
and the release to it until it is over: :class:`WireDrag` (drag from a port to wire two layers),
:class:`PanDrag` (middle button, or Space + left button), :class:`CardDrag` (moving cards, recorded
as one undo step at the release). Rubber-band selection is Qt's own drag mode of the view; drops
from the palette are :func:`dropped_layer_type`. Gestures end in :class:`~nnstudio.ui.canvas_edits.
CanvasEdits` calls; none edits the graph itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem

from nnstudio.ui.canvas_items import NodeItem, PortHighlight, PortRef
from nnstudio.ui.canvas_style import ACCEPT_COLOUR, wire_path

if TYPE_CHECKING:
    from nnstudio.ui.canvas import CanvasView

#: The MIME type the palette drags layers with (its payload is the layer's type id).
MIME_LAYER = "application/x-nnstudio-layer"


def dropped_layer_type(mime: QMimeData, read_only: bool) -> str | None:
    """Returns the layer type id a drop carries, or None when the canvas should refuse it."""
    if read_only or not mime.hasFormat(MIME_LAYER):
        return None
    return bytes(mime.data(MIME_LAYER).data()).decode("utf-8").strip() or None


class WireDrag:
    """A wire being dragged from ``port``: ports that would accept it light up; releasing connects."""

    def __init__(self, view: CanvasView, port: PortRef, scene_pos: QPointF) -> None:
        self._view = view
        self._scene = view.canvas_scene
        self.origin = port
        self._targets: dict[PortRef, bool] = {}
        self._hovered: PortRef | None = None
        graph = view.edits.graph
        assert graph is not None
        for item in self._scene.node_items.values():
            for candidate in item.ports():
                if candidate.is_output == port.is_output:
                    continue
                ok = self.problem_with(candidate) is None
                self._targets[candidate] = ok
                if ok:
                    item.set_port_highlight(candidate, PortHighlight.ACCEPT)
        self._preview = QGraphicsPathItem()
        self._preview.setPen(QPen(QColor(ACCEPT_COLOUR), 2.0, Qt.PenStyle.DashLine, Qt.PenCapStyle.RoundCap))
        self._preview.setZValue(10)
        self._scene.addItem(self._preview)
        self.move(scene_pos)

    def problem_with(self, other: PortRef) -> str | None:
        """Returns why a wire between the origin and ``other`` is refused, or None."""
        graph = self._view.edits.graph
        assert graph is not None
        if self.origin.is_output == other.is_output:
            return "connect an output to an input"
        out, into = (self.origin, other) if self.origin.is_output else (other, self.origin)
        return graph.connection_problem(out.node_id, into.node_id, into.name or "in")

    def move(self, scene_pos: QPointF) -> None:
        """Draws the wire to ``scene_pos`` (snapped to the port it would attach to)."""
        origin = self.origin
        anchor = self._scene.node_items[origin.node_id].port_scene_pos(origin)
        target = self.target_at(scene_pos)
        if target is not None and target.is_output == origin.is_output:
            target = None
        end = scene_pos if target is None else self._scene.node_items[target.node_id].port_scene_pos(target)
        path: QPainterPath = wire_path(anchor, end) if origin.is_output else wire_path(end, anchor)
        self._preview.setPath(path)
        if target != self._hovered:
            self._set_hover(target)

    def target_at(self, scene_pos: QPointF) -> PortRef | None:
        """Returns where a wire dropped at ``scene_pos`` would attach: the port under the pointer, or,
        over a card's body, that card's first port that would accept it (aiming needs no precision)."""
        wants_output = not self.origin.is_output
        port = self._view.port_at(scene_pos)
        if port is not None:
            return port  # even a wrong one: dropping there says why it cannot connect
        for item in self._scene.items(scene_pos):
            if isinstance(item, NodeItem):
                if item.node_id == self.origin.node_id:
                    return None
                candidates = [p for p in item.ports() if p.is_output == wants_output]
                accepted = [p for p in candidates if self._targets.get(p)]
                return (accepted or candidates or [None])[0]
        return None

    def finish(self, scene_pos: QPointF) -> None:
        """Connects the origin to the port at ``scene_pos`` (or says why not), and ends the gesture."""
        target = self.target_at(scene_pos)
        self.cancel()
        if target is None:
            return
        problem = self.problem_with(target)
        if problem:
            self._view.status_message.emit(f"Cannot connect: {problem}")
            return
        out, into = (self.origin, target) if self.origin.is_output else (target, self.origin)
        self._view.edits.connect_ports(out.node_id, into.node_id, into.name or "in")

    def cancel(self) -> None:
        """Removes the preview and the highlights."""
        if self._preview.scene() is not None:
            self._scene.removeItem(self._preview)
        for item in self._scene.node_items.values():
            item.clear_highlights()
        self._targets = {}
        self._hovered = None

    def _set_hover(self, port: PortRef | None) -> None:
        previous, items = self._hovered, self._scene.node_items
        if previous is not None and previous.node_id in items:
            state = PortHighlight.ACCEPT if self._targets.get(previous) else PortHighlight.NONE
            items[previous.node_id].set_port_highlight(previous, state)
        self._hovered = port
        if port is not None and self._targets.get(port):
            items[port.node_id].set_port_highlight(port, PortHighlight.HOVER)


class PanDrag:
    """The view follows the pointer while the middle button (or Space + left button) is held."""

    def __init__(self, view: CanvasView, at: QPoint) -> None:
        self._view = view
        self._anchor = at
        view.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)

    def move(self, at: QPoint) -> None:
        delta = at - self._anchor
        self._anchor = at
        view = self._view
        view.horizontalScrollBar().setValue(view.horizontalScrollBar().value() - delta.x())
        view.verticalScrollBar().setValue(view.verticalScrollBar().value() - delta.y())

    def end(self, space_held: bool) -> None:
        self._view.viewport().setCursor(Qt.CursorShape.OpenHandCursor if space_held else Qt.CursorShape.ArrowCursor)


class CardDrag:
    """Cards Qt moves while the left button is held; the release makes it one undoable move."""

    def __init__(self, view: CanvasView) -> None:
        self._view = view
        # Where the (possibly just selected) cards started.
        self._start = {item.node_id: (item.pos().x(), item.pos().y())
                       for item in view.canvas_scene.selectedItems() if isinstance(item, NodeItem)}

    def finish(self) -> None:
        """Records the cards that moved (or puts them back when the edit is refused)."""
        view = self._view
        if view.edits.graph is None or not self._start:
            return
        moved: dict[str, tuple[float, float]] = {}
        for node_id, old in self._start.items():
            item = view.canvas_scene.node_items.get(node_id)
            if item is not None and (item.pos().x(), item.pos().y()) != old:
                moved[node_id] = (item.pos().x(), item.pos().y())
        if moved:
            view.edits.move_cards(moved)
            view.canvas_scene.fit_scene_rect()

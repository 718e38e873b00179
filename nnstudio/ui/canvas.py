"""The graph editor canvas: a QGraphicsView where layers are placed, wired, moved and removed.

Every gesture becomes a core command pushed on the document's UndoStack; the scene
(:mod:`nnstudio.ui.canvas_scene`) redraws from the graph's events. The main window creates the
actions (with their shortcuts) and calls the public methods here; the view itself handles the
mouse, the wheel, keys pressed while it has focus, and drops from the palette.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QGuiApplication,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPen,
    QWheelEvent,
)
from PySide6.QtWidgets import QFrame, QGraphicsItem, QGraphicsPathItem, QGraphicsView, QWidget

from nnstudio.core.commands import (
    AddNode,
    Command,
    Connect,
    Disconnect,
    Macro,
    MoveNodes,
    RemoveNodes,
    UndoStack,
    paste_fragment,
)
from nnstudio.core.errors import NnstudioError
from nnstudio.core.graph import Graph
from nnstudio.core.layout import layered_layout
from nnstudio.ui.canvas_clipboard import Fragment, FragmentError
from nnstudio.ui.canvas_items import EdgeItem, NodeItem, PortHighlight, PortRef, wire_path
from nnstudio.ui.canvas_scene import CanvasScene
from nnstudio.ui.canvas_style import ACCEPT_COLOUR, GRID_STEP, NODE_HEIGHT, NODE_WIDTH, snap

MIME_LAYER = "application/x-nnstudio-layer"

MIN_ZOOM, MAX_ZOOM = 0.1, 4.0
#: Below this zoom card text is too small to read; a freshly opened network is never shown smaller.
READABLE_ZOOM = 0.8
ZOOM_STEP = 1.2
#: Where copies land relative to their originals (paste, duplicate); repeated pastes step further.
PASTE_OFFSET = 30.0
_NUDGE = {Qt.Key.Key_Left: (-1, 0), Qt.Key.Key_Right: (1, 0), Qt.Key.Key_Up: (0, -1), Qt.Key.Key_Down: (0, 1)}
READ_ONLY_MESSAGE = "Training is running: the network cannot be edited until it stops"


class CanvasView(QGraphicsView):
    """The network editor: shows one graph and turns mouse and key gestures into undoable commands."""

    #: Node ids now selected (wires are not included).
    selection_changed = Signal(list)
    #: A short sentence for the status bar, e.g. why a connection was refused.
    status_message = Signal(str)
    #: F2 on one selected layer: the id whose name the person wants to change.
    rename_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("canvas")
        self.setAccessibleName("Network canvas")
        self._scene = CanvasScene(self)
        self.setScene(self._scene)
        self._graph: Graph | None = None
        self._undo: UndoStack | None = None
        self._read_only = False
        self._paste_count = 0
        self._last_fragment_json: str | None = None
        self._frame_when_shown = False

        # Gesture state.
        self._wire_from: PortRef | None = None
        self._wire_preview: QGraphicsPathItem | None = None
        self._wire_targets: dict[PortRef, bool] = {}
        self._hovered_port: PortRef | None = None
        self._pan_anchor: QPoint | None = None
        self._space_held = False
        self._drag_start: dict[str, tuple[float, float]] = {}

        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing
                            | QPainter.RenderHint.SmoothPixmapTransform)
        # Moving a card repaints just the card and its wires, not the whole viewport.
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setOptimizationFlags(QGraphicsView.OptimizationFlag.DontSavePainterState)
        self.setCacheMode(QGraphicsView.CacheModeFlag.CacheBackground)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setRubberBandSelectionMode(Qt.ItemSelectionMode.IntersectsItemShape)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self._scene.selectionChanged.connect(self._on_selection_changed)

    # --- document --------------------------------------------------------------------------------

    def set_document(self, graph: Graph, undo_stack: UndoStack) -> None:
        """Show ``graph`` and push edits on ``undo_stack`` (on New/Open); the view is fitted to it."""
        self._cancel_wire()
        if self._graph is not None:
            self._graph.events.node_renamed.disconnect(self._on_node_renamed)
        self._graph, self._undo = graph, undo_stack
        self._paste_count = 0
        self._scene.bind(graph)
        graph.events.node_renamed.connect(self._on_node_renamed)
        self._apply_read_only_to_items()
        # A hidden view has no real size yet: frame the network when it first shows.
        self._frame_when_shown = not self.isVisible()
        self.frame_document()

    def set_analysis(self, analysis: Any) -> None:
        """Show shapes, parameter counts and problems from an ``nnstudio.compile`` Analysis (or None)."""
        self._scene.set_analysis(analysis)

    def set_read_only(self, read_only: bool) -> None:
        """Lock (during training) or unlock editing; a banner says so while locked."""
        if read_only == self._read_only:
            return
        self._read_only = read_only
        self._cancel_wire()
        self._apply_read_only_to_items()
        self.setAcceptDrops(not read_only)
        self.viewport().update()

    def is_read_only(self) -> bool:
        return self._read_only

    @property
    def canvas_scene(self) -> CanvasScene:
        return self._scene

    # --- selection -------------------------------------------------------------------------------

    def selected_node_ids(self) -> list[str]:
        """Ids of the selected layers, in graph order."""
        if self._graph is None:
            return []
        selected = {item.node_id for item in self._scene.selectedItems() if isinstance(item, NodeItem)}
        return [node_id for node_id in self._graph.node_ids() if node_id in selected]

    def selected_edges(self) -> list[EdgeItem]:
        return [item for item in self._scene.selectedItems() if isinstance(item, EdgeItem)]

    def select_nodes(self, ids: Iterable[str]) -> None:
        """Select exactly these layers (unknown ids are ignored)."""
        wanted = set(ids)
        with _SignalsBlockedOnce(self._scene):
            self._scene.clearSelection()
            for node_id in wanted:
                item = self._scene.node_items.get(node_id)
                if item is not None:
                    item.setSelected(True)
        self._on_selection_changed()

    def select_all(self) -> None:
        self.select_nodes(self._scene.node_items)

    def center_on_node(self, node_id: str) -> None:
        item = self._scene.node_items.get(node_id)
        if item is not None:
            self.centerOn(item.sceneBoundingRect().center())

    def _on_selection_changed(self) -> None:
        self.selection_changed.emit(self.selected_node_ids())

    def _on_node_renamed(self, _old: str, new: str) -> None:
        # The card came back under its new name unselected; a rename leaves it selected (if nothing else is).
        if not self.selected_node_ids():
            self.select_nodes([new])

    # --- edits -----------------------------------------------------------------------------------

    def add_layer(self, type_id: str, scene_pos: QPointF | None = None) -> str:
        """Add a layer of ``type_id`` centred at ``scene_pos`` (the view centre when None); its id.

        Returns an empty string when the edit is refused (read-only, unknown type); the reason goes
        to :attr:`status_message`.
        """
        if self._graph is None or not self._editable():
            return ""
        if scene_pos is None:
            scene_pos = self.mapToScene(self.viewport().rect().center())
        corner = (snap(scene_pos.x() - NODE_WIDTH / 2), snap(scene_pos.y() - NODE_HEIGHT / 2))
        try:
            command = AddNode(self._graph, type_id, corner)
        except NnstudioError as exc:
            self.status_message.emit(f"Cannot add layer: {exc}")
            return ""
        if self._push(command):
            self.select_nodes([command.node_id])
            return command.node_id
        return ""

    def delete_selection(self) -> None:
        """Remove the selected layers (with their wires) and selected wires, as one undo step."""
        if self._graph is None or not self._editable():
            return
        node_ids = self.selected_node_ids()
        children: list[Command] = []
        if node_ids:
            children.append(RemoveNodes(self._graph, node_ids))
        doomed = set(node_ids)
        for item in self.selected_edges():
            if item.edge.source not in doomed and item.edge.target not in doomed:
                children.append(Disconnect(self._graph, item.edge))
        if not children:
            return
        self._push(children[0] if len(children) == 1 else Macro(_delete_text(node_ids, children), children))

    def copy_selection(self) -> None:
        """Put the selected layers and the wires among them on the clipboard."""
        if self._graph is None:
            return
        node_ids = self.selected_node_ids()
        if not node_ids:
            self.status_message.emit("Nothing to copy: select one or more layers first")
            return
        fragment = Fragment.of(self._graph, node_ids)
        QGuiApplication.clipboard().setMimeData(fragment.to_mime())
        self._paste_count = 0
        self.status_message.emit(f"Copied {_layers(len(node_ids))}")

    def cut_selection(self) -> None:
        if self._editable() and self.selected_node_ids():
            self.copy_selection()
            self.delete_selection()

    def paste(self) -> None:
        """Add copies of the layers on the clipboard, offset from the originals, and select them."""
        if self._graph is None or not self._editable():
            return
        try:
            fragment = Fragment.from_mime(QGuiApplication.clipboard().mimeData())
        except FragmentError as exc:
            self.status_message.emit(str(exc))
            return
        text = fragment.to_json()
        self._paste_count = self._paste_count + 1 if text == self._last_fragment_json else 1
        self._last_fragment_json = text
        self._paste(fragment, PASTE_OFFSET * self._paste_count)

    def duplicate_selection(self) -> None:
        """Copies of the selected layers next to them (the clipboard is left alone)."""
        if self._graph is None or not self._editable():
            return
        node_ids = self.selected_node_ids()
        if node_ids:
            self._paste(Fragment.of(self._graph, node_ids), PASTE_OFFSET, "Duplicate")

    def _paste(self, fragment: Fragment, offset: float, verb: str = "Paste") -> None:
        assert self._graph is not None
        try:
            macro, renamed = paste_fragment(self._graph, fragment.nodes, fragment.edges, (offset, offset),
                                            verb=verb)
        except NnstudioError as exc:
            self.status_message.emit(f"Cannot paste: {exc}")
            return
        if self._push(macro):
            self.select_nodes(renamed.values())
            self.status_message.emit(f"Pasted {_layers(len(renamed))}")

    def nudge_selection(self, dx: float, dy: float) -> None:
        """Move the selected layers by (dx, dy) scene pixels as one undo step."""
        if self._graph is None or not self._editable():
            return
        moved = {}
        for node_id in self.selected_node_ids():
            x, y = self._graph.node(node_id).position
            moved[node_id] = (x + dx, y + dy)
        if moved:
            self._push(MoveNodes(self._graph, moved))

    def connect_ports(self, source: str, target: str, port: str = "in") -> bool:
        """Wire ``source``'s output into ``target.port``; False (and the reason told) if refused."""
        if self._graph is None or not self._editable():
            return False
        problem = self._graph.connection_problem(source, target, port)
        if problem:
            self.status_message.emit(f"Cannot connect: {problem}")
            return False
        return self._push(Connect(self._graph, source, target, port))

    def auto_layout(self) -> None:
        """Arrange the layers in layers top to bottom (one undo step), then fit them in view."""
        if self._graph is None or not self._editable() or not len(self._graph):
            return
        try:
            positions = layered_layout(self._graph)
        except NnstudioError as exc:
            self.status_message.emit(f"Cannot lay out: {exc}")
            return
        # Keep the network roughly where it was instead of jumping to the origin.
        dx = snap(min(n.position[0] for n in self._graph.nodes()))
        dy = snap(min(n.position[1] for n in self._graph.nodes()))
        moved = {k: (x + dx, y + dy) for k, (x, y) in positions.items()
                 if self._graph.node(k).position != (x + dx, y + dy)}
        if not moved:
            self.status_message.emit("The layers are already laid out")
            return
        command = MoveNodes(self._graph, moved)
        command.text = "Auto-layout"
        if self._push(command):
            self.fit_to_view()

    def _editable(self) -> bool:
        if self._read_only:
            self.status_message.emit(READ_ONLY_MESSAGE)
            return False
        return True

    def _push(self, command: Command) -> bool:
        """Run ``command`` on the undo stack; a refused edit is told, not raised. True when done."""
        assert self._undo is not None
        try:
            self._undo.push(command)
        except NnstudioError as exc:
            self.status_message.emit(str(exc))
            return False
        return True

    def _apply_read_only_to_items(self) -> None:
        for item in self._scene.node_items.values():
            item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsMovable, not self._read_only)

    # --- zoom and pan ----------------------------------------------------------------------------

    def zoom(self) -> float:
        return self.transform().m11()

    def zoom_in(self) -> None:
        self._zoom_by(ZOOM_STEP, anchor_under_mouse=False)

    def zoom_out(self) -> None:
        self._zoom_by(1 / ZOOM_STEP, anchor_under_mouse=False)

    def reset_zoom(self) -> None:
        self._zoom_by(1.0 / self.zoom(), anchor_under_mouse=False)

    def frame_document(self) -> None:
        """Show the network at a readable size: all of it when it fits, else its top (the inputs)."""
        self.fit_to_view()
        content = self._scene.content_rect()
        if content.isEmpty() or self.zoom() >= READABLE_ZOOM:
            return
        self._zoom_by(READABLE_ZOOM / self.zoom(), anchor_under_mouse=False)
        half_height = self.viewport().height() / 2 / self.zoom()
        self.centerOn(content.center().x(), content.top() - 30 + half_height)

    def growth_to_show_all(self) -> QSize:
        """Returns how much larger the viewport must be to show every layer at a readable zoom.

        Zero in both directions when the whole network already fits at that zoom (or is empty);
        a screenshot enlarges its window by this much so nothing is cut off."""
        content = self._scene.content_rect()
        if content.isEmpty():
            return QSize(0, 0)
        zoom = min(1.0, READABLE_ZOOM)
        needed_width = math.ceil((content.width() + 80) * zoom)
        needed_height = math.ceil((content.height() + 80) * zoom)
        viewport = self.viewport().size()
        return QSize(max(0, needed_width - viewport.width()), max(0, needed_height - viewport.height()))

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._frame_when_shown:
            self._frame_when_shown = False
            self.frame_document()

    def fit_to_view(self) -> None:
        """Zoom and scroll so every layer is visible (never magnified beyond 100%)."""
        content = self._scene.content_rect()
        if content.isEmpty():
            self.resetTransform()
            self.centerOn(0, 0)
            return
        content = content.adjusted(-40, -40, 40, 40)
        self.fitInView(content, Qt.AspectRatioMode.KeepAspectRatio)
        if self.zoom() > 1.0:
            self.resetTransform()
        elif self.zoom() < MIN_ZOOM:
            self._zoom_by(MIN_ZOOM / self.zoom(), anchor_under_mouse=False)
        self.centerOn(content.center())

    def _zoom_by(self, factor: float, anchor_under_mouse: bool) -> None:
        factor = max(MIN_ZOOM / self.zoom(), min(MAX_ZOOM / self.zoom(), factor))
        if abs(factor - 1.0) < 1e-9:
            return
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse if anchor_under_mouse
                                     else QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.scale(factor, factor)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt override
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            steps = event.angleDelta().y() / 120.0
            if steps:
                self._zoom_by(ZOOM_STEP ** steps, anchor_under_mouse=True)
            event.accept()
            return
        super().wheelEvent(event)

    def _start_pan(self, at: QPoint) -> None:
        self._pan_anchor = at
        self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)

    def _pan_to(self, at: QPoint) -> None:
        assert self._pan_anchor is not None
        delta = at - self._pan_anchor
        self._pan_anchor = at
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - delta.x())
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() - delta.y())

    def _end_pan(self) -> None:
        self._pan_anchor = None
        self.viewport().setCursor(Qt.CursorShape.OpenHandCursor if self._space_held else Qt.CursorShape.ArrowCursor)

    # --- mouse -----------------------------------------------------------------------------------

    def port_at(self, scene_pos: QPointF) -> PortRef | None:
        """The port under ``scene_pos`` (top-most card first), or None."""
        for item in self._scene.items(QRectF(scene_pos.x() - 12, scene_pos.y() - 12, 24, 24)):
            if isinstance(item, NodeItem):
                port = item.port_at(scene_pos)
                if port is not None:
                    return port
        return None

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        button = event.button()
        if button == Qt.MouseButton.MiddleButton or (button == Qt.MouseButton.LeftButton and self._space_held):
            self._start_pan(event.position().toPoint())
            event.accept()
            return
        if button == Qt.MouseButton.LeftButton and self._graph is not None:
            scene_pos = self.mapToScene(event.position().toPoint())
            port = self.port_at(scene_pos)
            if port is not None:
                if self._editable():
                    self._begin_wire(port, scene_pos)
                event.accept()
                return
        super().mousePressEvent(event)
        if button == Qt.MouseButton.LeftButton:
            # Remember where the (possibly just selected) cards started, to make one move command.
            self._drag_start = {item.node_id: (item.pos().x(), item.pos().y())
                                for item in self._scene.selectedItems() if isinstance(item, NodeItem)}

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if self._pan_anchor is not None:
            self._pan_to(event.position().toPoint())
            event.accept()
            return
        if self._wire_from is not None:
            self._drag_wire(self.mapToScene(event.position().toPoint()))
            event.accept()
            return
        if event.buttons() == Qt.MouseButton.NoButton and not self._space_held and self._graph is not None:
            # A crosshair over a port says "drag from here to wire it".
            over_port = self.port_at(self.mapToScene(event.position().toPoint())) is not None
            self.viewport().setCursor(Qt.CursorShape.CrossCursor if over_port and not self._read_only
                                      else Qt.CursorShape.ArrowCursor)
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if self._pan_anchor is not None and event.button() in (Qt.MouseButton.MiddleButton,
                                                               Qt.MouseButton.LeftButton):
            self._end_pan()
            event.accept()
            return
        if self._wire_from is not None and event.button() == Qt.MouseButton.LeftButton:
            self._finish_wire(self.mapToScene(event.position().toPoint()))
            event.accept()
            return
        super().mouseReleaseEvent(event)
        if event.button() == Qt.MouseButton.LeftButton:
            self._commit_drag()

    def _commit_drag(self) -> None:
        """Turn the cards' preview movement into one MoveNodes command (or put them back)."""
        start, self._drag_start = self._drag_start, {}
        if self._graph is None or not start:
            return
        moved: dict[str, tuple[float, float]] = {}
        for node_id, old in start.items():
            item = self._scene.node_items.get(node_id)
            if item is not None and (item.pos().x(), item.pos().y()) != old:
                moved[node_id] = (item.pos().x(), item.pos().y())
        if not moved:
            return
        old_positions = {k: self._graph.node(k).position for k in moved}
        if self._read_only or not self._push(MoveNodes(self._graph, moved, old_positions)):
            for node_id, position in old_positions.items():
                self._scene.node_items[node_id].follow_model_position(position)
        self._scene.fit_scene_rect()

    # --- wiring ----------------------------------------------------------------------------------

    def _begin_wire(self, port: PortRef, scene_pos: QPointF) -> None:
        assert self._graph is not None
        self._wire_from = port
        self._wire_targets = {}
        for item in self._scene.node_items.values():
            for candidate in item.ports():
                if candidate.is_output == port.is_output:
                    continue
                ok = self._wire_problem(port, candidate) is None
                self._wire_targets[candidate] = ok
                if ok:
                    item.set_port_highlight(candidate, PortHighlight.ACCEPT)
        self._wire_preview = QGraphicsPathItem()
        pen = QPen(QColor(ACCEPT_COLOUR), 2.0, Qt.PenStyle.DashLine, Qt.PenCapStyle.RoundCap)
        self._wire_preview.setPen(pen)
        self._wire_preview.setZValue(10)
        self._scene.addItem(self._wire_preview)
        self._drag_wire(scene_pos)

    def _wire_problem(self, a: PortRef, b: PortRef) -> str | None:
        """Why a wire between ports ``a`` and ``b`` is refused, or None."""
        assert self._graph is not None
        if a.is_output == b.is_output:
            return "connect an output to an input"
        out, into = (a, b) if a.is_output else (b, a)
        return self._graph.connection_problem(out.node_id, into.node_id, into.name or "in")

    def _drag_wire(self, scene_pos: QPointF) -> None:
        assert self._wire_from is not None and self._wire_preview is not None
        anchor = self._scene.node_items[self._wire_from.node_id].port_scene_pos(self._wire_from)
        target = self._wire_target_at(scene_pos)
        if target is not None and target.is_output == self._wire_from.is_output:
            target = None
        end = scene_pos
        if target is not None:
            end = self._scene.node_items[target.node_id].port_scene_pos(target)
        path: QPainterPath = wire_path(anchor, end) if self._wire_from.is_output else wire_path(end, anchor)
        self._wire_preview.setPath(path)
        if target != self._hovered_port:
            self._set_hover(target)

    def _wire_target_at(self, scene_pos: QPointF) -> PortRef | None:
        """Where a wire dragged to ``scene_pos`` would attach: the port under the pointer, or, over a
        card's body, that card's first port that would accept it (so aiming needs no precision)."""
        assert self._wire_from is not None
        wants_output = not self._wire_from.is_output
        port = self.port_at(scene_pos)
        if port is not None:
            return port  # even a wrong one: dropping there says why it cannot connect
        for item in self._scene.items(scene_pos):
            if isinstance(item, NodeItem):
                if item.node_id == self._wire_from.node_id:
                    return None
                candidates = [p for p in item.ports() if p.is_output == wants_output]
                accepted = [p for p in candidates if self._wire_targets.get(p)]
                return (accepted or candidates or [None])[0]
        return None

    def _set_hover(self, port: PortRef | None) -> None:
        previous = self._hovered_port
        if previous is not None and previous.node_id in self._scene.node_items:
            state = PortHighlight.ACCEPT if self._wire_targets.get(previous) else PortHighlight.NONE
            self._scene.node_items[previous.node_id].set_port_highlight(previous, state)
        self._hovered_port = port
        if port is not None and self._wire_targets.get(port):
            self._scene.node_items[port.node_id].set_port_highlight(port, PortHighlight.HOVER)

    def _finish_wire(self, scene_pos: QPointF) -> None:
        assert self._wire_from is not None
        start = self._wire_from
        target = self._wire_target_at(scene_pos)
        self._cancel_wire()
        if target is None:
            return
        problem = self._wire_problem(start, target)
        if problem:
            self.status_message.emit(f"Cannot connect: {problem}")
            return
        out, into = (start, target) if start.is_output else (target, start)
        self.connect_ports(out.node_id, into.node_id, into.name or "in")

    def _cancel_wire(self) -> None:
        if self._wire_preview is not None:
            self._scene.removeItem(self._wire_preview)
            self._wire_preview = None
        for item in self._scene.node_items.values():
            item.clear_highlights()
        self._wire_from = None
        self._wire_targets = {}
        self._hovered_port = None

    # --- keyboard --------------------------------------------------------------------------------

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        key = event.key()
        if key == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = True
            self.setDragMode(QGraphicsView.DragMode.NoDrag)
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            event.accept()
            return
        if key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.delete_selection()
            event.accept()
            return
        if key == Qt.Key.Key_F2 and len(self.selected_node_ids()) == 1 and self._editable():
            self.rename_requested.emit(self.selected_node_ids()[0])
            event.accept()
            return
        if key == Qt.Key.Key_Escape and self._wire_from is not None:
            self._cancel_wire()
            event.accept()
            return
        if key in _NUDGE and self.selected_node_ids():
            # Arrow keys nudge the selection one grid step (Shift: ten), one undo step per press.
            dx, dy = _NUDGE[key]
            step = GRID_STEP * (10 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 1)
            self.nudge_selection(dx * step, dy * step)
            event.accept()
            return
        if key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom_in()
            event.accept()
            return
        if key == Qt.Key.Key_Minus:
            self.zoom_out()
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = False
            self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
            if self._pan_anchor is None:
                self.viewport().setCursor(Qt.CursorShape.ArrowCursor)
            event.accept()
            return
        super().keyReleaseEvent(event)

    def focusOutEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        # A Space released elsewhere must not leave the view stuck in pan mode.
        if self._space_held:
            self._space_held = False
            self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
            self.viewport().setCursor(Qt.CursorShape.ArrowCursor)
        super().focusOutEvent(event)

    # --- drops from the palette ------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasFormat(MIME_LAYER) and not self._read_only:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasFormat(MIME_LAYER) and not self._read_only:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        mime = event.mimeData()
        if not mime.hasFormat(MIME_LAYER):
            event.ignore()
            return
        type_id = bytes(mime.data(MIME_LAYER).data()).decode("utf-8").strip()
        scene_pos = self.mapToScene(event.position().toPoint())
        if self.add_layer(type_id, scene_pos):
            self.setFocus(Qt.FocusReason.MouseFocusReason)
            event.acceptProposedAction()
        else:
            event.ignore()

    # --- looks -----------------------------------------------------------------------------------

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._scene.setPalette(self.palette())
            self._scene.setFont(self.font())
            self._scene.refresh_looks()
            self.resetCachedContent()
        super().changeEvent(event)

    def scrollContentsBy(self, dx: int, dy: int) -> None:  # noqa: N802 - Qt override
        super().scrollContentsBy(dx, dy)
        # The banner and the hint are pinned to the viewport: scrolled pixels would smear them.
        if self._read_only or not self._scene.node_items:
            self.viewport().update()

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802 - Qt override
        if not self._read_only and self._scene.node_items:
            return
        painter.save()
        painter.resetTransform()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        viewport = QRectF(self.viewport().rect())
        colours = self._scene.colours
        if self._read_only:
            text = "Training: editing is locked"
            metrics = painter.fontMetrics()
            width = metrics.horizontalAdvance(text) + 32
            banner = QRectF(viewport.center().x() - width / 2, 10, width, metrics.height() + 12)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(colours.selection))
            painter.drawRoundedRect(banner, banner.height() / 2, banner.height() / 2)
            painter.setPen(QColor("white"))
            painter.drawText(banner, Qt.AlignmentFlag.AlignCenter, text)
            frame = QColor(colours.selection)
            frame.setAlphaF(0.6)
            painter.setPen(QPen(frame, 3))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(viewport.adjusted(1.5, 1.5, -1.5, -1.5))
        elif self._graph is not None:
            painter.setPen(colours.muted_text)
            painter.drawText(viewport, Qt.AlignmentFlag.AlignCenter,
                             "Drag layers here from the palette")
        painter.restore()


class _SignalsBlockedOnce:
    """Block a QObject's signals for a ``with`` block (so a bulk selection emits once, after)."""

    def __init__(self, obj: Any) -> None:
        self._obj = obj

    def __enter__(self) -> None:
        self._was = self._obj.blockSignals(True)

    def __exit__(self, *exc: object) -> None:
        self._obj.blockSignals(self._was)


def _layers(count: int) -> str:
    return "1 layer" if count == 1 else f"{count} layers"


def _delete_text(node_ids: list[str], children: list[Command]) -> str:
    wires = len(children) - (1 if node_ids else 0)
    parts = [_layers(len(node_ids))] if node_ids else []
    if wires:
        parts.append("1 wire" if wires == 1 else f"{wires} wires")
    return "Delete " + " and ".join(parts)

"""The graph editor canvas: the view where layers are placed, wired, moved and removed.

:class:`CanvasView` is the view: zoom, pan, fitting, selection, the read-only banner, and the
dispatch of mouse, key and drop events. Gestures are interaction objects
(:mod:`nnstudio.ui.canvas_interactions`); every edit becomes a core command pushed by
:class:`~nnstudio.ui.canvas_edits.CanvasEdits` (``view.edits``, which the window's actions call);
the scene (:mod:`nnstudio.ui.canvas_scene`) redraws from the graph's events. Given a document
(:meth:`CanvasView.follow`), the view shows its graph and each of its analyses by itself.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPen,
    QWheelEvent,
)
from PySide6.QtWidgets import QFrame, QGraphicsView, QWidget

from nnstudio.core.commands import UndoStack
from nnstudio.core.graph import Graph
from nnstudio.ui.canvas_edits import CanvasEdits
from nnstudio.ui.canvas_interactions import CardDrag, PanDrag, WireDrag, dropped_layer_type
from nnstudio.ui.canvas_items import EdgeItem, NodeItem, PortRef
from nnstudio.ui.canvas_scene import CanvasScene
from nnstudio.ui.canvas_style import GRID_STEP

if TYPE_CHECKING:
    from nnstudio.ui.document import Document

MIN_ZOOM, MAX_ZOOM = 0.1, 4.0
#: Below this zoom card text is too small to read; a freshly opened network is never shown smaller.
READABLE_ZOOM = 0.8
ZOOM_STEP = 1.2
_NUDGE = {Qt.Key.Key_Left: (-1, 0), Qt.Key.Key_Right: (1, 0), Qt.Key.Key_Up: (0, -1), Qt.Key.Key_Down: (0, 1)}


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
        #: The edit operations (the window's Edit actions call these).
        self.edits = CanvasEdits(self)
        self._document: Document | None = None
        self._frame_when_shown = False
        # The gesture in progress, if any.
        self._wire: WireDrag | None = None
        self._pan: PanDrag | None = None
        self._cards: CardDrag | None = None
        self._space_held = False

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
        self._scene.items_changed.connect(self._on_items_changed)
        self._was_empty = True

    # --- document --------------------------------------------------------------------------------

    def follow(self, document: Document) -> None:
        """Shows ``document``'s graph and analyses from now on (a new project is framed when shown)."""
        self._document = document
        document.replaced.connect(self._on_document_replaced)
        document.analysis_ready.connect(self.set_analysis)

    def _on_document_replaced(self) -> None:
        assert self._document is not None
        self.set_document(self._document.graph, self._document.undo_stack)
        QTimer.singleShot(0, self, self.frame_document)  # after the window's layout settled

    def set_document(self, graph: Graph, undo_stack: UndoStack) -> None:
        """Shows ``graph`` and pushes edits on ``undo_stack`` (on New/Open); the view is fitted to it."""
        self._cancel_wire()
        if self.edits.graph is not None:
            self.edits.graph.events.node_renamed.disconnect(self._on_node_renamed)
        self.edits.bind(graph, undo_stack)
        self._scene.bind(graph)
        graph.events.node_renamed.connect(self._on_node_renamed)
        self.edits.set_read_only(self.edits.read_only)
        # A hidden view has no real size yet: frame the network when it first shows.
        self._frame_when_shown = not self.isVisible()
        self.frame_document()

    def set_analysis(self, analysis: Any) -> None:
        """Shows shapes, parameter counts and problems from an ``nnstudio.compile`` Analysis (or None)."""
        self._scene.set_analysis(analysis)

    def set_read_only(self, read_only: bool) -> None:
        """Locks (during training) or unlocks editing; a banner says so while locked."""
        if read_only == self.edits.read_only:
            return
        self._cancel_wire()
        self.edits.set_read_only(read_only)
        self.setAcceptDrops(not read_only)
        self.viewport().update()

    def is_read_only(self) -> bool:
        return self.edits.read_only

    @property
    def canvas_scene(self) -> CanvasScene:
        return self._scene

    # --- selection -------------------------------------------------------------------------------

    def selected_node_ids(self) -> list[str]:
        """Returns the ids of the selected layers, in graph order."""
        graph = self.edits.graph
        if graph is None:
            return []
        selected = {item.node_id for item in self._scene.selectedItems() if isinstance(item, NodeItem)}
        return [node_id for node_id in graph.node_ids() if node_id in selected]

    def selected_edges(self) -> list[EdgeItem]:
        return [item for item in self._scene.selectedItems() if isinstance(item, EdgeItem)]

    def select_nodes(self, ids: Iterable[str]) -> None:
        """Selects exactly these layers (unknown ids are ignored)."""
        wanted = set(ids)
        was_blocked = self._scene.blockSignals(True)  # one selection_changed, after
        try:
            self._scene.clearSelection()
            for node_id in wanted:
                item = self._scene.node_items.get(node_id)
                if item is not None:
                    item.setSelected(True)
        finally:
            self._scene.blockSignals(was_blocked)
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

    # --- mouse, keys and drops: handed to the gesture in progress ------------------------------

    def port_at(self, scene_pos: QPointF) -> PortRef | None:
        """Returns the port under ``scene_pos`` (top-most card first), or None."""
        for item in self._scene.items(QRectF(scene_pos.x() - 12, scene_pos.y() - 12, 24, 24)):
            if isinstance(item, NodeItem):
                port = item.port_at(scene_pos)
                if port is not None:
                    return port
        return None

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        button = event.button()
        if button == Qt.MouseButton.MiddleButton or (button == Qt.MouseButton.LeftButton and self._space_held):
            self._pan = PanDrag(self, event.position().toPoint())
            event.accept()
            return
        if button == Qt.MouseButton.LeftButton and self.edits.graph is not None:
            scene_pos = self.mapToScene(event.position().toPoint())
            port = self.port_at(scene_pos)
            if port is not None:
                if self.edits.editable():
                    self._wire = WireDrag(self, port, scene_pos)
                event.accept()
                return
        super().mousePressEvent(event)
        if button == Qt.MouseButton.LeftButton:
            self._cards = CardDrag(self)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if self._pan is not None:
            self._pan.move(event.position().toPoint())
            event.accept()
            return
        if self._wire is not None:
            self._wire.move(self.mapToScene(event.position().toPoint()))
            event.accept()
            return
        if event.buttons() == Qt.MouseButton.NoButton and not self._space_held and self.edits.graph is not None:
            # A crosshair over a port says "drag from here to wire it".
            over_port = self.port_at(self.mapToScene(event.position().toPoint())) is not None
            self.viewport().setCursor(Qt.CursorShape.CrossCursor if over_port and not self.edits.read_only
                                      else Qt.CursorShape.ArrowCursor)
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if self._pan is not None and event.button() in (Qt.MouseButton.MiddleButton, Qt.MouseButton.LeftButton):
            self._pan.end(self._space_held)
            self._pan = None
            event.accept()
            return
        if self._wire is not None and event.button() == Qt.MouseButton.LeftButton:
            wire, self._wire = self._wire, None
            wire.finish(self.mapToScene(event.position().toPoint()))
            event.accept()
            return
        super().mouseReleaseEvent(event)
        if event.button() == Qt.MouseButton.LeftButton and self._cards is not None:
            cards, self._cards = self._cards, None
            cards.finish()

    def _cancel_wire(self) -> None:
        if self._wire is not None:
            self._wire.cancel()
            self._wire = None

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        key = event.key()
        if key == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = True
            self.setDragMode(QGraphicsView.DragMode.NoDrag)
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
        elif key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.edits.delete_selection()
        elif key == Qt.Key.Key_F2 and len(self.selected_node_ids()) == 1 and self.edits.editable():
            self.rename_requested.emit(self.selected_node_ids()[0])
        elif key == Qt.Key.Key_Escape and self._wire is not None:
            self._cancel_wire()
        elif key in _NUDGE and self.selected_node_ids():
            # Arrow keys nudge the selection one grid step (Shift: ten), one undo step per press.
            dx, dy = _NUDGE[key]
            step = GRID_STEP * (10 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 1)
            self.edits.nudge_selection(dx * step, dy * step)
        elif key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom_in()
        elif key == Qt.Key.Key_Minus:
            self.zoom_out()
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._release_space()
            event.accept()
            return
        super().keyReleaseEvent(event)

    def focusOutEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        # A Space released elsewhere must not leave the view stuck in pan mode.
        if self._space_held:
            self._release_space()
        super().focusOutEvent(event)

    def _release_space(self) -> None:
        self._space_held = False
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        if self._pan is None:
            self.viewport().setCursor(Qt.CursorShape.ArrowCursor)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        self._accept_layer_drag(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802 - Qt override
        self._accept_layer_drag(event)

    def _accept_layer_drag(self, event: QDragEnterEvent | QDragMoveEvent) -> None:
        if dropped_layer_type(event.mimeData(), self.edits.read_only) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        type_id = dropped_layer_type(event.mimeData(), self.edits.read_only)
        if type_id is not None and self.edits.add_layer(type_id, self.mapToScene(event.position().toPoint())):
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

    def _on_items_changed(self) -> None:
        # The hint belongs to an empty canvas: repaint the whole viewport when that changes (the
        # smart update mode would repaint only the new card, leaving the hint behind it).
        empty = not self._scene.node_items
        if empty != self._was_empty:
            self._was_empty = empty
            self.viewport().update()

    def scrollContentsBy(self, dx: int, dy: int) -> None:  # noqa: N802 - Qt override
        super().scrollContentsBy(dx, dy)
        # The banner and the hint are pinned to the viewport: scrolled pixels would smear them.
        if self.edits.read_only or not self._scene.node_items:
            self.viewport().update()

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802 - Qt override
        if not self.edits.read_only and self._scene.node_items:
            return
        painter.save()
        painter.resetTransform()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        viewport = QRectF(self.viewport().rect())
        colours = self._scene.colours
        if self.edits.read_only:
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
        elif self.edits.graph is not None:
            painter.setPen(colours.muted_text)
            painter.drawText(viewport, Qt.AlignmentFlag.AlignCenter,
                             "Drag layers here from the palette")
        painter.restore()

"""The overview in the canvas's corner: the whole network small, and the rectangle the view shows.

It appears when the network does not fit in the view. Clicking or dragging in it moves the view
there. The drawing of the network is made once per change of the canvas's items (cards, blocks and
frames as small boxes in their colours, wires as thin lines) and only the rectangle is redrawn while
the view scrolls, so panning stays as fast as without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPen, QPixmap
from PySide6.QtWidgets import QWidget

from nnstudio.ui.canvas_block_items import BlockItem, PinItem
from nnstudio.ui.canvas_items import NodeItem
from nnstudio.ui.canvas_style import BLOCK_ACCENT, category_colour

if TYPE_CHECKING:
    from nnstudio.ui.canvas import CanvasView

OVERVIEW_SIZE = QSize(200, 150)
MARGIN = 6.0


class CanvasOverview(QWidget):
    """A small map of the whole network with the view's rectangle; click or drag to move the view."""

    def __init__(self, view: CanvasView, parent: QWidget) -> None:
        super().__init__(parent)
        self._view = view
        self.setObjectName("canvasOverview")
        self.setAccessibleName("Overview of the network")
        self.setToolTip("The whole network; click or drag to move the view")
        self.setFixedSize(OVERVIEW_SIZE)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self._picture: QPixmap | None = None
        self._content = QRectF()
        self._scale = 1.0
        self._offset = QPointF()
        self.enabled = True
        view.canvas_scene.items_changed.connect(self.invalidate)
        view.horizontalScrollBar().valueChanged.connect(self._on_view_moved)
        view.verticalScrollBar().valueChanged.connect(self._on_view_moved)
        self.hide()

    # --- mapping -----------------------------------------------------------------------------------

    def to_widget(self, scene_point: QPointF) -> QPointF:
        return QPointF((scene_point.x() - self._content.left()) * self._scale + self._offset.x(),
                       (scene_point.y() - self._content.top()) * self._scale + self._offset.y())

    def to_scene(self, point: QPointF) -> QPointF:
        return QPointF((point.x() - self._offset.x()) / self._scale + self._content.left(),
                       (point.y() - self._offset.y()) / self._scale + self._content.top())

    def visible_rect(self) -> QRectF:
        """The view's visible part of the scene, in the overview's coordinates."""
        self._ensure_picture()
        view = self._view
        scene_rect = view.mapToScene(view.viewport().rect()).boundingRect()
        return QRectF(self.to_widget(scene_rect.topLeft()), self.to_widget(scene_rect.bottomRight()))

    # --- keeping up --------------------------------------------------------------------------------

    def invalidate(self) -> None:
        """The items changed: redraw the network on the next paint."""
        self._picture = None
        self.refresh()

    def refresh(self) -> None:
        """Shows the overview when the network is larger than the view (and it is enabled)."""
        view = self._view
        content = view.canvas_scene.content_rect()
        visible = view.mapToScene(view.viewport().rect()).boundingRect()
        wanted = self.enabled and not content.isEmpty() and not visible.contains(content)
        if wanted != self.isVisible():
            self.setVisible(wanted)
        if wanted:
            self.place()
            self.update()

    def place(self) -> None:
        """Keeps the overview at the bottom-right corner of the canvas."""
        viewport = self._view.viewport().geometry()
        self.move(viewport.right() - self.width() - 10, viewport.bottom() - self.height() - 10)
        self.raise_()

    def _on_view_moved(self) -> None:
        if self.isVisible():
            self.update()
        else:
            self.refresh()

    def _ensure_picture(self) -> None:
        if self._picture is not None:
            return
        scene = self._view.canvas_scene
        content = scene.content_rect()
        if content.isEmpty():
            content = QRectF(0, 0, 1, 1)
        self._content = content
        width, height = self.width() - 2 * MARGIN, self.height() - 2 * MARGIN
        self._scale = min(width / content.width(), height / content.height())
        self._offset = QPointF(MARGIN + (width - content.width() * self._scale) / 2,
                               MARGIN + (height - content.height() * self._scale) / 2)
        ratio = self.devicePixelRatioF()
        picture = QPixmap(self.size() * ratio)
        picture.setDevicePixelRatio(ratio)
        picture.fill(Qt.GlobalColor.transparent)
        painter = QPainter(picture)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        colours = scene.colours
        frame_fill = QColor(BLOCK_ACCENT)
        frame_fill.setAlphaF(0.12)
        painter.setPen(QPen(QColor(BLOCK_ACCENT), 0.8))
        painter.setBrush(frame_fill)
        for frame in scene.frame_items.values():
            painter.drawRect(self._box(frame.mapRectToScene(frame.rect())))
        wire = QColor(colours.wire)
        wire.setAlphaF(0.5)
        painter.setPen(QPen(wire, 0.6))
        for item in scene.wire_items:
            start, end = item.end_points()
            painter.drawLine(self.to_widget(start), self.to_widget(end))
        painter.setPen(Qt.PenStyle.NoPen)
        for item in scene.unit_items.values():
            if isinstance(item, NodeItem):
                painter.setBrush(category_colour(item.spec.category))
            elif isinstance(item, BlockItem):
                painter.setBrush(BLOCK_ACCENT)
            elif isinstance(item, PinItem):
                painter.setBrush(colours.muted_text)
            painter.drawRect(self._box(item.mapRectToScene(item.shape().boundingRect())))
        painter.end()
        self._picture = picture

    def _box(self, scene_rect: QRectF) -> QRectF:
        box = QRectF(self.to_widget(scene_rect.topLeft()), self.to_widget(scene_rect.bottomRight()))
        if box.width() < 2:
            box.setWidth(2)
        if box.height() < 1.5:
            box.setHeight(1.5)
        return box

    # --- Qt events ---------------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        self._ensure_picture()
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        colours = self._view.canvas_scene.colours
        background = QColor(colours.card)
        background.setAlphaF(0.92)
        painter.setPen(QPen(colours.card_border, 1.0))
        painter.setBrush(background)
        painter.drawRoundedRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5), 6, 6)
        assert self._picture is not None
        painter.drawPixmap(0, 0, self._picture)
        shown = self.visible_rect().intersected(QRectF(self.rect()).adjusted(1, 1, -1, -1))
        fill = QColor(colours.selection)
        fill.setAlphaF(0.15)
        painter.setBrush(fill)
        painter.setPen(QPen(colours.selection, 1.5))
        painter.drawRect(shown)
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if event.button() == Qt.MouseButton.LeftButton:
            self._move_view(event.position())
            event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._move_view(event.position())
            event.accept()

    def _move_view(self, point: QPointF) -> None:
        self._ensure_picture()
        self._view.centerOn(self.to_scene(point))
        self.update()

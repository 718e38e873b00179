"""The canvas items of nested networks: a collapsed block's card, an expanded block's frame, and pins.

A collapsed block is one card (drawn as a small deck, so it reads as "more inside") with its ports,
output shape, parameter count and the worst problem inside with how many there are. An expanded block
is a frame around its units (they are the frame's child items, so dragging the frame drags them);
only its title bar and border take clicks, so a rubber band can start inside it. Inside a block the
person stepped into, pins stand for the values entering and leaving it. Items only draw what the
scene tells them; they never change the graph.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPainterPathStroker, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from nnstudio.core.block_layout import BLOCK_TITLE
from nnstudio.core.problems import Problem
from nnstudio.ui.canvas_items import DETAIL_ZOOM, PortRef, UnitItem, short_title
from nnstudio.ui.canvas_outline import BLOCK_HEIGHT, BLOCK_WIDTH, IN_PIN, BlockPort
from nnstudio.ui.canvas_style import (
    BLOCK_ACCENT,
    CORNER_RADIUS,
    ERROR_COLOUR,
    NODE_HEIGHT,
    NODE_WIDTH,
    PORT_HIT_RADIUS,
    STRIP_WIDTH,
    WARNING_COLOUR,
    CanvasColours,
    CardFonts,
    fit_shape_text,
    snap,
)

if TYPE_CHECKING:
    from collections.abc import Callable


BLOCK_TYPE = QGraphicsItem.UserType + 3
FRAME_TYPE = QGraphicsItem.UserType + 4
PIN_TYPE = QGraphicsItem.UserType + 5

#: The chevron that opens or closes a block: its box in item coordinates.
CHEVRON_BOX = QRectF(STRIP_WIDTH + 4, 4, 16, 18)
FRAME_CHEVRON_BOX = QRectF(6, 6, 18, 18)
#: How far the two sheets behind a collapsed block's card stick out.
DECK_OFFSET = 3.0
FRAME_RADIUS = 10.0

_MOVABLE = (QGraphicsItem.GraphicsItemFlag.ItemIsSelectable | QGraphicsItem.GraphicsItemFlag.ItemIsMovable
            | QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges)
_DEVICE_CACHE = QGraphicsItem.CacheMode.DeviceCoordinateCache
_POSITION_CHANGE = QGraphicsItem.GraphicsItemChange.ItemPositionChange
_POSITION_CHANGED = QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged
_SELECTION_CHANGED = QGraphicsItem.GraphicsItemChange.ItemSelectedHasChanged


def worst_and_count(problems: Iterable[Problem]) -> tuple[str | None, int]:
    """The worst severity among ``problems`` ("error", "warning" or None) and how many there are."""
    worst, count = None, 0
    for problem in problems:
        count += 1
        if problem.is_error:
            worst = "error"
        elif worst is None:
            worst = "warning"
    return worst, count


def _spread(count: int, slot: int) -> float:
    return BLOCK_WIDTH * (slot + 1) / (count + 1)


class BlockItem(UnitItem):
    """A collapsed block: a card with the block's name, what it is, its output shape and size."""

    def __init__(self, path: str, colours: Callable[[], CanvasColours], fonts: CardFonts) -> None:
        super().__init__(path)
        self._colours = colours
        self._fonts = fonts
        self.inputs: list[BlockPort] = []
        self.outputs: list[BlockPort] = []
        self._subtitle = ""
        self._shape_text = ""
        self._count_text = ""
        self._worst: str | None = None
        self._problem_count = 0
        self.setFlags(_MOVABLE)
        self.setCacheMode(_DEVICE_CACHE)
        self.setZValue(1)

    def type(self) -> int:
        return BLOCK_TYPE

    # --- state set by the scene ------------------------------------------------------------------

    def set_ports(self, inputs: list[BlockPort], outputs: list[BlockPort]) -> None:
        keys = ([p.key for p in inputs], [p.key for p in outputs])
        if keys != ([p.key for p in self.inputs], [p.key for p in self.outputs]):
            self.prepareGeometryChange()
            self.inputs, self.outputs = inputs, outputs
            for edge in self.edges:
                edge.update_path()
            self.update()
        else:
            self.inputs, self.outputs = inputs, outputs

    def annotate(self, subtitle: str, shape_text: str, count_text: str, problems: list[Problem]) -> None:
        """Show what the block is, its output shape, its parameters and the problems inside it."""
        worst, count = worst_and_count(problems)
        state = (subtitle, shape_text, count_text, worst, count)
        if state == (self._subtitle, self._shape_text, self._count_text, self._worst, self._problem_count):
            return
        self._subtitle, self._shape_text, self._count_text, self._worst, self._problem_count = state
        tip = [f"<b>{html.escape(self.key)}</b> ({html.escape(subtitle)})"]
        if shape_text:
            tip.append(f"output {shape_text}")
        if count_text:
            tip.append(f"{count_text} parameters")
        if count:
            colour = ERROR_COLOUR if worst == "error" else WARNING_COLOUR
            first = problems[0]
            tip.append(f"<span style='color:{colour.name()}'>{count} problem{'s' * (count != 1)} inside</span>: "
                       f"{html.escape(first.node_id or '')}: {html.escape(first.message)}"
                       + (" …" if count > 1 else ""))
        tip.append("<i>Double-click to open, Ctrl+double-click to step inside</i>")
        self.setToolTip("<br>".join(tip))
        self.update()

    @property
    def shape_text(self) -> str:
        return self._shape_text

    @property
    def count_text(self) -> str:
        return self._count_text

    @property
    def subtitle(self) -> str:
        return self._subtitle

    @property
    def problem_summary(self) -> tuple[str | None, int]:
        """The worst severity of the problems inside the block and how many there are."""
        return self._worst, self._problem_count

    # --- ports -------------------------------------------------------------------------------------

    def ports(self) -> list[PortRef]:
        return ([PortRef(self.key, "in", p.key) for p in self.inputs]
                + [PortRef(self.key, "out", p.key) for p in self.outputs])

    def port_local_pos(self, port: PortRef) -> QPointF:
        ports = self.outputs if port.is_output else self.inputs
        keys = [p.key for p in ports]
        slot = keys.index(port.name) if port.name in keys else 0
        return QPointF(_spread(len(keys), slot), BLOCK_HEIGHT if port.is_output else 0.0)

    def port(self, ref: PortRef) -> BlockPort | None:
        for port in self.outputs if ref.is_output else self.inputs:
            if port.key == ref.name:
                return port
        return None

    # --- geometry and drawing ------------------------------------------------------------------------

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt override
        margin = PORT_HIT_RADIUS + 2
        return QRectF(-4, -margin, BLOCK_WIDTH + 2 * DECK_OFFSET + 8, BLOCK_HEIGHT + 2 * margin + 2 * DECK_OFFSET)

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRoundedRect(QRectF(0, 0, BLOCK_WIDTH, BLOCK_HEIGHT), CORNER_RADIUS, CORNER_RADIUS)
        for port in self.ports():
            path.addEllipse(self.port_local_pos(port), PORT_HIT_RADIUS, PORT_HIT_RADIUS)
        return path

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        colours = self._colours()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        detail = option.levelOfDetailFromTransform(painter.worldTransform())
        card = QRectF(0, 0, BLOCK_WIDTH, BLOCK_HEIGHT)
        # Two sheets behind the card: a block is a deck of layers.
        for step in (2, 1):
            sheet = card.translated(DECK_OFFSET * step, DECK_OFFSET * step)
            painter.setPen(QPen(colours.card_border, 1.0))
            painter.setBrush(colours.card)
            painter.drawRoundedRect(sheet, CORNER_RADIUS, CORNER_RADIUS)
        outline = QPainterPath()
        outline.addRoundedRect(card, CORNER_RADIUS, CORNER_RADIUS)
        painter.fillPath(outline, colours.card)
        painter.save()
        painter.setClipPath(outline)
        painter.fillRect(QRectF(0, 0, STRIP_WIDTH, BLOCK_HEIGHT), BLOCK_ACCENT)
        painter.restore()
        if self.isSelected():
            border = QPen(colours.selection, 2.2)
        elif self._worst == "error":
            border = QPen(ERROR_COLOUR, 2.0)
        elif self._worst == "warning":
            border = QPen(WARNING_COLOUR, 1.8)
        else:
            border = QPen(colours.card_border, 1.0)
        painter.setPen(border)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(card.adjusted(0.5, 0.5, -0.5, -0.5), CORNER_RADIUS, CORNER_RADIUS)
        if detail >= DETAIL_ZOOM:
            self._paint_text(painter, colours)
        self.paint_ports(painter, colours, BLOCK_ACCENT)

    def _paint_text(self, painter: QPainter, colours: CanvasColours) -> None:
        fonts = self._fonts
        left = CHEVRON_BOX.right() + 2
        right = BLOCK_WIDTH - 8
        paint_chevron(painter, CHEVRON_BOX, colours.muted_text, open_=False)
        badge_width = 0.0
        if self._worst:
            text = str(self._problem_count) if self._problem_count < 100 else "99+"
            badge_width = max(14.0, fonts.badge_metrics.horizontalAdvance(text) + 8)
            badge = QRectF(right - badge_width, 6, badge_width, 14)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(ERROR_COLOUR if self._worst == "error" else WARNING_COLOUR)
            painter.drawRoundedRect(badge, 7, 7)
            painter.setPen(QColor("white"))
            painter.setFont(fonts.badge)
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, text)
            badge_width += 4
        painter.setPen(colours.text)
        painter.setFont(fonts.title)
        title_width = right - left - badge_width
        title = fonts.title_metrics.elidedText(self.title, Qt.TextElideMode.ElideRight, title_width)
        painter.drawText(QRectF(left, 4, title_width, 18),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, title)
        # The parameter count shares the line of what the block is (its title needs the room).
        text_left = STRIP_WIDTH + 8
        count_width = 0.0
        painter.setFont(fonts.body)
        painter.setPen(colours.muted_text)
        if self._count_text:
            count_width = fonts.body_metrics.horizontalAdvance(self._count_text) + 6
            painter.drawText(QRectF(right - count_width, 22, count_width, 16),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, self._count_text)
        room = right - text_left - count_width
        subtitle = fonts.body_metrics.elidedText(self._subtitle, Qt.TextElideMode.ElideRight, room)
        painter.drawText(QRectF(text_left, 22, room, 16),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, subtitle)
        if self._shape_text:
            painter.setPen(ERROR_COLOUR if self._worst == "error" else colours.text)
            painter.setFont(fonts.mono)
            shape = fit_shape_text(self._shape_text, fonts.mono_metrics, right - text_left)
            painter.drawText(QRectF(text_left, 40, right - text_left, 16),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, shape)


class FrameItem(QGraphicsItem):
    """An expanded block: a frame with a title bar around the block's units (its child items)."""

    def __init__(self, path: str, colours: Callable[[], CanvasColours], fonts: CardFonts) -> None:
        super().__init__()
        self.key = path
        self._colours = colours
        self._fonts = fonts
        self._size = (NODE_WIDTH, NODE_HEIGHT)
        self._subtitle = ""
        self._count_text = ""
        self._depth = 0
        self._following_model = False
        self._last = QPointF()
        #: The units and frames directly inside (set by the scene): they move with the frame.
        self.inner: list[QGraphicsItem] = []
        self.setFlags(_MOVABLE)
        self.setZValue(-1)
        self.setToolTip(f"<b>{html.escape(path)}</b><br><i>Double-click the title to close</i>")

    def type(self) -> int:
        return FRAME_TYPE

    @property
    def node_id(self) -> str:
        return self.key

    def set_geometry(self, width: float, height: float, depth: int) -> None:
        if (width, height) != self._size:
            self.prepareGeometryChange()
            self._size = (width, height)
        if depth != self._depth:
            self._depth = depth
            self.update()

    def annotate(self, subtitle: str, count_text: str) -> None:
        if (subtitle, count_text) != (self._subtitle, self._count_text):
            self._subtitle, self._count_text = subtitle, count_text
            self.update()

    def follow_model_position(self, position: tuple[float, float]) -> None:
        """Place the frame where the outline says (its units are placed by the scene themselves)."""
        self._following_model = True
        try:
            self.setPos(QPointF(position[0], position[1]))
        finally:
            self._following_model = False
        self._last = self.pos()

    def shift(self, dx: float, dy: float) -> None:
        """Move the frame and the units inside it that are not moving by themselves (selected)."""
        self.follow_model_position((self.x() + dx, self.y() + dy))
        self._carry(dx, dy)

    def _carry(self, dx: float, dy: float) -> None:
        for item in self.inner:
            if item.isSelected():
                continue  # Qt drags it itself
            if isinstance(item, FrameItem):
                item.shift(dx, dy)
            else:
                item.follow_model_position((item.x() + dx, item.y() + dy))  # type: ignore[attr-defined]

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value: object) -> object:  # noqa: N802
        if change is _POSITION_CHANGE and not self._following_model:
            point = QPointF(value)  # type: ignore[call-overload]
            return QPointF(snap(point.x()), snap(point.y()))
        if change is _POSITION_CHANGED and not self._following_model:
            # Dragged: the units inside come along (wires follow them).
            delta = self.pos() - self._last
            self._last = self.pos()
            self._carry(delta.x(), delta.y())
        elif change is _SELECTION_CHANGED:
            self.update()
        return value

    def rect(self) -> QRectF:
        return QRectF(0, 0, self._size[0], self._size[1])

    def title_rect(self) -> QRectF:
        return QRectF(0, 0, self._size[0], BLOCK_TITLE)

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt override
        return self.rect().adjusted(-2, -2, 2, 2)

    def shape(self) -> QPainterPath:
        # Only the title bar and the border take clicks: a rubber band may start inside the frame.
        path = QPainterPath()
        path.addRoundedRect(self.title_rect(), FRAME_RADIUS, FRAME_RADIUS)
        border = QPainterPath()
        border.addRoundedRect(self.rect(), FRAME_RADIUS, FRAME_RADIUS)
        stroker = QPainterPathStroker()
        stroker.setWidth(6)
        return path.united(stroker.createStroke(border))

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        colours = self._colours()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = self.rect()
        fill = QColor(BLOCK_ACCENT)
        fill.setAlphaF(0.05 if colours.dark else 0.04)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(fill)
        painter.drawRoundedRect(rect, FRAME_RADIUS, FRAME_RADIUS)
        header = QPainterPath()
        header.addRoundedRect(rect, FRAME_RADIUS, FRAME_RADIUS)
        painter.save()
        painter.setClipRect(self.title_rect())
        tint = QColor(BLOCK_ACCENT)
        tint.setAlphaF(0.16 if colours.dark else 0.11)
        painter.fillPath(header, tint)
        painter.restore()
        border = QColor(BLOCK_ACCENT)
        border.setAlphaF(0.55)
        pen = QPen(colours.selection, 2.0) if self.isSelected() else QPen(border, 1.2)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(rect.adjusted(0.5, 0.5, -0.5, -0.5), FRAME_RADIUS, FRAME_RADIUS)
        if option.levelOfDetailFromTransform(painter.worldTransform()) < DETAIL_ZOOM:
            return
        fonts = self._fonts
        paint_chevron(painter, FRAME_CHEVRON_BOX, colours.muted_text, open_=True)
        left = FRAME_CHEVRON_BOX.right() + 4
        right = rect.width() - 10
        count_width = 0.0
        if self._count_text:
            count_width = fonts.body_metrics.horizontalAdvance(self._count_text) + 8
            painter.setPen(colours.muted_text)
            painter.setFont(fonts.body)
            painter.drawText(QRectF(right - count_width, 0, count_width, BLOCK_TITLE),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, self._count_text)
        room = right - left - count_width
        painter.setPen(colours.text)
        painter.setFont(fonts.title)
        title = fonts.title_metrics.elidedText(short_title(self.key), Qt.TextElideMode.ElideLeft, room)
        painter.drawText(QRectF(left, 0, room, BLOCK_TITLE),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, title)
        used = fonts.title_metrics.horizontalAdvance(title) + 8
        if self._subtitle and room - used > 30:
            painter.setPen(colours.muted_text)
            painter.setFont(fonts.body)
            subtitle = fonts.body_metrics.elidedText(self._subtitle, Qt.TextElideMode.ElideRight, room - used)
            painter.drawText(QRectF(left + used, 0, room - used, BLOCK_TITLE),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, subtitle)


class PinItem(UnitItem):
    """A value entering (``in:SOURCE``) or leaving (``out:LAYER``) the block stepped into."""

    def __init__(self, key: str, size: tuple[float, float], text: str,
                 colours: Callable[[], CanvasColours], fonts: CardFonts) -> None:
        super().__init__(key)
        self.entering = key.startswith(IN_PIN)
        self._size = size
        self._text = text
        self._colours = colours
        self._fonts = fonts
        self.setCacheMode(_DEVICE_CACHE)
        self.setZValue(1)
        self.setToolTip(f"{html.escape(text)}<br><i>Double-click to go there</i>")

    def type(self) -> int:
        return PIN_TYPE

    @property
    def outside_layer(self) -> str:
        """The layer outside the block this pin stands for (its source, or the layer whose value leaves)."""
        return self.key.partition(":")[2]

    def ports(self) -> list[PortRef]:
        return [PortRef(self.key, "out" if self.entering else "in", None)]

    def port_local_pos(self, port: PortRef) -> QPointF:
        return QPointF(self._size[0] / 2, self._size[1] if self.entering else 0.0)

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt override
        return QRectF(-2, -8, self._size[0] + 4, self._size[1] + 16)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        colours = self._colours()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(0, 0, self._size[0], self._size[1])
        painter.setPen(QPen(colours.card_border, 1.0, Qt.PenStyle.DashLine))
        painter.setBrush(colours.label_background)
        painter.drawRoundedRect(rect, rect.height() / 2, rect.height() / 2)
        if option.levelOfDetailFromTransform(painter.worldTransform()) >= DETAIL_ZOOM:
            painter.setPen(colours.muted_text)
            painter.setFont(self._fonts.body)
            text = self._fonts.body_metrics.elidedText(self._text, Qt.TextElideMode.ElideMiddle, rect.width() - 20)
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        self.paint_ports(painter, colours, BLOCK_ACCENT)


def paint_chevron(painter: QPainter, box: QRectF, colour: QColor, *, open_: bool) -> None:
    """A small triangle: pointing right (closed) or down (open)."""
    c = box.center()
    if open_:
        points = [QPointF(c.x() - 4.5, c.y() - 2.5), QPointF(c.x() + 4.5, c.y() - 2.5), QPointF(c.x(), c.y() + 3)]
    else:
        points = [QPointF(c.x() - 2.5, c.y() - 4.5), QPointF(c.x() - 2.5, c.y() + 4.5), QPointF(c.x() + 3, c.y())]
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(colour)
    path = QPainterPath()
    path.moveTo(points[0])
    for point in points[1:]:
        path.lineTo(point)
    path.closeSubpath()
    painter.drawPath(path)


class PendingItem(QGraphicsItem):
    """Where a model dropped from the palette will appear, with how far its building got."""

    SIZE = (NODE_WIDTH + 40, NODE_HEIGHT)

    def __init__(self, name: str, colours: Callable[[], CanvasColours]) -> None:
        super().__init__()
        self.name = name
        self._colours = colours
        self._fraction = 0.0
        self._message = "starting"
        self.setZValue(5)
        self.setToolTip(f"Building {html.escape(name)}; press Escape to stop")

    def set_progress(self, fraction: float, message: str) -> None:
        self._fraction, self._message = max(0.0, min(1.0, fraction)), message
        self.update()

    @property
    def progress(self) -> tuple[float, str]:
        return self._fraction, self._message

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt override
        return QRectF(-2, -2, self.SIZE[0] + 4, self.SIZE[1] + 4)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        colours = self._colours()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(0, 0, *self.SIZE)
        painter.setPen(QPen(BLOCK_ACCENT, 1.5, Qt.PenStyle.DashLine))
        painter.setBrush(colours.card)
        painter.drawRoundedRect(rect, CORNER_RADIUS, CORNER_RADIUS)
        painter.setPen(colours.text)
        painter.drawText(rect.adjusted(10, 6, -10, -34), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         f"Building {self.name}…")
        painter.setPen(colours.muted_text)
        painter.drawText(rect.adjusted(10, 26, -10, -16), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         self._message)
        bar = QRectF(10, rect.height() - 12, rect.width() - 20, 5)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(colours.grid_major)
        painter.drawRoundedRect(bar, 2.5, 2.5)
        painter.setBrush(BLOCK_ACCENT)
        painter.drawRoundedRect(QRectF(bar.left(), bar.top(), bar.width() * self._fraction, bar.height()), 2.5, 2.5)

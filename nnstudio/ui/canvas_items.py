"""The graphics items of the canvas: a layer card with its ports, and the wire between two cards.

Items only draw what the scene tells them (node data, analysis annotations, highlight states); they
never change the graph. A card's own movement during a mouse drag is a preview that the view turns
into one MoveNodes command on release.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable
from enum import Enum
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QPainter,
    QPainterPath,
    QPainterPathStroker,
    QPen,
)
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from nnstudio.core.graph import Edge, Node
from nnstudio.core.problems import Problem
from nnstudio.ui.canvas_style import (
    ACCEPT_COLOUR,
    CORNER_RADIUS,
    ERROR_COLOUR,
    NODE_HEIGHT,
    NODE_WIDTH,
    PORT_HIT_RADIUS,
    PORT_RADIUS,
    STRIP_WIDTH,
    WARNING_COLOUR,
    CanvasColours,
    CardFonts,
    arrow_head,
    category_colour,
    fit_shape_text,
    input_port_offset,
    output_port_offset,
    parameter_summary,
    snap,
    wire_path,
)

if TYPE_CHECKING:
    from collections.abc import Callable

#: Below this zoom level cards are drawn without text (unreadable anyway, and much cheaper).
DETAIL_ZOOM = 0.45

_POSITION_CHANGE = QGraphicsItem.GraphicsItemChange.ItemPositionChange
_POSITION_CHANGED = QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged
_SELECTION_CHANGED = QGraphicsItem.GraphicsItemChange.ItemSelectedHasChanged

# Built once: combining Qt enum flags is surprisingly slow in Python, and 1,000 items do it.
_NODE_FLAGS = (QGraphicsItem.GraphicsItemFlag.ItemIsSelectable | QGraphicsItem.GraphicsItemFlag.ItemIsMovable
               | QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges)
_EDGE_FLAGS = QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
_DEVICE_CACHE = QGraphicsItem.CacheMode.DeviceCoordinateCache

NODE_TYPE = QGraphicsItem.UserType + 1
EDGE_TYPE = QGraphicsItem.UserType + 2


class PortHighlight(Enum):
    """How an input or output port is shown while a wire is being dragged."""

    NONE = 0
    ACCEPT = 1
    HOVER = 2


class PortRef:
    """A port of a card: ``("out", None)`` for the output, ``("in", name)`` for an input port."""

    __slots__ = ("node_id", "direction", "name")

    def __init__(self, node_id: str, direction: str, name: str | None) -> None:
        self.node_id, self.direction, self.name = node_id, direction, name

    @property
    def is_output(self) -> bool:
        return self.direction == "out"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PortRef) and (self.node_id, self.direction, self.name) == (
            other.node_id, other.direction, other.name)

    def __hash__(self) -> int:
        return hash((self.node_id, self.direction, self.name))

    def __repr__(self) -> str:
        return f"PortRef({self.node_id!r}, {self.direction!r}, {self.name!r})"


def _paint_lock(painter: QPainter, centre: QPointF, colour: QColor) -> None:
    """A small padlock centred on ``centre``: the sign of a frozen layer."""
    painter.save()
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.setPen(QPen(colour, 1.4))
    shackle = QRectF(centre.x() - 3.0, centre.y() - 6.5, 6.0, 7.0)
    painter.drawArc(shackle, 0, 180 * 16)
    painter.drawLine(QPointF(shackle.left(), shackle.center().y()), QPointF(shackle.left(), centre.y() - 1))
    painter.drawLine(QPointF(shackle.right(), shackle.center().y()), QPointF(shackle.right(), centre.y() - 1))
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(colour)
    painter.drawRoundedRect(QRectF(centre.x() - 4.5, centre.y() - 1.5, 9.0, 7.0), 1.5, 1.5)
    painter.restore()


class NodeItem(QGraphicsItem):
    """A layer card: category strip, name, type and key settings, output shape, parameter count."""

    def __init__(self, node: Node, colours: Callable[[], CanvasColours], fonts: CardFonts) -> None:
        super().__init__()
        self.node_id = node.id
        self.spec = node.spec
        self._colours = colours
        self._fonts = fonts
        self._summary = parameter_summary(node.spec, node.params)
        #: A frozen layer (its tensors are not trained) shows a lock by its name.
        self.frozen = not node.trainable
        self._shape_text = ""
        self._count_text = ""
        self._problems: list[Problem] = []
        self._highlights: dict[tuple[str, str | None], PortHighlight] = {}
        self._following_model = False
        self.edges: list[EdgeItem] = []
        self.setFlags(_NODE_FLAGS)
        # Panning and zooming repaint hundreds of cards: draw each once per zoom level and blit it.
        self.setCacheMode(_DEVICE_CACHE)
        self.setAcceptHoverEvents(False)
        self.setZValue(1)
        self.follow_model_position(node.position)
        self.setToolTip(f"<b>{node.id}</b> ({node.spec.title})" + (" · frozen" if self.frozen else ""))

    def type(self) -> int:
        return NODE_TYPE

    # --- state set by the scene --------------------------------------------------------------------

    def follow_model_position(self, position: tuple[float, float]) -> None:
        """Place the card where the graph says, exactly (no snapping of the model's coordinates)."""
        self._following_model = True
        try:
            self.setPos(QPointF(position[0], position[1]))
        finally:
            self._following_model = False

    def refresh_params(self, node: Node) -> None:
        self._summary = parameter_summary(node.spec, node.params)
        self.frozen = not node.trainable
        self.setToolTip(f"<b>{node.id}</b> ({node.spec.title})" + (" · frozen" if self.frozen else ""))
        self.update()

    def annotate(self, shape_text: str, count_text: str, problems: Iterable[Problem]) -> None:
        """Show the analysis results for this node; redraws only when something changed."""
        problems = list(problems)
        if (shape_text, count_text, problems) == (self._shape_text, self._count_text, self._problems):
            return
        self._shape_text, self._count_text, self._problems = shape_text, count_text, problems
        tip = [f"<b>{self.node_id}</b> ({self.spec.title})"]
        if shape_text:
            tip.append(f"output {shape_text}")
        if count_text:
            tip.append(f"{count_text} parameters")
        for problem in problems:
            colour = ERROR_COLOUR if problem.is_error else WARNING_COLOUR
            where = f"{problem.field}: " if problem.field else ""
            tip.append(f"<span style='color:{colour.name()}'>{problem.severity}</span>: "
                       f"{where}{html.escape(problem.message)}")
        self.setToolTip("<br>".join(tip))
        self.update()

    @property
    def shape_text(self) -> str:
        return self._shape_text

    @property
    def count_text(self) -> str:
        return self._count_text

    @property
    def problems(self) -> list[Problem]:
        return list(self._problems)

    def set_port_highlight(self, port: PortRef, state: PortHighlight) -> None:
        key = (port.direction, port.name)
        if self._highlights.get(key, PortHighlight.NONE) is not state:
            if state is PortHighlight.NONE:
                self._highlights.pop(key, None)
            else:
                self._highlights[key] = state
            self.update()

    def clear_highlights(self) -> None:
        if self._highlights:
            self._highlights.clear()
            self.update()

    # --- ports -----------------------------------------------------------------------------------

    def ports(self) -> list[PortRef]:
        refs = [PortRef(self.node_id, "in", p.name) for p in self.spec.inputs]
        if self.spec.has_output:
            refs.append(PortRef(self.node_id, "out", None))
        return refs

    def port_local_pos(self, port: PortRef) -> QPointF:
        x, y = output_port_offset() if port.is_output else input_port_offset(self.spec, port.name or "in")
        return QPointF(x, y)

    def port_scene_pos(self, port: PortRef) -> QPointF:
        return self.mapToScene(self.port_local_pos(port))

    def port_at(self, scene_pos: QPointF, radius: float = PORT_HIT_RADIUS) -> PortRef | None:
        """The port whose centre is within ``radius`` of ``scene_pos``, nearest first, or None."""
        local = self.mapFromScene(scene_pos)
        best: tuple[float, PortRef] | None = None
        for port in self.ports():
            centre = self.port_local_pos(port)
            distance = math.hypot(local.x() - centre.x(), local.y() - centre.y())
            if distance <= radius and (best is None or distance < best[0]):
                best = (distance, port)
        return best[1] if best else None

    # --- geometry --------------------------------------------------------------------------------

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt override
        margin = PORT_HIT_RADIUS + 2
        return QRectF(-4, -margin, NODE_WIDTH + 8, NODE_HEIGHT + 2 * margin)

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRoundedRect(QRectF(0, 0, NODE_WIDTH, NODE_HEIGHT), CORNER_RADIUS, CORNER_RADIUS)
        for port in self.ports():
            path.addEllipse(self.port_local_pos(port), PORT_HIT_RADIUS, PORT_HIT_RADIUS)
        return path

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value: object) -> object:  # noqa: N802
        # Qt calls this for every flag, tooltip and z change too; the base class returns ``value``
        # untouched, so irrelevant changes return it directly (cheaper with 500 cards).
        if change is _POSITION_CHANGE:
            if self._following_model:
                return value
            point = QPointF(value)  # type: ignore[call-overload]
            return QPointF(snap(point.x()), snap(point.y()))
        if change is _POSITION_CHANGED:
            for edge in self.edges:
                edge.update_path()
        elif change is _SELECTION_CHANGED:
            self.setZValue(2 if self.isSelected() else 1)
        return value

    # --- drawing ---------------------------------------------------------------------------------

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        colours = self._colours()
        card = QRectF(0, 0, NODE_WIDTH, NODE_HEIGHT)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        detail = option.levelOfDetailFromTransform(painter.worldTransform())
        accent = category_colour(self.spec.category)

        # Soft shadow, then the card, then the strip clipped to the card's rounded shape.
        if detail >= DETAIL_ZOOM:
            shadow = QColor(0, 0, 0, 60 if colours.dark else 22)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(shadow)
            painter.drawRoundedRect(card.translated(0, 1.5), CORNER_RADIUS, CORNER_RADIUS)
        outline = QPainterPath()
        outline.addRoundedRect(card, CORNER_RADIUS, CORNER_RADIUS)
        painter.fillPath(outline, colours.card)
        painter.save()
        painter.setClipPath(outline)
        painter.fillRect(QRectF(0, 0, STRIP_WIDTH, NODE_HEIGHT), accent)
        painter.restore()

        worst = _worst_severity(self._problems)
        if self.isSelected():
            border = QPen(colours.selection, 2.2)
        elif worst == "error":
            border = QPen(ERROR_COLOUR, 2.0)
        elif worst == "warning":
            border = QPen(WARNING_COLOUR, 1.8)
        else:
            border = QPen(colours.card_border, 1.0)
        painter.setPen(border)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(card.adjusted(0.5, 0.5, -0.5, -0.5), CORNER_RADIUS, CORNER_RADIUS)

        if detail >= DETAIL_ZOOM:
            self._paint_text(painter, colours, worst)
        self._paint_ports(painter, colours, accent)

    def _paint_text(self, painter: QPainter, colours: CanvasColours, worst: str | None) -> None:
        left = STRIP_WIDTH + 8
        right = NODE_WIDTH - 8
        fonts = self._fonts
        badge_width = 0.0
        if worst:
            badge_width = 16.0
            centre = QPointF(right - 6, 13)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(ERROR_COLOUR if worst == "error" else WARNING_COLOUR)
            painter.drawEllipse(centre, 6.5, 6.5)
            painter.setPen(QColor("white"))
            painter.setFont(fonts.badge)
            painter.drawText(QRectF(centre.x() - 6.5, centre.y() - 6.5, 13, 13),
                             Qt.AlignmentFlag.AlignCenter, "!")

        # The parameter count shares the title line, so the output shape below gets the card's whole width.
        count_width = 0.0
        if self._count_text:
            count_width = fonts.body_metrics.horizontalAdvance(self._count_text) + 6
            painter.setPen(colours.muted_text)
            painter.setFont(fonts.body)
            painter.drawText(QRectF(right - badge_width - count_width, 4, count_width, 18),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, self._count_text)

        if self.frozen:
            _paint_lock(painter, QPointF(right - badge_width - count_width - 9, 13), colours.muted_text)
            count_width += 14
        painter.setPen(colours.text)
        painter.setFont(fonts.title)
        title_width = right - left - badge_width - count_width
        title = fonts.title_metrics.elidedText(self.node_id, Qt.TextElideMode.ElideRight, title_width)
        painter.drawText(QRectF(left, 4, title_width, 18),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, title)

        painter.setPen(colours.muted_text)
        painter.setFont(fonts.body)
        summary = fonts.body_metrics.elidedText(self._summary, Qt.TextElideMode.ElideRight, right - left)
        painter.drawText(QRectF(left, 22, right - left, 16),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, summary)

        if self._shape_text:
            painter.setPen(ERROR_COLOUR if worst == "error" else colours.text)
            painter.setFont(fonts.mono)
            shape = fit_shape_text(self._shape_text, fonts.mono_metrics, right - left)
            painter.drawText(QRectF(left, 40, right - left, 16),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, shape)

    def _paint_ports(self, painter: QPainter, colours: CanvasColours, accent: QColor) -> None:
        for port in self.ports():
            centre = self.port_local_pos(port)
            state = self._highlights.get((port.direction, port.name), PortHighlight.NONE)
            variadic = not port.is_output and self.spec.port(port.name or "in").variadic
            radius = PORT_RADIUS + (2.0 if state is PortHighlight.HOVER else 0.0)
            fill = accent if state is PortHighlight.NONE else ACCEPT_COLOUR
            painter.setPen(QPen(colours.card, 2.0))
            painter.setBrush(fill)
            if variadic:
                # A wider pill says "several wires welcome" (Add, Concat, Multiply).
                rect = QRectF(centre.x() - radius * 2.2, centre.y() - radius, radius * 4.4, radius * 2)
                painter.drawRoundedRect(rect, radius, radius)
            else:
                painter.drawEllipse(centre, radius, radius)
            if state is not PortHighlight.NONE:
                ring = QColor(ACCEPT_COLOUR)
                ring.setAlphaF(0.35)
                painter.setPen(QPen(ring, 3.0))
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawEllipse(centre, radius + 4, radius + 4)


class EdgeItem(QGraphicsItem):
    """A wire: a smooth cubic curve from an output port down to an input port, with an arrow and the
    tensor shape it carries."""

    def __init__(self, edge: Edge, source: NodeItem, target: NodeItem,
                 colours: Callable[[], CanvasColours], fonts: CardFonts) -> None:
        super().__init__()
        self.edge = edge
        self.source, self.target = source, target
        self._colours = colours
        self._fonts = fonts
        self._label = ""
        self._path = QPainterPath()
        self._label_rect = QRectF()
        self._bounds = QRectF()
        self.setFlags(_EDGE_FLAGS)
        # Antialiased curves and labels are the costliest thing on screen; redraw them only when the
        # wire changes or the zoom does, and blit them while panning.
        self.setCacheMode(_DEVICE_CACHE)
        self.setZValue(0)
        source.edges.append(self)
        target.edges.append(self)
        self.update_path()

    def type(self) -> int:
        return EDGE_TYPE

    def detach(self) -> None:
        for end in (self.source, self.target):
            if self in end.edges:
                end.edges.remove(self)

    @property
    def label(self) -> str:
        return self._label

    def set_label(self, text: str) -> None:
        if text != self._label:
            self._label = text
            self.setToolTip(f"{self.edge.source} → {self.edge.target}" + (f": {text}" if text else ""))
            self.update_path()

    def end_points(self) -> tuple[QPointF, QPointF]:
        start = self.source.port_scene_pos(PortRef(self.source.node_id, "out", None))
        end = self.target.port_scene_pos(PortRef(self.target.node_id, "in", self.edge.port))
        if self.target.spec.port(self.edge.port).variadic:
            # Fan the wires of a variadic port out a little, in the order the layer reads them.
            siblings = sorted(e.edge.index for e in self.target.edges if e.edge.port == self.edge.port
                              and e.edge.target == self.target.node_id)
            if len(siblings) > 1:
                slot = siblings.index(self.edge.index)
                end += QPointF((slot - (len(siblings) - 1) / 2) * 9.0, 0)
        # Stop just above the input port so the arrow head stays visible.
        return start, end - QPointF(0, PORT_RADIUS + 1.5)

    def update_path(self) -> None:
        """Recompute the curve after either end moved; cheap, and only this wire repaints."""
        self.prepareGeometryChange()
        start, end = self.end_points()
        self._path = wire_path(start, end)
        self._label_rect = QRectF()
        if self._label:
            metrics = self._fonts.label_metrics
            width = metrics.horizontalAdvance(self._label) + 10
            height = metrics.height() + 2
            middle = self._path.pointAtPercent(0.5)
            if abs(math.sin(math.radians(self._path.angleAtPercent(0.5)))) >= 0.5:
                # Beside a steep wire: to the right of its middle.
                self._label_rect = QRectF(middle.x() + 6, middle.y() - height / 2, width, height)
            else:
                # A wire that runs sideways (into the next column) would cover a label at its middle,
                # and the gap between two rows is too low for one above it: the label goes beside the
                # arrow head, on the side the wire does not come from.
                left = end.x() + 8 if end.x() >= start.x() else end.x() - 8 - width
                self._label_rect = QRectF(left, end.y() - height - 1, width, height)
        self._bounds = self._path.boundingRect().adjusted(-8, -8, 8, 8).united(self._label_rect)
        self.update()

    def path(self) -> QPainterPath:
        return QPainterPath(self._path)

    def label_rect(self) -> QRectF:
        """Return where the shape label is drawn, in scene coordinates (empty without a label)."""
        return QRectF(self._label_rect)

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt override
        return self._bounds

    def shape(self) -> QPainterPath:
        stroker = QPainterPathStroker()
        stroker.setWidth(10)
        return stroker.createStroke(self._path)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        colours = self._colours()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        colour = colours.selection if self.isSelected() else colours.wire
        painter.setPen(QPen(colour, 2.4 if self.isSelected() else 1.6, Qt.PenStyle.SolidLine,
                            Qt.PenCapStyle.RoundCap))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self._path)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(colour))
        painter.drawPolygon(arrow_head(self._path))
        detail = option.levelOfDetailFromTransform(painter.worldTransform())
        if self._label and detail >= DETAIL_ZOOM:
            painter.setBrush(colours.label_background)
            painter.drawRoundedRect(self._label_rect, 4, 4)
            painter.setPen(colours.muted_text)
            painter.setFont(self._fonts.label)
            painter.drawText(self._label_rect, Qt.AlignmentFlag.AlignCenter, self._label)


def _worst_severity(problems: Iterable[Problem]) -> str | None:
    worst = None
    for problem in problems:
        if problem.is_error:
            return "error"
        worst = "warning"
    return worst

"""What the autograd view draws: node boxes, the edges, the zoomable canvas and the gradient legend.

:class:`NodeItem` is one autograd node (or one layer's box) with its layer stripe, two lines of
text and its gradient colour; :func:`edges_items` draws every edge as two stroked paths;
:class:`GraphCanvas` is the pannable, zoomable view that reports clicks on nodes;
:class:`GradientLegend` is the log-scale colour bar shown while gradients are coloured.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QLinearGradient, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsScene,
    QGraphicsView,
    QStyleOptionGraphicsItem,
    QWidget,
)

from nnstudio.autograd.appearance import (
    SUBTITLE_PX,
    TITLE_PX,
    Theme,
    layer_tint,
    node_colors,
    node_lines,
    node_tooltip,
)
from nnstudio.autograd.collapse import LAYER
from nnstudio.autograd.gradients import (
    EXPLODING_ABOVE,
    NAN_COLOR,
    SCALE_LOG10,
    VANISHING_BELOW,
    classify,
    gradient_color,
    text_color_on,
)
from nnstudio.autograd.layout import Layout

FLAG_COLOR = QColor("#dc2626")


class NodeItem(QGraphicsItem):
    """One autograd node (or layer box): a rounded box with a layer stripe and two lines of text."""

    def __init__(self, node_id: str, data: dict, box, theme: Theme, is_root: bool) -> None:
        super().__init__()
        self.node_id, self.data = node_id, data
        self.layer: str | None = data.get("layer")
        self.rect = QRectF(-box.width / 2, -box.height / 2, box.width, box.height)
        self.setPos(box.x, box.y)
        self.title, self.subtitle = node_lines(data)
        fill, stroke = node_colors(data, theme, is_root)
        self.fill, self.stroke, self.theme = QColor(fill), QColor(stroke), theme
        self.tint = QColor(layer_tint(self.layer)) if self.layer and data["kind"] != LAYER else None
        self.gradient: float | None = None
        self.highlighted = self.dimmed = False
        self.setToolTip(node_tooltip(data))
        self.setAcceptHoverEvents(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def set_gradient(self, norm: float | None) -> None:
        self.gradient = norm
        tip = node_tooltip(self.data)
        if norm is not None:
            problem = classify(norm)
            tip += f"\ngradient norm {norm:.3g}" + (f" ({problem})" if problem else "")
        self.setToolTip(tip)
        self.update()

    def boundingRect(self) -> QRectF:
        return self.rect.adjusted(-4, -4, 4, 4)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if self.dimmed:
            painter.setOpacity(0.25)
        fill, stroke, width = self.fill, self.stroke, 1.0
        flagged = self.gradient is not None and classify(self.gradient) is not None
        if self.gradient is not None:
            fill = QColor(gradient_color(self.gradient))
        if flagged:
            stroke, width = FLAG_COLOR, 2.5
        if self.highlighted:
            stroke, width = QColor(self.theme.highlight), 3.0
        painter.setPen(QPen(stroke, width))
        painter.setBrush(fill)
        painter.drawRoundedRect(self.rect, 6, 6)
        if self.tint is not None:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(self.tint)
            painter.drawRoundedRect(QRectF(self.rect.left() + 1, self.rect.top() + 5, 3,
                                           self.rect.height() - 10), 1.5, 1.5)
        if option.levelOfDetailFromTransform(painter.worldTransform()) < 0.4:
            return  # text is unreadable this far out; skipping it keeps big graphs fluid
        on_colour = QColor(text_color_on(fill.name())) if self.gradient is not None else None
        title_font = QFont()
        title_font.setPixelSize(int(TITLE_PX))
        title_font.setBold(True)
        painter.setFont(title_font)
        painter.setPen(on_colour or QColor(self.theme.text))
        if self.subtitle:
            top = QRectF(self.rect.left(), self.rect.top() + 3, self.rect.width(), self.rect.height() / 2)
            painter.drawText(top, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom, self.title)
            sub_font = QFont()
            sub_font.setPixelSize(int(SUBTITLE_PX))
            painter.setFont(sub_font)
            painter.setPen(on_colour or QColor(self.theme.muted))
            bottom = QRectF(self.rect.left(), self.rect.center().y() + 1, self.rect.width(),
                            self.rect.height() / 2 - 3)
            painter.drawText(bottom, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, self.subtitle)
        else:
            painter.drawText(self.rect, Qt.AlignmentFlag.AlignCenter, self.title)
        if flagged:
            badge = QRectF(self.rect.right() - 8, self.rect.top() - 8, 16, 16)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(FLAG_COLOR)
            painter.drawEllipse(badge)
            painter.setPen(QColor("#ffffff"))
            painter.setFont(title_font)
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, "!")


def edges_items(layout: Layout, theme: Theme) -> list[QGraphicsItem]:
    """Returns two items drawing every edge: one stroked path for the lines, one for the arrowheads."""
    lines, heads = QPainterPath(), QPainterPath()
    for edge in layout.edges:
        (x0, y0), rest = edge.points[0], edge.points[1:]
        lines.moveTo(x0, y0)
        for x1, y1 in rest:
            dy = (y1 - y0) / 2
            lines.cubicTo(x0, y0 + dy, x1, y1 - dy, x1, y1)
            x0, y0 = x1, y1
        heads.addPolygon(QPolygonF([QPointF(x0, y0), QPointF(x0 - 4, y0 - 7), QPointF(x0 + 4, y0 - 7)]))
        heads.closeSubpath()
    color = QColor(theme.edge)
    line_item = QGraphicsPathItem(lines)
    line_item.setPen(QPen(color, 1.2))
    head_item = QGraphicsPathItem(heads)
    head_item.setPen(Qt.PenStyle.NoPen)
    head_item.setBrush(color)
    for item in (line_item, head_item):
        item.setZValue(-1)
    return [line_item, head_item]


class GraphCanvas(QGraphicsView):
    """The zoomable, pannable view; reports clicks and double-clicks on nodes."""

    node_clicked = Signal(str)
    node_double_clicked = Signal(str)

    def __init__(self, scene: QGraphicsScene, parent: QWidget | None = None) -> None:
        super().__init__(scene, parent)
        self.setObjectName("autogradCanvas")
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self._press: QPointF | None = None

    def zoom(self, factor: float) -> None:
        current = self.transform().m11()
        factor = min(max(factor, 0.02 / current), 4.0 / current)  # stay between 2% and 400%
        self.scale(factor, factor)

    def wheelEvent(self, event) -> None:
        self.zoom(1.0015 ** event.angleDelta().y())

    def fit(self) -> None:
        """Shows the whole graph, but never enlarges it past 100% (small graphs stay crisp)."""
        rect = self.scene().itemsBoundingRect()
        if rect.isEmpty():
            return
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        if self.transform().m11() > 1.0:
            self.resetTransform()
            self.centerOn(rect.center())

    def node_at(self, position) -> NodeItem | None:
        for item in self.items(position):
            if isinstance(item, NodeItem):
                return item
        return None

    def mousePressEvent(self, event) -> None:
        self._press = event.position()
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        super().mouseReleaseEvent(event)
        moved = self._press is not None and (event.position() - self._press).manhattanLength() > 4
        self._press = None
        item = self.node_at(event.position().toPoint())
        if item is not None and not moved and event.button() == Qt.MouseButton.LeftButton:
            self.node_clicked.emit(item.node_id)

    def mouseDoubleClickEvent(self, event) -> None:
        item = self.node_at(event.position().toPoint())
        if item is not None:
            self.node_double_clicked.emit(item.node_id)
        else:
            super().mouseDoubleClickEvent(event)


class GradientLegend(QWidget):
    """The log-scale colour bar of gradient norms, with the vanishing/exploding thresholds marked."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("autogradLegend")
        self.setAccessibleName("Gradient norm legend")
        self.setMinimumHeight(40)
        self.setToolTip(f"gradient L2 norm, log scale; flagged: vanishing < {VANISHING_BELOW:g}, "
                        f"exploding > {EXPLODING_ABOVE:g}, NaN")

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        lo, hi = SCALE_LOG10
        bar = QRectF(110, 6, max(self.width() - 230, 60), 12)
        gradient = QLinearGradient(bar.topLeft(), bar.topRight())
        steps = 24
        for i in range(steps + 1):
            gradient.setColorAt(i / steps, QColor(gradient_color(10 ** (lo + (hi - lo) * i / steps))))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(gradient))
        painter.drawRoundedRect(bar, 3, 3)
        text = self.palette().windowText().color()
        font = QFont()
        font.setPixelSize(10)
        painter.setFont(font)
        painter.setPen(text)
        painter.drawText(QRectF(0, 2, 104, 20), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                         "gradient norm")
        for exponent in range(int(lo), int(hi) + 1, 2):
            x = bar.left() + bar.width() * (exponent - lo) / (hi - lo)
            painter.drawLine(QPointF(x, bar.bottom()), QPointF(x, bar.bottom() + 3))
            painter.drawText(QRectF(x - 20, bar.bottom() + 3, 40, 14), Qt.AlignmentFlag.AlignHCenter,
                             f"1e{exponent}")
        painter.setPen(QPen(FLAG_COLOR, 1.5, Qt.PenStyle.DashLine))
        for threshold in (VANISHING_BELOW, EXPLODING_ABOVE):
            x = bar.left() + bar.width() * (math.log10(threshold) - lo) / (hi - lo)
            painter.drawLine(QPointF(x, bar.top() - 3), QPointF(x, bar.bottom() + 2))
        painter.setPen(FLAG_COLOR)
        painter.drawText(QRectF(bar.right() + 8, 2, 60, 20), Qt.AlignmentFlag.AlignVCenter, "! flagged")
        painter.setPen(QColor(NAN_COLOR))
        painter.drawText(QRectF(bar.right() + 66, 2, 60, 20), Qt.AlignmentFlag.AlignVCenter, "■ NaN")
        painter.end()

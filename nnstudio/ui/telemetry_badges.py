"""Returns live telemetry on the editor's cards: a small badge under each layer while a run trains.

A :class:`TelemetryBadge` hangs off the lower-left corner of a card (left of its output port): a dot in
the colour of the layer's gradient norm -- the autograd view's scale (:mod:`nnstudio.core.gradient_scale`),
blue vanishing, green healthy, red exploding, magenta NaN -- a sparkline of that norm's recent
history, and the layer's most telling number: its share of dead units (ReLU), of saturated outputs
(Sigmoid / Tanh) or its gradient norm. A layer with a live telemetry problem gets an orange outline;
the layer where a NaN was first made turns red ("NaN made here", or "NaN in its gradient" when its
backward made it).

Badges are child items of the cards, cached like them; :class:`CardTelemetry` adds, refreshes and
removes them from a :class:`~nnstudio.core.graph`-bound canvas scene (its ``node_items``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from nnstudio.core.gradient_scale import NAN_COLOR, gradient_color, scale_position
from nnstudio.ui.canvas_style import ERROR_COLOUR, NODE_HEIGHT, WARNING_COLOUR
from nnstudio.ui.telemetry_history import LayerHistory

BADGE_HEIGHT = 15.0
#: The badge straddles the card's bottom edge and ends here, clear of the output port at the bottom
#: centre; it grows to the left with its text (into the gap between columns of cards).
BADGE_RIGHT = 66.0
_TEXT_LEFT = 33.0  # dot and sparkline come first
#: Points in a sparkline.
SPARK_POINTS = 16
BADGE_TYPE = QGraphicsItem.UserType + 7


class TelemetryBadge(QGraphicsItem):
    """The telemetry pill of one card; :meth:`show_values` and :meth:`show_culprit` set what it draws."""

    def __init__(self, parent: QGraphicsItem) -> None:
        super().__init__(parent)
        self.width = 60.0
        self.setPos(QPointF(BADGE_RIGHT - self.width, NODE_HEIGHT - BADGE_HEIGHT / 2))
        self.setZValue(3)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.dot = "#9ca3af"
        self.text = ""
        self.spark: list[float] = []  # 0..1 heights, oldest first
        self.warning = False
        self.culprit: str | None = None

    def type(self) -> int:
        return BADGE_TYPE

    def show_values(self, dot: str, text: str, spark: Sequence[float], warning: bool, tooltip: str) -> None:
        self.setToolTip(tooltip)
        spark = list(spark)
        if (dot, text, spark, warning, None) == (self.dot, self.text, self.spark, self.warning, self.culprit):
            return  # nothing to repaint
        self.dot, self.text, self.spark, self.warning, self.culprit = dot, text, spark, warning, None
        self._fit(text, bold=False)
        self.update()

    def _fit(self, text: str, bold: bool) -> None:
        """Sizes the badge to its text, growing to the left."""
        width = max(46.0, _TEXT_LEFT + QFontMetricsF(_font(bold)).horizontalAdvance(text) + 7)
        if bold:
            width = QFontMetricsF(_font(True)).horizontalAdvance(text) + 14
        if width != self.width:
            self.prepareGeometryChange()
            self.width = width
            self.setPos(QPointF(BADGE_RIGHT - width, NODE_HEIGHT - BADGE_HEIGHT / 2))

    def show_culprit(self, side: str | None, message: str) -> None:
        self.culprit = "NaN in its gradient" if side == "gradient" else "NaN made here"
        self.setToolTip(message)
        self._fit(self.culprit, bold=True)
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt override
        return QRectF(-1, -1, self.width + 2, BADGE_HEIGHT + 2)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(0, 0, self.width, BADGE_HEIGHT)
        palette = widget.palette() if widget is not None else None
        base = palette.base().color() if palette is not None else QColor("white")
        text_colour = palette.text().color() if palette is not None else QColor("black")
        if self.culprit is not None:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(ERROR_COLOUR)
            painter.drawRoundedRect(rect, BADGE_HEIGHT / 2, BADGE_HEIGHT / 2)
            painter.setPen(QColor("white"))
            painter.setFont(_font(bold=True))
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, self.culprit)
            return
        border = QColor(WARNING_COLOUR) if self.warning else QColor(text_colour)
        if not self.warning:
            border.setAlphaF(0.25)
        painter.setPen(QPen(border, 1.6 if self.warning else 1.0))
        painter.setBrush(base)
        painter.drawRoundedRect(rect.adjusted(0.5, 0.5, -0.5, -0.5), BADGE_HEIGHT / 2, BADGE_HEIGHT / 2)
        dot = QColor(self.dot)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(dot)
        painter.drawEllipse(QPointF(7.5, BADGE_HEIGHT / 2), 3.5, 3.5)
        spark = QRectF(13, 3, 18, BADGE_HEIGHT - 6)
        if len(self.spark) >= 2:
            path = QPainterPath()
            step = spark.width() / (len(self.spark) - 1)
            for i, value in enumerate(self.spark):
                point = QPointF(spark.left() + i * step, spark.bottom() - value * spark.height())
                path.lineTo(point) if i else path.moveTo(point)
            painter.setPen(QPen(dot.darker(115), 1.2))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawPath(path)
        painter.setPen(QColor(WARNING_COLOUR).darker(130) if self.warning else text_colour)
        painter.setFont(_font())
        painter.drawText(QRectF(_TEXT_LEFT, 0, self.width - _TEXT_LEFT - 4, BADGE_HEIGHT),
                         Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, self.text)


_FONTS: dict[bool, QFont] = {}


def _font(bold: bool = False) -> QFont:
    if bold not in _FONTS:
        font = QFont()
        font.setPointSizeF(6.8)
        font.setBold(bold)
        _FONTS[bold] = font
    return _FONTS[bold]


def short_number(value: float) -> str:
    """Returns a number in at most five characters: ``2e-03``, ``0.31``, ``1e+04``."""
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else "inf"
    if value == 0:
        return "0"
    if 0.01 <= abs(value) < 100:
        return f"{value:.2g}"
    return f"{value:.0e}"


def gradient_of(history: LayerHistory) -> tuple[str, float | None]:
    """Returns which gradient a card shows (its parameters', else its output's) and its latest value."""
    value = history.latest("grad_norm")
    if value is not None:
        return "grad_norm", value
    return "output_grad_norm", history.latest("output_grad_norm")


def badge_content(history: LayerHistory, problems: Sequence[Any]) -> tuple[str, str, list[float], bool, str]:
    """Returns (dot colour, text, sparkline heights, warning, tooltip) for one layer's badge."""
    name, norm = gradient_of(history)
    dot = gradient_color(norm) if norm is not None else "#9ca3af"
    recent = history.recent(name, SPARK_POINTS)
    spark = [scale_position(v) if math.isfinite(v) else 1.0 for v in recent]
    if spark:  # stretch the recent span so a trend shows, keeping flat lines flat
        lo, hi = min(spark), max(spark)
        spark = [0.5 if hi - lo < 1e-3 else (v - lo) / (hi - lo) for v in spark]
    dead, saturated = history.latest("dead"), history.latest("saturated")
    if dead is not None:
        text = f"dead {dead:.0%}"
    elif saturated is not None:
        text = f"sat {saturated:.0%}"
    else:
        text = "∇" + short_number(norm) if norm is not None else ""
    if norm is not None and not math.isfinite(norm):
        dot = NAN_COLOR
    return dot, text, spark, bool(problems), tooltip_text(history, problems)


_TOOLTIP_ROWS = (("mean", "output mean"), ("std", "output std"), ("zeros", "zero outputs"),
                 ("dead", "dead units"), ("saturated", "saturated"), ("grad_norm", "gradient norm (weights)"),
                 ("output_grad_norm", "gradient norm (output)"), ("update_ratio", "update / weight"))


def tooltip_text(history: LayerHistory, problems: Sequence[Any]) -> str:
    """Returns the badge's hover text: every latest statistic, then the problems."""
    lines = []
    for name, title in _TOOLTIP_ROWS:
        value = history.latest(name)
        if value is None:
            continue
        shown = f"{value:.1%}" if name in ("zeros", "dead", "saturated") else f"{value:.3g}"
        lines.append(f"{title}: {shown}")
    lines += [f"⚠ {p.message}" for p in problems]
    return "\n".join(lines)


class CardTelemetry:
    """Keeps one badge on each card of a canvas scene that has telemetry."""

    def __init__(self, scene: Any) -> None:
        self.scene = scene
        self._culprit: tuple[str, str | None, str] | None = None

    def badge(self, node_id: str, create: bool = True) -> TelemetryBadge | None:
        """Returns the badge of ``node_id``'s card (made when missing and ``create``); None: no card."""
        item = self.scene.node_items.get(node_id)
        if item is None:
            return None
        for child in item.childItems():
            if isinstance(child, TelemetryBadge):
                return child
        return TelemetryBadge(item) if create else None

    def show(self, layers: Mapping[str, LayerHistory], problems: Sequence[Any]) -> None:
        """Refreshes the badges of every layer in ``layers`` (others keep none)."""
        by_node: dict[str, list[Any]] = {}
        for problem in problems:
            by_node.setdefault(problem.node_id, []).append(problem)
        for node_id, history in layers.items():
            badge = self.badge(node_id)
            if badge is not None and (self._culprit is None or self._culprit[0] != node_id):
                badge.show_values(*badge_content(history, by_node.get(node_id, [])))

    def mark_culprit(self, node_id: str, side: str | None, message: str) -> None:
        """Marks the layer where a run's first NaN was made."""
        self._culprit = (node_id, side, message)
        badge = self.badge(node_id)
        if badge is not None:
            badge.show_culprit(side, message)

    def clear(self) -> None:
        """Removes every badge (a new run, or an edit that made the numbers stale)."""
        self._culprit = None
        for item in self.scene.node_items.values():
            for child in item.childItems():
                if isinstance(child, TelemetryBadge):
                    child.setParentItem(None)
                    if child.scene() is not None:
                        child.scene().removeItem(child)

    def badges(self) -> dict[str, TelemetryBadge]:
        """Returns the badges shown, by node id."""
        found = {}
        for node_id, item in self.scene.node_items.items():
            for child in item.childItems():
                if isinstance(child, TelemetryBadge):
                    found[node_id] = child
        return found

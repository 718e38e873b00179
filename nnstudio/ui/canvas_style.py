"""How the canvas looks: card geometry, wire curves, category colours, palette-derived colours, fonts.

Geometry is fixed and shared (tests locate ports with :func:`input_port_offset` /
:func:`output_port_offset`); colours come from the application palette so light and dark schemes both
work, except the category accents (shared with the palette, from :mod:`nnstudio.ui.theme`), which are
chosen to read well on either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainterPath, QPalette, QPolygonF

from nnstudio.core.catalog import LayerSpec
from nnstudio.ui import theme

NODE_WIDTH = 150.0
NODE_HEIGHT = 62.0
CORNER_RADIUS = 7.0
STRIP_WIDTH = 5.0
PORT_RADIUS = 5.0
#: How far from a port's centre a press or drop still counts as hitting it (scene px).
PORT_HIT_RADIUS = 11.0
GRID_STEP = 10.0
GRID_MAJOR = 100.0

# Accents are shared with the palette's icons (nnstudio.ui.theme), so a layer looks the same in both.
ERROR_COLOUR = QColor(theme.ERROR_COLOR)
WARNING_COLOUR = QColor(theme.WARNING_COLOR)
ACCEPT_COLOUR = QColor(theme.OK_COLOR)


def category_colour(category: str) -> QColor:
    """The accent colour of a layer category (grey for a category the theme does not know)."""
    return theme.category_color(category)


def input_port_offset(spec: LayerSpec, port: str) -> tuple[float, float]:
    """Where input ``port`` sits relative to the card's top-left corner: spread along the top edge."""
    names = [p.name for p in spec.inputs]
    slot = names.index(port)
    return (NODE_WIDTH * (slot + 1) / (len(names) + 1), 0.0)


def output_port_offset() -> tuple[float, float]:
    """Where the output port sits relative to the card's top-left corner: bottom centre."""
    return (NODE_WIDTH / 2, NODE_HEIGHT)


def snap(value: float, step: float = GRID_STEP) -> float:
    return round(value / step) * step


@dataclass(frozen=True)
class CanvasColours:
    """Colours for one palette; rebuilt when the application palette changes."""

    background: QColor
    grid_minor: QColor
    grid_major: QColor
    card: QColor
    card_border: QColor
    text: QColor
    muted_text: QColor
    selection: QColor
    wire: QColor
    label_background: QColor
    dark: bool

    @classmethod
    def from_palette(cls, palette: QPalette) -> CanvasColours:
        window = palette.color(QPalette.ColorRole.Window)
        text = palette.color(QPalette.ColorRole.WindowText)
        dark = theme.is_dark(palette)
        if dark:
            background = window.darker(118)
            card = window.lighter(125)
        else:
            background = window.lighter(103) if window.lightness() < 250 else QColor("#f3f4f6")
            card = palette.color(QPalette.ColorRole.Base)
        def faded(colour: QColor, alpha: float) -> QColor:
            copy = QColor(colour)
            copy.setAlphaF(alpha)
            return copy
        return cls(background, faded(text, 0.05), faded(text, 0.10), card, faded(text, 0.20), text,
                   faded(text, 0.62), palette.color(QPalette.ColorRole.Highlight), faded(text, 0.55),
                   faded(background, 0.85), dark)


#: Parameters worth a glance on the card, most telling first.
_SUMMARY_PARAMS = ("out_features", "out_channels", "kernel_size", "num_embeddings", "embedding_dim",
                   "hidden_size", "embed_dim", "num_heads", "d_model", "output_size", "p", "shape",
                   "dim", "negative_slope")
#: Parameters whose bare value would be ambiguous on a card get their name in front.
_NAMED_IN_SUMMARY = {"p": "p=", "dim": "dim=", "negative_slope": "slope ", "num_heads": "heads ",
                     "kernel_size": "k"}


def parameter_summary(spec: LayerSpec, params: dict[str, object]) -> str:
    """A short text of the layer's key settings, e.g. ``Conv2d · 32 · k3``."""
    parts = [spec.title]
    for name in _SUMMARY_PARAMS:
        if name in params and params[name] is not None and len(parts) < 3:
            value = params[name]
            if isinstance(value, (tuple, list)):
                text = "×".join(str(v) for v in value)
            else:
                text = str(value)
            parts.append(_NAMED_IN_SUMMARY.get(name, "") + text)
    return " · ".join(parts)


def wire_path(start: QPointF, end: QPointF) -> QPainterPath:
    """A cubic curve leaving ``start`` downwards and entering ``end`` from above."""
    path = QPainterPath(start)
    dy = end.y() - start.y()
    # Wires going up (the target sits above its source) bulge further so they stay readable.
    pull = max(30.0, abs(dy) * 0.5) if dy > 0 else 60.0 + abs(dy) * 0.25
    path.cubicTo(QPointF(start.x(), start.y() + pull), QPointF(end.x(), end.y() - pull), end)
    return path


def arrow_head(path: QPainterPath, length: float = 8.0, width: float = 4.5) -> QPolygonF:
    """A small triangle at the end of ``path``, pointing along its final direction."""
    tip = path.pointAtPercent(1.0)
    angle = math.radians(-path.angleAtPercent(0.999))
    back = QPointF(tip.x() - length * math.cos(angle), tip.y() - length * math.sin(angle))
    normal = QPointF(-math.sin(angle) * width, math.cos(angle) * width)
    return QPolygonF([tip, back + normal, back - normal])


class CardFonts:
    """The fonts cards and labels use, derived from the application font once per palette/font."""

    def __init__(self, base: QFont) -> None:
        size = base.pointSizeF() if base.pointSizeF() > 0 else 9.0
        self.title = QFont(base)
        self.title.setPointSizeF(size)
        self.title.setWeight(QFont.Weight.DemiBold)
        self.body = QFont(base)
        self.body.setPointSizeF(size * 0.88)
        self.mono = QFont("monospace")
        self.mono.setStyleHint(QFont.StyleHint.Monospace)
        self.mono.setPointSizeF(size * 0.88)
        self.label = QFont(self.body)
        self.label.setPointSizeF(size * 0.8)
        self.badge = QFont(base)
        self.badge.setPointSizeF(size * 0.8)
        self.badge.setBold(True)
        self.title_metrics = QFontMetricsF(self.title)
        self.body_metrics = QFontMetricsF(self.body)
        self.mono_metrics = QFontMetricsF(self.mono)
        self.label_metrics = QFontMetricsF(self.label)


def fit_shape_text(text: str, metrics: QFontMetricsF, width: float) -> str:
    """Returns the shape text as it fits in ``width``: whole, then without spaces, elided only as a last resort."""
    if metrics.horizontalAdvance(text) <= width:
        return text
    compact = text.replace(" ", "")
    return metrics.elidedText(compact, Qt.TextElideMode.ElideRight, width)

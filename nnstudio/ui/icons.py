"""Returns the icons of nnstudio: one per layer category, and the application icon.

A category icon is a rounded tile in the category's colour with a white glyph on it. The glyph is
the packaged drawing ``resources/icons/layers/<category-slug>.svg`` (drawn in ``currentColor``, which
is swapped for white here) when it exists and renders; otherwise a small vector glyph drawn below with
QPainter, so the palette never shows blank entries. The window icon comes from the packaged PNGs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path

from PySide6.QtCore import QByteArray, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtSvg import QSvgRenderer

from nnstudio.core.resources import resource_path
from nnstudio.ui.theme import category_color

_GLYPH_SIZES = (16, 24, 32, 48, 64)


def category_slug(category: str) -> str:
    """Returns the file-name form of a category: ``"Input / Output"`` -> ``"input-output"``."""
    return re.sub(r"[^a-z0-9]+", "-", category.lower()).strip("-")


def _resource_file(*parts: str) -> Path | None:
    try:
        path = Path(resource_path(*parts))
    except (FileNotFoundError, OSError):
        return None
    return path if path.is_file() else None


def _svg_glyph(slug: str) -> Callable[[QPainter], None] | None:
    """Returns a painter of the packaged category drawing in white, or None when it is missing."""
    path = _resource_file("icons", "layers", f"{slug}.svg")
    if path is None:
        return None
    try:
        data = path.read_bytes().replace(b"currentColor", b"#ffffff")
    except OSError:
        return None
    renderer = QSvgRenderer(QByteArray(data))
    if not renderer.isValid():
        return None

    def draw(p: QPainter) -> None:
        renderer.render(p, QRectF(0.18, 0.18, 0.64, 0.64))
    return draw


# --- glyphs: each draws white strokes inside the unit square (0..1), on the coloured tile --------

def _arrow(p: QPainter) -> None:
    p.drawLine(QPointF(0.2, 0.5), QPointF(0.78, 0.5))
    p.drawPolyline([QPointF(0.55, 0.28), QPointF(0.8, 0.5), QPointF(0.55, 0.72)])


def _dense(p: QPainter) -> None:
    left = [QPointF(0.25, y) for y in (0.28, 0.5, 0.72)]
    right = [QPointF(0.75, y) for y in (0.36, 0.64)]
    for a in left:
        for b in right:
            p.drawLine(a, b)


def _grid(cells: int) -> Callable[[QPainter], None]:
    def draw(p: QPainter) -> None:
        step = 0.56 / cells
        for i in range(cells + 1):
            p.drawLine(QPointF(0.22 + i * step, 0.22), QPointF(0.22 + i * step, 0.78))
            p.drawLine(QPointF(0.22, 0.22 + i * step), QPointF(0.78, 0.22 + i * step))
    return draw


def _bell(p: QPainter) -> None:
    path = QPainterPath(QPointF(0.15, 0.75))
    for i in range(1, 41):
        x = 0.15 + 0.7 * i / 40
        path.lineTo(QPointF(x, 0.75 - 0.5 * math.exp(-((x - 0.5) / 0.13) ** 2)))
    p.drawPath(path)


def _dots(p: QPainter) -> None:
    for i, (x, y) in enumerate([(0.3, 0.3), (0.7, 0.3), (0.3, 0.7), (0.7, 0.7), (0.5, 0.5)]):
        radius = 0.09 if i % 2 == 0 else 0.05
        p.drawEllipse(QPointF(x, y), radius, radius)


def _reshape(p: QPainter) -> None:
    p.drawRect(QRectF(0.18, 0.3, 0.22, 0.4))
    p.drawRect(QRectF(0.52, 0.42, 0.32, 0.16))


def _loop(p: QPainter) -> None:
    p.drawArc(QRectF(0.22, 0.22, 0.56, 0.56), 30 * 16, 300 * 16)
    p.drawPolyline([QPointF(0.78, 0.2), QPointF(0.76, 0.38), QPointF(0.6, 0.33)])


def _eye(p: QPainter) -> None:
    path = QPainterPath(QPointF(0.15, 0.5))
    path.quadTo(QPointF(0.5, 0.12), QPointF(0.85, 0.5))
    path.quadTo(QPointF(0.5, 0.88), QPointF(0.15, 0.5))
    p.drawPath(path)
    p.drawEllipse(QPointF(0.5, 0.5), 0.1, 0.1)


def _hinge(p: QPainter) -> None:
    p.drawPolyline([QPointF(0.18, 0.7), QPointF(0.5, 0.7), QPointF(0.82, 0.25)])


def _plus(p: QPainter) -> None:
    p.drawLine(QPointF(0.5, 0.24), QPointF(0.5, 0.76))
    p.drawLine(QPointF(0.24, 0.5), QPointF(0.76, 0.5))


def _node_graph(p: QPainter) -> None:
    a, b, c = QPointF(0.3, 0.28), QPointF(0.3, 0.72), QPointF(0.72, 0.5)
    p.drawLine(a, c)
    p.drawLine(b, c)
    for point in (a, b, c):
        p.drawEllipse(point, 0.09, 0.09)


_GLYPHS: dict[str, Callable[[QPainter], None]] = {
    "input-output": _arrow, "linear": _dense, "convolution": _grid(3), "pooling": _grid(2),
    "normalization": _bell, "regularization": _dots, "shape": _reshape, "recurrent": _loop,
    "attention": _eye, "activation": _hinge, "merge": _plus,
}


def _glyph_pixmap(color: QColor, glyph: Callable[[QPainter], None], size: int) -> QPixmap:
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(color)
    margin = size * 0.06
    painter.drawRoundedRect(QRectF(margin, margin, size - 2 * margin, size - 2 * margin),
                            size * 0.22, size * 0.22)
    painter.scale(size, size)
    pen = QPen(QColor("white"), 1.9 / 24)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    painter.setPen(pen)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    glyph(painter)
    painter.end()
    return pixmap


def _drawn_icon(color: QColor, glyph: Callable[[QPainter], None]) -> QIcon:
    icon = QIcon()
    for size in _GLYPH_SIZES:
        icon.addPixmap(_glyph_pixmap(color, glyph, size))
    return icon


@cache
def category_icon(category: str) -> QIcon:
    """Returns the icon of a layer category: its glyph (packaged SVG, else drawn) on its colour."""
    slug = category_slug(category)
    glyph = _svg_glyph(slug) or _GLYPHS.get(slug, _dots)
    return _drawn_icon(category_color(category), glyph)


@cache
def app_icon() -> QIcon:
    """Returns the application (window) icon: the packaged renders, else a drawn network glyph."""
    icon = QIcon()
    for size in (16, 32, 48, 64, 128, 256):
        path = _resource_file("icons", "hicolor", f"{size}x{size}", "apps", "nnstudio.png")
        if path is not None:
            icon.addFile(str(path))
    return icon if not icon.isNull() else _drawn_icon(QColor("#4c6ef5"), _node_graph)


# --- toolbar icons: line drawings in the palette's text colour, on a 24-unit grid ----------------

def _path(points: list[tuple[float, float]]) -> QPainterPath:
    path = QPainterPath(QPointF(*points[0]))
    for point in points[1:]:
        path.lineTo(QPointF(*point))
    return path


def _tool_new(p: QPainter) -> None:
    p.drawPath(_path([(14, 3), (6, 3), (6, 21), (18, 21), (18, 7), (14, 3), (14, 7), (18, 7)]))
    p.drawLine(QPointF(12, 11), QPointF(12, 17))
    p.drawLine(QPointF(9, 14), QPointF(15, 14))


def _tool_open(p: QPainter) -> None:
    p.drawPath(_path([(3, 19), (3, 5), (9, 5), (11, 7), (19, 7), (19, 10)]))
    p.drawPath(_path([(3, 19), (6, 10), (22, 10), (19, 19), (3, 19)]))


def _tool_save(p: QPainter) -> None:
    p.drawPath(_path([(4, 4), (17, 4), (20, 7), (20, 20), (4, 20), (4, 4)]))
    p.drawPath(_path([(8, 4), (8, 9), (15, 9), (15, 4)]))
    p.drawRect(QRectF(8, 13, 8, 7))


def _curved_arrow(p: QPainter, mirror: bool) -> None:
    if mirror:
        p.translate(24, 0)
        p.scale(-1, 1)
    path = QPainterPath(QPointF(5, 10))
    path.lineTo(QPointF(14, 10))
    path.cubicTo(QPointF(22, 10), QPointF(22, 20), QPointF(14, 20))
    path.lineTo(QPointF(9, 20))
    p.drawPath(path)
    p.drawPath(_path([(9, 5), (4, 10), (9, 15)]))


def _tool_undo(p: QPainter) -> None:
    _curved_arrow(p, mirror=False)


def _tool_redo(p: QPainter) -> None:
    _curved_arrow(p, mirror=True)


def _tool_layout(p: QPainter) -> None:
    for rect in ((8, 2.5, 8, 5), (2.5, 16.5, 8, 5), (13.5, 16.5, 8, 5)):
        p.drawRoundedRect(QRectF(*rect), 1.5, 1.5)
    p.drawPath(_path([(12, 7.5), (12, 12), (6.5, 12), (6.5, 16.5)]))
    p.drawPath(_path([(12, 12), (17.5, 12), (17.5, 16.5)]))


def _tool_fit(p: QPainter) -> None:
    for corner in ([(3, 8), (3, 3), (8, 3)], [(16, 3), (21, 3), (21, 8)], [(21, 16), (21, 21), (16, 21)],
                   [(8, 21), (3, 21), (3, 16)]):
        p.drawPath(_path(corner))
    p.drawRoundedRect(QRectF(8, 8, 8, 8), 1.5, 1.5)


def _tool_export(p: QPainter) -> None:
    p.drawPath(_path([(9, 8), (5, 8), (5, 20), (19, 20), (19, 8), (15, 8)]))
    p.drawLine(QPointF(12, 3), QPointF(12, 14))
    p.drawPath(_path([(8, 7), (12, 3), (16, 7)]))


_TOOL_GLYPHS: dict[str, Callable[[QPainter], None]] = {
    "new": _tool_new, "open": _tool_open, "save": _tool_save, "undo": _tool_undo, "redo": _tool_redo,
    "layout": _tool_layout, "fit": _tool_fit, "export": _tool_export,
}
TOOL_ICON_NAMES = tuple(_TOOL_GLYPHS)


def tool_icon(name: str, color: QColor, disabled_color: QColor | None = None) -> QIcon:
    """Returns a toolbar icon (``new``, ``open``, ``save``, ``undo``...) drawn in ``color``."""
    glyph = _TOOL_GLYPHS[name]
    icon = QIcon()
    for size in (16, 20, 24, 32, 48):
        for mode, tint in ((QIcon.Mode.Normal, color), (QIcon.Mode.Disabled, disabled_color)):
            if tint is None:
                continue
            pixmap = QPixmap(size, size)
            pixmap.fill(Qt.GlobalColor.transparent)
            painter = QPainter(pixmap)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.scale(size / 24, size / 24)
            pen = QPen(tint, 1.7)
            pen.setCapStyle(Qt.PenCapStyle.RoundCap)
            pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
            painter.setPen(pen)
            glyph(painter)
            painter.end()
            icon.addPixmap(pixmap, mode)
    return icon

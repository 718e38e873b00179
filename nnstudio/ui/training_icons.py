"""The icons of the run controls (train, pause, resume, stop), drawn so they suit any scheme."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap, QPolygonF

from nnstudio.ui.theme import ERROR_COLOR, OK_COLOR

_SIZES = (16, 24, 32, 48)


def _draw(kind: str, painter: QPainter, size: float, colour: QColor) -> None:
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(colour)
    m = size * 0.2
    if kind in ("train", "resume"):
        painter.drawPolygon(QPolygonF([QPointF(m * 1.3, m), QPointF(size - m, size / 2), QPointF(m * 1.3, size - m)]))
    elif kind == "pause":
        bar = size * 0.2
        painter.drawRoundedRect(QRectF(m * 1.2, m, bar, size - 2 * m), 1.5, 1.5)
        painter.drawRoundedRect(QRectF(size - m * 1.2 - bar, m, bar, size - 2 * m), 1.5, 1.5)
    elif kind == "stop":
        painter.drawRoundedRect(QRectF(m * 1.1, m * 1.1, size - 2.2 * m, size - 2.2 * m), 2, 2)
    else:
        raise ValueError(f"unknown run control icon {kind!r}; use train, resume, pause or stop")


def run_control_icon(kind: str, text_colour: QColor) -> QIcon:
    """Return the icon of ``kind`` (train / resume: green triangle, pause: bars, stop: red square)."""
    colour = {"train": QColor(OK_COLOR), "resume": QColor(OK_COLOR), "stop": QColor(ERROR_COLOR)}.get(kind, text_colour)
    icon = QIcon()
    for size in _SIZES:
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        _draw(kind, painter, size, colour)
        painter.end()
        icon.addPixmap(pixmap)
    return icon

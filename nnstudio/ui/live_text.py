"""``LiveText``: a read-only line of text that may change many times a second while training runs.

A ``QLabel`` is the wrong widget for text that changes with every progress update: each
``setText`` asks for a new layout (``updateGeometry``), and Qt's layouts pass that request up to the
top-level window, so the whole window is laid out again; and a label does not paint its own
background, so every repaint also repaints each of its ancestors beneath it. Done from Python, all
of that runs with the GIL held, which the training thread then waits for.

``LiveText`` changes only what it must: a new text repaints this widget alone (it fills its own
background, so it is opaque to Qt) and never touches the layout, except when wrapped text needs more
lines than it has room for; then it grows, and keeps that height until it is resized or
``reset_height()`` is called, so a value flipping between one and two lines does not make the plots
below it jump.

Plain text that does not fit is elided with "…" (the full text is the tooltip); rich text (simple
HTML, as ``QLabel`` takes) wraps at word boundaries when ``wrap`` is set. Right-click copies the
text. ``text()`` returns what was set; the accessible name follows the text.
"""

from __future__ import annotations

import re

from PySide6.QtCore import QPointF, QSize, Qt
from PySide6.QtGui import QAction, QGuiApplication, QPainter, QPalette, QStaticText, QTextOption
from PySide6.QtWidgets import QSizePolicy, QWidget

_TAGS = re.compile(r"<[^>]+>")
_ENTITIES = {"&nbsp;": " ", "&#9679;": "●", "&amp;": "&", "&lt;": "<", "&gt;": ">"}


def plain_text(html: str) -> str:
    """Return ``html`` (as this widget takes it) without tags and with the common entities decoded."""
    text = _TAGS.sub("", html)
    for entity, char in _ENTITIES.items():
        text = text.replace(entity, char)
    return text


class LiveText(QWidget):
    """A cheap-to-update text line (see the module docstring); ``rich`` takes simple HTML."""

    def __init__(self, parent: QWidget | None = None, *, rich: bool = False, wrap: bool = False) -> None:
        super().__init__(parent)
        self._text = ""
        self._plain = ""  # the text without markup: measured, copied, read out
        self._rich = rich
        self._wrap = wrap
        self._static = QStaticText()
        self._static.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
        option = QTextOption()
        option.setWrapMode(QTextOption.WrapMode.WordWrap if wrap else QTextOption.WrapMode.NoWrap)
        self._static.setTextOption(option)
        self._lines = 1  # the height, in lines, this widget has made room for
        # Opaque: Qt then repaints only this widget when its text changes, not the window behind it.
        self.setAutoFillBackground(True)
        self.setBackgroundRole(QPalette.ColorRole.Window)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        copy = QAction("Copy", self)
        copy.triggered.connect(lambda: QGuiApplication.clipboard().setText(self._plain))
        self.addAction(copy)
        self._apply_height()

    # --- text -------------------------------------------------------------------------------------

    def text(self) -> str:
        return self._text

    def setText(self, text: str) -> None:  # noqa: N802 - QLabel's name, so callers read the same
        if text == self._text:
            return
        self._text = text
        self._plain = plain_text(text) if self._rich else text
        self._static.setText(text)
        self.setAccessibleName(self._plain)
        if not self._wrap:
            self.setToolTip(self._plain if self._elided(self._plain) else "")
        self._fit_lines()
        self.update()

    def reset_height(self) -> None:
        """Fit the height to the current text again (the start of a run); later texts only grow it."""
        self._fit_lines(exact=True)

    # --- geometry ---------------------------------------------------------------------------------

    def _line_height(self) -> int:
        return self.fontMetrics().lineSpacing()

    def _text_width(self, width: int) -> float:
        margins = self.contentsMargins()
        return max(1.0, float(width - margins.left() - margins.right()))

    def heightForWidth(self, width: int) -> int:  # noqa: N802 - Qt's name
        """Return the height the current text needs at ``width`` (whole lines, margins included)."""
        margins = self.contentsMargins()
        return self._lines_for(width) * self._line_height() + margins.top() + margins.bottom()

    def _lines_for(self, width: int) -> int:
        if not self._wrap or not self._text:
            return 1
        if self.fontMetrics().horizontalAdvance(self._plain) <= self._text_width(width) - 2:
            return 1  # fits on one line: no need to lay the text out to know
        measure = QStaticText(self._static)
        measure.setTextWidth(self._text_width(width))
        measure.prepare(font=self.font())
        return max(1, round(measure.size().height() / max(self._line_height(), 1)))

    def _fit_lines(self, exact: bool = False) -> None:
        """Grow to the lines the text needs at the current width (``exact``: shrink too)."""
        needed = self._lines_for(self.width()) if self._wrap and self.width() > 0 else 1
        if needed > self._lines or (exact and needed != self._lines):
            self._lines = needed
            self._apply_height()

    def _apply_height(self) -> None:
        margins = self.contentsMargins()
        self.setFixedHeight(self._lines * self._line_height() + margins.top() + margins.bottom())

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(max(120, self.fontMetrics().horizontalAdvance(self._plain)), self.height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(40, self.height())

    def setContentsMargins(self, *margins: int) -> None:  # noqa: N802 - Qt's name
        super().setContentsMargins(*margins)
        self._apply_height()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        if self._wrap and event.size().width() != event.oldSize().width():
            self._fit_lines(exact=True)  # a new width: as many lines as the text needs there

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().changeEvent(event)
        if event.type() == event.Type.FontChange:
            self._apply_height()

    # --- painting ---------------------------------------------------------------------------------

    def _elided(self, plain: str) -> bool:
        return self.fontMetrics().horizontalAdvance(plain) > self._text_width(self.width())

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if not self._text:
            return
        painter = QPainter(self)
        painter.setPen(self.palette().color(QPalette.ColorRole.WindowText))
        margins = self.contentsMargins()
        width = self._text_width(self.width())
        top = margins.top()
        if not self._rich and self._elided(self._text):
            shown = self.fontMetrics().elidedText(self._text, Qt.TextElideMode.ElideRight, int(width))
            painter.drawText(margins.left(), top + self.fontMetrics().ascent(), shown)
            return
        if self._wrap:
            self._static.setTextWidth(width)
        painter.drawStaticText(QPointF(margins.left(), top), self._static)

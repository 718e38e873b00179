"""The look of nnstudio: the Fusion style, category colours and palette-derived colours.

Every colour a widget paints is either taken from the application palette (so the light and the dark
system scheme both look right) or is one of the category accents below, chosen to read on both.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QWidget

#: Accent colour of each catalog category (palette icons, canvas node headers).
CATEGORY_COLORS: dict[str, str] = {
    "Input / Output": "#4c8bf5",
    "Linear": "#8e6cef",
    "Convolution": "#1aa39a",
    "Pooling": "#3fa34d",
    "Normalization": "#d08a1c",
    "Regularization": "#9a8f83",
    "Shape": "#6b7fa3",
    "Recurrent": "#c2477d",
    "Attention": "#d9584f",
    "Activation": "#e0a100",
    "Merge": "#5d6bd8",
}
_FALLBACK_CATEGORY_COLOR = "#7a869a"

ERROR_COLOR = "#d93a3a"
WARNING_COLOR = "#d18b00"
OK_COLOR = "#2e9e4f"


def category_color(category: str) -> QColor:
    """Returns the accent colour of a catalog category (a neutral grey for unknown ones)."""
    return QColor(CATEGORY_COLORS.get(category, _FALLBACK_CATEGORY_COLOR))


def is_dark(source: QWidget | QPalette | None = None) -> bool:
    """Returns True when the window background is darker than its text: a dark scheme.

    The one dark-mode test of the application: ``source`` is a widget, a palette, or None for the
    application's palette. Comparing background with text (not with a fixed lightness) also holds
    for high-contrast and tinted schemes.
    """
    if isinstance(source, QPalette):
        palette = source
    else:
        palette = source.palette() if source is not None else QGuiApplication.palette()
    return palette.color(QPalette.ColorRole.Window).lightness() < palette.color(
        QPalette.ColorRole.WindowText).lightness()


def muted_text_color(widget: QWidget | None = None) -> QColor:
    """Returns a colour for secondary text (inferred values, captions): halfway to the background."""
    palette = widget.palette() if widget is not None else QGuiApplication.palette()
    text = palette.color(QPalette.ColorRole.WindowText)
    window = palette.color(QPalette.ColorRole.Window)
    return QColor((text.red() + window.red()) // 2, (text.green() + window.green()) // 2,
                  (text.blue() + window.blue()) // 2)


def apply_application_style(app: QApplication) -> None:
    """Uses Fusion (the same look on every platform) and keeps the system's light/dark palette.

    Fusion follows ``QStyleHints.colorScheme`` in Qt 6.5+, so the scheme switch stays automatic.
    """
    app.setStyle("Fusion")

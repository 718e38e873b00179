"""The building blocks of the live plots, on top of pyqtgraph, chosen so a frame runs no Python.

:class:`LiveGraphicsView` paints with Qt's own ``paintEvent``; :class:`ValueAxis` has a fixed width and
percent / compact tick labels; :class:`GridLines` draws the horizontal grid as one plain path item;
:class:`LegendSample` is a legend key for a ``QtCurve``; :class:`SeriesStyle` and the colour tables say
how a series is drawn in a light and a dark scheme; :func:`adopt_menus` gives pyqtgraph's context
menus a Qt parent (see :mod:`nnstudio.ui.garbage`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QGraphicsView, QWidget

from nnstudio.ui.plot_curves import marker_path


@dataclass(frozen=True)
class SeriesStyle:
    """How one series is drawn: a colour role plus line and marker choices."""

    role: str  # key into the palette-dependent colour table
    width: float = 2.0
    alpha: int = 255
    line: bool = True
    symbol: str | None = None
    #: Thousands of points per run (per-batch series): drawn through a level-of-detail reduction.
    dense: bool = False


# Colour roles for light and dark backgrounds: the dark ones are lighter so they keep contrast.
LIGHT_COLOURS = {"train": "#1f6fb5", "val": "#d9480f", "lr": "#7048c4"}
DARK_COLOURS = {"train": "#6cb6ff", "val": "#ff9a5c", "lr": "#b794f4"}


def compact_number(value: float) -> str:
    """Return ``value`` in at most about five characters: 0.25, 12.5, 5e-4 (learning-rate ticks)."""
    if value != 0.0 and abs(value) < 1e-2:
        mantissa, exponent = f"{value:.1e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    return f"{value:.3g}"


class ValueAxis(pg.AxisItem):
    """A value axis with a fixed width (so stacked plots line up) and a choice of tick labels.

    ``labels``: ``"plain"`` (pyqtgraph's), ``"percent"`` (0.25 -> 25%) or ``"compact"`` (3 significant
    digits, 5e-4 style for tiny values: learning rates).
    """

    def __init__(self, orientation: str = "left", labels: str = "plain") -> None:
        super().__init__(orientation)
        self.labels = labels
        self.setWidth(58)
        self.enableAutoSIPrefix(False)

    def tickStrings(self, values, scale, spacing):  # noqa: N802 (pyqtgraph's name)
        if self.labels == "percent":
            decimals = 0 if spacing * scale >= 0.01 else 1
            return [f"{v * scale * 100:.{decimals}f}%" for v in values]
        if self.labels == "compact":
            return [compact_number(v * scale) for v in values]
        return super().tickStrings(values, scale, spacing)


DEVICE_CACHE = QGraphicsItem.CacheMode.DeviceCoordinateCache


class GridLines:
    """Horizontal lines at the major ticks of a plot's left axis, drawn by one plain ``QGraphicsPathItem``."""

    def __init__(self, plot: pg.PlotItem) -> None:
        self._plot = plot
        self.item = QGraphicsPathItem()
        self.item.setZValue(-100)  # under every curve
        view = plot.getViewBox()
        view.addItem(self.item, ignoreBounds=True)
        view.sigRangeChanged.connect(self.refresh)
        view.sigResized.connect(self.refresh)

    def set_colour(self, colour: QColor) -> None:
        pen = QPen(colour)
        pen.setWidthF(1.0)
        pen.setCosmetic(True)
        self.item.setPen(pen)

    def values(self) -> list[float]:
        """Return the y values the lines are drawn at (the axis's major ticks)."""
        view = self._plot.getViewBox()
        (_x0, _x1), (y0, y1) = view.viewRange()
        height = view.height()
        if not height > 0 or not y1 > y0:
            return []
        levels = self._plot.getAxis("left").tickValues(y0, y1, height)
        return [float(v) for v in levels[0][1]] if levels else []

    def refresh(self, *_args) -> None:
        """Re-draw the lines for the view's current range (the view calls this when it changes)."""
        x0, x1 = self._plot.getViewBox().viewRange()[0]
        margin = max(x1 - x0, 1e-9)
        path = QPainterPath()
        for value in self.values():
            path.moveTo(x0 - margin, value)
            path.lineTo(x1 + margin, value)
        self.item.setPath(path)


class LegendSample(pg.ItemSample):
    """A legend key for a ``QtCurve``: a short stretch of its line with its marker on top."""

    def paint(self, painter, *args) -> None:
        curve = self.item
        if not curve.isVisible():
            super().paint(painter, *args)  # pyqtgraph's "hidden" eye
            return
        opts = curve.opts
        painter.setRenderHint(painter.RenderHint.Antialiasing)
        if opts["pen"] is not None:
            painter.setPen(pg.mkPen(opts["pen"]))
            painter.drawLine(0, 11, 20, 11)
        if opts["symbol"]:
            painter.setPen(pg.mkPen(opts["symbolPen"]))
            painter.setBrush(pg.mkBrush(opts["symbolBrush"]))
            painter.translate(10, 11)
            painter.drawPath(marker_path(opts["symbol"], opts["symbolSize"]))


class _PrepareBeforePaint(QObject):
    """Event filter on a view's viewport: lets pyqtgraph's items catch up just before each paint."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.Paint:
            scene = self.parent().scene()
            if scene is not None:
                scene.prepareForPaint()
        return False


class LiveGraphicsView(pg.GraphicsLayoutWidget):
    """pyqtgraph's layout view, painted by Qt's own ``QGraphicsView.paintEvent``.

    pyqtgraph overrides ``paintEvent`` in Python only to call ``scene().prepareForPaint()`` first; a
    Python override keeps the GIL held for the whole frame, so while Qt rasterised the curves the
    training thread could not run (measured in benchmarks/bench_gui.py). Here the C++ method is the
    class attribute, so Qt paints without Python on the stack, and an event filter on the viewport
    runs ``prepareForPaint`` just before every paint event (a few microseconds of Python), which
    keeps exactly pyqtgraph's behaviour: auto-range and view transforms settle before a frame.
    """

    paintEvent = QGraphicsView.paintEvent  # noqa: N815 - Qt's name; see the class docstring

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent=parent)
        self._prepare_filter = _PrepareBeforePaint(self)
        self.viewport().installEventFilter(self._prepare_filter)


def adopt_menus(plot: pg.PlotItem, owner: QWidget) -> None:
    """Makes ``owner`` the Qt parent of the menus and widget groups pyqtgraph made for ``plot``.

    pyqtgraph creates them without a parent, so Python owns them and its cyclic garbage collector
    could destroy one inside an unrelated Qt call (a QMenu's destructor then waited for a signal lock
    held by that call: a frozen application). With a parent they go when ``owner`` goes.
    """
    view_menu = plot.getViewBox().menu
    menus = [menu for menu in (view_menu, getattr(plot, "ctrlMenu", None)) if menu is not None]
    for menu in menus:
        menu.setParent(owner, menu.windowFlags())
    groups = list(getattr(view_menu, "widgetGroups", ())) + [getattr(plot, "stateGroup", None)]
    for group in groups:
        if group is not None and group.parent() is None:
            group.setParent(owner)

"""``QtCurve``: one plotted series drawn by Qt's own graphics items, so painting it runs no Python.

pyqtgraph's curve and scatter items paint (and report their bounds) in Python. Each such call from
Qt's paint loop takes the GIL, and while a run trains in a background thread every one of them
makes the trainer wait for the GUI; at ten frames a second with a dozen items on screen that cost
training steps (measured in benchmarks/bench_gui.py). A ``QtCurve`` is built from plain
``QGraphicsPathItem``s instead: the line is one path in data coordinates with a cosmetic pen (its
width stays in pixels however the view is scaled), and each marker is a small path that ignores
the view's transformation, placed at its point. Qt paints them without calling back into Python.

A ``QtCurve`` lives in a pyqtgraph ``ViewBox`` (``attach``) and offers what the plots and
pyqtgraph's legend use of a ``PlotDataItem``: ``setData``, ``xData``/``yData``, ``opts``,
``setPen``/``setSymbol``, ``isVisible``/``setVisible`` (the legend toggles it), ``setZValue``.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem

#: Beyond this many points a per-epoch series shows its line only: markers would overlap anyway.
MAX_MARKERS = 400
_IGNORES_TRANSFORMATIONS = QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations


def marker_path(symbol: str, size: float) -> QPainterPath:
    """Return the outline of marker ``symbol`` ("o" circle or "s" square), ``size`` pixels across, centred on 0."""
    path = QPainterPath()
    half = size / 2.0
    if symbol == "s":
        path.addRect(QRectF(-half, -half, size, size))
    elif symbol == "o":
        path.addEllipse(QPointF(0.0, 0.0), half, half)
    else:
        raise ValueError(f"unknown marker symbol {symbol!r}; use 'o' or 's'")
    return path


class QtCurve:
    """A line and/or markers for one series (see the module docstring)."""

    def __init__(self) -> None:
        self.line = QGraphicsPathItem()
        self.line.setPen(QPen(Qt.PenStyle.NoPen))
        self.xData: np.ndarray | None = None
        self.yData: np.ndarray | None = None
        #: What pyqtgraph's legend sample reads: the line pen, and the marker's symbol, size, pen and brush.
        self.opts: dict = {"pen": None, "symbol": None, "symbolSize": 7, "symbolPen": None,
                           "symbolBrush": None, "antialias": False}
        self._markers: list[QGraphicsPathItem] = []
        self._marker_shape = QPainterPath()
        self._view: pg.ViewBox | None = None

    # --- place in a view --------------------------------------------------------------------------

    def attach(self, view: pg.ViewBox) -> None:
        """Add the curve to ``view`` (pyqtgraph's auto range sees its line's bounds)."""
        self._view = view
        view.addItem(self.line)

    def detach(self) -> None:
        """Take the curve out of its view."""
        if self._view is not None:
            self._view.removeItem(self.line)
            self._view = None

    # --- data -------------------------------------------------------------------------------------

    def setData(self, x, y, **_pyqtgraph_options) -> None:  # noqa: N802 - PlotDataItem's name
        """Show the points ``x``, ``y`` (the arrays are kept, not copied)."""
        xs = np.asarray(x, dtype=np.float64)
        ys = np.asarray(y, dtype=np.float64)
        if xs.shape != ys.shape:
            raise ValueError(f"a curve needs as many x as y values, got {xs.shape} and {ys.shape}")
        self.xData, self.yData = xs, ys
        self.line.setPath(pg.arrayToQPath(xs, ys, connect="all") if len(xs) > 1 else QPainterPath())
        self._place_markers()
        view = self._view
        if view is not None and any(view.autoRangeEnabled()):
            view.itemBoundsChanged(self.line)  # what a pyqtgraph item tells its view itself

    # --- looks ------------------------------------------------------------------------------------

    def setPen(self, pen: QPen | None) -> None:  # noqa: N802 - PlotDataItem's name
        """Draw the line with ``pen`` (None: markers only). Widths are in pixels."""
        self.opts["pen"] = pen
        if pen is None:
            self.line.setPen(QPen(Qt.PenStyle.NoPen))
            return
        pen = QPen(pen)
        pen.setCosmetic(True)
        self.line.setPen(pen)

    def setSymbol(self, symbol: str | None, size: float = 7, pen: QPen | None = None,  # noqa: N802
                  brush: QBrush | None = None) -> None:
        """Mark every point with ``symbol`` ("o" or "s"; None for none) drawn with ``pen`` and ``brush``."""
        self.opts.update(symbol=symbol, symbolSize=size, symbolPen=pen, symbolBrush=brush)
        self._marker_shape = marker_path(symbol, size) if symbol else QPainterPath()
        for marker in self._markers:
            self._style_marker(marker)
        self._place_markers()

    def _style_marker(self, marker: QGraphicsPathItem) -> None:
        marker.setPath(self._marker_shape)
        marker.setPen(QPen(self.opts["symbolPen"]) if self.opts["symbolPen"] is not None
                      else QPen(Qt.PenStyle.NoPen))
        marker.setBrush(QBrush(self.opts["symbolBrush"]) if self.opts["symbolBrush"] is not None
                        else QBrush(Qt.BrushStyle.NoBrush))

    def _place_markers(self) -> None:
        count = 0 if self.opts["symbol"] is None or self.xData is None else len(self.xData)
        if count > MAX_MARKERS:
            count = 0
        while len(self._markers) < count:
            marker = QGraphicsPathItem(self.line)  # a child: shown, hidden and stacked with the line
            marker.setFlag(_IGNORES_TRANSFORMATIONS)  # pixels across, however the view is scaled
            self._style_marker(marker)
            self._markers.append(marker)
        while len(self._markers) > count:
            marker = self._markers.pop()
            marker.setParentItem(None)
            if marker.scene() is not None:
                marker.scene().removeItem(marker)
        if count:
            for marker, x, y in zip(self._markers, self.xData.tolist(), self.yData.tolist()):
                marker.setPos(x, y)

    def marker_count(self) -> int:
        """Return how many markers are drawn."""
        return len(self._markers)

    # --- what the legend and the plots call -------------------------------------------------------

    def isVisible(self) -> bool:  # noqa: N802 - Qt's name
        return self.line.isVisible()

    def setVisible(self, visible: bool) -> None:  # noqa: N802 - Qt's name
        self.line.setVisible(visible)

    def setZValue(self, z: float) -> None:  # noqa: N802 - Qt's name
        self.line.setZValue(z)

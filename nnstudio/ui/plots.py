"""Live training curves: ``LossPlot`` and ``AccuracyPlot`` (pyqtgraph), fast at millions of points.

Both plots share one x axis measured in epochs. A batch inside an epoch sits at a fractional
position, ``epoch_position(epoch, step, steps_per_epoch) = epoch - 1 + step / steps_per_epoch``
(epochs and steps count from 1), so the last batch of epoch 3 lands on x = 3.0, exactly where the
per-epoch markers of epoch 3 are drawn.

Usage from a training panel (the worker already merges trainer events to <= 30 a second)::

    loss_plot, acc_plot = LossPlot(), AccuracyPlot()
    acc_plot.link_x_axis(loss_plot)          # pan/zoom one, the other follows
    loss_plot.begin_run(); acc_plot.begin_run()
    loss_plot.add_batches(xs, losses, lrs)   # or add_batch(x, loss, lr) one at a time
    loss_plot.add_epoch(epoch, train_loss=..., val_loss=...)
    acc_plot.add_epoch(epoch, train=..., val=...)   # fractions in [0, 1]; set_mode("mae") for regression
    loss_plot.end_run(); acc_plot.end_run()
    history_series = {**loss_plot.snapshot(), **acc_plot.snapshot()}   # keep for overlays

Public API of both plots (``TrainingPlot``):

- ``begin_run()`` clears the live series and starts the redraw timer (30 Hz); ``end_run()`` draws
  what is pending and stops it; ``is_live``. ``add_*`` methods only store data: a redraw happens on
  the next timer tick or an explicit ``flush()``. Non-finite values (a NaN loss) are not stored, so
  the curves never break; the trainer reports the NaN itself.
- ``clear()`` empties the live series (overlays stay); ``series_names()``; ``series_data(name) ->
  (x, y)`` copies; ``snapshot() -> {name: (x, y)}`` of the non-empty series.
- ``export_png(path)`` and ``export_csv(path)`` (columns ``series,epoch,value``); both also sit in
  the plot's right-click menu. ``readout_at(x) -> {series title: value}`` is what the hover line shows.
- ``add_overlay(run_id, data, label=None)`` draws an earlier run's series (same names as
  ``snapshot()``; unknown names are ignored) as faint dashed curves; ``remove_overlay(run_id)``,
  ``overlay_ids()``, ``clear_overlays()``.

``LossPlot`` series: ``batch_loss`` (raw, faint), ``batch_loss_smooth`` (bias-corrected EMA,
``smoothing`` 0..1), ``train_loss`` and ``val_loss`` (per epoch, markers), ``lr`` (a strip below).
``AccuracyPlot`` series: ``train_acc``/``val_acc`` in mode ``"accuracy"`` (y shown in percent) or
``train_mae``/``val_mae`` in mode ``"mae"``.

Speed (see benchmarks/bench_plots.py and bench_gui.py): one long-lived ``plot_curves.QtCurve`` per
series (plain Qt path items: Qt paints them without calling Python, so a frame does not take the
GIL from a training thread), fed views of a preallocated, doubling numpy buffer
(``plot_series.SeriesBuffer``). The per-batch series also keep an incremental min/max envelope
(``plot_series.PeakEnvelope``) and the curve gets, for the visible x range, the raw points (few), a
fresh min/max reduction, or the envelope (``visible_points``): zooming in re-reduces and shows every
raw point again; the view clips the rest. Dense curves use 1-pixel pens and the grid only horizontal
major lines, because the raster engine's cost grows with pen width and with semi-transparent lines.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPointF, Qt, QTimer
from PySide6.QtGui import QAction, QColor, QPainterPath, QPalette, QPen
from PySide6.QtWidgets import (
    QFileDialog,
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsView,
    QVBoxLayout,
    QWidget,
)

from nnstudio.core.files import write_text_atomic
from nnstudio.ui.live_text import LiveText, plain_text
from nnstudio.ui.picture_files import save_picture
from nnstudio.ui.plot_curves import QtCurve, marker_path
from nnstudio.ui.plot_series import RAW_LIMIT, PeakEnvelope, SeriesBuffer, visible_points

__all__ = ["AccuracyPlot", "LossPlot", "MODES", "REDRAW_HZ", "SeriesBuffer", "TrainingPlot", "epoch_position"]

#: Redraws per second while a run is live; the eye sees no difference above ~30.
REDRAW_HZ = 30


def epoch_position(epoch: int, step: int, steps_per_epoch: int) -> float:
    """Return the x position (in epochs) of batch ``step`` of ``epoch``; both count from 1."""
    if steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be at least 1, got {steps_per_epoch}")
    return epoch - 1 + step / steps_per_epoch


@dataclass(frozen=True)
class _Style:
    """How one series is drawn: a colour role plus line and marker choices."""

    role: str  # key into the palette-dependent colour table
    width: float = 2.0
    alpha: int = 255
    line: bool = True
    symbol: str | None = None
    #: Thousands of points per run (per-batch series): drawn through a level-of-detail reduction.
    dense: bool = False


# Colour roles for light and dark backgrounds: the dark ones are lighter so they keep contrast.
_LIGHT_COLOURS = {"train": "#1f6fb5", "val": "#d9480f", "lr": "#7048c4"}
_DARK_COLOURS = {"train": "#6cb6ff", "val": "#ff9a5c", "lr": "#b794f4"}


@dataclass
class _Series:
    name: str
    title: str
    style: _Style
    plot: pg.PlotItem
    item: QtCurve
    buffer: SeriesBuffer
    envelope: PeakEnvelope | None
    dirty: bool = False


def _compact_number(value: float) -> str:
    """Return ``value`` in at most about five characters: 0.25, 12.5, 5e-4 (learning-rate ticks)."""
    if value != 0.0 and abs(value) < 1e-2:
        mantissa, exponent = f"{value:.1e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    return f"{value:.3g}"


class _ValueAxis(pg.AxisItem):
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
            return [_compact_number(v * scale) for v in values]
        return super().tickStrings(values, scale, spacing)


_DEVICE_CACHE = QGraphicsItem.CacheMode.DeviceCoordinateCache


class _GridLines:
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


class _LegendSample(pg.ItemSample):
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


class TrainingPlot(QWidget):
    """Return-free base of the live plots: series storage, rate-limited redraws, hover, export, overlays."""

    def __init__(self, title: str, y_label: str, parent: QWidget | None = None,
                 y_axis: _ValueAxis | None = None) -> None:
        super().__init__(parent)
        self._series: dict[str, _Series] = {}
        self._readout_stale = False  # data drawn since the read-out last changed
        self._overlays: dict[str, list[tuple[QtCurve, str, pg.PlotItem]]] = {}
        self._overlay_labels: dict[str, str] = {}
        self._title = title
        self._hover_x: float | None = None

        self._graphics = LiveGraphicsView(parent=self)
        self._graphics.ci.setContentsMargins(4, 4, 8, 4)
        self._graphics.ci.setSpacing(2)
        # Changes with every redraw: a LiveText repaints alone instead of re-laying the window. A
        # narrow plot wraps it onto a second line rather than cutting values off.
        self._readout = LiveText(self, rich=True, wrap=True)
        self._readout.setContentsMargins(8, 2, 8, 0)
        self._readout.setObjectName(f"{self.__class__.__name__[0].lower()}{self.__class__.__name__[1:]}Readout")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self._readout)
        layout.addWidget(self._graphics, 1)

        self.main_plot: pg.PlotItem = self._make_plot(row=0, y_label=y_label, axis=y_axis)
        self.main_plot.setTitle(title)
        self._legend = self.main_plot.addLegend(offset=(-8, 8), labelTextSize="9pt")

        self._timer = QTimer(self)
        self._timer.setInterval(1000 // REDRAW_HZ)
        self._timer.timeout.connect(self.flush)

        self.export_png_action = QAction("Export plot as PNG…", self)
        self.export_png_action.triggered.connect(self._ask_export_png)
        self.export_csv_action = QAction("Export data as CSV…", self)
        self.export_csv_action.triggered.connect(self._ask_export_csv)
        self._add_menu_actions(self.main_plot)

        self._graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.main_plot.getViewBox().sigXRangeChanged.connect(self._on_x_range_changed)
        self.setMinimumSize(260, 180)

    # ----------------------------------------------------------------- building blocks
    def _make_plot(self, row: int, y_label: str, axis: _ValueAxis | None = None) -> pg.PlotItem:
        plot = self._graphics.addPlot(row=row, col=0, axisItems={"left": axis or _ValueAxis()})
        plot.setLabel("left", y_label)
        # Horizontal major grid lines only (the hover line reads x): semi-transparent grid lines
        # across the view are the most expensive thing in a frame of the software raster engine.
        # Drawn by a plain Qt item, not by the axis: pyqtgraph's grid makes the axis span the whole
        # view, and every frame of the curves would then call back into the axis's Python.
        plot._nnstudio_grid = _GridLines(plot)
        # The containers draw nothing themselves: flagged so, Qt skips them (and their Python) when painting.
        for container in (plot, plot.getViewBox()):
            container.setFlag(QGraphicsItem.GraphicsItemFlag.ItemHasNoContents)
        plot.getAxis("left").setStyle(maxTickLevel=0)
        # Ticks point outwards: pyqtgraph's inward ticks make each axis reach into the view, so every
        # frame of the curves would repaint (and call the Python of) both axes too.
        for side in ("left", "bottom"):
            plot.getAxis(side).setStyle(tickLength=5)
        plot.getAxis("bottom").enableAutoSIPrefix(False)
        plot.setMouseEnabled(x=True, y=False)
        plot.hideButtons()
        crosshair = pg.InfiniteLine(angle=90, movable=False)
        crosshair.setVisible(False)
        crosshair.setZValue(50)
        plot.addItem(crosshair, ignoreBounds=True)
        plot._nnstudio_crosshair = crosshair  # one vertical hover line per plot
        if plot is not getattr(self, "main_plot", None) and hasattr(self, "main_plot"):
            plot.setXLink(self.main_plot)
            self._add_menu_actions(plot)
        return plot

    def _add_menu_actions(self, plot: pg.PlotItem) -> None:
        menu = plot.getViewBox().menu
        if menu is None:
            return
        menu.addSeparator()
        menu.addAction(self.export_png_action)
        menu.addAction(self.export_csv_action)

    def _add_series(self, name: str, title: str, style: _Style, plot: pg.PlotItem | None = None,
                    in_legend: bool = True) -> _Series:
        plot = plot or self.main_plot
        # Drawn by Qt alone (see plot_curves); dense series get about one point per pixel (_drawable).
        item = QtCurve()
        item.attach(plot.getViewBox())
        if in_legend:
            self._legend.addItem(_LegendSample(item), title)
        series = _Series(name, title, style, plot, item, SeriesBuffer(), PeakEnvelope() if style.dense else None)
        self._series[name] = series
        self._style_series(series)
        return series

    def _remove_series(self, name: str) -> None:
        series = self._series.pop(name)
        self._legend.removeItem(series.item)
        series.item.detach()

    # ----------------------------------------------------------------- run lifecycle
    @property
    def is_live(self) -> bool:
        """Return whether a run is in progress (the redraw timer is active)."""
        return self._timer.isActive()

    def begin_run(self) -> None:
        """Clear the live series and start redrawing at most ``REDRAW_HZ`` times a second."""
        self.clear()
        self._timer.start()
        self._update_readout()

    def set_epoch_span(self, first: float, last: float) -> None:
        """Show epochs ``first``..``last`` on the x axis (a run's whole plan) instead of growing with the data.

        A fixed axis reads as progress, and it spares a redraw of every axis (and of the linked plot)
        on each update: the GUI thread holds the GIL the trainer needs for exactly that long.
        """
        if not last > first:
            raise ValueError(f"an epoch span needs last > first, got {first}..{last}")
        view = self.main_plot.getViewBox()
        view.enableAutoRange(axis="x", enable=False)
        view.setXRange(first, last, padding=0.02)

    def end_run(self) -> None:
        """Draw anything still pending and stop the redraw timer."""
        self._timer.stop()
        self.flush()

    def clear(self) -> None:
        """Empty every live series; overlays of earlier runs stay."""
        for series in self._series.values():
            series.buffer.clear()
            if series.envelope is not None:
                series.envelope.clear()
            series.item.setData([], [])
            series.dirty = False
        self._readout.reset_height()
        self._reset_state()
        self._update_readout()

    def _reset_state(self) -> None:
        """Subclasses forget running state (e.g. the EMA) here."""

    def flush(self, readout: bool = True) -> None:
        """Push stored points to the screen now (the timer calls this while a run is live).

        ``readout=False`` leaves the read-out's latest values for a later flush: a training panel
        refreshes the numbers less often than the curves (laying out rich text is the dearest part
        of a frame, and digits changing ten times a second cannot be read anyway).
        """
        changed = False
        for series in self._series.values():
            if series.dirty:
                series.item.setData(*self._drawable(series), skipFiniteCheck=True)
                series.dirty = False
                changed = True
        self._readout_stale = self._readout_stale or changed
        if readout and self._readout_stale:
            self._update_readout()

    def _drawable(self, series: _Series) -> tuple[np.ndarray, np.ndarray]:
        """Return the (x, y) to give the curve: raw views, or a peak reduction for long histories."""
        if series.envelope is None:
            return series.buffer.x, series.buffer.y
        view = series.plot.getViewBox()
        if view.autoRangeEnabled()[0]:
            x0, x1 = -math.inf, math.inf  # the view is about to grow to the whole run
        else:
            x0, x1 = view.viewRange()[0]
        return visible_points(series.buffer, series.envelope, x0, x1, max(200, int(view.width())))

    def _on_x_range_changed(self) -> None:
        """Re-reduce the long series for the new x range so zooming in reveals every point."""
        for series in self._series.values():
            if series.envelope is not None and len(series.buffer):
                series.dirty = True
        self.flush()

    def _store(self, name: str, x: float, y: float | None) -> None:
        if y is None or not math.isfinite(y) or not math.isfinite(x):
            return
        series = self._series[name]
        series.buffer.append(x, y)
        if series.envelope is not None:
            series.envelope.extend(np.array([x]), np.array([y]))
        series.dirty = True

    def _store_many(self, name: str, xs: np.ndarray, ys: np.ndarray) -> None:
        keep = np.isfinite(xs) & np.isfinite(ys)
        if not keep.all():
            xs, ys = xs[keep], ys[keep]
        if len(xs):
            series = self._series[name]
            series.buffer.extend(xs, ys)
            if series.envelope is not None:
                series.envelope.extend(series.buffer.x[-len(xs):], series.buffer.y[-len(xs):])
            series.dirty = True

    # ----------------------------------------------------------------- reading data back
    def series_names(self) -> list[str]:
        """Return the names of the live series, in drawing order."""
        return list(self._series)

    def series_data(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Return copies of the stored (x, y) of series ``name`` (pending points included)."""
        try:
            buffer = self._series[name].buffer
        except KeyError:
            raise KeyError(f"{self._title} has no series {name!r}; it has {', '.join(self._series)}") from None
        return buffer.x.copy(), buffer.y.copy()

    def displayed_data(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Return the (x, y) the curve of ``name`` was last given (what is on screen, before downsampling)."""
        item = self._series[name].item
        if item.xData is None:
            return np.empty(0), np.empty(0)
        return np.asarray(item.xData), np.asarray(item.yData)

    def series_item(self, name: str) -> QtCurve:
        """Return the long-lived curve item of series ``name``."""
        return self._series[name].item

    def snapshot(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Return copies of every non-empty series, keyed by name (what ``add_overlay`` takes)."""
        return {name: self.series_data(name) for name, series in self._series.items() if len(series.buffer)}

    def readout_at(self, x: float) -> dict[str, float]:
        """Return, for each non-empty series, the value of its point nearest to epoch ``x``."""
        values: dict[str, float] = {}
        for series in self._series.values():
            xs, ys = series.buffer.x, series.buffer.y
            if not len(xs):
                continue
            i = int(np.searchsorted(xs, x))
            if i >= len(xs) or (i > 0 and abs(xs[i - 1] - x) <= abs(xs[i] - x)):
                i -= 1
            values[series.title] = float(ys[i])
        return values

    # ----------------------------------------------------------------- export
    def export_png(self, path: str | Path) -> Path:
        """Return ``path`` after saving a picture of the plot there as PNG."""
        path = Path(path)
        self.flush()
        save_picture(self._graphics.grab(), path)  # FileWriteError is an OSError; the old image is kept
        return path

    def export_csv(self, path: str | Path) -> Path:
        """Return ``path`` after writing every live series there as CSV (``series,epoch,value``)."""
        path = Path(path)
        lines = ["series,epoch,value"]
        for name, series in self._series.items():
            lines.extend(f"{name},{x:.10g},{y:.10g}" for x, y in zip(series.buffer.x.tolist(),
                                                                      series.buffer.y.tolist()))
        write_text_atomic(path, "\n".join(lines) + "\n")  # FileWriteError (an OSError) names the reason
        return path

    def _ask_export_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export plot", f"{self.objectName()}.png", "PNG image (*.png)")
        if path:
            self.export_png(path)

    def _ask_export_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export plot data", f"{self.objectName()}.csv",
                                              "CSV file (*.csv)")
        if path:
            self.export_csv(path)

    # ----------------------------------------------------------------- overlays
    def add_overlay(self, run_id: str, data: Mapping[str, tuple[Iterable[float], Iterable[float]]],
                    label: str | None = None) -> None:
        """Draw an earlier run's series (keyed like ``snapshot()``) as faint dashed curves.

        Series this plot does not draw are ignored; adding ``run_id`` again replaces it.
        """
        self.remove_overlay(run_id)
        items: list[tuple[QtCurve, str, pg.PlotItem]] = []
        for name, (xs, ys) in data.items():
            series = self._series.get(name)
            if series is None:
                continue
            xs = np.asarray(xs, dtype=np.float64)
            ys = np.asarray(ys, dtype=np.float64)
            keep = np.isfinite(xs) & np.isfinite(ys)
            xs, ys = xs[keep], ys[keep]
            if len(xs) > RAW_LIMIT:
                # A faint comparison needs its shape, not every point: reduce it once, here.
                envelope = PeakEnvelope()
                envelope.extend(xs, ys)
                xs, ys = envelope.points()
            item = QtCurve()
            item.setZValue(-10)  # behind the live run
            item.attach(series.plot.getViewBox())
            item.setData(xs, ys)
            items.append((item, name, series.plot))
        self._overlays[run_id] = items
        self._overlay_labels[run_id] = label or run_id
        self._style_overlays()
        if items:
            self._legend.addItem(_LegendSample(items[0][0]), f"{label or run_id} (earlier)")
            self._cache_static_items()

    def remove_overlay(self, run_id: str) -> None:
        """Remove the overlay of ``run_id`` (nothing happens when it is not shown)."""
        items = self._overlays.pop(run_id, None)
        self._overlay_labels.pop(run_id, None)
        if not items:
            return
        self._legend.removeItem(items[0][0])
        for item, _name, _plot in items:
            item.detach()

    def overlay_ids(self) -> list[str]:
        """Return the run ids currently overlaid."""
        return list(self._overlays)

    def overlay_data(self, run_id: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Return the (x, y) drawn for each series of the overlay ``run_id``."""
        return {name: (np.asarray(item.xData), np.asarray(item.yData)) for item, name, _plot in self._overlays[run_id]}

    def clear_overlays(self) -> None:
        """Remove every overlay."""
        for run_id in list(self._overlays):
            self.remove_overlay(run_id)

    # ----------------------------------------------------------------- x axis
    def link_x_axis(self, other: TrainingPlot) -> None:
        """Make this plot's epoch axis follow ``other``'s pan and zoom."""
        self.main_plot.setXLink(other.main_plot)

    def _plots(self) -> list[pg.PlotItem]:
        return [self.main_plot]

    # ----------------------------------------------------------------- hover read-out
    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        for plot in self._plots():
            if plot.sceneBoundingRect().contains(scene_pos):
                self._hover_x = float(plot.getViewBox().mapSceneToView(scene_pos).x())
                break
        else:
            self._hover_x = None
        for plot in self._plots():
            line = plot._nnstudio_crosshair
            line.setVisible(self._hover_x is not None)
            if self._hover_x is not None:
                line.setPos(self._hover_x)
        self._update_readout()

    def leaveEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self._hover_x = None
        for plot in self._plots():
            plot._nnstudio_crosshair.setVisible(False)
        self._update_readout()
        super().leaveEvent(event)

    def _format_value(self, name: str, value: float) -> str:
        return f"{value:.4g}"

    def _empty_hint(self) -> str:
        return "Train the network to see its curves here."

    def _update_readout(self) -> None:
        self._readout_stale = False
        if not any(len(s.buffer) for s in self._series.values()):
            self._readout.setText(f"<span style='color:{self._muted_hex()}'>{self._empty_hint()}</span>")
            return
        if self._hover_x is None:
            # Without hover, show the latest values: what a person watching a run wants to know.
            x = max(float(s.buffer.x[-1]) for s in self._series.values() if len(s.buffer))
            prefix = "latest"
        else:
            x = self._hover_x
            prefix = "at"
        values = self.readout_at(x)
        parts = [f"<b>{prefix} epoch {x:.2f}</b>"]
        for series in self._series.values():
            if series.title in values:
                colour = self._colour(series.style.role).name()
                value = self._format_value(series.name, values[series.title])
                parts.append(f"<span style='color:{colour}'>&#9679;</span> {series.title} {value}")
        # A read-out that wraps onto a second line keeps that height for the rest of the run (LiveText
        # grows only): flipping between one and two lines as digits change would resize the plot.
        self._readout.setText("&nbsp;&nbsp;".join(parts))

    def readout_text(self) -> str:
        """Return the hover read-out as plain text (for tests and accessibility)."""
        return plain_text(self._readout.text())

    # ----------------------------------------------------------------- palette
    def _is_dark(self) -> bool:
        return self.palette().color(QPalette.ColorRole.Base).lightness() < 128

    def _colour(self, role: str, alpha: int = 255) -> QColor:
        table = _DARK_COLOURS if self._is_dark() else _LIGHT_COLOURS
        colour = QColor(table[role])
        colour.setAlpha(alpha)
        return colour

    def _muted_hex(self) -> str:
        colour = self.palette().color(QPalette.ColorRole.PlaceholderText)
        return colour.name()

    def _style_series(self, series: _Series) -> None:
        style = series.style
        colour = self._colour(style.role, style.alpha)
        item = series.item
        item.setPen(pg.mkPen(colour, width=style.width) if style.line else None)
        if style.symbol:
            background = self.palette().color(QPalette.ColorRole.Base)
            item.setSymbol(style.symbol, 7, pg.mkPen(colour, width=1.6), pg.mkBrush(background))
        else:
            item.setSymbol(None)

    def _style_overlays(self) -> None:
        for items in self._overlays.values():
            for item, name, _plot in items:
                series = self._series.get(name)
                role = series.style.role if series else "train"
                pen = pg.mkPen(self._colour(role, 110), width=1.4, style=Qt.PenStyle.DashLine)
                item.setPen(pen)

    def _apply_palette(self) -> None:
        palette = self.palette()
        background = palette.color(QPalette.ColorRole.Base)
        text = palette.color(QPalette.ColorRole.WindowText)
        axis_colour = QColor(text)
        axis_colour.setAlpha(170)
        self._graphics.setBackground(background)
        for plot in self._plots():
            for side in ("left", "bottom", "right", "top"):
                axis = plot.getAxis(side)
                axis.setPen(pg.mkPen(axis_colour))
                axis.setTextPen(pg.mkPen(text))
            plot.titleLabel.setAttr("color", text.name())
            plot.titleLabel.setText(plot.titleLabel.text)
            plot._nnstudio_crosshair.setPen(pg.mkPen(axis_colour, width=1, style=Qt.PenStyle.DotLine))
            grid_colour = QColor(text)
            grid_colour.setAlpha(46)
            plot._nnstudio_grid.set_colour(grid_colour)
        legend_background = QColor(background)
        legend_background.setAlpha(215)
        self._legend.setBrush(pg.mkBrush(legend_background))
        self._legend.setPen(pg.mkPen(palette.color(QPalette.ColorRole.Mid)))
        self._legend.setLabelTextColor(text)
        for _sample, label in self._legend.items:
            label.setText(label.text)  # pyqtgraph applies a new label colour only when the text is set
        for series in self._series.values():
            self._style_series(series)
        self._style_overlays()
        self._update_readout()
        self._cache_static_items()

    def _cache_static_items(self) -> None:
        """Let Qt keep axes, titles and the legend as pixmaps between their own changes.

        A redraw while training then replays the curves alone: the axes' QPicture playback and the
        legend's Python paint ran on every frame, holding the GIL the trainer needs.
        """
        static = (pg.AxisItem, pg.LegendItem, pg.LabelItem, _LegendSample)
        for item in self._graphics.scene().items():
            if isinstance(item, static) and item.cacheMode() != _DEVICE_CACHE:
                item.setCacheMode(_DEVICE_CACHE)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt's name)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.StyleChange):
            self._apply_palette()
        super().changeEvent(event)


class LossPlot(TrainingPlot):
    """Per-batch loss (raw and smoothed), per-epoch train/validation loss, and the learning rate below."""

    def __init__(self, parent: QWidget | None = None, smoothing: float = 0.95) -> None:
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        super().__init__("Loss", "loss", parent)
        self.setObjectName("lossPlot")
        self.setAccessibleName("Loss curves")
        self.smoothing = smoothing
        self._ema = 0.0
        self._ema_weight = 0.0
        self.lr_plot = self._make_plot(row=1, y_label="lr", axis=_ValueAxis(labels="compact"))
        self._graphics.ci.layout.setRowStretchFactor(0, 4)
        self._graphics.ci.layout.setRowStretchFactor(1, 1)
        self.lr_plot.setMaximumHeight(110)
        self.lr_plot.setLabel("bottom", "epoch")
        # Learning rates are drawn from 0 to the largest one seen: pyqtgraph's auto range would centre
        # a constant rate in a +-0.5 band, where 0.001 looks like 0.
        self.lr_plot.enableAutoRange(axis="y", enable=False)
        self._live_lr_top = 0.0
        # The loss axis follows the data with some slack (see _fit_loss_axis) instead of re-fitting,
        # and re-ticking, on every frame as pyqtgraph's auto range does.
        self.main_plot.enableAutoRange(axis="y", enable=False)
        self._live_loss_range = (math.inf, -math.inf)
        self.main_plot.getAxis("bottom").setStyle(showValues=False)
        # Dense curves keep 1-pixel pens: wider ones cost the raster engine several times more.
        self._add_series("batch_loss", "batch", _Style("train", width=1.0, alpha=45, dense=True))
        self._add_series("batch_loss_smooth", "smoothed", _Style("train", width=1.0, dense=True))
        self._add_series("train_loss", "train (epoch)", _Style("train", line=False, symbol="o"))
        self._add_series("val_loss", "validation", _Style("val", width=1.6, symbol="s"))
        self._add_series("lr", "lr", _Style("lr", width=1.0, dense=True), plot=self.lr_plot, in_legend=False)
        self._apply_palette()

    def _plots(self) -> list[pg.PlotItem]:
        return [self.main_plot, self.lr_plot]

    def _reset_state(self) -> None:
        self._ema = 0.0
        self._ema_weight = 0.0
        self._live_lr_top = 0.0
        self._live_loss_range = (math.inf, -math.inf)
        self._fit_lr_axis()
        self._fit_loss_axis(force=True)

    def add_overlay(self, run_id: str, data: Mapping[str, tuple[Iterable[float], Iterable[float]]],
                    label: str | None = None) -> None:
        super().add_overlay(run_id, data, label)
        self._fit_lr_axis()
        self._fit_loss_axis(force=True)

    def remove_overlay(self, run_id: str) -> None:
        super().remove_overlay(run_id)
        self._fit_lr_axis()
        self._fit_loss_axis(force=True)

    def loss_axis_range(self) -> tuple[float, float]:
        """Return the (bottom, top) of the loss axis."""
        bottom, top = self.main_plot.getViewBox().viewRange()[1]
        return float(bottom), float(top)

    def _note_losses(self, values: np.ndarray) -> None:
        finite = values[np.isfinite(values)]
        if len(finite):
            lo, hi = self._live_loss_range
            self._live_loss_range = (min(lo, float(finite.min())), max(hi, float(finite.max())))
            self._fit_loss_axis()

    def _fit_loss_axis(self, force: bool = False) -> None:
        """Keep every loss of the live run and the overlays in view, re-fitting only when needed.

        The axis is re-fitted when a value falls outside it or the values fill less than 60% of it
        (a falling loss leaves the top empty); otherwise it stays, so most frames re-tick nothing.
        """
        lo, hi = self._live_loss_range
        for values in self._overlay_values(lr=False):
            lo, hi = min(lo, float(np.min(values))), max(hi, float(np.max(values)))
        if not lo <= hi:
            return
        # A non-negative loss that has come down a long way is shown from 0, as people read losses;
        # the bottom then never has to follow it again.
        from_zero = 0.0 <= lo <= 0.5 * hi
        if from_zero:
            lo = 0.0
        bottom, top = self.loss_axis_range()
        span = hi - lo if hi > lo else max(abs(hi), 1e-12)
        fits = bottom <= lo and hi <= top and span >= 0.6 * (top - bottom)
        if force or not fits:
            # More room below a loss still falling: it then crosses the bottom less often.
            below = 0.03 if from_zero else 0.1
            self.main_plot.setYRange(lo - below * span, hi + 0.05 * span, padding=0)

    def lr_axis_range(self) -> tuple[float, float]:
        """Return the (bottom, top) of the learning-rate strip's y axis."""
        bottom, top = self.lr_plot.getViewBox().viewRange()[1]
        return float(bottom), float(top)

    def _overlay_values(self, lr: bool) -> Iterator[np.ndarray]:
        """Yield the y values of every non-empty overlay curve of the lr strip (``lr``) or of the loss axis."""
        for items in self._overlays.values():
            for item, name, _plot in items:
                if (name == "lr") == lr and item.yData is not None and len(item.yData):
                    yield item.yData

    def _fit_lr_axis(self) -> None:
        """Span the learning-rate strip from 0 to the largest rate of the live run and the overlays."""
        top = max([self._live_lr_top, *(float(np.max(values)) for values in self._overlay_values(lr=True))])
        if top > 0.0:
            self.lr_plot.setYRange(0.0, top, padding=0.12)

    def add_batch(self, epoch_x: float, loss: float, lr: float | None = None) -> None:
        """Store the loss (and learning rate) of one batch at fractional epoch ``epoch_x``."""
        self.add_batches([epoch_x], [loss], None if lr is None else [lr])

    def add_batches(self, epoch_xs: Sequence[float] | np.ndarray, losses: Sequence[float] | np.ndarray,
                    lrs: Sequence[float] | np.ndarray | None = None) -> None:
        """Store several batches at once (what a worker sends after merging events)."""
        xs = np.asarray(epoch_xs, dtype=np.float64).ravel()
        ys = np.asarray(losses, dtype=np.float64).ravel()
        if len(xs) != len(ys):
            raise ValueError(f"add_batches got {len(xs)} positions but {len(ys)} losses")
        keep = np.isfinite(xs) & np.isfinite(ys)
        xs_kept, ys_kept = xs[keep], ys[keep]
        smoothed = self._smooth(ys_kept)
        self._store_many("batch_loss", xs_kept, ys_kept)
        self._store_many("batch_loss_smooth", xs_kept, smoothed)
        self._note_losses(ys_kept)
        if lrs is not None:
            lr_values = np.asarray(lrs, dtype=np.float64).ravel()
            if len(lr_values) != len(xs):
                raise ValueError(f"add_batches got {len(xs)} positions but {len(lr_values)} learning rates")
            self._store_many("lr", xs, lr_values)
            finite = lr_values[np.isfinite(lr_values)]
            if len(finite) and float(finite.max()) > self._live_lr_top:
                self._live_lr_top = float(finite.max())
                self._fit_lr_axis()

    def _smooth(self, losses: np.ndarray) -> np.ndarray:
        """Return the bias-corrected exponential moving average after each of ``losses``."""
        out = np.empty_like(losses)
        beta = self.smoothing
        ema, weight = self._ema, self._ema_weight
        for i, value in enumerate(losses.tolist()):
            ema = beta * ema + (1.0 - beta) * value
            weight = beta * weight + (1.0 - beta)
            # Dividing by the accumulated weight removes the pull towards 0 of the first steps.
            out[i] = ema / weight
        self._ema, self._ema_weight = ema, weight
        return out

    def add_epoch(self, epoch: float, train_loss: float | None = None, val_loss: float | None = None) -> None:
        """Store the mean train loss and the validation loss of ``epoch`` (drawn at x = epoch)."""
        self._store("train_loss", epoch, train_loss)
        self._store("val_loss", epoch, val_loss)
        self._note_losses(np.array([v for v in (train_loss, val_loss) if v is not None], dtype=np.float64))

    def _format_value(self, name: str, value: float) -> str:
        return f"{value:.3g}" if name == "lr" else f"{value:.4f}"

    def _empty_hint(self) -> str:
        return "Train the network to see its loss here."


#: The metric an ``AccuracyPlot`` shows: accuracy for classification, mean absolute error for regression.
MODES = ("accuracy", "mae")


class AccuracyPlot(TrainingPlot):
    """Per-epoch train and validation accuracy, or mean absolute error for regression (``set_mode``)."""

    def __init__(self, parent: QWidget | None = None, mode: str = "accuracy") -> None:
        self._metric_axis = _ValueAxis()
        super().__init__("Accuracy", "accuracy", parent, y_axis=self._metric_axis)
        self.setObjectName("accuracyPlot")
        self.setAccessibleName("Accuracy curves")
        self.main_plot.setLabel("bottom", "epoch")
        # Accuracy climbs into the top-right corner, so its legend sits bottom-right.
        self._legend.anchor(itemPos=(1, 1), parentPos=(1, 1), offset=(-8, -8))
        self._mode = ""
        self.set_mode(mode)

    @property
    def mode(self) -> str:
        """Return ``"accuracy"`` or ``"mae"``."""
        return self._mode

    def set_mode(self, mode: str) -> None:
        """Switch between accuracy and MAE; the live series are emptied, overlays removed."""
        if mode not in MODES:
            raise ValueError(f"unknown AccuracyPlot mode {mode!r}; use one of {', '.join(MODES)}")
        if mode == self._mode:
            return
        self.clear_overlays()
        for name in list(self._series):
            self._remove_series(name)
        self._mode = mode
        suffix = "acc" if mode == "accuracy" else "mae"
        self._add_series(f"train_{suffix}", "train", _Style("train", width=2.0, symbol="o"))
        self._add_series(f"val_{suffix}", "validation", _Style("val", width=2.0, symbol="s"))
        self._metric_axis.labels = "percent" if mode == "accuracy" else "plain"
        self._metric_axis.picture = None  # drop the cached tick labels
        if mode == "accuracy":
            self.main_plot.setTitle("Accuracy")
            self.main_plot.setLabel("left", "accuracy")
            self.main_plot.setYRange(0.0, 1.0, padding=0.03)
            self.main_plot.enableAutoRange(axis="y", enable=False)
        else:
            self.main_plot.setTitle("Mean absolute error")
            self.main_plot.setLabel("left", "MAE")
            self.main_plot.enableAutoRange(axis="y", enable=True)
        self._title = self.main_plot.titleLabel.text
        self._apply_palette()
        self._update_readout()

    def add_epoch(self, epoch: float, train: float | None = None, val: float | None = None) -> None:
        """Store the train and validation metric of ``epoch`` (accuracy as a fraction in [0, 1])."""
        suffix = "acc" if self._mode == "accuracy" else "mae"
        self._store(f"train_{suffix}", epoch, train)
        self._store(f"val_{suffix}", epoch, val)

    def _format_value(self, name: str, value: float) -> str:
        return f"{value * 100:.1f}%" if self._mode == "accuracy" else f"{value:.4g}"

    def _empty_hint(self) -> str:
        metric = "accuracy" if self._mode == "accuracy" else "error"
        return f"Train the network to see its {metric} here."

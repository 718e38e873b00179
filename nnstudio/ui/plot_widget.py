"""The base of the live training plots: one widget of pyqtgraph plots fed from series buffers.

:class:`TrainingPlot` stores each series in a growable buffer (:mod:`nnstudio.ui.plot_series`) and
draws it with one long-lived Qt-painted curve (:mod:`nnstudio.ui.plot_curves`); ``add_*`` methods of
the subclasses (:mod:`nnstudio.ui.plots`) only store, ``flush()`` draws. It also keeps the hover
read-out, the overlays of earlier runs, the palette-dependent colours and the PNG/CSV exports
(:mod:`nnstudio.ui.plot_export`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QAction, QColor, QPalette
from PySide6.QtWidgets import QGraphicsItem, QVBoxLayout, QWidget

from nnstudio.ui.live_text import LiveText, plain_text
from nnstudio.ui.picture_files import save_picture
from nnstudio.ui.plot_curves import QtCurve
from nnstudio.ui.plot_export import ask_and_export, write_csv
from nnstudio.ui.plot_parts import (
    DARK_COLOURS,
    DEVICE_CACHE,
    LIGHT_COLOURS,
    GridLines,
    LegendSample,
    LiveGraphicsView,
    SeriesStyle,
    ValueAxis,
    adopt_menus,
)
from nnstudio.ui.plot_series import RAW_LIMIT, PeakEnvelope, SeriesBuffer, visible_points
from nnstudio.ui.theme import is_dark


@dataclass
class _Series:
    name: str
    title: str
    style: SeriesStyle
    plot: pg.PlotItem
    item: QtCurve
    buffer: SeriesBuffer
    envelope: PeakEnvelope | None
    dirty: bool = False



class TrainingPlot(QWidget):
    """The base of the live plots: series storage, redraws on request, hover, export, overlays."""

    def __init__(self, title: str, y_label: str, parent: QWidget | None = None,
                 y_axis: ValueAxis | None = None) -> None:
        super().__init__(parent)
        self._series: dict[str, _Series] = {}
        self._readout_stale = False  # data drawn since the read-out last changed
        self._overlays: dict[str, list[tuple[QtCurve, str, pg.PlotItem]]] = {}
        self._overlay_labels: dict[str, str] = {}
        self._overlay_colours: dict[str, QColor | None] = {}
        self._title = title
        self._hover_x: float | None = None
        # Per pyqtgraph plot: its hover line and its grid (kept here, not on the plot items, so no
        # Python reference cycle runs through Qt objects).
        self._crosshairs: dict[pg.PlotItem, pg.InfiniteLine] = {}
        self._grids: dict[pg.PlotItem, GridLines] = {}

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

        self.export_png_action = QAction("Export plot as PNG…", self)
        self.export_png_action.triggered.connect(lambda: ask_and_export(self, "png"))
        self.export_csv_action = QAction("Export data as CSV…", self)
        self.export_csv_action.triggered.connect(lambda: ask_and_export(self, "csv"))
        self._add_menu_actions(self.main_plot)

        self._graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.main_plot.getViewBox().sigXRangeChanged.connect(self._on_x_range_changed)
        self.setMinimumSize(260, 180)

    # ----------------------------------------------------------------- building blocks
    def _make_plot(self, row: int, y_label: str, axis: ValueAxis | None = None) -> pg.PlotItem:
        plot = self._graphics.addPlot(row=row, col=0, axisItems={"left": axis or ValueAxis()})
        plot.setLabel("left", y_label)
        # Horizontal major grid lines only (the hover line reads x): semi-transparent grid lines
        # across the view are the most expensive thing in a frame of the software raster engine.
        # Drawn by a plain Qt item, not by the axis: pyqtgraph's grid makes the axis span the whole
        # view, and every frame of the curves would then call back into the axis's Python.
        self._grids[plot] = GridLines(plot)
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
        self._crosshairs[plot] = crosshair  # one vertical hover line per plot
        adopt_menus(plot, self)
        if plot is not getattr(self, "main_plot", None) and hasattr(self, "main_plot"):
            plot.setXLink(self.main_plot)
            self._add_menu_actions(plot)
        return plot

    def crosshair(self, plot: pg.PlotItem) -> pg.InfiniteLine:
        """Returns the vertical hover line of ``plot`` (one of this widget's plots)."""
        return self._crosshairs[plot]

    def _add_menu_actions(self, plot: pg.PlotItem) -> None:
        menu = plot.getViewBox().menu
        if menu is None:
            return
        menu.addSeparator()
        menu.addAction(self.export_png_action)
        menu.addAction(self.export_csv_action)

    def _add_series(self, name: str, title: str, style: SeriesStyle, plot: pg.PlotItem | None = None,
                    in_legend: bool = True) -> _Series:
        plot = plot or self.main_plot
        # Drawn by Qt alone (see plot_curves); dense series get about one point per pixel (_drawable).
        item = QtCurve()
        item.attach(plot.getViewBox())
        if in_legend:
            self._legend.addItem(LegendSample(item), title)
        series = _Series(name, title, style, plot, item, SeriesBuffer(), PeakEnvelope() if style.dense else None)
        self._series[name] = series
        self._style_series(series)
        return series

    def _remove_series(self, name: str) -> None:
        series = self._series.pop(name)
        self._legend.removeItem(series.item)
        series.item.detach()

    # ----------------------------------------------------------------- a run
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
        """Pushes stored points to the screen now (``add_*`` only store; the caller decides when to draw).

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
        """Returns ``path`` after saving a picture of the plot there as PNG."""
        self.flush()
        return save_picture(self._graphics.grab(), path)  # FileWriteError (an OSError) keeps the old file

    def export_csv(self, path: str | Path) -> Path:
        """Returns ``path`` after writing every live series there as CSV (``series,epoch,value``)."""
        return write_csv(((name, s.buffer.x, s.buffer.y) for name, s in self._series.items()), path)

    # ----------------------------------------------------------------- overlays
    def add_overlay(self, run_id: str, data: Mapping[str, tuple[Iterable[float], Iterable[float]]],
                    label: str | None = None, colour: QColor | None = None) -> None:
        """Draw an earlier run's series (keyed like ``snapshot()``) as faint dashed curves.

        Series this plot does not draw are ignored; adding ``run_id`` again replaces it. With
        ``colour`` every curve of the run takes that colour (validation solid, the rest dashed), so
        several overlaid runs tell apart; the legend names the run.
        """
        self.remove_overlay(run_id)
        self._overlay_colours[run_id] = colour
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
            sample = next((item for item, name, _plot in items if name.startswith("val_")), items[0][0])
            self._legend.addItem(LegendSample(sample), label or run_id if colour is not None
                                 else f"{label or run_id} (earlier)")
            self._cache_static_items()

    def remove_overlay(self, run_id: str) -> None:
        """Remove the overlay of ``run_id`` (nothing happens when it is not shown)."""
        items = self._overlays.pop(run_id, None)
        self._overlay_labels.pop(run_id, None)
        self._overlay_colours.pop(run_id, None)
        if not items:
            return
        for item, _name, _plot in items:
            self._legend.removeItem(item)
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
            line = self._crosshairs[plot]
            line.setVisible(self._hover_x is not None)
            if self._hover_x is not None:
                line.setPos(self._hover_x)
        self._update_readout()

    def leaveEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self._hover_x = None
        for plot in self._plots():
            self._crosshairs[plot].setVisible(False)
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
    def _colour(self, role: str, alpha: int = 255) -> QColor:
        table = DARK_COLOURS if is_dark(self) else LIGHT_COLOURS
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
        for run_id, items in self._overlays.items():
            colour = self._overlay_colours.get(run_id)
            for item, name, _plot in items:
                if colour is not None:
                    style = Qt.PenStyle.SolidLine if name.startswith("val_") else Qt.PenStyle.DashLine
                    item.setPen(pg.mkPen(colour, width=1.6, style=style))
                    continue
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
            self._crosshairs[plot].setPen(pg.mkPen(axis_colour, width=1, style=Qt.PenStyle.DotLine))
            grid_colour = QColor(text)
            grid_colour.setAlpha(46)
            self._grids[plot].set_colour(grid_colour)
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
        static = (pg.AxisItem, pg.LegendItem, pg.LabelItem, LegendSample)
        for item in self._graphics.scene().items():
            if isinstance(item, static) and item.cacheMode() != DEVICE_CACHE:
                item.setCacheMode(DEVICE_CACHE)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt's name)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.StyleChange):
            self._apply_palette()
        super().changeEvent(event)



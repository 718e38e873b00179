"""Returns the inspector's telemetry section: the selected layer's history in the current run.

:class:`LayerTelemetryView` (objectName ``layerTelemetry``) draws, against the epoch axis the
training curves use:

- the gradient norms: of the layer's weights, and of the gradient arriving at its output (log scale,
  the autograd view's vanishing / exploding thresholds as dashed lines);
- its output: mean and standard deviation, and the share of dead units (ReLU) or saturated outputs
  (Sigmoid / Tanh) on a 0..1 axis at the right;
- the update / weight ratio per step (log scale; the healthy band 1e-4..1e-2 shaded);
- its activations and the gradients at its output as histograms over time: one column per sample,
  brighter where more values fall (pyqtgraph ``ImageItem``, each column scaled to its largest bin);
  the gradients by order of magnitude (log10 |gradient|, the autograd colour scale's range).

``show_layer(node_id, history)`` draws one layer; ``refresh()`` redraws it from the history (the
controller calls it at most twice a second while a run trains, and only while it is visible).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from nnstudio.core.gradient_scale import EXPLODING_ABOVE, VANISHING_BELOW
from nnstudio.ui.telemetry_history import TelemetryHistory

_COLOURS = {"grad_norm": "#d62728", "output_grad_norm": "#ff9f40", "mean": "#1f77b4", "std": "#17becf",
            "dead": "#7f7f7f", "saturated": "#9467bd", "update_ratio": "#2ca02c"}
_TITLES = {"grad_norm": "weights' gradient", "output_grad_norm": "output's gradient", "mean": "mean",
           "std": "std", "dead": "dead units", "saturated": "saturated", "update_ratio": "update / weight"}


class LayerTelemetryView(QWidget):
    """One layer's telemetry history: curves and histograms over time."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("layerTelemetry")
        self.setAccessibleName("Layer telemetry")
        self.node_id: str | None = None
        self.history: TelemetryHistory | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.caption = QLabel(self)
        self.caption.setObjectName("layerTelemetryCaption")
        self.caption.setWordWrap(True)
        layout.addWidget(self.caption)
        self.graphics = pg.GraphicsLayoutWidget(self)
        self.graphics.setMinimumHeight(520)
        self.graphics.setMinimumWidth(200)
        self.graphics.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        layout.addWidget(self.graphics)
        self.gradient_plot = self._plot(0, "gradient norm", log=True)
        self.output_plot = self._plot(1, "output")
        self.share_box = pg.ViewBox()
        self.output_plot.showAxis("right")
        self.output_plot.scene().addItem(self.share_box)
        self.output_plot.getAxis("right").linkToView(self.share_box)
        self.output_plot.getAxis("right").setWidth(26)
        self.share_box.setXLink(self.output_plot)
        self.share_box.setYRange(0, 1, padding=0.05)
        self.share_box.setMouseEnabled(x=False, y=False)
        self.output_plot.vb.sigResized.connect(self._sync_share_box)
        self.update_plot = self._plot(2, "update / weight", log=True)
        self.curves: dict[str, pg.PlotDataItem] = {}
        for name in ("grad_norm", "output_grad_norm"):
            self.curves[name] = self._curve(self.gradient_plot, name)
        for name in ("mean", "std"):
            self.curves[name] = self._curve(self.output_plot, name)
        for name in ("dead", "saturated"):
            curve = pg.PlotDataItem(pen=pg.mkPen(_COLOURS[name], width=1.4, style=Qt.PenStyle.DashLine))
            self.share_box.addItem(curve)
            self.curves[name] = curve
        self.curves["update_ratio"] = self._curve(self.update_plot, "update_ratio")
        for value in (VANISHING_BELOW, EXPLODING_ABOVE):
            self.gradient_plot.addItem(pg.InfiniteLine(math.log10(value), angle=0,
                                                       pen=pg.mkPen("#999999", style=Qt.PenStyle.DashLine)))
        healthy = pg.LinearRegionItem((-4, -2), orientation="horizontal", movable=False,
                                      brush=pg.mkBrush(44, 160, 44, 30), pen=pg.mkPen(None))
        self.update_plot.addItem(healthy)
        self.images: dict[str, pg.ImageItem] = {}
        self.image_plots: dict[str, pg.PlotItem] = {}
        for row, kind in enumerate(("activations", "gradients"), start=3):
            plot = self._plot(row, "activations" if kind == "activations" else "log10 |∇|")
            plot.setXLink(self.gradient_plot)
            image = pg.ImageItem(axisOrder="col-major")  # image[sample, bin]: x first
            image.setColorMap(pg.colormap.get("viridis"))
            plot.addItem(image)
            self.images[kind], self.image_plots[kind] = image, plot
        for plot in (self.output_plot, self.update_plot):
            plot.setXLink(self.gradient_plot)
        self._apply_palette()
        self.clear()

    def _plot(self, row: int, label: str, log: bool = False) -> pg.PlotItem:
        plot = self.graphics.addPlot(row=row, col=0)
        plot.setLabel("left", label, **{"font-size": "8pt"})
        plot.showGrid(x=False, y=True, alpha=0.15)
        plot.setMouseEnabled(x=False, y=False)
        plot.setMenuEnabled(False)
        plot.hideButtons()
        left = plot.getAxis("left")
        left.setWidth(46)
        left.enableAutoSIPrefix(False)
        plot.getAxis("bottom").setHeight(18)
        if log:
            plot.setLogMode(y=True)
        return plot

    def _curve(self, plot: pg.PlotItem, name: str) -> pg.PlotDataItem:
        return plot.plot([], [], pen=pg.mkPen(_COLOURS[name], width=1.4), symbol="o", symbolSize=3,
                         symbolBrush=_COLOURS[name], symbolPen=None, connect="finite")

    def _sync_share_box(self) -> None:
        self.share_box.setGeometry(self.output_plot.vb.sceneBoundingRect())
        self.share_box.linkedViewChanged(self.output_plot.vb, self.share_box.XAxis)

    def _apply_palette(self) -> None:
        palette = self.palette()
        self.graphics.setBackground(palette.color(QPalette.ColorRole.Base))
        text = palette.color(QPalette.ColorRole.Text)
        for plot in (self.gradient_plot, self.output_plot, self.update_plot, *self.image_plots.values()):
            for side in ("left", "bottom", "right"):
                axis = plot.getAxis(side)
                axis.setTextPen(text)
                axis.setPen(QColor(text.red(), text.green(), text.blue(), 90))

    def clear(self) -> None:
        """Shows nothing (no layer selected, or no run with telemetry yet)."""
        self.node_id, self.history = None, None
        for curve in self.curves.values():
            curve.setData([], [])
        for image in self.images.values():
            image.clear()
        self.caption.setText("Train the network to see how this layer's outputs and gradients evolve.")

    def show_layer(self, node_id: str, history: TelemetryHistory) -> None:
        """Draws ``node_id``'s history from ``history`` (kept: :meth:`refresh` redraws it later)."""
        self.node_id, self.history = node_id, history
        self.refresh()

    def refresh(self) -> None:
        """Redraws the current layer from the history."""
        if self.node_id is None or self.history is None:
            return
        layer = self.history.layers.get(self.node_id)
        if layer is None:
            for curve in self.curves.values():
                curve.setData([], [])
            for image in self.images.values():
                image.clear()
            self.caption.setText(f"No telemetry for {self.node_id} in this run yet.")
            return
        for name, curve in self.curves.items():
            x, y = layer.series(name)
            keep = np.isfinite(y) & ((y > 0) if name in ("grad_norm", "output_grad_norm", "update_ratio") else True)
            curve.setData(x[keep], y[keep])
        # The share axis belongs to dead units (ReLU) or saturation (Sigmoid / Tanh) only.
        has_share = any(np.isfinite(layer.series(name)[1]).any() for name in ("dead", "saturated"))
        self.output_plot.getAxis("right").setStyle(showValues=has_share)
        # A layer without weights has no update to show: its row folds away.
        has_update = bool(np.isfinite(layer.series("update_ratio")[1]).any())
        self.update_plot.setVisible(has_update)
        self.update_plot.setMaximumHeight(10_000 if has_update else 0)
        for kind, image in self.images.items():
            found = self.history.histogram_image(self.node_id, kind)
            if found is None:
                image.clear()
                continue
            data, (x0, x1), (lo, hi) = found
            image.setImage(data, levels=(0.0, 1.0), autoLevels=False)
            image.setRect(QRectF(x0, lo, max(x1 - x0, 1e-3), hi - lo))
        samples = len(layer.positions)
        shown = [name for name, curve in self.curves.items() if curve.xData is not None and len(curve.xData)]
        key = " ".join(f"<span style='color:{_COLOURS[n]}'>■</span>&nbsp;{_TITLES[n]}" for n in shown)
        self.caption.setText(f"<b>{self.node_id}</b>: {samples} sample{'s' if samples != 1 else ''} of this "
                             f"run<br><small>{key}</small>")

"""Live training curves: ``LossPlot`` and ``AccuracyPlot`` (pyqtgraph), fast at millions of points.

Both plots share one x axis measured in epochs. A batch inside an epoch sits at a fractional
position, ``epoch_position(epoch, step, steps_per_epoch) = epoch - 1 + step / steps_per_epoch``
(epochs and steps count from 1), so the last batch of epoch 3 lands on x = 3.0, exactly where the
per-epoch markers of epoch 3 are drawn.

Usage from a training panel (the panel decides when to draw: data arrives merged, a few times a
second, and ``flush()`` is called on the panel's own redraw cadence)::

    loss_plot, acc_plot = LossPlot(), AccuracyPlot()
    acc_plot.link_x_axis(loss_plot)          # pan/zoom one, the other follows
    loss_plot.clear(); acc_plot.clear()      # a new run (overlays of earlier runs stay)
    loss_plot.set_epoch_span(0, epochs)      # the x axis shows the whole planned run
    loss_plot.add_batches(xs, losses, lrs)   # or add_batch(x, loss, lr) one at a time
    loss_plot.add_epoch(epoch, train_loss=..., val_loss=...)
    acc_plot.add_epoch(epoch, train=..., val=...)   # fractions in [0, 1]; set_mode("mae") for regression
    loss_plot.flush(); acc_plot.flush()      # draw what was stored
    history_series = {**loss_plot.snapshot(), **acc_plot.snapshot()}   # keep for overlays

Public API of both plots (:class:`~nnstudio.ui.plot_widget.TrainingPlot`):

- ``add_*`` methods only store data; ``flush(readout=True)`` draws it. Non-finite values (a NaN
  loss) are not stored, so the curves never break; the trainer reports the NaN itself.
- ``clear()`` empties the live series (overlays stay); ``series_names()``; ``series_data(name) ->
  (x, y)`` copies; ``snapshot() -> {name: (x, y)}`` of the non-empty series.
- ``export_png(path)`` and ``export_csv(path)`` (columns ``series,epoch,value``); both also sit in
  the plot's right-click menu. ``readout_at(x) -> {series title: value}`` is what the hover line shows.
- ``add_overlay(run_id, data, label=None, colour=None)`` draws an earlier run's series (same names
  as ``snapshot()``; unknown names are ignored) as faint dashed curves, or in ``colour`` when given; ``remove_overlay(run_id)``,
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

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QWidget

from nnstudio.ui.plot_parts import SeriesStyle, ValueAxis
from nnstudio.ui.plot_series import SeriesBuffer
from nnstudio.ui.plot_widget import TrainingPlot

__all__ = ["MODES", "AccuracyPlot", "LossPlot", "SeriesBuffer", "TrainingPlot", "epoch_position"]


def epoch_position(epoch: int, step: int, steps_per_epoch: int) -> float:
    """Return the x position (in epochs) of batch ``step`` of ``epoch``; both count from 1."""
    if steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be at least 1, got {steps_per_epoch}")
    return epoch - 1 + step / steps_per_epoch


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
        self.lr_plot = self._make_plot(row=1, y_label="lr", axis=ValueAxis(labels="compact"))
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
        self._add_series("batch_loss", "batch", SeriesStyle("train", width=1.0, alpha=45, dense=True))
        self._add_series("batch_loss_smooth", "smoothed", SeriesStyle("train", width=1.0, dense=True))
        self._add_series("train_loss", "train (epoch)", SeriesStyle("train", line=False, symbol="o"))
        self._add_series("val_loss", "validation", SeriesStyle("val", width=1.6, symbol="s"))
        self._add_series("lr", "lr", SeriesStyle("lr", width=1.0, dense=True), plot=self.lr_plot, in_legend=False)
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
                    label: str | None = None, colour: QColor | None = None) -> None:
        super().add_overlay(run_id, data, label, colour)
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
        self._metric_axis = ValueAxis()
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
        self._add_series(f"train_{suffix}", "train", SeriesStyle("train", width=2.0, symbol="o"))
        self._add_series(f"val_{suffix}", "validation", SeriesStyle("val", width=2.0, symbol="s"))
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

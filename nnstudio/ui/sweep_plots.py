"""The Sweep dialog's plots: the objective against each searched parameter, one small plot per parameter.

Complete trials are filled dots, pruned ones hollow and faint (their last reported value), the best
trial a larger accent dot. A log-uniform range gets a log x axis; a list of choices gets one tick
per choice. ``set_trials(rows)`` redraws from :class:`~nnstudio.experiments.sweep.TrialRow` objects.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QVBoxLayout, QWidget

from nnstudio.experiments.space import ParamRange, SearchSpace
from nnstudio.experiments.sweep import TrialRow

#: Plots per row of the grid.
COLUMNS = 3
BEST_COLOUR = "#e8710a"


class ObjectivePlots(QWidget):
    """One scatter plot of the objective per parameter of ``space``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sweepPlots")
        self.setAccessibleName("Objective against each parameter")
        self._view = pg.GraphicsLayoutWidget(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._view)
        self._plots: dict[str, tuple[pg.PlotItem, pg.ScatterPlotItem, ParamRange]] = {}
        self._objective = ""
        self.setMinimumHeight(160)

    def set_space(self, space: SearchSpace, objective: str) -> None:
        """Lay out one plot per parameter of ``space`` (their points come with ``set_trials``)."""
        self._view.clear()
        self._plots.clear()
        self._objective = objective
        palette = self.palette()
        self._view.setBackground(palette.color(QPalette.ColorRole.Base))
        text = palette.color(QPalette.ColorRole.WindowText)
        for index, param in enumerate(space.params):
            plot = self._view.addPlot(row=index // COLUMNS, col=index % COLUMNS)
            plot.setTitle(param.path, color=text.name(), size="9pt")
            plot.setLabel("left", objective)
            plot.showGrid(x=True, y=True, alpha=0.15)
            plot.hideButtons()
            plot.setMenuEnabled(False)
            for side in ("left", "bottom"):
                plot.getAxis(side).setTextPen(pg.mkPen(text))
                plot.getAxis(side).enableAutoSIPrefix(False)  # losses read as 0.25, not 250 (x0.001)
            if param.log:
                plot.setLogMode(x=True, y=False)
            if param.kind == "categorical":
                ticks = [(i, _choice(c)) for i, c in enumerate(param.choices)]
                plot.getAxis("bottom").setTicks([ticks])
                plot.setXRange(-0.5, len(param.choices) - 0.5)
            scatter = pg.ScatterPlotItem()
            plot.addItem(scatter)
            self._plots[param.path] = (plot, scatter, param)

    def set_trials(self, rows: list[TrialRow], best: TrialRow | None) -> None:
        """Draw the finished trials (complete and pruned) of ``rows``; ``best`` is highlighted."""
        accent = self.palette().color(QPalette.ColorRole.Highlight)
        muted = self.palette().color(QPalette.ColorRole.PlaceholderText)
        for path, (_plot, scatter, param) in self._plots.items():
            spots: list[dict[str, Any]] = []
            for row in rows:
                if path not in row.params:
                    continue
                if row.state == "complete" and row.value is not None:
                    value, brush, pen, size = row.value, pg.mkBrush(accent), pg.mkPen(accent.darker(130)), 8
                elif row.state == "pruned" and row.values:
                    value = row.values[max(row.values)]
                    brush, pen, size = pg.mkBrush(QColor(0, 0, 0, 0)), pg.mkPen(muted, width=1.2), 7
                else:
                    continue
                if best is not None and row.number == best.number:
                    brush, pen, size = pg.mkBrush(BEST_COLOUR), pg.mkPen(QColor(BEST_COLOUR).darker(140)), 13
                x = _x_value(param, row.params[path])
                if x is None or not math.isfinite(value):
                    continue
                spots.append({"pos": (x, value), "brush": brush, "pen": pen, "size": size,
                              "data": row.number})
            scatter.setData(spots)

    def points(self, path: str) -> np.ndarray:
        """Return the (x, objective) points drawn for ``path`` (x as drawn: log10 on a log axis)."""
        _plot, scatter, _param = self._plots[path]
        x, y = scatter.getData()
        return np.column_stack([np.asarray(x), np.asarray(y)]) if len(x) else np.zeros((0, 2))


def _choice(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _x_value(param: ParamRange, value: Any) -> float | None:
    if param.kind == "categorical":
        try:
            return float(list(param.choices).index(value))
        except ValueError:
            return None
    number = float(value)
    if param.log:
        # pyqtgraph's log mode maps the data itself; ScatterPlotItem takes positions in view space.
        return math.log10(number) if number > 0 else None
    return number

"""The session's training runs as a list: settings, final metrics, status, and a checkbox to overlay each.

Usage from a training panel::

    history = RunHistoryWidget()                       # objectName "runHistory"
    history.attach_plots(loss_plot, accuracy_plot)     # ticking a run overlays it on both plots
    run_id = history.add_run(RunRecord.start(settings))   # status "running"
    ...
    history.finish_run(run_id, status="finished", metrics={"val_loss": 0.21, "val_acc": 0.94},
                       series={**loss_plot.snapshot(), **accuracy_plot.snapshot()})

``RunRecord`` holds ``run_id``, ``title``, ``settings_summary``, ``status`` (one of ``STATUSES``),
``metrics`` (name -> float), ``series`` (name -> (x, y), as ``TrainingPlot.snapshot()`` returns),
``message`` (why a run failed or stopped). Other API: ``record(run_id)``, ``runs()``,
``set_overlay(run_id, shown)``, ``overlaid_run_ids()``, ``remove_run(run_id)``, ``clear()`` and the
signal ``overlay_toggled(run_id: str, shown: bool)``. A running run cannot be overlaid: its curves
are the live ones.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHeaderView, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from nnstudio.core.settings import LOSS_TITLES, TrainingSettings
from nnstudio.ui.plots import TrainingPlot
from nnstudio.ui.theme import is_dark

STATUSES = ("running", "finished", "stopped", "failed")

# Columns of the list.
_RUN, _SETTINGS, _METRICS, _STATUS = range(4)

# Metric names as the list shows them, in this order; others follow as they are.
_METRIC_LABELS = {"train_loss": "train loss", "val_loss": "val loss", "train_acc": "train acc",
                  "val_acc": "val acc", "val_mae": "val MAE", "train_mae": "train MAE"}

_run_numbers = itertools.count(1)


def summarize_settings(settings: TrainingSettings) -> str:
    """Return a one-line summary of what distinguishes a run: data, loss, optimizer, lr, batch, epochs."""
    parts = [settings.dataset.kind, LOSS_TITLES.get(settings.loss, settings.loss),
             f"{settings.optimizer} lr {settings.lr:g}", f"batch {settings.batch_size}",
             f"{settings.epochs} epoch{'s' if settings.epochs != 1 else ''}"]
    if settings.scheduler != "none":
        parts.append(f"{settings.scheduler} schedule")
    if settings.weight_decay:
        parts.append(f"wd {settings.weight_decay:g}")
    parts.append(f"seed {settings.seed}")
    return " · ".join(parts)


def format_metrics(metrics: Mapping[str, float]) -> str:
    """Return metrics as short text, accuracies in percent (``val loss 0.213 · val acc 94.1%``)."""
    ordered = [k for k in _METRIC_LABELS if k in metrics] + [k for k in metrics if k not in _METRIC_LABELS]
    parts = []
    for key in ordered:
        value = float(metrics[key])
        shown = f"{value:.1%}" if key.endswith("_acc") else f"{value:.4g}"
        parts.append(f"{_METRIC_LABELS.get(key, key)} {shown}")
    return " · ".join(parts)


@dataclass
class RunRecord:
    """One training run of the session, as the history lists it."""

    run_id: str
    title: str
    settings_summary: str
    status: str = "running"
    metrics: dict[str, float] = field(default_factory=dict)
    series: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    message: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"run {self.run_id}: unknown status {self.status!r}; use one of {', '.join(STATUSES)}")

    @classmethod
    def start(cls, settings: TrainingSettings, title: str | None = None) -> RunRecord:
        """Return a new running record numbered in session order ("run 1", "run 2", ...)."""
        number = next(_run_numbers)
        return cls(run_id=f"run-{number}", title=title or f"run {number}",
                   settings_summary=summarize_settings(settings))


class RunHistoryWidget(QWidget):
    """The list of this session's runs, newest first, each with a checkbox to overlay it on the plots."""

    overlay_toggled = Signal(str, bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("runHistory")
        self.setAccessibleName("Run history")
        self._records: dict[str, RunRecord] = {}
        self._items: dict[str, QTreeWidgetItem] = {}
        self._plots: list[TrainingPlot] = []
        self._tree = QTreeWidget(self)
        self._tree.setObjectName("runHistoryList")
        self._tree.setHeaderLabels(["Run", "Settings", "Final metrics", "Status"])
        self._tree.setRootIsDecorated(False)
        self._tree.setUniformRowHeights(True)
        self._tree.setAlternatingRowColors(True)
        header = self._tree.header()
        header.setSectionResizeMode(_RUN, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(_SETTINGS, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(_METRICS, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(_STATUS, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(False)
        self._tree.setColumnWidth(_SETTINGS, 440)
        self._tree.itemChanged.connect(self._on_item_changed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._tree)

    # ----------------------------------------------------------------- plots
    def attach_plots(self, *plots: TrainingPlot) -> None:
        """Overlay ticked runs on ``plots`` from now on (runs already ticked are drawn at once)."""
        for plot in plots:
            self._plots.append(plot)
            for run_id in self.overlaid_run_ids():
                record = self._records[run_id]
                plot.add_overlay(run_id, record.series, label=record.title)

    # ----------------------------------------------------------------- records
    def add_run(self, record: RunRecord) -> str:
        """Return the run id after listing ``record`` at the top."""
        if record.run_id in self._records:
            raise ValueError(f"run id {record.run_id!r} is already listed")
        self._records[record.run_id] = record
        item = QTreeWidgetItem()
        item.setData(_RUN, Qt.ItemDataRole.UserRole, record.run_id)
        self._items[record.run_id] = item
        self._tree.blockSignals(True)
        self._tree.insertTopLevelItem(0, item)
        self._tree.blockSignals(False)
        self._refresh(record.run_id)
        return record.run_id

    def finish_run(self, run_id: str, status: str, metrics: Mapping[str, float] | None = None,
                   series: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None, message: str = "") -> None:
        """Record how run ``run_id`` ended, its final metrics and curves (which make it overlayable)."""
        record = self.record(run_id)
        if status not in STATUSES or status == "running":
            raise ValueError(f"run {run_id}: a finished run's status is finished, stopped or failed, not {status!r}")
        record.status = status
        record.metrics = dict(metrics or {})
        record.series = {name: (np.asarray(x), np.asarray(y)) for name, (x, y) in (series or {}).items()}
        record.message = message
        self._refresh(run_id)

    def record(self, run_id: str) -> RunRecord:
        """Return the record of ``run_id``."""
        try:
            return self._records[run_id]
        except KeyError:
            raise KeyError(f"no run {run_id!r} in the history") from None

    def runs(self) -> list[RunRecord]:
        """Return the records, oldest first."""
        return list(self._records.values())

    def remove_run(self, run_id: str) -> None:
        """Forget run ``run_id`` and take its overlay off the plots."""
        self.set_overlay(run_id, False)
        self._records.pop(run_id)
        item = self._items.pop(run_id)
        self._tree.takeTopLevelItem(self._tree.indexOfTopLevelItem(item))

    def clear(self) -> None:
        """Forget every run and remove every overlay."""
        for run_id in list(self._records):
            self.remove_run(run_id)

    def row_texts(self, run_id: str) -> list[str]:
        """Return the texts shown in the row of ``run_id`` (run, settings, metrics, status)."""
        item = self._items[run_id]
        return [item.text(column) for column in range(self._tree.columnCount())]

    # ----------------------------------------------------------------- overlays
    def can_overlay(self, run_id: str) -> bool:
        """Return whether ``run_id`` has ended and left curves to draw."""
        record = self.record(run_id)
        return record.status != "running" and bool(record.series)

    def set_overlay(self, run_id: str, shown: bool) -> None:
        """Tick or untick run ``run_id``; ticking a run that cannot be overlaid raises ValueError."""
        if shown and not self.can_overlay(run_id):
            raise ValueError(f"run {run_id} cannot be overlaid: it is still running or has no curves")
        self._items[run_id].setCheckState(_RUN, Qt.CheckState.Checked if shown else Qt.CheckState.Unchecked)

    def overlaid_run_ids(self) -> list[str]:
        """Return the ids of the ticked runs, oldest first."""
        return [run_id for run_id, item in self._items.items()
                if item.checkState(_RUN) == Qt.CheckState.Checked]

    def _on_item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        if column != _RUN:
            return
        run_id = item.data(_RUN, Qt.ItemDataRole.UserRole)
        shown = item.checkState(_RUN) == Qt.CheckState.Checked
        record = self._records[run_id]
        for plot in self._plots:
            if shown:
                plot.add_overlay(run_id, record.series, label=record.title)
            else:
                plot.remove_overlay(run_id)
        self.overlay_toggled.emit(run_id, shown)

    # ----------------------------------------------------------------- drawing
    def _refresh(self, run_id: str) -> None:
        record = self._records[run_id]
        item = self._items[run_id]
        self._tree.blockSignals(True)
        item.setText(_RUN, record.title)
        item.setText(_SETTINGS, record.settings_summary)
        item.setToolTip(_SETTINGS, record.settings_summary)
        item.setText(_METRICS, format_metrics(record.metrics) if record.metrics else "—")
        item.setText(_STATUS, record.status)
        item.setToolTip(_STATUS, record.message or record.status)
        flags = item.flags() | Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if self.can_overlay(run_id):
            flags |= Qt.ItemFlag.ItemIsUserCheckable
            item.setToolTip(_RUN, "Tick to draw this run faintly on the plots")
            if item.data(_RUN, Qt.ItemDataRole.CheckStateRole) is None:
                item.setCheckState(_RUN, Qt.CheckState.Unchecked)
        else:
            flags &= ~Qt.ItemFlag.ItemIsUserCheckable
            item.setToolTip(_RUN, "The live run is already on the plots" if record.status == "running"
                            else "This run left no curves to overlay")
        item.setFlags(flags)
        dark = is_dark(self)
        colours = {"failed": "#ff6b6b" if dark else "#c62828", "stopped": "#ffb74d" if dark else "#b26a00",
                   "running": "#6cb6ff" if dark else "#1f6fb5"}
        if record.status in colours:
            item.setForeground(_STATUS, QColor(colours[record.status]))
        else:
            item.setData(_STATUS, Qt.ItemDataRole.ForegroundRole, None)
        self._tree.blockSignals(False)

"""The Runs view's table: one row per recorded run, sortable by any column, filtered by text and status.

:class:`RunsTableModel` holds :class:`~nnstudio.experiments.records.RunRecord` objects and shows
name, start, status, what changed from the previous run, best validation accuracy and loss, and
duration. Numbers sort as numbers (``SORT_ROLE``), not as their text. The name cell is editable
(renaming emits ``rename_requested``; the view writes it). :class:`RunsFilter` keeps the rows whose
text matches, of the chosen status, and with or without sweep trials.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QColor, QStandardItem, QStandardItemModel

from nnstudio.core.formatting import UNKNOWN, format_duration
from nnstudio.experiments.compare import compare_runs
from nnstudio.experiments.records import RunRecord

NAME, STARTED, STATUS, CHANGES, VAL_ACC, VAL_LOSS, TIME = range(7)
HEADERS = ("Run", "Started", "Status", "Changes", "Best acc", "Best loss", "Time")
HEADER_TIPS = ("The run's name (F2 renames it)", "When the run started", "How the run ended (hover for why)",
               "What changed from the run before it: settings, layers, parameters",
               "Best validation accuracy of any epoch (MAE for regression)", "Best validation loss of any epoch",
               "How long the run took")
#: The value a column sorts by (numbers, times), beside its text.
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
#: The run id of a row (on the name cell).
RUN_ID_ROLE = Qt.ItemDataRole.UserRole + 2
#: The status of a row (on the status cell), for the status filter.
STATUS_ROLE = Qt.ItemDataRole.UserRole + 3

STATUS_COLOURS = {"failed": ("#c62828", "#ff6b6b"), "interrupted": ("#b26a00", "#ffb74d"),
                  "damaged": ("#c62828", "#ff6b6b"), "running": ("#1f6fb5", "#6cb6ff"),
                  "stopped": ("#8a6d00", "#e0c060"), "pruned": ("#6b7280", "#9aa3b2")}


def started_text(record: RunRecord) -> str:
    """Return when a run started, compactly (``12-01 14:30``); a dash when unknown."""
    if not record.started_unix:
        return UNKNOWN
    return datetime.fromtimestamp(record.started_unix).strftime("%m-%d %H:%M")


class RunsTableModel(QStandardItemModel):
    """The runs of one folder, oldest first (the view sorts them as the person asks)."""

    #: The person edited a run's name in place: (run id, new name).
    rename_requested = Signal(str, str)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(0, len(HEADERS), parent)
        self.setHorizontalHeaderLabels(list(HEADERS))
        for column, tip in enumerate(HEADER_TIPS):
            self.horizontalHeaderItem(column).setToolTip(tip)
        self._records: dict[str, RunRecord] = {}
        self._rows: dict[str, int] = {}
        self._dark = False
        self.itemChanged.connect(self._on_item_changed)

    def set_dark(self, dark: bool) -> None:
        self._dark = dark

    def record(self, run_id: str) -> RunRecord:
        return self._records[run_id]

    def records(self) -> list[RunRecord]:
        """Return the records shown, oldest first."""
        return list(self._records.values())

    def run_id_at(self, row: int) -> str:
        return self.item(row, NAME).data(RUN_ID_ROLE)

    def row_of(self, run_id: str) -> int:
        return self._rows[run_id]

    def set_records(self, records: list[RunRecord]) -> None:
        """Show ``records`` (oldest first); each row's changes are against the run before it."""
        self.removeRows(0, self.rowCount())
        self._records = {r.run_id: r for r in records}
        self._rows = {}
        previous: RunRecord | None = None
        for record in records:
            self._rows[record.run_id] = self.rowCount()
            self.appendRow(self._row(record, previous))
            if record.status != "damaged":
                previous = record

    def update_record(self, record: RunRecord) -> None:
        """Refresh one row in place (a running run's numbers), keeping its changes column."""
        row = self._rows.get(record.run_id)
        if row is None:
            return
        self._records[record.run_id] = record
        changes = self.item(row, CHANGES)
        items = self._row(record, None)
        items[CHANGES] = changes.clone()
        for column, item in enumerate(items):
            self.setItem(row, column, item)

    def _row(self, record: RunRecord, previous: RunRecord | None) -> list[QStandardItem]:
        name = _item(record.title, record.title.lower())
        name.setData(record.run_id, RUN_ID_ROLE)
        name.setEditable(True)
        tip = [f"Folder: {record.folder}", f"Source: {record.source or UNKNOWN}"]
        if record.sweep:
            tip.append(f"Sweep {record.sweep.get('study')}, trial {record.sweep.get('trial')}")
        if record.notes:
            tip.append(f"Notes: {record.notes}")
        name.setToolTip("\n".join(tip))
        started = _item(started_text(record), record.started_unix)
        started.setToolTip(record.created)
        status = _item(record.status, record.status)
        status.setData(record.status, STATUS_ROLE)
        status.setToolTip(record.reason or record.status)
        if record.status in STATUS_COLOURS:
            status.setForeground(QColor(STATUS_COLOURS[record.status][1 if self._dark else 0]))
        if record.status == "damaged" or previous is None:
            changes_text = record.reason if record.status == "damaged" else "first run"
            changes_tip = changes_text
        else:
            diff = compare_runs(previous, record)
            changes_text = diff.summary()
            changes_tip = f"From {previous.title}:\n" + "\n".join(diff.lines())
        changes = _item(changes_text, changes_text)
        changes.setToolTip(changes_tip)
        acc = record.best.get("val_acc")
        loss = record.best.get("val_loss")
        mae = record.best.get("val_mae")
        acc_item = _item(f"{acc:.1%}" if isinstance(acc, (int, float)) else
                         (f"MAE {mae:.4g}" if isinstance(mae, (int, float)) else UNKNOWN),
                         acc if isinstance(acc, (int, float)) else -1.0)
        loss_item = _item(f"{loss:.4g}" if isinstance(loss, (int, float)) else UNKNOWN,
                          loss if isinstance(loss, (int, float)) else float("inf"))
        epoch = record.best.get("val_loss_epoch")
        if epoch is not None:
            loss_item.setToolTip(f"at epoch {epoch} of {len(record.epochs)}")
        time_item = _item(format_duration(record.duration_s) if record.duration_s else UNKNOWN, record.duration_s)
        for item in (acc_item, loss_item, time_item):
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return [name, started, status, changes, acc_item, loss_item, time_item]

    def _on_item_changed(self, item: QStandardItem) -> None:
        if item.column() != NAME:
            return
        run_id = item.data(RUN_ID_ROLE)
        record = self._records.get(run_id)
        if record is None or item.text() == record.title:
            return
        self.rename_requested.emit(run_id, item.text().strip())


def _item(text: str, sort_value: Any) -> QStandardItem:
    item = QStandardItem(text)
    item.setEditable(False)
    item.setData(sort_value, SORT_ROLE)
    return item


class RunsFilter(QSortFilterProxyModel):
    """Rows whose name, changes or notes contain the filter text, of one status, with or without trials."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self._text = ""
        self._status = ""
        self._trials = True

    def set_text(self, text: str) -> None:
        self._change(_text=text.strip().lower())

    def set_status(self, status: str) -> None:
        """Show only runs with ``status`` ("" for all)."""
        self._change(_status=status)

    def set_show_trials(self, shown: bool) -> None:
        self._change(_trials=shown)

    def _change(self, **values: Any) -> None:
        # Qt 6.9 brought begin/endFilterChange and deprecated invalidateFilter; older Qt has only the latter.
        begin = getattr(self, "beginFilterChange", None)
        if begin is not None:
            begin()
        self.__dict__.update(values)
        if begin is not None:
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self.invalidateFilter()

    def filterAcceptsRow(self, row: int, parent: QModelIndex | QPersistentModelIndex) -> bool:  # noqa: N802
        model = self.sourceModel()
        if not isinstance(model, RunsTableModel):
            return True
        run_id = model.run_id_at(row)
        record = model.record(run_id)
        if self._status and record.status != self._status:
            return False
        if not self._trials and record.sweep:
            return False
        if not self._text:
            return True
        haystack = " ".join([record.title, record.run_id, model.item(row, CHANGES).text(), record.notes,
                             record.status, record.reason]).lower()
        return self._text in haystack

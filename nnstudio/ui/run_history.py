"""The Runs view: every recorded run of the open project, from its runs folder, compared side by side.

Usage from the training panel::

    runs = RunHistoryWidget()                       # objectName "runHistory"
    runs.attach_plots(loss_plot, accuracy_plot)     # selected runs are overlaid on both, with a legend
    runs.follow_document(document)                  # or runs.set_folder(folder)
    runs.run_started(); ...; runs.run_ended()       # the live run's row follows it while it trains
    runs.open_network_requested.connect(open_project)   # (Project, title) of a run's network

The table (sortable, filtered by text, status and "sweep trials") lists name, start, status, what
changed from the run before, best validation accuracy and loss, and duration. Selecting runs draws
their per-epoch curves on the plots, one colour per run; selecting one shows its summary and notes,
two a diff of their settings and networks (:mod:`~nnstudio.ui.run_details`). Rename edits the name
in place (F2); Delete asks first, then removes the runs' folders with their weights and logs.
Everything is read from and written to the runs folder (:class:`~nnstudio.experiments.store.RunStore`),
so the view survives restarts and shows runs made by ``nnstudio train`` and ``nnstudio sweep`` too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QMenu,
    QMessageBox,
    QSplitter,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from nnstudio.core.errors import NnstudioError
from nnstudio.core.formatting import format_bytes
from nnstudio.core.settings import LOSS_TITLES, TrainingSettings
from nnstudio.experiments.folders import runs_folder_for_document
from nnstudio.experiments.records import RunRecord, read_run
from nnstudio.experiments.store import RunStore, folder_size
from nnstudio.ui.run_details import RunDetails
from nnstudio.ui.runs_table import CHANGES, HEADERS, NAME, STARTED, RunsFilter, RunsTableModel
from nnstudio.ui.theme import is_dark

#: Distinct colours for overlaid runs, in selection order (readable on light and dark backgrounds).
OVERLAY_COLOURS = ("#e8710a", "#1a73e8", "#12b5cb", "#e52592", "#9334e6", "#7cb342", "#f9ab00", "#8d6e63")
#: Runs drawn on the plots at once; more selected runs are listed but not drawn.
MAX_OVERLAYS = len(OVERLAY_COLOURS)
#: While a run trains, its row is re-read this often (ms).
LIVE_REFRESH_MS = 2000
STATUS_FILTERS = ("", "finished", "running", "stopped", "failed", "pruned", "interrupted", "damaged")


def summarize_settings(settings: TrainingSettings) -> str:
    """Return a one-line summary of a run's recipe: data, loss, optimizer, lr, batch, epochs (for the log)."""
    parts = [settings.dataset.kind, LOSS_TITLES.get(settings.loss, settings.loss),
             f"{settings.optimizer} lr {settings.lr:g}", f"batch {settings.batch_size}",
             f"{settings.epochs} epoch{'s' if settings.epochs != 1 else ''}"]
    if settings.scheduler != "none":
        parts.append(f"{settings.scheduler} schedule")
    if settings.weight_decay:
        parts.append(f"wd {settings.weight_decay:g}")
    parts.append(f"seed {settings.seed}")
    return " · ".join(parts)


def document_runs_folder(document: Any) -> Path:
    """Return the runs folder of the project open in ``document`` (beside its file, else by its name)."""
    return runs_folder_for_document(document.path, document.project.name)


class RunHistoryWidget(QWidget):
    """The project's recorded runs; see the module docstring."""

    #: Open a run's network in the editor: (Project, the run's title).
    open_network_requested = Signal(object, str)
    #: The selected runs changed: their ids, in selection order.
    selection_changed = Signal(list)
    #: Something could not be done (a delete or rename that failed): a sentence for the status bar.
    message = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("runHistory")
        self.setAccessibleName("Runs")
        self.store: RunStore | None = None
        self._document: Any = None
        #: A run of this window is starting or training: follow the folder until it ends.
        self._expecting_run = False
        self._plots: list[Any] = []
        self._overlaid: dict[str, str] = {}  # run id -> colour
        self._selection_order: list[str] = []
        self.model = RunsTableModel(self)
        self.model.set_dark(is_dark(self))
        # Queued: renaming re-reads the folder and rebuilds the rows, never inside the edited item's signal.
        self.model.rename_requested.connect(self.rename_run, Qt.ConnectionType.QueuedConnection)
        self.proxy = RunsFilter(self)
        self.proxy.setSourceModel(self.model)
        self._build()
        self._live_timer = QTimer(self)
        self._live_timer.setInterval(LIVE_REFRESH_MS)
        self._live_timer.timeout.connect(self._refresh_running)
        self._soon = QTimer(self)  # one refresh shortly after a run starts (its first record is written)
        self._soon.setSingleShot(True)
        self._soon.setInterval(LIVE_REFRESH_MS // 2)
        self._soon.timeout.connect(self.refresh)

    # --- building --------------------------------------------------------------------------------
    def _build(self) -> None:
        self.filter_edit = QLineEdit(self)
        self.filter_edit.setObjectName("runsFilter")
        self.filter_edit.setPlaceholderText("Filter runs (name, changes, notes)…")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.proxy.set_text)
        self.status_filter = QComboBox(self)
        self.status_filter.setObjectName("runsStatusFilter")
        self.status_filter.setToolTip("Show only runs that ended this way")
        for status in STATUS_FILTERS:
            self.status_filter.addItem(status.capitalize() if status else "Any status", status)
        self.status_filter.currentIndexChanged.connect(
            lambda _i: self.proxy.set_status(self.status_filter.currentData()))
        self.trials_box = QCheckBox("Sweep trials", self)
        self.trials_box.setObjectName("runsShowTrials")
        self.trials_box.setToolTip("List the runs of sweeps' trials too")
        self.trials_box.setChecked(True)
        self.trials_box.toggled.connect(self.proxy.set_show_trials)
        self.action_rename = self._action("Rename", "actionRenameRun", self.rename_selected, QKeySequence("F2"),
                                          "Give the selected run a name (F2)")
        self.action_delete = self._action("Delete…", "actionDeleteRuns", self.delete_selected,
                                          QKeySequence.StandardKey.Delete,
                                          "Delete the selected runs with their weights and logs")
        self.action_open = self._action("Open in Editor", "actionOpenRunNetwork", self.open_selected, None,
                                        "Open the selected run's network and settings as a new project")
        self.action_refresh = self._action("Refresh", "actionRefreshRuns", self.refresh,
                                           QKeySequence.StandardKey.Refresh, "Read the runs folder again")
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.filter_edit, 1)
        top.addWidget(self.status_filter)
        top.addWidget(self.trials_box)
        for action in (self.action_rename, self.action_delete, self.action_open, self.action_refresh):
            button = QToolButton(self)
            button.setDefaultAction(action)
            top.addWidget(button)
        self.table = QTableView(self)
        self.table.setObjectName("runsTable")
        self.table.setAccessibleName("Recorded runs")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(STARTED, Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.EditKeyPressed
                                   | QAbstractItemView.EditTrigger.SelectedClicked)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        for action in (self.action_rename, self.action_delete):
            self.table.addAction(action)
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(CHANGES, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(48)
        header.setHighlightSections(False)
        self.table.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.details = RunDetails(self)
        self.details.open_requested.connect(self.open_run)
        self.details.notes_edited.connect(self.set_notes)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setObjectName("runsSplitter")
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(self.details)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([640, 360])
        self.splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.splitter, 1)
        self._update_actions()

    def _action(self, text: str, name: str, slot: Any, shortcut: Any, tip: str) -> QAction:
        action = QAction(text, self)
        action.setObjectName(name)
        action.setToolTip(tip)
        if shortcut is not None:
            action.setShortcut(shortcut)
        action.triggered.connect(lambda _checked=False: slot())
        return action

    # --- the folder ------------------------------------------------------------------------------
    def attach_plots(self, *plots: Any) -> None:
        """Draw the selected runs on ``plots`` (TrainingPlots) from now on."""
        for plot in plots:
            self._plots.append(plot)
            for run_id, colour in self._overlaid.items():
                self._draw_overlay(plot, run_id, colour)

    def follow_document(self, document: Any) -> None:
        """Show the runs of ``document``'s project from now on (another project or a save elsewhere moves it)."""
        self._document = document
        document.replaced.connect(self._on_document_changed)
        document.state_changed.connect(self._on_document_changed)
        self._on_document_changed()

    def _on_document_changed(self) -> None:
        self.set_folder(document_runs_folder(self._document))

    def set_folder(self, folder: str | Path | None) -> None:
        """Show the runs in ``folder`` (a project's runs folder; None shows none)."""
        new = RunStore(folder) if folder is not None else None
        if (new and self.store and new.folder == self.store.folder) or (new is None and self.store is None):
            return
        self.details.flush_notes()
        self.store = new
        self.refresh()

    @property
    def folder(self) -> Path | None:
        return self.store.folder if self.store is not None else None

    def refresh(self) -> None:
        """Read the runs folder again, keeping the selection of runs still there."""
        self.details.flush_notes()
        selected = self.selected_run_ids()
        records = self.store.runs() if self.store is not None else []
        self.model.set_records(records)
        kept = [run_id for run_id in selected if run_id in {r.run_id for r in records}]
        self.select_runs(kept)
        if not kept:
            self._sync_selection()
        if self._expecting_run or any(r.status == "running" for r in records):
            if not self._live_timer.isActive():
                self._live_timer.start()
        else:
            self._live_timer.stop()

    def run_started(self) -> None:
        """A run of this project started training: list it and follow it while it trains."""
        # The worker writes the first record once it has loaded the data and built the network.
        self._expecting_run = True
        self._soon.start()
        self._live_timer.start()

    def run_ended(self) -> None:
        """The live run ended: read its final record."""
        self._expecting_run = False
        self._soon.stop()
        self.refresh()

    def shutdown(self) -> None:
        """Write pending notes and stop following runs (the window is closing)."""
        self.details.flush_notes()
        self._expecting_run = False
        self._soon.stop()
        self._live_timer.stop()

    def records(self) -> list[RunRecord]:
        """Return the runs listed, oldest first (also those the filters hide)."""
        return self.model.records()

    def record(self, run_id: str) -> RunRecord:
        return self.model.record(run_id)

    def visible_run_ids(self) -> list[str]:
        """Return the run ids in the rows shown, top to bottom (sorted and filtered as on screen)."""
        return [self.proxy.index(row, NAME).data(Qt.ItemDataRole.UserRole + 2)
                for row in range(self.proxy.rowCount())]

    def row_texts(self, run_id: str) -> list[str]:
        """Return the texts of ``run_id``'s row, one per column."""
        row = self.model.row_of(run_id)
        return [self.model.item(row, column).text() for column in range(len(HEADERS))]

    def _refresh_running(self) -> None:
        running = [r for r in self.model.records() if r.status == "running"]
        if not running or self.store is None:
            self.refresh()  # a new run may have appeared since
            return
        for record in running:
            fresh = read_run(record.folder)
            fresh_ended = fresh.status != "running"
            self.model.update_record(fresh)
            if record.run_id in self._overlaid:
                self._redraw_overlay(record.run_id)
            if fresh_ended:
                self.refresh()
                return

    # --- selection and overlays --------------------------------------------------------------------
    def selected_run_ids(self) -> list[str]:
        """Return the selected runs, in the order they were selected."""
        selected = {self.proxy.mapToSource(index).row() for index in self.table.selectionModel().selectedRows()}
        ids = {self.model.run_id_at(row) for row in selected}
        ordered = [run_id for run_id in self._selection_order if run_id in ids]
        return ordered + sorted(ids - set(ordered))

    def select_runs(self, run_ids: list[str]) -> None:
        """Select exactly ``run_ids`` (in this order: the first is A of a comparison)."""
        selection = self.table.selectionModel()
        selection.blockSignals(True)
        selection.clearSelection()
        for run_id in run_ids:
            try:
                index = self.proxy.mapFromSource(self.model.index(self.model.row_of(run_id), NAME))
            except KeyError:
                continue
            if index.isValid():
                selection.select(index, QItemSelectionModel.SelectionFlag.Select
                                 | QItemSelectionModel.SelectionFlag.Rows)
        selection.blockSignals(False)
        self._selection_order = list(run_ids)
        self._sync_selection()

    def _on_selection_changed(self, *_args: Any) -> None:
        current = self.selected_run_ids()
        self._selection_order = [r for r in self._selection_order if r in current] + \
                                [r for r in current if r not in self._selection_order]
        self._sync_selection()

    def _sync_selection(self) -> None:
        ids = self.selected_run_ids()
        wanted = ids[:MAX_OVERLAYS]
        for run_id in list(self._overlaid):
            if run_id not in wanted:
                self._remove_overlay(run_id)
        for run_id in wanted:
            if run_id not in self._overlaid:
                used = set(self._overlaid.values())
                colour = next((c for c in OVERLAY_COLOURS if c not in used), OVERLAY_COLOURS[0])
                self._overlaid[run_id] = colour
                for plot in self._plots:
                    self._draw_overlay(plot, run_id, colour)
        records = [self.model.record(run_id) for run_id in ids]
        if len(records) == 1:
            self.details.show_run(records[0])
        elif len(records) == 2:
            self.details.show_pair(records[0], records[1])
        else:
            self.details.show_nothing()
        self._update_actions()
        self.selection_changed.emit(ids)

    def overlay_colour(self, run_id: str) -> str | None:
        """Return the colour ``run_id`` is drawn in on the plots (None when it is not drawn)."""
        return self._overlaid.get(run_id)

    def _draw_overlay(self, plot: Any, run_id: str, colour: str) -> None:
        record = self.model.record(run_id)
        series = record.series()
        if series:
            plot.add_overlay(run_id, series, label=record.title, colour=QColor(colour))

    def _redraw_overlay(self, run_id: str) -> None:
        colour = self._overlaid[run_id]
        for plot in self._plots:
            self._draw_overlay(plot, run_id, colour)

    def _remove_overlay(self, run_id: str) -> None:
        self._overlaid.pop(run_id, None)
        for plot in self._plots:
            plot.remove_overlay(run_id)

    def _update_actions(self) -> None:
        count = len(self.table.selectionModel().selectedRows())
        self.action_rename.setEnabled(count == 1)
        self.action_delete.setEnabled(count >= 1)
        self.action_open.setEnabled(count == 1)

    def _context_menu(self, position: Any) -> None:
        menu = QMenu(self)
        for action in (self.action_open, self.action_rename, self.action_delete):
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(self.action_refresh)
        menu.exec(self.table.viewport().mapToGlobal(position))

    # --- editing ---------------------------------------------------------------------------------
    def rename_selected(self) -> None:
        """Start editing the name of the selected run in place."""
        ids = self.selected_run_ids()
        if len(ids) != 1:
            return
        index = self.proxy.mapFromSource(self.model.index(self.model.row_of(ids[0]), NAME))
        self.table.setCurrentIndex(index)
        self.table.edit(index)

    def rename_run(self, run_id: str, name: str) -> None:
        """Give ``run_id`` the name ``name`` ("" goes back to its folder's name)."""
        if self.store is None:
            return
        try:
            self.store.rename(run_id, name)
        except (OSError, NnstudioError) as exc:
            self.message.emit(f"Could not rename the run: {exc}")
        self.refresh()

    def set_notes(self, run_id: str, notes: str) -> None:
        """Write the notes of ``run_id``."""
        if self.store is None:
            return
        try:
            self.store.set_notes(run_id, notes)
        except (OSError, NnstudioError) as exc:
            self.message.emit(f"Could not save the notes: {exc}")
            return
        if run_id in {r.run_id for r in self.model.records()}:
            self.model.update_record(read_run(self.store.folder / run_id))

    def delete_selected(self) -> None:
        self.delete_runs(self.selected_run_ids())

    def delete_runs(self, run_ids: list[str]) -> int:
        """Delete ``run_ids`` and their files after the person confirms; return the bytes freed."""
        if self.store is None or not run_ids:
            return 0
        records = [self.model.record(r) for r in run_ids]
        running = [r.title for r in records if r.status == "running"]
        if running:
            self.message.emit(f"{', '.join(running)} is still training; stop it before deleting it")
            return 0
        size = sum(folder_size(r.folder) for r in records)
        if not self.ask_delete([r.title for r in records], size):
            return 0
        freed = 0
        for run_id in run_ids:
            self._remove_overlay(run_id)
            try:
                freed += self.store.delete(run_id)
            except NnstudioError as exc:
                self.message.emit(str(exc))
        self.refresh()
        self.message.emit(f"Deleted {len(run_ids)} run{'s' if len(run_ids) != 1 else ''}, "
                          f"{format_bytes(freed)} freed")
        return freed

    def ask_delete(self, titles: list[str], size: int) -> bool:
        """Ask whether to delete the runs ``titles`` (``size`` bytes on disk); True to go ahead."""
        what = f"the run {titles[0]!r}" if len(titles) == 1 else f"{len(titles)} runs"
        answer = QMessageBox.question(
            self, "Delete runs", f"Delete {what} with its weights, logs and record ({format_bytes(size)})?\n\n"
            "This cannot be undone.", QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes

    def open_selected(self) -> None:
        ids = self.selected_run_ids()
        if len(ids) == 1:
            self.open_run(ids[0])

    def open_run(self, run_id: str) -> None:
        """Ask for ``run_id``'s network and settings to be opened in the editor."""
        record = self.model.record(run_id)
        from nnstudio.core.project import loads_project

        try:
            project = loads_project(json.dumps(record.graph), source=f"run {record.title}", folder=record.folder)
        except NnstudioError as exc:
            self.message.emit(f"The network of {record.title} cannot be opened: {exc}")
            return
        self.open_network_requested.emit(project, record.title)

    def index_of(self, run_id: str) -> QModelIndex:
        """Return the view index of ``run_id``'s name cell (tests click it)."""
        return self.proxy.mapFromSource(self.model.index(self.model.row_of(run_id), NAME))

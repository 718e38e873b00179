"""The Sweep dialog: pick fields to search, run an Optuna sweep beside the window, apply the best values.

The left side lists the fields a sweep can vary, with the labels the Inspector and the training
settings use: the training settings, then each layer's parameters. Ticking a field searches it over
the range beside it (``LOW:HIGH``, ``:log``, ``:int``, ``A,B,C``: the syntax of ``nnstudio sweep
--param``), checked as it is typed. Start prepares the sweep (every check before any trial) in a
background thread and trains the trials in worker processes (:class:`~nnstudio.experiments.runner.SweepRunner`),
so the window stays responsive; a watcher thread reads the study once a second and the dialog shows
the trials best first and the objective against each parameter (:mod:`~nnstudio.ui.sweep_plots`).
**Apply Best** writes the best trial's values into the open project as one undoable step. Every
trial is a recorded run (the Runs view lists them). Closing the dialog stops the sweep; its trials
in progress are marked interrupted and run again when the same sweep is started later.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QCloseEvent, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from nnstudio.core.commands import Macro, SetParam
from nnstudio.core.errors import NnstudioError
from nnstudio.core.formatting import format_duration
from nnstudio.core.project import project_to_dict
from nnstudio.experiments.compare import format_value
from nnstudio.experiments.sweep import OBJECTIVES, SweepSpec, TrialRow, best_row, sorted_rows
from nnstudio.ui.sweep_fields import SweepFields
from nnstudio.ui.sweep_plots import ObjectivePlots
from nnstudio.ui.theme import ERROR_COLOR, muted_text_color

#: How often (seconds) the watcher reads the study while trials run.
WATCH_INTERVAL_S = 1.0
#: Longest wait (seconds) for workers to end their trials when the dialog closes.
STOP_WAIT_S = 30.0
_PATH_ROLE = Qt.ItemDataRole.UserRole + 1


def apply_values_command(document: Any, values: dict[str, Any], text: str) -> Macro:
    """Return one undoable command that sets ``values`` (``{path: value}``) on the open project.

    Layer parameters change through :class:`SetParam`, settings through the training settings'
    own command; all of them undo together. Raises NnstudioError (nothing changed) when one is refused.
    """
    from nnstudio.ui.training_settings import settings_command

    graph = document.project.graph
    children: list[Any] = [SetParam(graph, path.rpartition(".")[0], path.rpartition(".")[2], value)
                           for path, value in values.items() if "." in path]
    settings = {path: value for path, value in values.items() if "." not in path}
    if settings:
        try:
            children.append(settings_command(document, settings, text))
        except ValueError as exc:
            raise NnstudioError(str(exc)) from None
    return Macro(text, children)


class SweepWatcher(QObject):
    """Reads a sweep's trials in a thread of its own once a second; never touches a widget."""

    #: (rows, whether workers still run, errors of workers that died)
    updated = Signal(list, bool, list)

    def __init__(self, sweep: Any, runner: Any) -> None:
        super().__init__()
        self.sweep, self.runner = sweep, runner
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="nnstudio-sweep-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join()

    def _loop(self) -> None:
        study = None
        while True:
            running = self.runner.running
            try:
                study = study or self.sweep.load_study()
                rows = self.sweep.trial_rows(study)
            except Exception as exc:  # noqa: BLE001 - a read that failed is shown, then tried again
                rows, study = [], None
                self.runner.errors.append(f"could not read the study: {exc}")
            if self._done.is_set():
                return
            self.updated.emit(rows, running, list(self.runner.errors))
            if not running or self._done.wait(WATCH_INTERVAL_S):
                return


class SweepDialog(QDialog):
    """See the module docstring. ``runs_folder`` is where trials are recorded and the study is stored."""

    #: The sweep ended (finished, stopped or failed to start): a sentence for the status bar.
    finished_sweep = Signal(str)
    #: From the preparing thread: (the Sweep, or None and why).
    _prepared = Signal(object, str)

    def __init__(self, document: Any, runs_folder: str | Path, parent: QWidget | None = None,
                 project_path: str | None = None, example: str | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sweepDialog")
        self.setWindowTitle("Sweep Hyperparameters")
        self.document = document
        self.runs_folder = Path(runs_folder)
        self._project_path, self._example = project_path, example
        self.sweep: Any = None
        self.runner: Any = None
        self.watcher: SweepWatcher | None = None
        self.rows: list[TrialRow] = []
        self._preparing: threading.Thread | None = None
        self._build()
        self._prepared.connect(self._on_prepared)
        document.replaced.connect(self._on_document_replaced)
        self.resize(1180, 700)

    # --- building --------------------------------------------------------------------------------
    def _build(self) -> None:
        self.fields = SweepFields(self.document.project, self)
        self.fields.changed.connect(self._validate)
        self.problem = QLabel(self)
        self.problem.setObjectName("sweepProblem")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet(f"color: {ERROR_COLOR}")
        self.trials_spin = self._spin("sweepTrials", 1, 10_000, 20, "Trials the study should finish")
        project = self.document.project
        self.epochs_spin = self._spin("sweepEpochs", 1, 100_000, project.settings.epochs, "Epochs of each trial")
        self.workers_spin = self._spin("sweepWorkers", 1, 64, 1, "Worker processes training trials at once")
        self.seed_spin = self._spin("sweepSeed", 0, 2**31 - 1, 0, "The sampler's seed")
        self.sampler = QComboBox(self)
        self.sampler.setObjectName("sweepSampler")
        for value, title in (("tpe", "TPE (learns from earlier trials)"), ("random", "Random"), ("grid", "Grid")):
            self.sampler.addItem(title, value)
        self.objective = QComboBox(self)
        self.objective.setObjectName("sweepObjective")
        for value in OBJECTIVES:
            self.objective.addItem({"val_loss": "Lowest validation loss", "val_acc": "Highest validation accuracy",
                                    "val_mae": "Lowest validation MAE"}[value], value)
        self.prune = QCheckBox("Stop poor trials early (median pruning)", self)
        self.prune.setObjectName("sweepPrune")
        self.prune.setChecked(True)
        options = QFormLayout()
        for label, widget in (("Trials", self.trials_spin), ("Epochs per trial", self.epochs_spin),
                              ("Sampler", self.sampler), ("Objective", self.objective), ("Workers", self.workers_spin),
                              ("Seed", self.seed_spin)):
            options.addRow(label, widget)
        options.addRow("", self.prune)
        left = QWidget(self)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(QLabel("Tick the fields to search and give each a range:", left))
        left_layout.addWidget(self.fields, 1)
        left_layout.addWidget(self.problem)
        left_layout.addLayout(options)

        self.status = QLabel("Pick at least one field, then Start.", self)
        self.status.setObjectName("sweepStatus")
        self.status.setWordWrap(True)
        self.table = QTableWidget(0, 0, self)
        self.table.setObjectName("sweepTrialsTable")
        self.table.setAccessibleName("Trials, best first")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        self.plots = ObjectivePlots(self)
        right = QSplitter(Qt.Orientation.Vertical, self)
        right.addWidget(self.table)
        right.addWidget(self.plots)
        right.setSizes([340, 300])
        right_box = QWidget(self)
        right_layout = QVBoxLayout(right_box)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.status)
        right_layout.addWidget(right, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(left)
        splitter.addWidget(right_box)
        splitter.setSizes([460, 720])
        splitter.setChildrenCollapsible(False)

        self.start_button = QPushButton("Start", self)
        self.start_button.setObjectName("sweepStart")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setObjectName("sweepStop")
        self.stop_button.clicked.connect(self.stop)
        self.apply_button = QPushButton("Apply Best", self)
        self.apply_button.setObjectName("sweepApplyBest")
        self.apply_button.setToolTip("Write the best trial's values into the project (one step to undo)")
        self.apply_button.clicked.connect(self.apply_best)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.close)
        row = QHBoxLayout()
        for button in (self.start_button, self.stop_button, self.apply_button):
            row.addWidget(button)
        row.addStretch(1)
        row.addWidget(buttons)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addLayout(row)
        self._update_buttons()

    def _spin(self, name: str, low: int, high: int, value: int, tip: str) -> QSpinBox:
        spin = QSpinBox(self)
        spin.setObjectName(name)
        spin.setRange(low, high)
        spin.setValue(min(max(value, low), high))
        spin.setToolTip(tip)
        return spin

    # --- the search space ------------------------------------------------------------------------
    def set_field(self, path: str, searched: bool, value_range: str | None = None) -> None:
        """Tick or untick ``path`` (and set its range): what a person does in the list."""
        self.fields.set_field(path, searched, value_range)

    def params(self) -> list[str]:
        """Return the ticked fields as ``--param`` texts."""
        return self.fields.params()

    def _validate(self) -> bool:
        """Show the first problem of the ticked fields' ranges; True when there is none."""
        problem = self.fields.problem()
        self.problem.setText(problem)
        self._update_buttons()
        return not problem

    # --- running ---------------------------------------------------------------------------------
    @property
    def is_running(self) -> bool:
        return self._preparing is not None or (self.runner is not None and self.watcher is not None)

    def _update_buttons(self) -> None:
        running = self.is_running
        self.start_button.setEnabled(not running and bool(self.params()) and not self.problem.text())
        self.stop_button.setEnabled(running)
        self.apply_button.setEnabled(not running and best_row(self.rows, self._direction()) is not None)
        self.fields.setEnabled(not running)

    def _direction(self) -> str:
        return OBJECTIVES[self.objective.currentData()]

    def spec(self) -> SweepSpec:
        """Return the sweep the dialog's fields describe."""
        return SweepSpec(
            document=project_to_dict(self.document.project), params=self.params(), trials=self.trials_spin.value(),
            runs_folder=str(self.runs_folder), project_path=self._project_path, example=self._example,
            project_folder=str(Path(self._project_path).parent) if self._project_path else None,
            sampler=self.sampler.currentData(), seed=self.seed_spin.value(),
            pruner="median" if self.prune.isChecked() else "none", objective=self.objective.currentData(),
            epochs=self.epochs_spin.value(), workers=self.workers_spin.value())

    def start(self) -> bool:
        """Check the sweep and start it in the background; False (and why, in the dialog) when it cannot."""
        if self.is_running or not self._validate() or not self.params():
            return False
        spec = self.spec()
        self.status.setText("Checking the sweep and opening its study…")
        self._preparing = threading.Thread(target=self._prepare, args=(spec,), name="nnstudio-sweep-prepare",
                                           daemon=True)
        self._preparing.start()
        self._update_buttons()
        return True

    def _prepare(self, spec: SweepSpec) -> None:
        from nnstudio.experiments.sweep import prepare_sweep

        try:
            sweep = prepare_sweep(spec)
        except NnstudioError as exc:
            self._prepared.emit(None, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - whatever breaks is said, the window stays up
            self._prepared.emit(None, f"{type(exc).__name__}: {exc}")
            return
        self._prepared.emit(sweep, "")

    def _on_prepared(self, sweep: Any, error: str) -> None:
        if self._preparing is not None:
            self._preparing.join()
        self._preparing = None
        if sweep is None:
            self.problem.setText(error)
            self.status.setText("The sweep did not start.")
            self._update_buttons()
            self.finished_sweep.emit(f"Sweep not started: {error}")
            return
        from nnstudio.experiments.runner import SweepRunner

        self.sweep = sweep
        self.plots.set_space(sweep.space, sweep.spec.objective)
        self._set_columns()
        # Worker processes: training there never takes the window's GIL, however small the network.
        self.runner = SweepRunner(sweep, processes=True).start()
        self.watcher = SweepWatcher(sweep, self.runner)
        self.watcher.updated.connect(self._on_update)
        self.watcher.start()
        self.status.setText(f"Sweep {sweep.study_name}: starting {sweep.spec.workers} worker(s)…")
        self._update_buttons()

    def stop(self) -> None:
        """Ask the workers to end their trials (marked interrupted) and claim no more."""
        if self.runner is not None:
            self.status.setText("Stopping: the trials in progress are ending…")
            self.runner.stop()

    def _on_update(self, rows: list[TrialRow], running: bool, errors: list[str]) -> None:
        if self.sweep is None:
            return
        self.rows = rows
        direction = self._direction()
        best = best_row(rows, direction)
        self._fill_table(sorted_rows(rows, direction), best)
        self.plots.set_trials(rows, best)
        finished = sum(1 for r in rows if r.state in ("complete", "pruned", "failed"))
        objective = self.sweep.spec.objective
        best_text = f" · best {objective} {best.value:.4g} (trial {best.number})" if best else ""
        state = "running" if running else "done"
        self.status.setText(f"Sweep {self.sweep.study_name}: {finished}/{self.sweep.budget} trials {state}"
                            f"{best_text}" + (f"\n{errors[-1]}" if errors else ""))
        if not running:
            self._end_watch()
            self.finished_sweep.emit(f"Sweep finished: {finished} trials{best_text}")

    def _end_watch(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher.updated.disconnect(self._on_update)
            self.watcher = None
        if self.runner is not None:
            self.runner.wait(STOP_WAIT_S)
            self.runner = None
        self._update_buttons()

    def _set_columns(self) -> None:
        headers = ["Trial", "State", self.sweep.spec.objective, *[p.path for p in self.sweep.space.params],
                   "Epochs", "Time"]
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)

    def _fill_table(self, rows: list[TrialRow], best: TrialRow | None) -> None:
        params = [p.path for p in self.sweep.space.params]
        self.table.setRowCount(len(rows))
        muted = muted_text_color(self)
        for r, row in enumerate(rows):
            value = row.value if row.value is not None else (row.values[max(row.values)] if row.values else None)
            cells = [str(row.number), row.state, "–" if value is None else f"{value:.4g}",
                     *[format_value(row.params.get(p, "")) for p in params], str(row.epochs),
                     format_duration(row.duration_s) if row.duration_s is not None else ""]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if row.reason:
                    item.setToolTip(row.reason)
                if row.state in ("pruned", "interrupted", "failed"):
                    item.setForeground(QColor(ERROR_COLOR) if row.state == "failed" else muted)
                if best is not None and row.number == best.number:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.table.setItem(r, c, item)

    def table_rows(self) -> list[list[str]]:
        """Return the trials table's texts, top to bottom (best first)."""
        return [[self.table.item(r, c).text() for c in range(self.table.columnCount())]
                for r in range(self.table.rowCount())]

    # --- applying --------------------------------------------------------------------------------
    def apply_best(self) -> bool:
        """Write the best trial's values into the open project as one undoable step."""
        best = best_row(self.rows, self._direction())
        if best is None:
            return False
        try:
            command = apply_values_command(self.document, best.params, f"Apply Best Sweep Trial {best.number}")
            self.document.push(command)
        except NnstudioError as exc:
            self.problem.setText(f"The best values cannot be applied: {exc}")
            return False
        self.status.setText(f"Applied trial {best.number}: " +
                            ", ".join(f"{k} = {format_value(v)}" for k, v in best.params.items()))
        return True

    # --- closing ---------------------------------------------------------------------------------
    def _on_document_replaced(self) -> None:
        # Its fields belong to the project that was open; a running sweep goes on (its trials are its own).
        if not self.is_running:
            self.close()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop the sweep and join every thread and process it started."""
        if self._preparing is not None:
            self._preparing.join()
            self._preparing = None
        if self.runner is not None:
            self.runner.stop()
            if not self.runner.wait(STOP_WAIT_S):
                self.runner.kill()
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None
        self.runner = None

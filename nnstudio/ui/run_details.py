"""The Runs view's side pane: one run's summary and notes, or the differences between two runs.

With one run selected it shows how the run ended, its best and final metrics, device and duration,
and a notes box (saved as the person types, after a short pause: ``notes_edited``). With two it
shows a diff: every setting that changed, the layers added and removed, the layer parameters that
changed and the wires moved, each with run A's and run B's value, and a button per run to open its
network in the editor (``open_requested``).
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QStackedWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from nnstudio.core.formatting import UNKNOWN, format_duration
from nnstudio.experiments.compare import RunDiff, compare_runs, format_value
from nnstudio.experiments.records import RunRecord
from nnstudio.ui.theme import muted_text_color

#: Typing pauses this long (ms) before notes are written.
NOTES_SAVE_DELAY_MS = 600

EMPTY, ONE, TWO = range(3)


def _metric(record: RunRecord, name: str, percent: bool = False) -> str:
    value = record.best.get(name)
    if not isinstance(value, (int, float)):
        return UNKNOWN
    epoch = record.best.get(f"{name}_epoch")
    shown = f"{value:.1%}" if percent else f"{value:.4g}"
    return f"{shown} (ep. {epoch})" if epoch is not None else shown


class RunDetails(QStackedWidget):
    """Summary and notes of one run, or the diff of two; see the module docstring."""

    #: Open a run's network in the editor: the run id.
    open_requested = Signal(str)
    #: The notes of a run were edited: (run id, text).
    notes_edited = Signal(str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("runDetails")
        self.setAccessibleName("Run details")
        hint = QLabel("Select a run to see its details and notes; select two to compare them. "
                      "Selected runs are drawn on the loss and accuracy plots.", self)
        hint.setWordWrap(True)
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint.setStyleSheet(f"color: {muted_text_color(self).name()}")
        self.addWidget(hint)
        self.addWidget(self._build_one())
        self.addWidget(self._build_two())
        self._run_id: str | None = None
        self._pair: tuple[str, str] | None = None
        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(NOTES_SAVE_DELAY_MS)
        self._save_timer.timeout.connect(self.flush_notes)

    # --- building --------------------------------------------------------------------------------
    def _build_one(self) -> QWidget:
        page = QWidget(self)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(6, 4, 6, 4)
        self.summary = QLabel(page)
        self.summary.setObjectName("runSummary")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.notes = QPlainTextEdit(page)
        self.notes.setObjectName("runNotes")
        self.notes.setAccessibleName("Run notes")
        self.notes.setPlaceholderText("Notes on this run (what you tried, what you saw)…")
        self.notes.textChanged.connect(self._on_notes_changed)
        self.open_one = QPushButton("Open Network in Editor", page)
        self.open_one.setObjectName("openRunNetwork")
        self.open_one.setToolTip("Open the network and settings this run trained, as a new unsaved project")
        self.open_one.clicked.connect(lambda: self._run_id and self.open_requested.emit(self._run_id))
        layout.addWidget(self.summary)
        layout.addWidget(QLabel("Notes", page))
        layout.addWidget(self.notes, 1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.open_one)
        layout.addLayout(row)
        return page

    def _build_two(self) -> QWidget:
        page = QWidget(self)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(6, 4, 6, 4)
        self.diff_title = QLabel(page)
        self.diff_title.setObjectName("runDiffTitle")
        self.diff_title.setWordWrap(True)
        self.diff = QTreeWidget(page)
        self.diff.setObjectName("runDiff")
        self.diff.setAccessibleName("Differences between the two runs")
        self.diff.setColumnCount(3)
        self.diff.setUniformRowHeights(True)
        self.diff.setAlternatingRowColors(True)
        header = self.diff.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.open_a = QPushButton(page)
        self.open_a.setObjectName("openRunA")
        self.open_a.clicked.connect(lambda: self._pair and self.open_requested.emit(self._pair[0]))
        self.open_b = QPushButton(page)
        self.open_b.setObjectName("openRunB")
        self.open_b.clicked.connect(lambda: self._pair and self.open_requested.emit(self._pair[1]))
        layout.addWidget(self.diff_title)
        layout.addWidget(self.diff, 1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.open_a)
        row.addWidget(self.open_b)
        layout.addLayout(row)
        return page

    # --- showing ---------------------------------------------------------------------------------
    def show_nothing(self) -> None:
        self.flush_notes()
        self._run_id, self._pair = None, None
        self.setCurrentIndex(EMPTY)

    def show_run(self, record: RunRecord) -> None:
        """Show one run's summary and its notes (editable)."""
        if self._run_id != record.run_id:
            self.flush_notes()
        self._run_id, self._pair = record.run_id, None
        esc = html.escape
        muted = muted_text_color(self).name()
        settings = record.settings
        recipe = (f"{settings.get('optimizer', UNKNOWN)} lr {format_value(settings.get('lr'))} · batch "
                  f"{settings.get('batch_size', UNKNOWN)} · {settings.get('epochs', UNKNOWN)} epochs")
        lines = [
            f"<b>{esc(record.title)}</b> <span style='color:{muted}'>({esc(record.run_id)})</span>",
            f"{esc(record.status)}: {esc(record.reason or '')}",
            f"best val loss {_metric(record, 'val_loss')} · best val acc {_metric(record, 'val_acc', True)}"
            if "val_mae" not in record.best else
            f"best val loss {_metric(record, 'val_loss')} · best val MAE {_metric(record, 'val_mae')}",
            f"{esc(recipe)}",
            f"{len(record.epochs)} epochs in {format_duration(record.duration_s)} on {esc(record.device or UNKNOWN)}",
            f"<span style='color:{muted}'>{esc(str(record.folder))}</span>",
        ]
        if record.sweep:
            params = ", ".join(f"{k} = {format_value(v)}" for k, v in record.sweep.get("params", {}).items())
            lines.insert(3, f"sweep {esc(str(record.sweep.get('study')))}, trial {record.sweep.get('trial')}: "
                            f"{esc(params)}")
        self.summary.setText("<br>".join(lines))
        if self.notes.toPlainText() != record.notes:
            self.notes.blockSignals(True)
            self.notes.setPlainText(record.notes)
            self.notes.blockSignals(False)
        self.open_one.setEnabled(bool(record.graph))
        self.setCurrentIndex(ONE)

    def show_pair(self, a: RunRecord, b: RunRecord) -> RunDiff:
        """Show what changed from run ``a`` to run ``b``; return the diff."""
        self.flush_notes()
        self._run_id, self._pair = None, (a.run_id, b.run_id)
        diff = compare_runs(a, b)
        self.diff_title.setText(f"From <b>{html.escape(a.title)}</b> to <b>{html.escape(b.title)}</b>: "
                                f"{html.escape(diff.summary(limit=3))}")
        self.diff.clear()
        self.diff.setHeaderLabels(["", a.title, b.title])
        self._group("Settings", [(c.path, format_value(c.before), format_value(c.after)) for c in diff.settings])
        graph = diff.graph
        self._group("Layers added", [(node, "", kind) for node, kind in graph.added])
        self._group("Layers removed", [(node, kind, "") for node, kind in graph.removed])
        self._group("Parameters changed",
                    [(c.path, format_value(c.before), format_value(c.after)) for c in graph.retyped + graph.params])
        self._group("Wires", [(f"{s} → {t}", "", "added") for s, t in graph.wires_added]
                    + [(f"{s} → {t}", "removed", "") for s, t in graph.wires_removed])
        if diff.same:
            QTreeWidgetItem(self.diff, ["No differences: same network and settings", "", ""])
        results = QTreeWidgetItem(self.diff, ["Results", "", ""])
        for label, name, percent in (("best val loss", "val_loss", False), ("best val acc", "val_acc", True),
                                     ("best val MAE", "val_mae", False)):
            if name in a.best or name in b.best:
                QTreeWidgetItem(results, [label, _metric(a, name, percent), _metric(b, name, percent)])
        QTreeWidgetItem(results, ["time", format_duration(a.duration_s), format_duration(b.duration_s)])
        self.diff.expandAll()
        self.open_a.setText(f"Open {a.title}")
        self.open_b.setText(f"Open {b.title}")
        self.open_a.setToolTip(f"Open the network of {a.title} in the editor")
        self.open_b.setToolTip(f"Open the network of {b.title} in the editor")
        self.open_a.setEnabled(bool(a.graph))
        self.open_b.setEnabled(bool(b.graph))
        self.setCurrentIndex(TWO)
        return diff

    def _group(self, title: str, rows: list[tuple[str, str, str]]) -> None:
        if not rows:
            return
        group = QTreeWidgetItem(self.diff, [f"{title} ({len(rows)})", "", ""])
        for row in rows:
            QTreeWidgetItem(group, list(row))

    def diff_rows(self) -> dict[str, list[tuple[str, str, str]]]:
        """Return the diff shown, by group title (without the count): what a test or a copy reads."""
        out: dict[str, list[tuple[str, str, str]]] = {}
        for i in range(self.diff.topLevelItemCount()):
            group = self.diff.topLevelItem(i)
            title = group.text(0).split(" (")[0]
            out[title] = [tuple(group.child(j).text(c) for c in range(3)) for j in range(group.childCount())]
        return out

    # --- notes -----------------------------------------------------------------------------------
    def _on_notes_changed(self) -> None:
        self._save_timer.start()

    def flush_notes(self) -> None:
        """Write notes still waiting for their typing pause."""
        if not self._save_timer.isActive():
            return
        self._save_timer.stop()
        if self._run_id is not None:
            self.notes_edited.emit(self._run_id, self.notes.toPlainText())

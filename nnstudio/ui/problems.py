"""The problems panel: the document's analysis's errors and lint warnings, each with its fix if any.

The panel follows the document by itself (a new project: "Analysing…"; each analysis: its problems;
a failed analysis: a note). Other sources (gradients during training) add theirs with
:meth:`ProblemsPanel.set_extra_problems`. Clicking a problem selects and centres its layer (``node_activated``); a problem with a
:class:`~nnstudio.core.problems.Fix` gets a button (and a context-menu entry) that asks the window to
push the fix's command (``fix_requested``), so a fix is one undoable step like any other edit.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QMenu,
    QPushButton,
    QStyle,
    QTreeWidget,
    QTreeWidgetItem,
    QWidget,
)

from nnstudio.core.problems import Problem
from nnstudio.ui.document import Document
from nnstudio.ui.status_bar import plural
from nnstudio.ui.theme import muted_text_color

_PROBLEM_ROLE = Qt.ItemDataRole.UserRole + 1
ICON, LAYER, MESSAGE, FIX = range(4)


class ProblemsPanel(QTreeWidget):
    """A list of the network's problems, errors first."""

    #: A problem's layer should be selected and centred; the argument is the node id.
    node_activated = Signal(str)
    #: The person asked to apply a problem's fix.
    fix_requested = Signal(object)
    #: A title counting the analysis's problems ("Problems (1 error, 2 warnings)") for the dock.
    title_changed = Signal(str)

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("problems")
        self.setAccessibleName("Problems")
        self.setColumnCount(4)
        self.setHeaderLabels(["", "Layer", "Problem", "Fix"])
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setAlternatingRowColors(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header = self.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(ICON, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(LAYER, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(MESSAGE, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(FIX, QHeaderView.ResizeMode.ResizeToContents)
        self.itemClicked.connect(self._on_item_clicked)
        self.itemActivated.connect(self._on_item_clicked)
        self.customContextMenuRequested.connect(self._show_context_menu)
        self._problems: list[Problem] = []
        self._analysis_problems: list[Problem] = []
        #: Problems found outside the analysis (gradients during training), by source.
        self._extra_problems: dict[str, list[Problem]] = {}
        self._placeholder = "Analysing…"
        document.replaced.connect(self._on_document_replaced)
        document.analysis_ready.connect(self._on_analysis)
        document.analysis_failed.connect(self._on_analysis_failed)

    def _on_document_replaced(self) -> None:
        self.set_problems([])
        self.set_placeholder("Analysing…")
        self.title_changed.emit("Problems")

    def _on_analysis_failed(self, _message: str) -> None:
        self.set_placeholder("Shape analysis failed; see the status bar.")

    def _on_analysis(self, analysis: Any) -> None:
        self.set_problems(list(analysis.problems))
        errors, warnings = len(analysis.errors), len(analysis.warnings)
        parts = ([plural(errors, "error")] if errors else []) + ([plural(warnings, "warning")] if warnings else [])
        self.title_changed.emit(f"Problems ({', '.join(parts)})" if parts else "Problems")

    @property
    def problems(self) -> list[Problem]:
        """Returns the problems shown, in display order."""
        return list(self._problems)

    def set_placeholder(self, text: str) -> None:
        """Sets the sentence shown in the empty list ("Analysing…", "No problems found")."""
        self._placeholder = text
        self.viewport().update()

    def set_problems(self, problems: list[Problem]) -> None:
        """Shows the analysis's ``problems`` (errors before warnings, each group in the analysis's order)."""
        self._placeholder = "No problems found: the network is ready to train."
        self._analysis_problems = list(problems)
        self._refill()

    def set_extra_problems(self, source: str, problems: list[Problem]) -> None:
        """Shows ``problems`` found by ``source`` (e.g. ``"gradients"``) after the analysis's; [] removes them."""
        if problems:
            self._extra_problems[source] = list(problems)
        else:
            self._extra_problems.pop(source, None)
        self._refill()

    def _refill(self) -> None:
        shown = self._analysis_problems + [p for extra in self._extra_problems.values() for p in extra]
        self._problems = sorted(shown, key=lambda p: not p.is_error)
        self.clear()
        style = self.style()
        error_icon = style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxCritical)
        warning_icon = style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        for problem in self._problems:
            item = QTreeWidgetItem(self, ["", problem.node_id or "network", problem.message, ""])
            item.setIcon(ICON, error_icon if problem.is_error else warning_icon)
            item.setToolTip(ICON, problem.severity)
            item.setToolTip(MESSAGE, f"{problem.message}\n({problem.code})")
            item.setData(ICON, _PROBLEM_ROLE, problem)
            item.setData(ICON, Qt.ItemDataRole.AccessibleTextRole, problem.severity)
            if problem.fix is not None:
                button = QPushButton("Fix", self)
                button.setObjectName("problemFix")
                button.setToolTip(problem.fix.description)
                button.setAccessibleName(f"Fix: {problem.fix.description}")
                button.clicked.connect(lambda _checked=False, p=problem: self.fix_requested.emit(p))
                self.setItemWidget(item, FIX, button)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        super().paintEvent(event)
        if self.topLevelItemCount() == 0 and self._placeholder:
            painter = QPainter(self.viewport())
            painter.setPen(muted_text_color(self))
            painter.drawText(self.viewport().rect(), Qt.AlignmentFlag.AlignCenter, self._placeholder)
            painter.end()

    def problem_at(self, row: int) -> Problem:
        return self._problems[row]

    def _problem_of(self, item: QTreeWidgetItem | None) -> Problem | None:
        return item.data(ICON, _PROBLEM_ROLE) if item is not None else None

    def _on_item_clicked(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        problem: Any = self._problem_of(item)
        if problem is not None and problem.node_id:
            self.node_activated.emit(problem.node_id)

    def _show_context_menu(self, position: QPoint) -> None:
        problem = self._problem_of(self.itemAt(position))
        if problem is None:
            return
        menu = QMenu(self)
        if problem.node_id:
            menu.addAction(f"Show {problem.node_id}", lambda: self.node_activated.emit(problem.node_id))
        if problem.fix is not None:
            menu.addAction(f"Fix: {problem.fix.description}", lambda: self.fix_requested.emit(problem))
        if not menu.isEmpty():
            menu.exec(self.viewport().mapToGlobal(position))
        menu.deleteLater()  # one menu per right-click: do not let them pile up as children

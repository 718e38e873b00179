"""The Sweep dialog's list of fields to search: the training settings, then each layer's parameters.

Each field is shown with the label the training settings or the Inspector give it and its current
value; ticking it searches it over the range typed beside it (the syntax of ``nnstudio sweep
--param``), which is checked as it is typed against the project (a red frame and the reason).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHeaderView, QLineEdit, QTreeWidget, QTreeWidgetItem, QWidget

from nnstudio.core.project import Project
from nnstudio.experiments.compare import format_value
from nnstudio.experiments.space import SpaceError, Tunable, parse_param, tunable_fields
from nnstudio.ui.theme import ERROR_COLOR, muted_text_color

_PATH_ROLE = Qt.ItemDataRole.UserRole + 1


class SweepFields(QTreeWidget):
    """The searchable fields of ``project``, grouped by layer; ``changed`` when one is ticked or edited."""

    changed = Signal()

    def __init__(self, project: Project, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project = project
        self.setObjectName("sweepParameters")
        self.setAccessibleName("Fields to search")
        self.setHeaderLabels(["Field", "Now", "Range to search"])
        self.setUniformRowHeights(True)
        self.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.header().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self._range_edits: dict[str, QLineEdit] = {}
        self._fields: dict[str, Tunable] = {}
        self.itemChanged.connect(self._on_field_toggled)
        self._fill()

    def _fill(self) -> None:
        project = self.project
        self.blockSignals(True)
        self.clear()
        groups: dict[str | None, QTreeWidgetItem] = {}
        muted = muted_text_color(self)
        for field in tunable_fields(project):
            self._fields[field.path] = field
            group = groups.get(field.node_id)
            if group is None:
                title = "Training" if field.node_id is None else \
                    f"{field.node_id} ({project.graph.node(field.node_id).spec.title})"
                group = QTreeWidgetItem(self, [title, "", ""])
                group.setFlags(group.flags() & ~Qt.ItemFlag.ItemIsSelectable)
                groups[field.node_id] = group
            item = QTreeWidgetItem(group, [field.spec.title, format_value(field.current), ""])
            item.setData(0, _PATH_ROLE, field.path)
            item.setCheckState(0, Qt.CheckState.Unchecked)
            item.setToolTip(0, f"{field.path}: {field.spec.help}" if field.spec.help else field.path)
            item.setForeground(1, muted)
            edit = QLineEdit(field.default_range(), self)
            edit.setObjectName(f"range:{field.path}")
            edit.setPlaceholderText("LOW:HIGH[:log][:int] or A,B,C")
            edit.setCursorPosition(0)  # long lists of choices show their start
            edit.setEnabled(False)
            edit.textChanged.connect(self._on_range_edited)
            self.setItemWidget(item, 2, edit)
            self._range_edits[field.path] = edit
        self.expandAll()
        self.blockSignals(False)

    def set_field(self, path: str, searched: bool, value_range: str | None = None) -> None:
        """Tick or untick ``path`` (and set its range): what a person does in the list."""
        if value_range is not None:
            self._range_edits[path].setText(value_range)
        item = self._item(path)
        item.setCheckState(0, Qt.CheckState.Checked if searched else Qt.CheckState.Unchecked)

    def _item(self, path: str) -> QTreeWidgetItem:
        for i in range(self.topLevelItemCount()):
            group = self.topLevelItem(i)
            for j in range(group.childCount()):
                if group.child(j).data(0, _PATH_ROLE) == path:
                    return group.child(j)
        raise KeyError(path)

    def params(self) -> list[str]:
        """Return the ticked fields as ``--param`` texts."""
        out = []
        for path, edit in self._range_edits.items():
            if self._item(path).checkState(0) == Qt.CheckState.Checked:
                out.append(f"{path}={edit.text().strip()}")
        return out

    def _on_field_toggled(self, item: QTreeWidgetItem, column: int) -> None:
        path = item.data(0, _PATH_ROLE)
        if column != 0 or path is None:
            return
        self._range_edits[path].setEnabled(item.checkState(0) == Qt.CheckState.Checked)
        self.changed.emit()

    def _on_range_edited(self, _text: str) -> None:
        self.changed.emit()

    def problem(self) -> str:
        """Check the ticked fields' ranges now, framing the bad ones; return the first problem ("" if none)."""
        problem = ""
        for text in self.params():
            path = text.partition("=")[0]
            edit = self._range_edits[path]
            try:
                parse_param(text, self.project)
                edit.setStyleSheet("")
                edit.setToolTip("")
            except SpaceError as exc:
                edit.setStyleSheet(f"border: 1px solid {ERROR_COLOR}")
                edit.setToolTip(exc.reason)
                problem = problem or f"{path}: {exc.reason}"
        for edit in self._range_edits.values():
            if not edit.isEnabled():
                edit.setStyleSheet("")
        return problem


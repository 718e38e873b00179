"""The layer's name in the inspector's header, editable: renaming a layer renames its state-dict keys.

The field checks the name as it is typed (``Graph.name_refusal``: malformed, taken, or clashing with
an ``nn.Module`` attribute) and shows the reason under it; Enter or leaving the field pushes one
undoable ``RenameNode``, Escape puts the current name back. F2 on the canvas focuses it.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QKeyEvent
from PySide6.QtWidgets import QLabel, QLineEdit, QWidget

from nnstudio.core.commands import RenameNode
from nnstudio.core.errors import NnstudioError
from nnstudio.ui.document import Document
from nnstudio.ui.theme import ERROR_COLOR


class LayerNameField(QLineEdit):
    """An editable layer name; :attr:`error` (placed by the owner, under the header) says why a name is refused."""

    def __init__(self, document: Document, node_id: str, parent: QWidget | None = None) -> None:
        super().__init__(node_id, parent)
        self.document = document
        self.node_id = node_id
        self.setObjectName("inspectorNodeName")
        self.setAccessibleName("Layer name")
        self.setToolTip("The layer's name: its attribute in model.py and the start of its state-dict keys "
                        "(F2 on the canvas; Enter renames, Escape cancels)")
        font = QFont(self.font())
        font.setBold(True)
        font.setPointSizeF(max(font.pointSizeF(), 9.0) * 1.3)
        self.setFont(font)
        self.setFrame(False)
        self.setMaxLength(200)
        self.error = QLabel(parent)
        self.error.setObjectName("inspectorNameError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(f"color: {ERROR_COLOR};")
        self.error.hide()
        self.textEdited.connect(self._check)
        self.editingFinished.connect(self.commit)

    def edit(self) -> None:
        """Focus the field with the whole name selected, ready to type a new one (F2)."""
        self.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.selectAll()

    def commit(self) -> bool:
        """Rename the layer to the typed name; False (and the reason shown) when it is refused."""
        text = self.text().strip()
        graph = self.document.graph
        if text == self.node_id or self.node_id not in graph:
            self.revert()
            return False
        refusal = graph.name_refusal(text, graph.node(self.node_id).type_id, ignore=self.node_id)
        if refusal:
            self._show_error(refusal)
            return False
        try:
            self.document.push(RenameNode(graph, self.node_id, text))
        except NnstudioError as exc:
            self._show_error(str(exc))
            return False
        return True

    def revert(self) -> None:
        """Show the layer's current name again, without an error."""
        self.setText(self.node_id)
        self._show_error("")

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        if event.key() == Qt.Key.Key_Escape:
            self.revert()
            event.accept()
            return
        super().keyPressEvent(event)

    def _check(self, text: str) -> None:
        text = text.strip()
        graph = self.document.graph
        if text == self.node_id or self.node_id not in graph:
            self._show_error("")
            return
        self._show_error(graph.name_refusal(text, graph.node(self.node_id).type_id, ignore=self.node_id) or "")

    def _show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.setVisible(bool(message))
        self.setStyleSheet(f"border-bottom: 2px solid {ERROR_COLOR};" if message else "")

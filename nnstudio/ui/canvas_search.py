"""Find a layer or block by name on the canvas (Ctrl+F): type part of its name, jump to it.

The field floats at the top-right of the canvas. It completes over every layer id and block path
(``conv`` offers ``layer1.0.conv1``...); Enter goes to the chosen name, or to the first layer or
block whose name contains the text, and Enter again to the next one ("2 of 17"). Going there opens
the blocks around it (stepping out of a block if it lies outside), selects it and centres it.
Escape closes the field.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QStringListModel, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QCompleter, QLabel, QLineEdit, QWidget

from nnstudio.ui.theme import muted_text_color

if TYPE_CHECKING:
    from nnstudio.ui.canvas import CanvasView

SEARCH_WIDTH = 280


class LayerSearch(QLineEdit):
    """The canvas's search field: completion over names, Enter to go to the next match."""

    def __init__(self, view: CanvasView, parent: QWidget) -> None:
        super().__init__(parent)
        self._view = view
        self.setObjectName("canvasSearch")
        self.setAccessibleName("Find a layer")
        self.setPlaceholderText("Find a layer or block…")
        self.setClearButtonEnabled(True)
        self.setToolTip("Type part of a name; Enter goes to the next match, Escape closes")
        self.setFixedWidth(SEARCH_WIDTH)
        self._names = QStringListModel(self)
        completer = QCompleter(self._names, self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setMaxVisibleItems(12)
        completer.activated.connect(self._on_completion_chosen)
        self.setCompleter(completer)
        self.count_label = QLabel(self)
        self.count_label.setObjectName("canvasSearchCount")
        self.count_label.setStyleSheet(f"color: {muted_text_color(self).name()}; background: transparent;")
        self.textEdited.connect(self._on_edited)
        self.returnPressed.connect(self.next_match)
        self._matches: list[str] = []
        self._index = -1
        self.hide()

    # --- opening -----------------------------------------------------------------------------------

    def open(self) -> None:
        """Shows the field with the names of the network shown now, focused and selected."""
        self._names.setStringList(self._all_names())
        self.place()
        self.show()
        self.raise_()
        self.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.selectAll()

    def close_search(self) -> None:
        self.completer().popup().hide()
        self.hide()
        self._view.setFocus(Qt.FocusReason.OtherFocusReason)

    def place(self) -> None:
        """Keeps the field at the top-right corner of the canvas."""
        viewport = self._view.viewport().geometry()
        self.move(viewport.right() - self.width() - 10, viewport.top() + 8)

    # --- finding -----------------------------------------------------------------------------------

    def matches(self, text: str) -> list[str]:
        """Layer ids and block paths containing ``text`` (any case): exact name first, then graph order."""
        text = text.strip().lower()
        if not text:
            return []
        names = self._all_names()
        found = [name for name in names if text in name.lower()]
        exact = [name for name in found if name.lower() == text]
        return exact + [name for name in found if name not in exact]

    def next_match(self) -> str | None:
        """Goes to the next name matching the field's text; returns it (None when nothing matches)."""
        text = self.text()
        matches = self.matches(text)
        if matches != self._matches:
            self._matches, self._index = matches, -1
        if not matches:
            self.count_label.setText("no match")
            self._place_count()
            return None
        self._index = (self._index + 1) % len(matches)
        name = matches[self._index]
        self.count_label.setText(f"{self._index + 1} of {len(matches)}")
        self._place_count()
        self.go_to(name)
        return name

    def go_to(self, name: str) -> bool:
        """Opens the blocks around ``name`` (a layer or a block), selects it and centres it."""
        view = self._view
        graph = view.edits.graph
        if graph is None:
            return False
        if name in graph:
            return view.go_to(name)
        if view.canvas_scene.hierarchy.is_block(name):
            return view.go_to_block(name)
        return False

    # --- internals ---------------------------------------------------------------------------------

    def _all_names(self) -> list[str]:
        graph = self._view.edits.graph
        if graph is None:
            return []
        names: list[str] = []
        seen: set[str] = set()
        for node_id in graph.node_ids():
            parts = node_id.split(".")
            for i in range(1, len(parts)):
                block = ".".join(parts[:i])
                if block not in seen:
                    seen.add(block)
                    names.append(block)
            names.append(node_id)
        return names

    def _on_edited(self, _text: str) -> None:
        self._matches, self._index = [], -1
        self.count_label.setText("")

    def _on_completion_chosen(self, name: str) -> None:
        self._matches, self._index = [name], 0
        self.count_label.setText("")
        self.go_to(name)

    def _place_count(self) -> None:
        self.count_label.adjustSize()
        self.count_label.move(self.width() - self.count_label.width() - 28,
                              (self.height() - self.count_label.height()) // 2)
        self.count_label.show()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        if event.key() == Qt.Key.Key_Escape:
            self.close_search()
            event.accept()
            return
        super().keyPressEvent(event)


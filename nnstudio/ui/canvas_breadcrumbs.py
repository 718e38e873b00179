"""The breadcrumbs over the canvas: where the view is when it shows the inside of a block.

``Network › layer2 › layer2.0``: each crumb but the last is a button back to that level; the bar
shows only while the canvas is inside a block (Escape or Alt+Up steps out one level too).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

from nnstudio.ui.canvas_items import short_title
from nnstudio.ui.theme import muted_text_color

if TYPE_CHECKING:
    from nnstudio.ui.canvas import CanvasView


class Breadcrumbs(QFrame):
    """A row of buttons from the whole network down to the block the canvas shows."""

    def __init__(self, view: CanvasView, parent: QWidget) -> None:
        super().__init__(parent)
        self._view = view
        self.setObjectName("canvasBreadcrumbs")
        self.setAccessibleName("Where the canvas is")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.setBackgroundRole(QPalette.ColorRole.Base)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(6, 2, 6, 2)
        self._layout.setSpacing(2)
        self.buttons: list[QToolButton] = []
        view.blocks.scope_changed.connect(self.show_scope)
        self.hide()

    def show_scope(self, scope: str) -> None:
        """Shows the path down to ``scope`` (hidden at the top level)."""
        while self._layout.count():
            widget = self._layout.takeAt(0).widget()
            if widget is not None:
                widget.hide()
                widget.deleteLater()
        self.buttons = []
        if not scope:
            self.hide()
            return
        document = getattr(self._view, "_document", None)
        top = document.project.name if document is not None else "Network"
        parts = scope.split(".")
        paths = [""] + [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
        muted = muted_text_color(self).name()
        for i, path in enumerate(paths):
            if i:
                separator = QLabel("›", self)
                separator.setStyleSheet(f"color: {muted};")
                self._layout.addWidget(separator)
            button = QToolButton(self)
            button.setObjectName(f"crumb_{path or 'top'}")
            button.setText(top if not path else short_title(path))
            button.setToolTip("The whole network" if not path else path)
            button.setAutoRaise(True)
            last = i == len(paths) - 1
            button.setEnabled(not last)
            if last:
                font = button.font()
                font.setBold(True)
                button.setFont(font)
            button.clicked.connect(lambda _checked=False, p=path: self._view.blocks.go_to_scope(p))
            self._layout.addWidget(button)
            self.buttons.append(button)
        self.adjustSize()
        self.show()
        self.raise_()

    def crumb_texts(self) -> list[str]:
        return [button.text() for button in self.buttons]

    def place(self) -> None:
        """Keeps the bar at the top-left corner of the canvas."""
        self.move(8, 8)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents, False)

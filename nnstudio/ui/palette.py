"""The layer palette: every catalog layer grouped by category, searchable and draggable.

Dragging an entry carries its type id under :data:`nnstudio.ui.canvas_interactions.MIME_LAYER`, which the canvas
accepts as a drop; double-click or Enter asks the window to add the layer at the view's centre.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from nnstudio.core.catalog import CATALOG, Catalog, LayerSpec
from nnstudio.ui.canvas_interactions import MIME_LAYER
from nnstudio.ui.icons import category_icon

#: The item data role holding a layer's type id (category rows hold None).
TYPE_ID_ROLE = Qt.ItemDataRole.UserRole + 1


def layer_tooltip(spec: LayerSpec) -> str:
    """Returns the rich-text tooltip of a palette entry: title, category, help and torch target."""
    target = f"<br><code>{html.escape(spec.target)}</code>" if spec.target else ""
    return (f"<b>{html.escape(spec.title)}</b> &nbsp;<i>{html.escape(spec.category)}</i>"
            f"<p style='white-space:pre-wrap'>{html.escape(spec.help)}</p>{target}")


def _matches(spec: LayerSpec, words: list[str]) -> bool:
    haystack = f"{spec.title} {spec.type_id} {spec.category} {spec.help} {spec.target}".lower()
    return all(word in haystack for word in words)


class _SearchField(QLineEdit):
    """The search box; Down moves into the list of matches, as in a launcher."""

    down_pressed = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        if event.key() == Qt.Key.Key_Down:
            self.down_pressed.emit()
            return
        super().keyPressEvent(event)


class _LayerTree(QTreeWidget):
    """The tree of layers; a drag carries the layer's type id as :data:`MIME_LAYER`."""

    def mimeTypes(self) -> list[str]:  # noqa: N802 - Qt override
        return [MIME_LAYER]

    def mimeData(self, items: list[QTreeWidgetItem]) -> QMimeData:  # noqa: N802 - Qt override
        data = QMimeData()
        type_ids = [item.data(0, TYPE_ID_ROLE) for item in items if item.data(0, TYPE_ID_ROLE)]
        if type_ids:
            data.setData(MIME_LAYER, type_ids[0].encode("utf-8"))
            data.setText(type_ids[0])
        return data


class LayerPalette(QWidget):
    """The palette dock's content: a search box over a categorised, draggable list of layers."""

    #: A layer was chosen with double-click or Enter; the argument is its type id.
    layer_activated = Signal(str)

    def __init__(self, parent: QWidget | None = None, catalog: Catalog = CATALOG) -> None:
        super().__init__(parent)
        self.setObjectName("palette")
        self.setAccessibleName("Layer palette")
        self.search = _SearchField(self)
        self.search.setObjectName("paletteSearch")
        self.search.setAccessibleName("Search layers")
        self.search.setPlaceholderText("Search layers…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.set_filter)
        self.search.returnPressed.connect(self._activate_first_match)
        self.search.down_pressed.connect(self._focus_list)

        self.tree = _LayerTree(self)
        self.tree.setObjectName("paletteTree")
        self.tree.setAccessibleName("Layers")
        self.tree.setHeaderHidden(True)
        self.tree.setRootIsDecorated(True)
        self.tree.setIndentation(12)
        self.tree.setUniformRowHeights(True)
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.itemActivated.connect(self._on_item_activated)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)
        layout.addWidget(self.search)
        layout.addWidget(self.tree)
        self._populate(catalog)

    def _populate(self, catalog: Catalog) -> None:
        for category, specs in catalog.categories().items():
            group = QTreeWidgetItem(self.tree, [category])
            group.setFlags(Qt.ItemFlag.ItemIsEnabled)
            font = group.font(0)
            font.setBold(True)
            group.setFont(0, font)
            group.setData(0, TYPE_ID_ROLE, None)
            icon = category_icon(category)
            for spec in specs:
                item = QTreeWidgetItem(group, [spec.title])
                item.setIcon(0, icon)
                item.setToolTip(0, layer_tooltip(spec))
                item.setStatusTip(0, spec.help)
                item.setData(0, TYPE_ID_ROLE, spec.type_id)
                item.setData(0, Qt.ItemDataRole.AccessibleTextRole, f"{spec.title}: {spec.help}")
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                              | Qt.ItemFlag.ItemIsDragEnabled)
        self.tree.expandAll()

    # --- reading ---------------------------------------------------------------------------------

    def item_for(self, type_id: str) -> QTreeWidgetItem:
        """Returns the entry of a layer type (raises KeyError when the palette has none)."""
        for item in self._layer_items():
            if item.data(0, TYPE_ID_ROLE) == type_id:
                return item
        raise KeyError(type_id)

    def visible_type_ids(self) -> list[str]:
        """Returns the type ids the current search leaves visible, top to bottom."""
        return [item.data(0, TYPE_ID_ROLE) for item in self._layer_items() if not item.isHidden()]

    def _layer_items(self) -> list[QTreeWidgetItem]:
        items = []
        for i in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(i)
            items.extend(group.child(j) for j in range(group.childCount()))
        return items

    # --- behaviour -------------------------------------------------------------------------------

    def set_filter(self, text: str) -> None:
        """Shows only the layers whose title, type, category or help contain every word of ``text``."""
        words = text.lower().split()
        for i in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(i)
            visible = 0
            for j in range(group.childCount()):
                item = group.child(j)
                spec = CATALOG.get(item.data(0, TYPE_ID_ROLE))
                shown = _matches(spec, words)
                item.setHidden(not shown)
                visible += shown
            group.setHidden(visible == 0)
            group.setExpanded(True)
        matches = self.visible_type_ids()
        if words and matches:
            self.tree.setCurrentItem(self.item_for(matches[0]))

    def _on_item_activated(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        type_id = item.data(0, TYPE_ID_ROLE)
        if type_id:
            self.layer_activated.emit(type_id)

    def _activate_first_match(self) -> None:
        current = self.tree.currentItem()
        if current is not None and not current.isHidden() and current.data(0, TYPE_ID_ROLE):
            self._on_item_activated(current)
        elif matches := self.visible_type_ids():
            self.layer_activated.emit(matches[0])

    def _focus_list(self) -> None:
        self.tree.setFocus()
        if self.tree.currentItem() is None and (matches := self.visible_type_ids()):
            self.tree.setCurrentItem(self.item_for(matches[0]))

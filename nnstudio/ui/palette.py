"""The layer palette: every catalog layer grouped by category, and whole models; searchable, draggable.

Dragging an entry carries its type id under :data:`nnstudio.ui.canvas_interactions.MIME_LAYER`, which the canvas
accepts as a drop; double-click or Enter asks the window to add the layer at the view's centre.

The **Models** section lists torchvision's classifiers (read in the background the first time the
section is opened or a search is typed, since that imports torch). Dragging one carries its source
(``torchvision.models:resnet18``) under :data:`~nnstudio.ui.canvas_interactions.MIME_MODEL`; the canvas
builds it in the background and adds it as one block. It is built without pretrained weights unless
"Pretrained weights" is ticked, which uses the weights in the local torch cache (never a download).
"""

from __future__ import annotations

import html

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QCloseEvent, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QLineEdit,
    QSizePolicy,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from nnstudio.core.catalog import CATALOG, Catalog, LayerSpec
from nnstudio.ui.canvas_interactions import MIME_LAYER, MIME_MODEL
from nnstudio.ui.icons import category_icon
from nnstudio.ui.model_build import NameList, source_of

#: The item data role holding a layer's type id (category rows hold None).
TYPE_ID_ROLE = Qt.ItemDataRole.UserRole + 1
#: The item data role holding a model's name in the Models section.
MODEL_ROLE = Qt.ItemDataRole.UserRole + 2
#: The item data role holding a block name in the Project blocks and Block library sections.
BLOCK_ROLE = Qt.ItemDataRole.UserRole + 3
#: ... and which of the two it is in (``PROJECT_BLOCKS`` or ``LIBRARY_BLOCKS``).
SECTION_ROLE = Qt.ItemDataRole.UserRole + 4
MODELS = "Models"
PROJECT_BLOCKS = "Project blocks"
LIBRARY_BLOCKS = "Block library"
#: What a palette entry of a project block carries as its layer type: ``block:NAME``.
BLOCK_ENTRY = "block:"


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
    """The tree of layers and models; a drag carries a layer's type id as :data:`MIME_LAYER`, a
    model's source as :data:`MIME_MODEL`."""

    def __init__(self, palette: LayerPalette) -> None:
        super().__init__(palette)
        self._palette = palette

    def mimeTypes(self) -> list[str]:  # noqa: N802 - Qt override
        return [MIME_LAYER, MIME_MODEL]

    def mimeData(self, items: list[QTreeWidgetItem]) -> QMimeData:  # noqa: N802 - Qt override
        data = QMimeData()
        type_ids = [item.data(0, TYPE_ID_ROLE) for item in items if item.data(0, TYPE_ID_ROLE)]
        type_ids += [BLOCK_ENTRY + item.data(0, BLOCK_ROLE) for item in items
                     if item.data(0, BLOCK_ROLE) and item.data(0, SECTION_ROLE) == PROJECT_BLOCKS]
        models = [item.data(0, MODEL_ROLE) for item in items if item.data(0, MODEL_ROLE)]
        if type_ids:
            data.setData(MIME_LAYER, type_ids[0].encode("utf-8"))
            data.setText(type_ids[0])
        elif models:
            source = self._palette.model_source(models[0])
            data.setData(MIME_MODEL, source.encode("utf-8"))
            data.setText(source)
        return data


class LayerPalette(QWidget):
    """The palette dock's content: a search box over a categorised, draggable list of layers."""

    #: A layer was chosen with double-click or Enter; the argument is its type id.
    layer_activated = Signal(str)
    #: A model was chosen with double-click or Enter; the argument is its source.
    model_activated = Signal(str)
    #: The Models section has its list (for tests and the import dialog).
    models_ready = Signal()
    #: A project block was chosen with double-click or Enter; the argument is its name.
    block_activated = Signal(str)
    #: A block of the library was chosen with double-click or Enter; the argument is its name.
    library_block_activated = Signal(str)

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
        self.models_group: QTreeWidgetItem | None = None
        self.tree.itemExpanded.connect(self._on_item_expanded)

        self.pretrained = QCheckBox("Pretrained weights (local cache)", self)
        self.pretrained.setObjectName("palettePretrained")
        self.pretrained.setToolTip("Models dragged from the Models section come with torchvision's default "
                                   "pretrained weights, read from the local torch cache (nnstudio never "
                                   "downloads); unticked, they are built with fresh weights (weights=None)")
        # Its text must not set the dock's least width (the palette narrows to its tree's width).
        self.pretrained.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)
        layout.addWidget(self.search)
        layout.addWidget(self.tree)
        layout.addWidget(self.pretrained)
        self._catalog = catalog
        self.model_names = NameList(self)
        self.model_names.ready.connect(self._fill_models)
        self._populate(catalog)

    def _populate(self, catalog: Catalog) -> None:
        for category, specs in catalog.categories().items():
            # Block layers are offered per definition, under Project blocks.
            specs = [spec for spec in specs if spec.type_id != "block"]
            if not specs:
                continue
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
        self.block_groups = {section: self._section(section, tip) for section, tip in (
            (PROJECT_BLOCKS, "The blocks of this project: drag one onto the canvas to place it again (every "
                             "placement shares the block: edit once, all change). Select layers and press "
                             "Ctrl+G to make one."),
            (LIBRARY_BLOCKS, "Your block library, shared by all projects: double-click a block to add it to "
                             "this project and place it"))}
        self.models_group = QTreeWidgetItem(self.tree, [MODELS])
        self.models_group.setFlags(Qt.ItemFlag.ItemIsEnabled)
        font = self.models_group.font(0)
        font.setBold(True)
        self.models_group.setFont(0, font)
        self.models_group.setToolTip(0, "torchvision's image classifiers: drag one onto the canvas to add it as "
                                        "one block")
        self.models_group.setChildIndicatorPolicy(QTreeWidgetItem.ChildIndicatorPolicy.ShowIndicator)

    def _section(self, title: str, tip: str) -> QTreeWidgetItem:
        group = QTreeWidgetItem(self.tree, [title])
        group.setFlags(Qt.ItemFlag.ItemIsEnabled)
        font = group.font(0)
        font.setBold(True)
        group.setFont(0, font)
        group.setToolTip(0, tip)
        group.setHidden(True)  # until it has blocks
        group.setExpanded(True)
        return group

    # --- blocks ------------------------------------------------------------------------------------

    def set_blocks(self, section: str, entries: list[tuple[str, str]]) -> None:
        """Lists ``(name, description)`` of blocks in ``section`` (PROJECT_BLOCKS or LIBRARY_BLOCKS)."""
        group = self.block_groups[section]
        if [(group.child(i).data(0, BLOCK_ROLE), group.child(i).statusTip(0)) for i in range(group.childCount())
                ] == entries:
            return
        while group.childCount():
            group.removeChild(group.child(0))
        icon = category_icon("Blocks")
        for name, description in entries:
            item = QTreeWidgetItem(group, [name])
            item.setIcon(0, icon)
            item.setData(0, BLOCK_ROLE, name)
            item.setData(0, SECTION_ROLE, section)
            item.setStatusTip(0, description)
            action = "Drag onto the canvas or double-click to place it" if section == PROJECT_BLOCKS else \
                "Double-click to add it to this project and place it"
            item.setToolTip(0, f"<b>{html.escape(name)}</b> &nbsp;<i>{section}</i><p>{html.escape(description)}</p>"
                               f"<p>{action}</p>")
            item.setData(0, Qt.ItemDataRole.AccessibleTextRole, f"{name}: {description}")
            flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
            if section == PROJECT_BLOCKS:
                flags |= Qt.ItemFlag.ItemIsDragEnabled
            item.setFlags(flags)
        group.setExpanded(True)
        self.set_filter(self.search.text())

    def block_names(self, section: str = PROJECT_BLOCKS) -> list[str]:
        """The block names listed in ``section`` that the current search leaves visible."""
        group = self.block_groups[section]
        return [group.child(i).data(0, BLOCK_ROLE) for i in range(group.childCount()) if not group.child(i).isHidden()]

    def block_item(self, name: str, section: str = PROJECT_BLOCKS) -> QTreeWidgetItem:
        group = self.block_groups[section]
        for i in range(group.childCount()):
            if group.child(i).data(0, BLOCK_ROLE) == name:
                return group.child(i)
        raise KeyError(name)

    # --- models ------------------------------------------------------------------------------------

    def load_models(self) -> None:
        """Starts reading the Models section's list (torchvision's classifiers) in the background."""
        if self.model_names.names is None and not self.models_group.childCount():
            placeholder = QTreeWidgetItem(self.models_group, ["Loading…"])
            placeholder.setFlags(Qt.ItemFlag.NoItemFlags)
        self.model_names.load()

    def model_source(self, name: str) -> str:
        """The source a model entry stands for (with pretrained weights when ticked)."""
        return source_of(name, self.pretrained.isChecked())

    def visible_models(self) -> list[str]:
        """Returns the model names the current search leaves visible, top to bottom."""
        return [item.data(0, MODEL_ROLE) for item in self._model_items() if not item.isHidden()]

    def model_item(self, name: str) -> QTreeWidgetItem:
        for item in self._model_items():
            if item.data(0, MODEL_ROLE) == name:
                return item
        raise KeyError(name)

    def shutdown(self) -> None:
        """Joins the thread that reads the Models list (the window is closing)."""
        self.model_names.shutdown()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        # A palette closed on its own (not in a window) may be reading the Models list: its thread
        # must end before the widget goes, or Qt aborts the process destroying a running QThread.
        self.shutdown()
        super().closeEvent(event)

    def _model_items(self) -> list[QTreeWidgetItem]:
        group = self.models_group
        return [group.child(i) for i in range(group.childCount()) if group.child(i).data(0, MODEL_ROLE)]

    def _fill_models(self, names: list[str]) -> None:
        group = self.models_group
        while group.childCount():
            group.removeChild(group.child(0))
        if not names:
            failed = QTreeWidgetItem(group, ["torchvision is not available"])
            failed.setToolTip(0, self.model_names.error or "torchvision lists no models")
            failed.setFlags(Qt.ItemFlag.NoItemFlags)
        icon = category_icon(MODELS)
        for name in names:
            item = QTreeWidgetItem(group, [name])
            item.setIcon(0, icon)
            item.setData(0, MODEL_ROLE, name)
            tip = (f"<b>{html.escape(name)}</b> &nbsp;<i>torchvision.models</i><p>Drag onto the canvas to add "
                   "it as one block (built in the background). Importing runs torchvision's code.</p>")
            item.setToolTip(0, tip)
            item.setData(0, Qt.ItemDataRole.AccessibleTextRole, f"{name}: a torchvision model")
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled)
        self.set_filter(self.search.text())
        self.models_ready.emit()

    def _on_item_expanded(self, item: QTreeWidgetItem) -> None:
        if item is self.models_group and item is not None:
            self.load_models()

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
            if group is not self.models_group and group not in self.block_groups.values():
                items.extend(group.child(j) for j in range(group.childCount()))
        return items

    # --- behaviour -------------------------------------------------------------------------------

    def set_filter(self, text: str) -> None:
        """Shows only the layers whose title, type, category or help contain every word of ``text``."""
        words = text.lower().split()
        for i in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(i)
            if group is self.models_group:
                self._filter_models(words)
                continue
            if group in self.block_groups.values():
                shown_blocks = 0
                for j in range(group.childCount()):
                    item = group.child(j)
                    text = f"{item.data(0, BLOCK_ROLE)} {item.statusTip(0)} block".lower()
                    item.setHidden(not all(word in text for word in words))
                    shown_blocks += not item.isHidden()
                group.setHidden(shown_blocks == 0)
                continue
            visible = 0
            for j in range(group.childCount()):
                item = group.child(j)
                spec = self._catalog.get(item.data(0, TYPE_ID_ROLE))
                shown = _matches(spec, words)
                item.setHidden(not shown)
                visible += shown
            group.setHidden(visible == 0)
            group.setExpanded(True)
        matches = self.visible_type_ids()
        if words and matches:
            self.tree.setCurrentItem(self.item_for(matches[0]))

    def _filter_models(self, words: list[str]) -> None:
        group = self.models_group
        if not words:
            for item in self._model_items():
                item.setHidden(False)
            group.setHidden(False)
            return
        if self.model_names.names is None:
            self.load_models()  # the list arrives later and is filtered then
        visible = 0
        for item in self._model_items():
            shown = all(word in item.data(0, MODEL_ROLE).lower() for word in words)
            item.setHidden(not shown)
            visible += shown
        group.setHidden(visible == 0)
        if visible:
            group.setExpanded(True)

    def _on_item_activated(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        type_id = item.data(0, TYPE_ID_ROLE)
        if type_id:
            self.layer_activated.emit(type_id)
        elif item.data(0, BLOCK_ROLE):
            if item.data(0, SECTION_ROLE) == PROJECT_BLOCKS:
                self.block_activated.emit(item.data(0, BLOCK_ROLE))
            else:
                self.library_block_activated.emit(item.data(0, BLOCK_ROLE))
        elif item.data(0, MODEL_ROLE):
            self.model_activated.emit(self.model_source(item.data(0, MODEL_ROLE)))

    def _activate_first_match(self) -> None:
        current = self.tree.currentItem()
        if current is not None and not current.isHidden() and (current.data(0, TYPE_ID_ROLE)
                                                               or current.data(0, BLOCK_ROLE)):
            self._on_item_activated(current)
        elif matches := self.visible_type_ids():
            self.layer_activated.emit(matches[0])
        elif models := self.visible_models():
            self.model_activated.emit(self.model_source(models[0]))

    def _focus_list(self) -> None:
        self.tree.setFocus()
        if self.tree.currentItem() is None and (matches := self.visible_type_ids()):
            self.tree.setCurrentItem(self.item_for(matches[0]))

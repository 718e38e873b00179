"""The window's Edit > Blocks menu and the palette's block sections: Make Block, Ungroup, Make Unique, the block
library, and block files.

Every edit is one command on the document's undo stack (:mod:`nnstudio.core.block_edits`); a refused
one is told in the status bar with its reason, and nothing changes. The palette's **Project blocks**
lists the project's block definitions (drag or double-click to place one again); **Block library**
lists the person's library (:mod:`nnstudio.core.block_library`), shared by every project.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMenu

from nnstudio.core.block_edits import MakeBlock, MakeUnique, Ungroup, add_definitions
from nnstudio.core.block_library import (
    SUFFIX,
    BlockFileError,
    add_to_library,
    fitted_for,
    read_blocks_file,
    read_library,
    with_inner_blocks,
    write_blocks_file,
)
from nnstudio.core.blocks import BLOCK_TYPE, ENTRY_PREFIX, free_definition_name, instances_of
from nnstudio.core.commands import Command, Macro
from nnstudio.core.errors import NnstudioError
from nnstudio.ui.block_editor import BlockEditor
from nnstudio.ui.palette import LIBRARY_BLOCKS, PROJECT_BLOCKS

if TYPE_CHECKING:
    from nnstudio.core.blocks import BlockDefinition
    from nnstudio.ui.main_window import MainWindow

BLOCK_FILTER = f"nnstudio blocks (*{SUFFIX});;All files (*)"


class BlockActions(QObject):
    """Builds the Blocks menu of ``window`` and keeps the palette's block sections current."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.library_path: Path | None = None  # None: the user data directory's library (tests set one)
        a = self._action
        self.action_make = a("actionMakeBlock", "&Make Block…", self.make_block, "Ctrl+G",
                             "Turn the selected layers into one block (its ports follow the wires)")
        self.action_edit = a("actionEditBlock", "&Edit Block…", self.edit_block, None,
                             "Edit the selected block's layers: every placement of the block follows")
        self.action_ungroup = a("actionUngroup", "&Ungroup", self.ungroup, "Ctrl+Shift+G",
                                "Put the layers of the selected block back in its place")
        self.action_unique = a("actionMakeUnique", "Make &Unique", self.make_unique, None,
                               "Give the selected block a definition of its own: later edits no longer "
                               "change the other placements")
        self.action_library = a("actionSaveBlockToLibrary", "Save Block to &Library", self.save_to_library, None,
                                "Keep the selected block in your block library, for every project")
        self.action_export = a("actionExportBlock", "&Export Block…", self.export_block, None,
                               "Write the selected block (and the blocks inside it) to a block file")
        self.action_import = a("actionImportBlocks", "&Import Blocks…", self.import_blocks, None,
                               "Add the blocks of a block file to this project")
        self.menu = QMenu("&Blocks", window)
        self.menu.setObjectName("menuBlocks")
        self.menu.addActions([self.action_make, self.action_edit, self.action_ungroup, self.action_unique])
        self.menu.addSeparator()
        self.menu.addActions([self.action_library, self.action_export, self.action_import])
        # A submenu of Edit (the menu bar's width sets the window's narrowest size).
        edit = next(a.menu() for a in window.menuBar().actions() if a.menu() is not None and a.text() == "&Edit")
        edit.addSeparator()
        edit.addMenu(self.menu)

        palette = window.palette_panel
        palette.block_activated.connect(self.place_block)
        palette.library_block_activated.connect(self.place_library_block)
        window.document.replaced.connect(self.refresh)
        window.document.history_changed.connect(self.refresh)
        window.canvas.selection_changed.connect(self._update_actions)
        self.refresh()
        self.refresh_library()

    def _action(self, name: str, text: str, slot: object, shortcut: str | None, tip: str) -> QAction:
        action = QAction(text, self.window)
        action.setObjectName(name)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        action.setToolTip(f"{tip} ({keys})" if keys else tip)
        action.setStatusTip(tip)
        action.triggered.connect(lambda _checked=False: slot())  # type: ignore[operator]
        self.window.addAction(action)
        return action

    # --- state -------------------------------------------------------------------------------------

    @property
    def graph(self):  # noqa: ANN201 - the document's graph
        return self.window.document.graph

    def refresh(self) -> None:
        """Lists the project's blocks in the palette and updates which actions apply."""
        graph = self.graph
        entries = []
        for name, definition in sorted(graph.blocks.items()):
            count = len(instances_of(graph, name))
            entries.append((name, f"{len(definition.layers())} layers, {len(definition.inputs)} input"
                                  f"{'s' * (len(definition.inputs) != 1)}; placed {count}×"))
        self.window.palette_panel.set_blocks(PROJECT_BLOCKS, entries)
        self._update_actions(self.window.canvas.selected_node_ids())

    def refresh_library(self) -> None:
        try:
            library = read_library(self.library_path)
        except BlockFileError as exc:
            self._tell(f"The block library cannot be read: {exc}")
            library = {}
        self.window.palette_panel.set_blocks(LIBRARY_BLOCKS, [
            (name, f"{len(d.layers())} layers, {len(d.inputs)} input{'s' * (len(d.inputs) != 1)}")
            for name, d in sorted(library.items())])

    def _selected_block(self) -> str | None:
        ids = self.window.canvas.selected_node_ids()
        blocks = [n for n in ids if n in self.graph and self.graph.node(n).type_id == BLOCK_TYPE]
        return blocks[0] if len(ids) == 1 and blocks else None

    def _update_actions(self, node_ids: list[str]) -> None:
        editable = not self.window.canvas.edits.read_only
        block = self._selected_block()
        self.action_make.setEnabled(editable and bool(node_ids))
        for action in (self.action_edit, self.action_ungroup, self.action_unique):
            action.setEnabled(editable and block is not None)
        for action in (self.action_library, self.action_export):
            action.setEnabled(block is not None)
        self.action_import.setEnabled(editable)

    def _tell(self, text: str) -> None:
        self.window.status_bar.showMessage(text, 8000)

    def _push(self, command: Command) -> bool:
        try:
            self.window.document.push(command)
        except NnstudioError as exc:
            self._tell(str(exc))
            return False
        return True

    def _editable(self) -> bool:
        return self.window.canvas.edits.editable()

    # --- questions (tests replace these) -----------------------------------------------------------

    def ask_block_name(self, suggestion: str) -> str | None:
        """The name the person gives a new block (None: cancelled)."""
        text, ok = QInputDialog.getText(self.window, "Make Block", "Block name (its class in model.py):",
                                        text=suggestion)
        return text.strip() if ok and text.strip() else None

    def ask_export_path(self, suggestion: str) -> str:
        path, _ = QFileDialog.getSaveFileName(self.window, "Export block", suggestion, BLOCK_FILTER)
        return path

    def ask_import_path(self) -> str:
        path, _ = QFileDialog.getOpenFileName(self.window, "Import blocks", "", BLOCK_FILTER)
        return path

    # --- actions -----------------------------------------------------------------------------------

    def make_block(self, name: str | None = None) -> str | None:
        """Make Block (Ctrl+G) of the selected layers; returns the new block layer's id (None: refused)."""
        ids = self.window.canvas.selected_node_ids()
        if not ids:
            self._tell("Select the layers that should become a block")
            return None
        if not self._editable():
            return None
        name = name or self.ask_block_name(free_definition_name(self.graph.blocks, "Block"))
        if not name:
            return None
        try:
            command = MakeBlock(self.graph, ids, name)
        except NnstudioError as exc:
            self._tell(f"Cannot make a block: {exc}")
            return None
        if not self._push(command):
            return None
        self.window.canvas.select_nodes([command.block_id])
        self._tell(f"Made block {name} of {len(ids)} layers as {command.block_id}; Ctrl+Shift+G ungroups it")
        return command.block_id

    def edit_block(self, modal: bool = True) -> BlockEditor | None:
        """Opens the block editor on the selected block (``modal=False``: shown, not waited for; tests)."""
        block = self._selected_block()
        if block is None:
            self._tell("Select one block to edit")
            return None
        if not self._editable():
            return None
        name = self.graph.node(block).params["block"]
        if name not in self.graph.blocks:
            self._tell(f"{block} places block {name!r}, which the project does not define")
            return None
        document = self.window.document
        if document.analysis_is_current:
            analysis = document.analysis
        else:  # the shapes the placement feeds the block, now (the editor shows them)
            from nnstudio.compile import analyze

            analysis = analyze(self.graph.copy())
        editor = BlockEditor(self.graph, name, block, analysis, document.push, self.window)
        if modal:
            editor.exec()
            editor.deleteLater()
        else:
            editor.show()
        return editor

    def ungroup(self) -> bool:
        block = self._selected_block()
        if block is None:
            self._tell("Select one block to ungroup")
            return False
        if not self._editable():
            return False
        try:
            command = Ungroup(self.graph, block)
        except NnstudioError as exc:
            self._tell(f"Cannot ungroup: {exc}")
            return False
        if self._push(command):
            self.window.canvas.select_nodes([n.id for n, _ in command.new_nodes])
            return True
        return False

    def make_unique(self) -> bool:
        block = self._selected_block()
        if block is None or not self._editable():
            return False
        try:
            command = MakeUnique(self.graph, block)
        except NnstudioError as exc:
            self._tell(f"Cannot make the block unique: {exc}")
            return False
        if self._push(command):
            self._tell(f"{block} now has a block of its own: {command.new}")
            return True
        return False

    def place_block(self, name: str) -> str | None:
        """Places project block ``name`` at the centre of the view; returns the layer's id."""
        return self.window.add_layer_at_centre(ENTRY_PREFIX + name)

    def place_library_block(self, name: str) -> str | None:
        """Adds library block ``name`` (with the blocks inside it) to the project and places it."""
        try:
            library = read_library(self.library_path)
        except BlockFileError as exc:
            self._tell(str(exc))
            return None
        if name not in library:
            self._tell(f"The block library has no block {name!r} any more")
            self.refresh_library()
            return None
        renames = self.add_blocks(with_inner_blocks(library, [name]), f"Add block {name} from the library")
        return None if renames is None else self.place_block(renames[name])

    def add_blocks(self, blocks: dict[str, BlockDefinition], text: str) -> dict[str, str] | None:
        """Adds ``blocks`` to the project as one undo step (renamed where a name is taken); their new names."""
        if not self._editable():
            return None
        added, renames = fitted_for(self.graph.blocks, blocks)
        if added:
            try:
                command = Macro(text, add_definitions(self.graph, added))
            except NnstudioError as exc:
                self._tell(f"Cannot add the blocks: {exc}")
                return None
            if not self._push(command):
                return None
        return renames

    def save_to_library(self) -> bool:
        block = self._selected_block()
        if block is None:
            return False
        name = self.graph.node(block).params["block"]
        try:
            path = add_to_library(with_inner_blocks(self.graph.blocks, [name]), self.library_path)
        except (BlockFileError, OSError) as exc:
            self._tell(f"Cannot save to the block library: {exc}")
            return False
        self.refresh_library()
        self._tell(f"Saved block {name} to your block library ({path})")
        return True

    def export_block(self, path: str | None = None) -> bool:
        block = self._selected_block()
        if block is None:
            return False
        name = self.graph.node(block).params["block"]
        path = path or self.ask_export_path(f"{name}{SUFFIX}")
        if not path:
            return False
        try:
            write_blocks_file(path, with_inner_blocks(self.graph.blocks, [name]))
        except BlockFileError as exc:
            self._tell(f"Cannot export the block: {exc}")
            return False
        self._tell(f"Exported block {name} to {path}")
        return True

    def import_blocks(self, path: str | None = None) -> list[str] | None:
        """Adds the blocks of a block file to the project (one undo step); their names in the project."""
        path = path or self.ask_import_path()
        if not path:
            return None
        try:
            blocks = read_blocks_file(path)
        except BlockFileError as exc:
            self._tell(f"Cannot import blocks: {exc}")
            return None
        renames = self.add_blocks(blocks, f"Import blocks from {Path(path).name}")
        if renames is None:
            return None
        self._tell(f"Imported {len(blocks)} block{'s' * (len(blocks) != 1)}: {', '.join(renames.values())}; "
                   "find them under Project blocks")
        return list(renames.values())

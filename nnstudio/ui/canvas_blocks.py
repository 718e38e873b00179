"""Finding one's way through nested blocks on the canvas: open, close, step in and out, go to a layer.

:class:`BlockNavigation` (``view.blocks``) changes what the canvas shows — never the network: which
blocks are open in place (expanded) and which block the canvas shows the inside of (the *scope*, with
breadcrumbs back out). It also reveals a layer (opening the blocks around it) for search and for the
Problems list, offers the block's context menu, and edits a block's name in place (one undoable
:class:`~nnstudio.core.block_commands.RenameBlock`).

The state is view state: it is not saved with the project, and an opened file shows its top level
with every block closed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QPointF, QRect, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QLabel, QLineEdit, QMenu, QWidget

from nnstudio.core.block_commands import RenameBlock, block_rename_refusal
from nnstudio.core.errors import NnstudioError
from nnstudio.ui.canvas_block_items import BlockItem, FrameItem
from nnstudio.ui.canvas_outline import ancestors, is_inside
from nnstudio.ui.theme import ERROR_COLOR

if TYPE_CHECKING:
    from nnstudio.ui.canvas import CanvasView


class BlockNavigation(QObject):
    """Opens, closes, steps into and out of the blocks of the graph shown in ``view``."""

    #: The block the canvas shows the inside of changed ("" for the whole network).
    scope_changed = Signal(str)

    def __init__(self, view: CanvasView) -> None:
        super().__init__(view)
        self._view = view
        self._editor: BlockNameEditor | None = None

    @property
    def _scene(self):  # noqa: ANN202 - the view's CanvasScene
        return self._view.canvas_scene

    # --- reading -----------------------------------------------------------------------------------

    @property
    def scope(self) -> str:
        return self._scene.view_state.scope

    @property
    def expanded(self) -> set[str]:
        return set(self._scene.view_state.expanded)

    def is_block(self, path: str) -> bool:
        return self._scene.hierarchy.is_block(path)

    def breadcrumbs(self) -> list[str]:
        """The blocks from the top level to the scope: ``["", "layer2", "layer2.0"]``."""
        scope = self.scope
        return ["", *ancestors(scope), scope] if scope else [""]

    # --- opening and closing -------------------------------------------------------------------------

    def expand(self, path: str) -> None:
        """Opens block ``path`` in place: its units replace its card, the drawing makes room."""
        self._set_expanded(self.expanded | {path} if self.is_block(path) else self.expanded, keep=path)

    def collapse(self, path: str) -> None:
        """Closes block ``path`` (and every block inside it) back into one card."""
        inside = {p for p in self.expanded if p == path or p.startswith(path + ".")}
        self._set_expanded(self.expanded - inside, keep=path)

    def toggle(self, path: str) -> None:
        (self.collapse if path in self.expanded else self.expand)(path)

    def expand_all(self, path: str = "") -> None:
        """Opens ``path`` and every block inside it (every block of the scope when ``path`` is "")."""
        root = path or self.scope
        blocks = {b for b in self._scene.hierarchy.blocks() if b == root or is_inside(b, root)}
        self._set_expanded(self.expanded | blocks, keep=path or None)

    def collapse_all(self, path: str = "") -> None:
        """Closes ``path`` and every block inside it (every block when ``path`` is "")."""
        if path:
            self.collapse(path)
        else:
            self._set_expanded(set())

    def _set_expanded(self, expanded: set[str], keep: str | None = None) -> None:
        """Shows ``expanded`` open, keeping the unit ``keep`` (or the view's centre) where it was on screen."""
        view = self._view
        anchor = self._screen_anchor(keep)
        selected = view.selected_node_ids()
        self._scene.set_view_state(expanded=expanded)
        view.select_nodes(selected)
        self._restore_anchor(anchor)

    # --- stepping in and out ---------------------------------------------------------------------------

    def step_into(self, path: str) -> None:
        """Shows only the inside of block ``path`` (with pins for what enters and leaves it)."""
        if not self.is_block(path) or path == self.scope:
            return
        self._scene.set_view_state(scope=path, expanded=self.expanded - {path})
        self._view.frame_document()
        self.scope_changed.emit(path)

    def step_out(self) -> None:
        """Shows the block around the scope (the whole network from a top-level block)."""
        if self.scope:
            self.go_to_scope(self.scope.rpartition(".")[0], came_from=self.scope)

    def go_to_scope(self, path: str, came_from: str | None = None) -> None:
        """Shows the inside of ``path`` ("" for the whole network), e.g. from a breadcrumb."""
        if path and not self.is_block(path):
            return
        left = came_from or self.scope
        self._scene.set_view_state(scope=path)
        view = self._view
        item = self._scene.item_for(_unit_in(left, path)) if left else None
        if item is not None and left and is_inside(left, path) and left != path:
            view.select_nodes([])
            item.setSelected(True)
            view.centerOn(item.sceneBoundingRect().center())
        else:
            view.frame_document()
        self.scope_changed.emit(path)

    # --- going to a layer ------------------------------------------------------------------------------

    def reveal(self, node_id: str) -> bool:
        """Makes layer ``node_id`` visible: steps out as far as needed and opens the blocks around it."""
        graph = self._view.edits.graph
        if graph is None or node_id not in graph:
            return False
        scope = self.scope
        if not is_inside(node_id, scope):
            while scope and not is_inside(node_id, scope):
                scope = scope.rpartition(".")[0]
        opened = {p for p in ancestors(node_id) if is_inside(p, scope) and p != scope}
        changed_scope = scope != self.scope
        if changed_scope or not opened <= self.expanded:
            self._scene.set_view_state(scope=scope, expanded=self.expanded | opened)
            if changed_scope:
                self.scope_changed.emit(scope)
        return node_id in self._scene.node_items

    def reveal_block(self, path: str) -> bool:
        """Makes block ``path`` show as a closed card: steps out of it (or out to a block around it),
        opens the blocks around it and closes it. False when there is no such block."""
        if not self.is_block(path):
            return False
        scope = self.scope
        if scope == path or is_inside(scope, path):
            scope = path.rpartition(".")[0]
        while scope and not is_inside(path, scope):
            scope = scope.rpartition(".")[0]
        inside = {p for p in self.expanded if p == path or is_inside(p, path)}
        opened = {p for p in ancestors(path) if is_inside(p, scope) and p != scope}
        changed_scope = scope != self.scope
        self._scene.set_view_state(scope=scope, expanded=(self.expanded - inside) | opened)
        if changed_scope:
            self.scope_changed.emit(scope)
        return True

    # --- gestures --------------------------------------------------------------------------------------

    def chevron_hit(self, item: object, scene_pos: QPointF) -> str | None:
        """The block whose open/close triangle is at ``scene_pos`` on ``item``, or None."""
        from nnstudio.ui.canvas_block_items import CHEVRON_BOX, FRAME_CHEVRON_BOX

        if isinstance(item, BlockItem):
            box = CHEVRON_BOX.adjusted(-3, -3, 3, 3)
        elif isinstance(item, FrameItem):
            box = FRAME_CHEVRON_BOX.adjusted(-3, -3, 3, 3)
        else:
            return None
        return item.key if box.contains(item.mapFromScene(scene_pos)) else None

    def double_clicked(self, item: object, scene_pos: QPointF, step_in: bool) -> bool:
        """Opens (or, with ``step_in``, steps into) a block card; closes a frame from its title bar."""
        if isinstance(item, BlockItem):
            (self.step_into if step_in else self.expand)(item.key)
            return True
        if isinstance(item, FrameItem):
            if item.title_rect().contains(item.mapFromScene(scene_pos)):
                (self.step_into if step_in else self.collapse)(item.key)
            return True
        return False

    def menu_for(self, path: str) -> QMenu:
        """The context menu of block ``path``: open/close, open everything inside, step in, rename."""
        menu = QMenu(self._view)
        menu.setObjectName("blockMenu")
        expanded = path in self.expanded
        menu.addAction("Close" if expanded else "Open", lambda: self.toggle(path))
        menu.addAction("Open Everything Inside", lambda: self.expand_all(path))
        if expanded:
            menu.addAction("Close Everything Inside", lambda: self.collapse_all(path))
        menu.addAction("Step Inside", lambda: self.step_into(path))
        if self.scope:
            menu.addAction("Step Out", self.step_out)
        menu.addSeparator()
        rename = menu.addAction("Rename Block…", lambda: self.edit_name(path))
        rename.setEnabled(not self._view.edits.read_only)
        menu.addAction("Select Its Layers", lambda: self._view.select_nodes(self._scene.hierarchy.members[path]))
        return menu

    # --- renaming ---------------------------------------------------------------------------------------

    def edit_name(self, path: str) -> BlockNameEditor | None:
        """Puts a name field over block ``path``'s title (F2): Enter renames it, Escape cancels."""
        view = self._view
        item = self._scene.item_for(path)
        if item is None or not view.edits.editable():
            return None
        self.close_editor()
        top_left = view.mapFromScene(item.mapToScene(QPointF(0, 0)))
        width = max(160, int(item.boundingRect().width() * view.zoom()))
        self._editor = BlockNameEditor(self, path, view.viewport())
        self._editor.setGeometry(QRect(top_left.x(), top_left.y() - 2, width, 26))
        self._editor.show()
        self._editor.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self._editor.selectAll()
        return self._editor

    def rename(self, path: str, new: str) -> str | None:
        """Renames block ``path`` to ``new`` as one undoable step; the refusal (one sentence) or None."""
        edits = self._view.edits
        graph = edits.graph
        if graph is None or not edits.editable():
            return "the network cannot be edited now"
        refusal = block_rename_refusal(graph, path, new)
        if refusal:
            return refusal
        try:
            assert edits.undo_stack is not None
            edits.undo_stack.push(RenameBlock(graph, path, new))
        except NnstudioError as exc:
            return str(exc)
        item = self._scene.item_for(new)
        if item is not None:
            self._view.select_nodes([])
            item.setSelected(True)
        if self.scope != self._scene.view_state.scope:
            self.scope_changed.emit(self._scene.view_state.scope)
        return None

    def close_editor(self) -> None:
        editor, self._editor = self._editor, None
        if editor is not None:
            editor.discard()

    # --- keeping the view still --------------------------------------------------------------------------

    def _screen_anchor(self, key: str | None) -> tuple[str | None, QPointF]:
        view = self._view
        item = self._scene.item_for(key) if key else None
        if item is None:
            return None, view.mapToScene(view.viewport().rect().center())
        return key, QPointF(view.mapFromScene(item.scenePos()))

    def _restore_anchor(self, anchor: tuple[str | None, QPointF]) -> None:
        view = self._view
        key, where = anchor
        item = self._scene.item_for(key) if key else None
        if item is None:
            view.centerOn(where)
            return
        # Scroll so the opened or closed block's corner stays under the same screen point.
        now = QPointF(view.mapFromScene(item.scenePos()))
        shift = now - where
        view.horizontalScrollBar().setValue(view.horizontalScrollBar().value() + round(shift.x()))
        view.verticalScrollBar().setValue(view.verticalScrollBar().value() + round(shift.y()))


def _unit_in(unit: str, container: str) -> str:
    """The unit of ``container`` holding ``unit`` (``layer2.0`` in ``layer2`` for ``layer2.0.conv1``)."""
    depth = container.count(".") + 1 if container else 0
    return ".".join(unit.split(".")[:depth + 1])


class BlockNameEditor(QLineEdit):
    """A block's name being edited on the canvas; the reason a name is refused shows under it."""

    def __init__(self, navigation: BlockNavigation, path: str, parent: QWidget) -> None:
        super().__init__(path, parent)
        self.navigation = navigation
        self.path = path
        self._done = False
        self.setObjectName("blockNameEditor")
        self.setAccessibleName("Block name")
        self.setToolTip("The block's name: the start of the state-dict keys of every layer inside it")
        self.error = QLabel(parent)
        self.error.setObjectName("blockNameError")
        self.error.setStyleSheet(f"color: white; background: {ERROR_COLOR}; padding: 2px 6px; border-radius: 3px;")
        self.error.hide()
        self.textEdited.connect(self._check)
        self.returnPressed.connect(self.commit)

    def commit(self) -> bool:
        """Renames the block to the typed name; False (the reason shown) when refused."""
        text = self.text().strip()
        if text == self.path:
            self.discard()
            return False
        refusal = self.navigation.rename(self.path, text)
        if refusal:
            self._show_error(refusal)
            return False
        self.discard()
        return True

    def discard(self) -> None:
        """Closes the editor without renaming."""
        if self._done:
            return
        self._done = True
        self.error.hide()
        self.hide()
        self.error.deleteLater()
        self.deleteLater()
        if self.navigation._editor is self:
            self.navigation._editor = None
        self.navigation._view.setFocus(Qt.FocusReason.OtherFocusReason)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        if event.key() == Qt.Key.Key_Escape:
            self.discard()
            event.accept()
            return
        super().keyPressEvent(event)

    def focusOutEvent(self, event: object) -> None:  # noqa: N802 - Qt override
        super().focusOutEvent(event)  # type: ignore[arg-type]
        if not self._done and not self.error.isVisible():
            self.discard()

    def _check(self, text: str) -> None:
        graph = self.navigation._view.edits.graph
        text = text.strip()
        if graph is None or text == self.path:
            self._show_error("")
            return
        self._show_error(block_rename_refusal(graph, self.path, text) or "")

    def _show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.setVisible(bool(message))
        if message:
            self.error.adjustSize()
            self.error.setMaximumWidth(max(self.width(), 360))
            self.error.move(self.x(), self.y() + self.height() + 2)
            self.error.raise_()
        self.setStyleSheet(f"border: 2px solid {ERROR_COLOR};" if message else "")

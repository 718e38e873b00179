"""The canvas's edit operations: each turns a request into one core command on the undo stack.

:class:`CanvasEdits` is what the window's Edit and View actions call (add, delete, cut, copy, paste,
duplicate, nudge, connect, auto-layout), and what the canvas interactions finish with. It never
changes the graph itself: it builds a command, pushes it, and the scene redraws from the graph's
events. A refused edit (read-only while training, a wire that does not fit) is told through the
view's ``status_message``, never raised.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QGraphicsItem

from nnstudio.core.commands import (
    AddNode,
    Command,
    Connect,
    Disconnect,
    Macro,
    MoveNodes,
    RemoveNodes,
    UndoStack,
    paste_fragment,
)
from nnstudio.core.errors import NnstudioError
from nnstudio.core.graph import Graph
from nnstudio.core.layout import layered_layout
from nnstudio.ui.canvas_clipboard import Fragment, FragmentError
from nnstudio.ui.canvas_style import NODE_HEIGHT, NODE_WIDTH, snap

if TYPE_CHECKING:
    from nnstudio.ui.canvas import CanvasView

#: Where copies land relative to their originals (paste, duplicate); repeated pastes step further.
PASTE_OFFSET = 30.0
READ_ONLY_MESSAGE = "Training is running: the network cannot be edited until it stops"


class CanvasEdits:
    """Undoable edits of the graph shown in ``view``."""

    def __init__(self, view: CanvasView) -> None:
        self._view = view
        self.graph: Graph | None = None
        self.undo_stack: UndoStack | None = None
        self.read_only = False
        self._paste_count = 0
        self._last_fragment_json: str | None = None

    def bind(self, graph: Graph, undo_stack: UndoStack) -> None:
        """Edits go to ``graph`` through ``undo_stack`` from now on."""
        self.graph, self.undo_stack = graph, undo_stack
        self._paste_count = 0

    def set_read_only(self, read_only: bool) -> None:
        """Refuses (True) or allows every edit; cards can be dragged only while editable."""
        self.read_only = read_only
        for item in self._view.canvas_scene.node_items.values():
            item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsMovable, not read_only)

    # --- layers ------------------------------------------------------------------------------------

    def add_layer(self, type_id: str, scene_pos: QPointF | None = None) -> str:
        """Adds a layer of ``type_id`` centred at ``scene_pos`` (the view centre when None); its id.

        Returns an empty string when the edit is refused (read-only, unknown type); the reason goes
        to the view's ``status_message``.
        """
        if self.graph is None or not self.editable():
            return ""
        view = self._view
        if scene_pos is None:
            scene_pos = view.mapToScene(view.viewport().rect().center())
        corner = (snap(scene_pos.x() - NODE_WIDTH / 2), snap(scene_pos.y() - NODE_HEIGHT / 2))
        try:
            command = AddNode(self.graph, type_id, corner)
        except NnstudioError as exc:
            self._tell(f"Cannot add layer: {exc}")
            return ""
        if self.push(command):
            view.select_nodes([command.node_id])
            return command.node_id
        return ""

    def delete_selection(self) -> None:
        """Removes the selected layers (with their wires) and selected wires, as one undo step."""
        if self.graph is None or not self.editable():
            return
        node_ids = self._view.selected_node_ids()
        children: list[Command] = []
        if node_ids:
            children.append(RemoveNodes(self.graph, node_ids))
        doomed = set(node_ids)
        for item in self._view.selected_edges():
            if item.edge.source not in doomed and item.edge.target not in doomed:
                children.append(Disconnect(self.graph, item.edge))
        if not children:
            return
        self.push(children[0] if len(children) == 1 else Macro(_delete_text(node_ids, children), children))

    def nudge_selection(self, dx: float, dy: float) -> None:
        """Moves the selected layers by (dx, dy) scene pixels as one undo step."""
        if self.graph is None or not self.editable():
            return
        moved = {}
        for node_id in self._view.selected_node_ids():
            x, y = self.graph.node(node_id).position
            moved[node_id] = (x + dx, y + dy)
        if moved:
            self.push(MoveNodes(self.graph, moved))

    def move_cards(self, moved: dict[str, tuple[float, float]]) -> bool:
        """Records cards dragged to new positions as one undo step; False (cards put back) if refused."""
        assert self.graph is not None
        old_positions = {k: self.graph.node(k).position for k in moved}
        if self.read_only or not self.push(MoveNodes(self.graph, moved, old_positions)):
            for node_id, position in old_positions.items():
                self._view.canvas_scene.node_items[node_id].follow_model_position(position)
            return False
        return True

    def connect_ports(self, source: str, target: str, port: str = "in") -> bool:
        """Wires ``source``'s output into ``target.port``; False (and the reason told) if refused."""
        if self.graph is None or not self.editable():
            return False
        problem = self.graph.connection_problem(source, target, port)
        if problem:
            self._tell(f"Cannot connect: {problem}")
            return False
        return self.push(Connect(self.graph, source, target, port))

    def auto_layout(self) -> None:
        """Arranges the layers top to bottom (one undo step), then fits them in view."""
        graph = self.graph
        if graph is None or not self.editable() or not len(graph):
            return
        try:
            positions = layered_layout(graph)
        except NnstudioError as exc:
            self._tell(f"Cannot lay out: {exc}")
            return
        # Keep the network roughly where it was instead of jumping to the origin.
        dx = snap(min(n.position[0] for n in graph.nodes()))
        dy = snap(min(n.position[1] for n in graph.nodes()))
        moved = {k: (x + dx, y + dy) for k, (x, y) in positions.items()
                 if graph.node(k).position != (x + dx, y + dy)}
        if not moved:
            self._tell("The layers are already laid out")
            return
        command = MoveNodes(graph, moved)
        command.text = "Auto-layout"
        if self.push(command):
            self._view.fit_to_view()

    # --- clipboard ---------------------------------------------------------------------------------

    def copy_selection(self) -> None:
        """Puts the selected layers and the wires among them on the clipboard."""
        if self.graph is None:
            return
        node_ids = self._view.selected_node_ids()
        if not node_ids:
            self._tell("Nothing to copy: select one or more layers first")
            return
        QGuiApplication.clipboard().setMimeData(Fragment.of(self.graph, node_ids).to_mime())
        self._paste_count = 0
        self._tell(f"Copied {_layers(len(node_ids))}")

    def cut_selection(self) -> None:
        if self.editable() and self._view.selected_node_ids():
            self.copy_selection()
            self.delete_selection()

    def paste(self) -> None:
        """Adds copies of the layers on the clipboard, offset from the originals, and selects them."""
        if self.graph is None or not self.editable():
            return
        try:
            fragment = Fragment.from_mime(QGuiApplication.clipboard().mimeData())
        except FragmentError as exc:
            self._tell(str(exc))
            return
        text = fragment.to_json()
        self._paste_count = self._paste_count + 1 if text == self._last_fragment_json else 1
        self._last_fragment_json = text
        self._paste(fragment, PASTE_OFFSET * self._paste_count)

    def duplicate_selection(self) -> None:
        """Adds copies of the selected layers next to them (the clipboard is left alone)."""
        if self.graph is None or not self.editable():
            return
        node_ids = self._view.selected_node_ids()
        if node_ids:
            self._paste(Fragment.of(self.graph, node_ids), PASTE_OFFSET, "Duplicate")

    def _paste(self, fragment: Fragment, offset: float, verb: str = "Paste") -> None:
        assert self.graph is not None
        try:
            macro, renamed = paste_fragment(self.graph, fragment.node_records(), fragment.edge_records(),
                                            (offset, offset), verb=verb)
        except NnstudioError as exc:
            self._tell(f"Cannot paste: {exc}")
            return
        if self.push(macro):
            self._view.select_nodes(renamed.values())
            self._tell(f"Pasted {_layers(len(renamed))}")

    # --- pushing -----------------------------------------------------------------------------------

    def editable(self) -> bool:
        """Returns True when edits are allowed now; says why not otherwise."""
        if self.read_only:
            self._tell(READ_ONLY_MESSAGE)
            return False
        return True

    def push(self, command: Command) -> bool:
        """Runs ``command`` on the undo stack; a refused edit is told, not raised. True when done."""
        assert self.undo_stack is not None
        try:
            self.undo_stack.push(command)
        except NnstudioError as exc:
            self._tell(str(exc))
            return False
        return True

    def _tell(self, text: str) -> None:
        self._view.status_message.emit(text)


def _layers(count: int) -> str:
    return "1 layer" if count == 1 else f"{count} layers"


def _delete_text(node_ids: list[str], children: list[Command]) -> str:
    wires = len(children) - (1 if node_ids else 0)
    parts = [_layers(len(node_ids))] if node_ids else []
    if wires:
        parts.append("1 wire" if wires == 1 else f"{wires} wires")
    return "Delete " + " and ".join(parts)

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

from nnstudio.core.block_commands import AddBlock, free_block_name
from nnstudio.core.block_layout import BLOCK_TITLE, nested_layout
from nnstudio.core.blocks import placement_entry
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
from nnstudio.core.names import name_problem
from nnstudio.ui.canvas_block_items import PendingItem
from nnstudio.ui.canvas_clipboard import Fragment, FragmentError
from nnstudio.ui.canvas_outline import Hierarchy
from nnstudio.ui.canvas_style import NODE_HEIGHT, NODE_WIDTH, snap
from nnstudio.ui.model_build import ModelBuild

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
        #: Builds models dropped from the palette (created on the first drop).
        self.model_build: ModelBuild | None = None
        self._pending: PendingItem | None = None

    def bind(self, graph: Graph, undo_stack: UndoStack) -> None:
        """Edits go to ``graph`` through ``undo_stack`` from now on."""
        self.graph, self.undo_stack = graph, undo_stack
        self._paste_count = 0

    def set_read_only(self, read_only: bool) -> None:
        """Refuses (True) or allows every edit; cards can be dragged only while editable."""
        self.read_only = read_only
        self._view.canvas_scene.set_movable(not read_only)

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
        # A card dropped inside an open block joins it (its name gets the block's path in front).
        container = view.placement_at(scene_pos)
        corner = view.canvas_scene.display.to_model(container, snap(scene_pos.x() - NODE_WIDTH / 2),
                                                    snap(scene_pos.y() - NODE_HEIGHT / 2))
        try:
            type_id, params, prefix = placement_entry(type_id)  # "block:NAME" places a project block
            spec = self.graph.catalog.get(type_id)
            prefix = prefix or spec.prefix
            node_id = _free_id_in(self.graph, container, prefix) if container else self.graph.new_node_id(prefix)
            command = AddNode(self.graph, type_id, corner, params, node_id=node_id)
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
            for edge in item.edges:
                if edge.source not in doomed and edge.target not in doomed:
                    children.append(Disconnect(self.graph, edge))
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
        return self.move_units(moved)

    def move_units(self, moved: dict[str, tuple[float, float]]) -> bool:
        """Records cards, blocks and frames dragged to new canvas positions (top-left corners) as one
        undo step: a block moves every layer inside it. False (items put back) if refused."""
        graph = self.graph
        assert graph is not None
        scene = self._view.canvas_scene
        display, members = scene.display, scene.hierarchy.members
        positions: dict[str, tuple[float, float]] = {}
        for key, (x, y) in moved.items():
            shown_x, shown_y = display.shown_corner(key)
            unit = display.units[key]
            near = (shown_x + x - unit.x, shown_y + y - unit.y)
            model_x, model_y = display.to_model(unit.container, x, y, near)
            dx, dy = model_x - shown_x, model_y - shown_y
            for node_id in members.get(key, [key]):
                px, py = graph.node(node_id).position
                positions[node_id] = (px + dx, py + dy)
        old_positions = {k: graph.node(k).position for k in positions}
        try:
            command = MoveNodes(graph, positions, old_positions)
        except NnstudioError as exc:
            self._tell(str(exc))
            command = None
        if len(moved) == 1 and next(iter(moved)) in members and command is not None:
            command.text = f"Move {next(iter(moved))}"
        if command is None or self.read_only or not self.push(command):
            scene.resync()  # back where the graph says
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

    def connect_many(self, source: str, targets: list[tuple[str, str]]) -> bool:
        """Wires ``source``'s output into every (layer, port) of ``targets`` as one undo step."""
        if len(targets) == 1:
            return self.connect_ports(source, *targets[0])
        if self.graph is None or not targets or not self.editable():
            return False
        try:
            children: list[Command] = [Connect(self.graph, source, node_id, port) for node_id, port in targets]
        except NnstudioError as exc:
            self._tell(f"Cannot connect: {exc}")
            return False
        return self.push(Macro(f"Connect {source} to {len(targets)} layers", children))

    def auto_layout(self) -> None:
        """Arranges the layers top to bottom (one undo step), then fits them in view."""
        graph = self.graph
        if graph is None or not self.editable() or not len(graph):
            return
        try:
            nested = any("." in node_id for node_id in graph.node_ids())
            positions = nested_layout(graph) if nested else layered_layout(graph)
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

    # --- models ------------------------------------------------------------------------------------

    def insert_model(self, source: str, scene_pos: QPointF | None = None) -> bool:
        """Builds model ``source`` in the background (progress on the canvas, Escape cancels), then adds
        it at ``scene_pos`` as one closed block, one undo step. False when refused at once."""
        if self.graph is None or not self.editable():
            return False
        view = self._view
        if scene_pos is None:
            scene_pos = view.mapToScene(view.viewport().rect().center())
        if self.model_build is None:
            self.model_build = ModelBuild(view, "nnstudio-canvas-models")
            self.model_build.progressed.connect(self._on_model_progress)
            self.model_build.finished.connect(self._on_model_built)
            self.model_build.failed.connect(self._on_model_failed)
            self.model_build.cancelled.connect(self._on_model_cancelled)
        self._drop_pending()
        name = source.partition(":")[2].partition("(")[0].rsplit(".", 1)[-1] or "model"
        self._pending = PendingItem(name, lambda: view.canvas_scene.colours)
        self._pending.setPos(scene_pos - QPointF(NODE_WIDTH / 2, NODE_HEIGHT / 2))
        self._pending_at = (view.placement_at(scene_pos), scene_pos)
        view.canvas_scene.addItem(self._pending)
        self._tell(f"Building {name} in the background… (Escape cancels)")
        self.model_build.start(source)
        return True

    def cancel_model(self) -> bool:
        """Stops building a dropped model; True when one was being built."""
        if self.model_build is None or not self.model_build.busy:
            return False
        self.model_build.cancel()
        return True

    def shutdown(self) -> None:
        if self.model_build is not None:
            self.model_build.shutdown()
        self._drop_pending()

    def _on_model_progress(self, fraction: float, message: str) -> None:
        if self._pending is not None:
            self._pending.set_progress(fraction, message)

    def _on_model_failed(self, message: str) -> None:
        self._drop_pending()
        self._tell(f"Cannot add the model: {message}")

    def _on_model_cancelled(self) -> None:
        self._drop_pending()
        self._tell("Stopped building the model; nothing was added")

    def _on_model_built(self, result: object) -> None:
        self._drop_pending()
        graph = self.graph
        if graph is None or self.read_only:
            return
        source = result.project.graph  # type: ignore[attr-defined]
        container, scene_pos = self._pending_at
        display = self._view.canvas_scene.display
        model_x, model_y = display.to_model(container, scene_pos.x(), scene_pos.y())
        xs = [node.position[0] for node in source.nodes()]
        # The closed block's card is centred on its frame, which is centred on its layers.
        corner = (snap(model_x - (max(xs) + NODE_WIDTH - min(xs)) / 2), snap(model_y - NODE_HEIGHT / 2 + BLOCK_TITLE))
        wanted = result.project.name  # type: ignore[attr-defined]
        name = free_block_name(graph, f"{container}.{wanted}" if container else wanted)
        try:
            command = AddBlock(graph, source, name, corner)
        except NnstudioError as exc:
            self._tell(f"Cannot add the model: {exc}")
            return
        scene = self._view.canvas_scene
        scene.treat_as_known({name, *(f"{name}.{path}" for path in Hierarchy(source.node_ids()).blocks())})
        if self.push(command):
            item = scene.item_for(name)
            self._view.select_nodes([])
            if item is not None:
                item.setSelected(True)
            count = getattr(result, "parameters", "")
            self._tell(f"Added {name}: {len(command.nodes)} layers" + (f", {count} parameters" if count else ""))

    def _drop_pending(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None and pending.scene() is not None:
            pending.scene().removeItem(pending)

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


def _free_id_in(graph: Graph, container: str, prefix: str) -> str:
    """The first free layer id ``container.prefixN`` (``layer1.conv1``, ``layer1.conv2``...)."""
    i = 1
    while True:
        candidate = f"{container}.{prefix}{i}"
        if candidate not in graph and graph.is_free(candidate) and name_problem(candidate) is None:
            return candidate
        i += 1

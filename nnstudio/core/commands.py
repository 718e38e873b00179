"""Undoable edits of a graph, and the Qt-free undo stack that runs them.

Every change a person makes is one command pushed on an :class:`UndoStack`. Multi-step edits (delete
a node and its wires, paste, auto-layout) are one :class:`Macro`, so one Undo takes them back whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from psygnal import Signal

from nnstudio.core.errors import GraphError, ParamError
from nnstudio.core.graph import Edge, Graph, Node, checked_init, position_problem
from nnstudio.core.initialisation import DEFAULT_INIT, init_title


class Command:
    """One undoable edit. ``redo`` applies it (also the first time), ``undo`` reverts it exactly."""

    text = "Edit"

    def redo(self) -> None:
        raise NotImplementedError

    def undo(self) -> None:
        raise NotImplementedError

    def merge(self, newer: Command) -> bool:
        """Absorb ``newer`` (pushed right after this one) and return True, or return False."""
        return False


class AddNode(Command):
    def __init__(self, graph: Graph, type_id: str, position: tuple[float, float] = (0.0, 0.0),
                 params: Mapping[str, Any] | None = None, node_id: str | None = None,
                 init: str = DEFAULT_INIT, trainable: bool = True, lr_scale: float = 1.0) -> None:
        spec = graph.catalog.get(type_id)
        self.graph = graph
        self.node_id = node_id or graph.new_node_id(spec.prefix)
        refusal = graph.name_refusal(self.node_id, type_id)
        if refusal:
            raise GraphError(f"{self.node_id!r} cannot name a layer: {refusal}")
        problem = position_problem(position)
        if problem:
            raise GraphError(f"position: {problem}")
        self.type_id = type_id
        self.position = (float(position[0]), float(position[1]))
        # Validate now, so a bad parameter is refused before anything changes.
        self.params = spec.validate_params(dict(params or {}))
        self.init = checked_init(spec, init)
        self.trainable, self.lr_scale = bool(trainable), float(lr_scale)
        self.text = f"Add {spec.title}"

    def redo(self) -> None:
        self.graph._add_node(Node(self.node_id, self.type_id, dict(self.params), self.position, init=self.init,
                                  trainable=self.trainable, lr_scale=self.lr_scale))

    def undo(self) -> None:
        self.graph._remove_node(self.node_id)


class Connect(Command):
    def __init__(self, graph: Graph, source: str, target: str, port: str = "in") -> None:
        problem = graph.connection_problem(source, target, port)
        if problem:
            raise GraphError(problem, target if target in graph else None)
        self.graph = graph
        self.edge = Edge(source, target, port, graph.next_index(target, port))
        self.text = f"Connect {source} to {target}"

    def redo(self) -> None:
        self.graph._add_edge(self.edge)

    def undo(self) -> None:
        self.graph._remove_edge(self.edge)


class Disconnect(Command):
    def __init__(self, graph: Graph, edge: Edge) -> None:
        self.graph = graph
        self.edge = edge
        self.text = f"Disconnect {edge.source} from {edge.target}"

    def redo(self) -> None:
        self.graph._remove_edge(self.edge)

    def undo(self) -> None:
        self.graph._add_edge(self.edge)


class RemoveNodes(Command):
    """Remove nodes together with every wire touching them."""

    def __init__(self, graph: Graph, node_ids: Iterable[str]) -> None:
        self.graph = graph
        ids = list(dict.fromkeys(node_ids))
        for node_id in ids:
            graph.node(node_id)
        self.nodes: list[Node] = []
        self.orders = [graph.order_of(n) for n in ids]
        edges = {e for n in ids for e in graph.in_edges(n) + graph.out_edges(n)}
        self.edges = sorted(edges)
        self.node_ids = ids
        self.text = f"Delete {ids[0]}" if len(ids) == 1 else f"Delete {len(ids)} layers"

    def redo(self) -> None:
        for edge in self.edges:
            self.graph._remove_edge(edge)
        self.nodes = [self.graph._remove_node(n) for n in self.node_ids]

    def undo(self) -> None:
        for node, order in zip(self.nodes, self.orders):
            self.graph._add_node(node.copy(), order)
        for edge in self.edges:
            self.graph._add_edge(edge)


class SetParam(Command):
    """Change one parameter; consecutive changes of the same field merge into one undo step."""

    def __init__(self, graph: Graph, node_id: str, name: str, value: Any) -> None:
        node = graph.node(node_id)
        try:
            self.new = node.spec.param(name).validate(value)
        except ParamError as exc:
            raise exc.on_node(node_id) from None
        self.graph = graph
        self.node_id = node_id
        self.name = name
        self.old = node.params[name]
        self.text = f"Set {node_id}.{name}"

    def redo(self) -> None:
        self.graph._set_param(self.node_id, self.name, self.new)

    def undo(self) -> None:
        self.graph._set_param(self.node_id, self.name, self.old)

    def merge(self, newer: Command) -> bool:
        if isinstance(newer, SetParam) and (newer.graph, newer.node_id, newer.name) == (
                self.graph, self.node_id, self.name):
            self.new = newer.new
            return True
        return False


class SetInit(Command):
    """Choose how a layer's weights are initialised (:mod:`nnstudio.core.initialisation`)."""

    def __init__(self, graph: Graph, node_id: str, init: str) -> None:
        node = graph.node(node_id)
        try:
            self.new = checked_init(node.spec, init)
        except ParamError as exc:
            raise exc.on_node(node_id) from None
        self.graph, self.node_id, self.old = graph, node_id, node.init
        self.text = f"Initialise {node_id}: {init_title(self.new)}"

    def redo(self) -> None:
        self.graph._set_init(self.node_id, self.new)

    def undo(self) -> None:
        self.graph._set_init(self.node_id, self.old)


class RenameNode(Command):
    """Give a layer a new name (its state-dict key), keeping its wires, position, parameters and rank."""

    def __init__(self, graph: Graph, node_id: str, new_id: str) -> None:
        node = graph.node(node_id)
        if new_id == node_id:
            raise GraphError(f"the layer is already named {node_id!r}", node_id)
        refusal = graph.name_refusal(new_id, node.type_id, ignore=node_id)
        if refusal:
            raise GraphError(f"{new_id!r} cannot name a layer: {refusal}", node_id)
        self.graph = graph
        self.old, self.new = node_id, new_id
        self.text = f"Rename {node_id} to {new_id}"

    def redo(self) -> None:
        self.graph._rename_node(self.old, self.new)

    def undo(self) -> None:
        # The old name may be one an old file brought in and the analysis asked to change: allow it back.
        self.graph._rename_node(self.new, self.old, check=False)


class SetStoredWeights(Command):
    """Replace the stored tensors of one layer (``{}``: the layer starts from fresh weights)."""

    def __init__(self, graph: Graph, node_id: str, tensors: Mapping[str, Any]) -> None:
        node = graph.node(node_id)
        self.graph = graph
        self.node_id = node_id
        self.old, self.new = dict(node.weights), dict(tensors)
        self.text = f"Drop stored weights of {node_id}" if not tensors else f"Set stored weights of {node_id}"

    def redo(self) -> None:
        self.graph._set_weights(self.node_id, self.new)

    def undo(self) -> None:
        self.graph._set_weights(self.node_id, self.old)


class MoveNodes(Command):
    """Move one or more nodes; a whole drag is one command."""

    def __init__(self, graph: Graph, positions: Mapping[str, tuple[float, float]],
                 old_positions: Mapping[str, tuple[float, float]] | None = None) -> None:
        for node_id, position in positions.items():
            problem = position_problem(position)
            if problem:
                raise GraphError(f"position: {problem}", node_id)
        self.graph = graph
        self.new = {k: (float(v[0]), float(v[1])) for k, v in positions.items()}
        self.old = dict(old_positions) if old_positions else {k: graph.node(k).position for k in positions}
        self.text = "Move layer" if len(positions) == 1 else f"Move {len(positions)} layers"

    def redo(self) -> None:
        for node_id, pos in self.new.items():
            self.graph._move(node_id, pos)

    def undo(self) -> None:
        for node_id, pos in self.old.items():
            self.graph._move(node_id, pos)


class Macro(Command):
    """Several commands done and undone as one; children run in order, undone in reverse."""

    def __init__(self, text: str, children: Iterable[Command] = ()) -> None:
        self.text = text
        self.children = list(children)

    def redo(self) -> None:
        done: list[Command] = []
        try:
            for child in self.children:
                child.redo()
                done.append(child)
        except Exception:
            for child in reversed(done):
                child.undo()
            raise

    def undo(self) -> None:
        for child in reversed(self.children):
            child.undo()


class CallbackCommand(Command):
    """An edit of something outside the graph (e.g. training settings), given as two callables."""

    def __init__(self, text: str, redo: Callable[[], None], undo: Callable[[], None],
                 merge_key: Any = None) -> None:
        self.text = text
        self._redo, self._undo = redo, undo
        self.merge_key = merge_key

    def redo(self) -> None:
        self._redo()

    def undo(self) -> None:
        self._undo()

    def merge(self, newer: Command) -> bool:
        if self.merge_key is not None and isinstance(newer, CallbackCommand) and newer.merge_key == self.merge_key:
            self._redo = newer._redo
            return True
        return False


def paste_fragment(graph: Graph, nodes: list[Mapping[str, Any]], edges: list[Mapping[str, Any]],
                   offset: tuple[float, float] = (40.0, 40.0), *, verb: str = "Paste"
                   ) -> tuple[Macro, dict[str, str]]:
    """A macro that adds copies of ``nodes`` (records as in project files) and the wires among them.

    Returns the macro (not yet run) and the mapping from the records' ids to the new node ids. The
    macro's undo text is ``verb`` and what it copied: "Paste fc1", "Duplicate 3 layers".
    """
    renamed: dict[str, str] = {}
    children: list[Command] = []
    for record in nodes:
        spec = graph.catalog.get(record["type"])
        new_id = graph.new_node_id(spec.prefix, taken=renamed.values())
        renamed[record["id"]] = new_id
        x, y = record.get("position", (0.0, 0.0))
        children.append(AddNode(graph, record["type"], (x + offset[0], y + offset[1]),
                                record.get("params", {}), node_id=new_id,
                                init=record.get("init") or DEFAULT_INIT, trainable=record.get("trainable") is not False,
                                lr_scale=_pasted_lr_scale(record)))
    for record in edges:
        if record["source"] in renamed and record["target"] in renamed:
            children.append(_DeferredConnect(graph, renamed[record["source"]], renamed[record["target"]],
                                             record.get("port", "in")))
    text = f"{verb} {nodes[0]['id']}" if len(nodes) == 1 else f"{verb} {len(nodes)} layers"
    return Macro(text, children), renamed


def _pasted_lr_scale(record: Mapping[str, Any]) -> float:
    """Return a copied layer's learning-rate multiplier; raises GraphError naming it when it is not one."""
    from nnstudio.core.transfer import LR_SCALE_RANGE  # transfer builds on these commands

    value = record.get("lr_scale", 1.0)
    low, high = LR_SCALE_RANGE
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise GraphError(f"{record['id']}: lr_scale must be a number from {low:g} to {high:g}, not {value!r}")
    return float(value)


class _DeferredConnect(Command):
    """A Connect whose endpoints do not exist yet when the macro is built (paste)."""

    def __init__(self, graph: Graph, source: str, target: str, port: str) -> None:
        self.graph, self.source, self.target, self.port = graph, source, target, port
        self.edge: Edge | None = None
        self.text = f"Connect {source} to {target}"

    def redo(self) -> None:
        if self.edge is None:
            self.edge = Edge(self.source, self.target, self.port,
                             self.graph.next_index(self.target, self.port))
        self.graph._add_edge(self.edge)

    def undo(self) -> None:
        assert self.edge is not None
        self.graph._remove_edge(self.edge)


class UndoStack:
    """A linear undo history with a clean (saved) mark; no Qt.

    ``push`` runs the command; a command that raises is not recorded, so a refused edit leaves both
    the graph and the history unchanged.
    """

    changed = Signal()

    def __init__(self, limit: int = 1000) -> None:
        self._done: list[Command] = []
        self._undone: list[Command] = []
        self._clean_depth: int | None = 0
        self._limit = limit
        self._merge_open = True

    def push(self, command: Command, *, merge: bool = True) -> None:
        command.redo()
        if self._clean_depth is not None and self._clean_depth > len(self._done):
            self._clean_depth = None  # the saved state was undone and is now unreachable
        self._undone.clear()
        if (merge and self._merge_open and self._done and len(self._done) != self._clean_depth
                and self._done[-1].merge(command)):
            self.changed.emit()
            return
        self._done.append(command)
        self._merge_open = True
        if len(self._done) > self._limit:
            self._done.pop(0)
            if self._clean_depth is not None:
                self._clean_depth -= 1
                if self._clean_depth < 0:
                    self._clean_depth = None
        self.changed.emit()

    def seal(self) -> None:
        """The next push starts a new undo step even if it could merge (e.g. after focus leaves a field)."""
        self._merge_open = False

    def undo(self) -> None:
        if self._done:
            command = self._done.pop()
            command.undo()
            self._undone.append(command)
            self._merge_open = False
            self.changed.emit()

    def redo(self) -> None:
        if self._undone:
            command = self._undone.pop()
            command.redo()
            self._done.append(command)
            self._merge_open = False
            self.changed.emit()

    def can_undo(self) -> bool:
        return bool(self._done)

    def can_redo(self) -> bool:
        return bool(self._undone)

    def undo_text(self) -> str:
        return self._done[-1].text if self._done else ""

    def redo_text(self) -> str:
        return self._undone[-1].text if self._undone else ""

    def set_clean(self) -> None:
        self._clean_depth = len(self._done)
        self._merge_open = False
        self.changed.emit()

    def is_clean(self) -> bool:
        return self._clean_depth == len(self._done)

    def clear(self) -> None:
        self._done.clear()
        self._undone.clear()
        self._clean_depth = 0
        self.changed.emit()

"""The graph model: layers (nodes) wired by edges into input ports, stored in a networkx graph.

Views and tools read the graph freely but change it only through commands
(:mod:`nnstudio.core.commands`), which call the underscore methods here. Every change is announced
on :attr:`Graph.events` (psygnal, no Qt), so the canvas, inspector and shape inference follow it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
from psygnal import Signal, SignalGroup

from nnstudio.core import names
from nnstudio.core.catalog import CATALOG, Catalog, LayerKind, LayerSpec
from nnstudio.core.errors import GraphError, ParamError
from nnstudio.core.initialisation import DEFAULT_INIT, INIT_FIELD

#: Canvas coordinates beyond this are absurd (a 100,000-layer chain spans 10^7): refused, as the
#: canvas cannot draw or scroll to them.
POSITION_LIMIT = 1e8


def is_valid_node_id(node_id: str) -> bool:
    """True when ``node_id`` may name a layer (see :mod:`nnstudio.core.names`)."""
    return names.name_problem(node_id) is None


def position_problem(position: Any) -> str | None:
    """Why ``position`` cannot place a layer on the canvas, or None when it can."""
    if not isinstance(position, (tuple, list)) or len(position) != 2:
        return f"a position is two numbers [x, y], not {position!r}"
    for value in position:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"a position is two numbers [x, y], not {position!r}"
        if not math.isfinite(value):
            return f"{value!r} is not a finite number"
        if abs(value) > POSITION_LIMIT:
            return f"{value:g} is beyond the canvas (at most {POSITION_LIMIT:g} from the origin)"
    return None


@dataclass
class Node:
    """One layer on the canvas; ``params`` always holds every parameter of its type, normalised."""

    id: str
    type_id: str
    params: dict[str, Any]
    position: tuple[float, float] = (0.0, 0.0)
    spec: LayerSpec = field(repr=False, compare=False, default=None)  # type: ignore[assignment]
    #: Stored tensors (imported, pretrained, fine-tuned) by their name inside the layer (``weight``):
    #: :class:`nnstudio.core.weights.StoredTensor`. Empty: the layer starts from its initialisation.
    weights: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)
    #: How the layer's weights start (:mod:`nnstudio.core.initialisation`): ``"default"`` is PyTorch's.
    init: str = DEFAULT_INIT
    #: False: the layer (or the block this layer belongs to) is frozen: its tensors are not trained.
    trainable: bool = True
    #: The layer's learning rate is the run's rate times this (a smaller rate for a pretrained backbone).
    lr_scale: float = 1.0

    def copy(self) -> Node:
        return Node(self.id, self.type_id, dict(self.params), self.position, self.spec, dict(self.weights),
                    self.init, self.trainable, self.lr_scale)


@dataclass(frozen=True, order=True)
class Edge:
    """A wire from ``source``'s output into ``target``'s input ``port``.

    ``index`` orders the edges entering one variadic port (Concat joins its inputs in this order);
    for a single-input port it is always 0.
    """

    source: str
    target: str
    port: str = "in"
    index: int = 0

    @property
    def key(self) -> tuple[str, int]:
        return (self.port, self.index)


class GraphEvents(SignalGroup):
    node_added = Signal(str)
    node_removed = Signal(str)
    edge_added = Signal(Edge)
    edge_removed = Signal(Edge)
    #: (node id, parameter name)
    param_changed = Signal(str, str)
    node_moved = Signal(str)
    #: (old id, new id), after the node_removed / node_added pair a rename also emits.
    node_renamed = Signal(str, str)
    #: A layer's training flags (``trainable``, ``lr_scale``) changed.
    training_flags_changed = Signal(str)
    #: Anything that can change shapes, parameters or validity happened (not emitted for moves).
    structure_changed = Signal()


class Graph:
    """A directed graph of layers. Read it freely; change it with commands."""

    def __init__(self, catalog: Catalog = CATALOG) -> None:
        self.catalog = catalog
        self._g: nx.MultiDiGraph = nx.MultiDiGraph()
        self.events = GraphEvents()
        # Creation order of nodes; kept across remove + undo so files and layouts stay stable.
        self._order: dict[str, int] = {}
        self._next_order = 0
        # How many layer ids lie inside each container path ("layer1", "layer1.0" for "layer1.0.conv1").
        self._containers: dict[str, int] = {}
        #: Increases on every change that matters to analysis; caches compare it.
        self.revision = 0
        #: Container path -> the class name of the submodule an import found there (``layer1.0`` ->
        #: ``BasicBlock``): titles for blocks and classes in model.py. Cosmetic: a stale entry is harmless.
        self.module_classes: dict[str, str] = {}

    # --- reading ---------------------------------------------------------------------------------

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._g

    def __len__(self) -> int:
        return self._g.number_of_nodes()

    @property
    def nx(self) -> nx.MultiDiGraph:
        """The underlying networkx graph, read-only; node attribute ``node`` holds the :class:`Node`."""
        return nx.restricted_view(self._g, [], [])

    def node(self, node_id: str) -> Node:
        try:
            return self._g.nodes[node_id]["node"]
        except KeyError:
            raise GraphError(f"there is no node named {node_id!r}") from None

    def nodes(self) -> list[Node]:
        """All nodes, in creation order."""
        return [self._g.nodes[n]["node"] for n in self.node_ids()]

    def node_ids(self) -> list[str]:
        return sorted(self._g.nodes, key=self._order.__getitem__)

    def order_of(self, node_id: str) -> int:
        """The node's creation rank (stable across delete + undo)."""
        return self._order[node_id]

    def edges(self) -> list[Edge]:
        return [data["edge"] for _, _, data in self._g.edges(data=True)]

    def in_edges(self, node_id: str) -> list[Edge]:
        """Edges entering ``node_id``, in port order, then by index: the order the layer reads them."""
        node = self.node(node_id)
        port_order = {p.name: i for i, p in enumerate(node.spec.inputs)}
        edges = [data["edge"] for _, _, data in self._g.in_edges(node_id, data=True)]
        return sorted(edges, key=lambda e: (port_order.get(e.port, len(port_order)), e.index))

    def out_edges(self, node_id: str) -> list[Edge]:
        self.node(node_id)
        return sorted(data["edge"] for _, _, data in self._g.out_edges(node_id, data=True))

    def predecessors(self, node_id: str) -> list[str]:
        return [e.source for e in self.in_edges(node_id)]

    def successors(self, node_id: str) -> list[str]:
        return list(dict.fromkeys(e.target for e in self.out_edges(node_id)))

    def descendants(self, node_id: str) -> set[str]:
        return nx.descendants(self._g, node_id)

    def has_cycle(self) -> bool:
        return not nx.is_directed_acyclic_graph(self._g)

    def topological_order(self) -> list[str]:
        """Node ids with every node after its inputs; ties broken by insertion order (deterministic)."""
        try:
            return list(nx.lexicographical_topological_sort(self._g, key=self._order.__getitem__))
        except nx.NetworkXUnfeasible:
            raise GraphError("the graph has a cycle") from None

    def nodes_of_type(self, type_id: str) -> list[Node]:
        return [n for n in self.nodes() if n.type_id == type_id]

    def new_node_id(self, prefix: str, taken: Iterable[str] = ()) -> str:
        """The first free name ``prefix1``, ``prefix2``, ... (a valid Python identifier)."""
        used = set(taken)
        base = re.sub(r"\W", "_", prefix).lstrip("_") or "node"
        if base[0].isdigit():
            base = f"n{base}"
        i = 1
        while (f"{base}{i}" in used or not self.is_free(f"{base}{i}")
               or not is_valid_node_id(f"{base}{i}")):
            i += 1
        return f"{base}{i}"

    def is_free(self, node_id: str, ignore: str | None = None) -> bool:
        """True when no layer has ``node_id`` and none sits inside it or around it (``ignore`` aside)."""
        if node_id != ignore and node_id in self._g:
            return False
        inside = self._containers.get(node_id, 0)
        if ignore is not None and ignore.startswith(node_id + "."):
            inside -= 1
        if inside > 0:
            return False
        return not any(p != ignore and p in self._g for p in _prefixes(node_id))

    def name_refusal(self, node_id: str, type_id: str, ignore: str | None = None) -> str | None:
        """Why ``node_id`` cannot name a new (or renamed, ``ignore``) layer of ``type_id`` here, or None."""
        spec = self.catalog.get(type_id)
        reason = names.refusal(node_id, self.is_free, dotted=spec.kind is not LayerKind.INPUT)
        if reason:
            return reason
        if node_id != ignore and node_id in self._g:
            return f"a layer named `{node_id}` already exists"
        if not self.is_free(node_id, ignore):
            if any(p != ignore and p in self._g for p in _prefixes(node_id)):
                outer = next(p for p in _prefixes(node_id) if p in self._g and p != ignore)
                return f"`{outer}` is a layer, so no layer can sit inside it as `{node_id}`"
            return f"layers sit inside `{node_id}` (such as `{self._inside(node_id)}`), so it cannot name a layer"
        return None

    def _inside(self, container: str) -> str:
        return next(n for n in self._g if n.startswith(container + "."))

    def connection_problem(self, source: str, target: str, port: str = "in") -> str | None:
        """Why ``source -> target.port`` cannot be connected, or ``None`` when it can."""
        problem = self._wire_problem(source, target, port)
        if problem:
            return problem
        if not self.node(target).spec.port(port).variadic and any(e.port == port for e in self.in_edges(target)):
            return f"{target} already has an input; remove that wire first"
        if nx.has_path(self._g, target, source):
            return f"connecting {source} to {target} would make a cycle"
        return None

    def _wire_problem(self, source: str, target: str, port: str) -> str | None:
        """Why a wire ``source -> target.port`` is malformed (ends, port, self loop), or None."""
        if source not in self._g:
            return f"there is no node named {source!r}"
        if target not in self._g:
            return f"there is no node named {target!r}"
        src, dst = self.node(source), self.node(target)
        if not src.spec.has_output:
            return f"{src.spec.title} has no output"
        if not dst.spec.inputs:
            return f"{dst.spec.title} takes no input"
        try:
            dst.spec.port(port)
        except ValueError as exc:
            return str(exc)
        if source == target:
            return "a layer cannot feed itself"
        return None

    def next_index(self, target: str, port: str) -> int:
        used = [e.index for e in self.in_edges(target) if e.port == port]
        return max(used, default=-1) + 1

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes())

    # --- changing (commands call these) ----------------------------------------------------------

    def _touch(self) -> None:
        self.revision += 1
        self.events.structure_changed.emit()

    def _add_node(self, node: Node, order: int | None = None, *, allow_clash: bool = False) -> None:
        """Add ``node``; ``allow_clash`` admits a name clashing with a module attribute (old files:
        the analysis reports it and offers a rename), never a malformed or taken name."""
        node.spec = self.catalog.get(node.type_id)
        if node.id in self._g:
            raise GraphError(f"a node named {node.id!r} already exists", node.id)
        refusal = self.name_refusal(node.id, node.type_id)
        if refusal and not (allow_clash and self._only_clashes(node)):
            raise GraphError(f"{node.id!r} cannot name a layer: {refusal}", node.id)
        problem = position_problem(node.position)
        if problem:
            raise GraphError(f"position: {problem}", node.id)
        node.position = (float(node.position[0]), float(node.position[1]))
        try:
            node.params = node.spec.validate_params(node.params)
            node.init = checked_init(node.spec, node.init)
        except ParamError as exc:
            raise exc.on_node(node.id) from None
        if order is None:
            order = self._next_order
        self._next_order = max(self._next_order, order + 1)
        self._order[node.id] = order
        self._g.add_node(node.id, node=node)
        for prefix in _prefixes(node.id):
            self._containers[prefix] = self._containers.get(prefix, 0) + 1
        self.events.node_added.emit(node.id)
        self._touch()

    def _only_clashes(self, node: Node) -> bool:
        """True when ``node``'s name is refused only because a part clashes with a module attribute."""
        return names.only_clashes(node.id, dotted=node.spec.kind is not LayerKind.INPUT) and self.is_free(node.id)

    def _remove_node(self, node_id: str) -> Node:
        node = self.node(node_id)
        if self._g.degree(node_id):
            raise GraphError("remove the node's wires first", node_id)
        self._g.remove_node(node_id)
        del self._order[node_id]
        for prefix in _prefixes(node_id):
            self._containers[prefix] -= 1
            if not self._containers[prefix]:
                del self._containers[prefix]
        self.events.node_removed.emit(node_id)
        self._touch()
        return node

    def _add_edge(self, edge: Edge) -> None:
        problem = self.connection_problem(edge.source, edge.target, edge.port)
        if problem:
            raise GraphError(problem, edge.target if edge.target in self._g else None)
        if self._g.has_edge(edge.source, edge.target, edge.key) or any(
                e.key == edge.key for e in self.in_edges(edge.target)):
            raise GraphError(f"port {edge.port}[{edge.index}] is already wired", edge.target)
        self._g.add_edge(edge.source, edge.target, key=edge.key, edge=edge)
        self.events.edge_added.emit(edge)
        self._touch()

    def _remove_edge(self, edge: Edge) -> None:
        if not self._g.has_edge(edge.source, edge.target, edge.key):
            raise GraphError(f"there is no wire {edge.source} -> {edge.target}", edge.target)
        self._g.remove_edge(edge.source, edge.target, edge.key)
        self.events.edge_removed.emit(edge)
        self._touch()

    def _set_param(self, node_id: str, name: str, value: Any) -> None:
        node = self.node(node_id)
        try:
            node.params[name] = node.spec.param(name).validate(value)
        except ParamError as exc:
            raise exc.on_node(node_id) from None
        self.events.param_changed.emit(node_id, name)
        self._touch()

    def _set_init(self, node_id: str, init: str) -> None:
        node = self.node(node_id)
        try:
            node.init = checked_init(node.spec, init)
        except ParamError as exc:
            raise exc.on_node(node_id) from None
        self.events.param_changed.emit(node_id, "init")
        self._touch()

    def _set_weights(self, node_id: str, tensors: Mapping[str, Any]) -> None:
        self.node(node_id).weights = dict(tensors)
        self._touch()

    def _set_training_flags(self, node_id: str, trainable: bool, lr_scale: float) -> None:
        node = self.node(node_id)
        node.trainable, node.lr_scale = bool(trainable), float(lr_scale)
        self.events.training_flags_changed.emit(node_id)
        self._touch()

    def _move(self, node_id: str, position: tuple[float, float]) -> None:
        problem = position_problem(position)
        if problem:
            raise GraphError(f"position: {problem}", node_id)
        self.node(node_id).position = (float(position[0]), float(position[1]))
        self.events.node_moved.emit(node_id)

    def _rename_node(self, old: str, new: str, *, check: bool = True) -> None:
        """Give node ``old`` the id ``new``, keeping its wires (same ports and order), position and rank.

        Views see the wires and the node leave and come back under the new name, then ``node_renamed``.
        """
        node = self.node(old)
        if check:
            refusal = self.name_refusal(new, node.type_id, ignore=old)
            if refusal:
                raise GraphError(f"{new!r} cannot name a layer: {refusal}", old)
        incoming, outgoing = self.in_edges(old), self.out_edges(old)
        for edge in incoming + outgoing:
            self._remove_edge(edge)
        order = self._order[old]
        self._remove_node(old)
        renamed = Node(new, node.type_id, node.params, node.position, node.spec, node.weights, node.init,
                       node.trainable, node.lr_scale)
        self._add_node(renamed, order, allow_clash=not check)
        for edge in incoming + outgoing:
            self._add_edge(Edge(new if edge.source == old else edge.source,
                                new if edge.target == old else edge.target, edge.port, edge.index))
        self.events.node_renamed.emit(old, new)

    # --- whole-graph helpers ---------------------------------------------------------------------

    def copy(self) -> Graph:
        """A deep copy without listeners (for analysis in another thread, or export)."""
        other = Graph(self.catalog)
        for node in self.nodes():
            copy = node.copy()
            other._g.add_node(copy.id, node=copy)
        other._order = dict(self._order)
        other._next_order = self._next_order
        other._containers = dict(self._containers)
        for edge in self.edges():
            other._g.add_edge(edge.source, edge.target, key=edge.key, edge=edge)
        other.revision = self.revision
        other.module_classes = dict(self.module_classes)
        return other

    def to_records(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Plain dicts for the nodes and edges (what project files store)."""
        nodes = [_record(n) for n in self.nodes()]
        edges = [{"source": e.source, "target": e.target, "port": e.port, "index": e.index}
                 for e in sorted(self.edges(), key=lambda e: (e.target, e.port, e.index))]
        return nodes, edges

    @classmethod
    def from_records(cls, nodes: Iterable[Mapping[str, Any]], edges: Iterable[Mapping[str, Any]],
                     catalog: Catalog = CATALOG, *, allow_clashes: bool = False) -> Graph:
        """Build a graph from plain records; raises GraphError / ParamError / UnknownLayerError.

        Takes time linear in the records whatever their order: each wire is checked on its own
        (ends, port, a free slot) and the whole graph is checked for cycles once at the end, where
        adding the wires one by one with :meth:`connection_problem` would search paths per wire.
        ``allow_clashes`` admits names that clash with module attributes (old files; see
        :meth:`_add_node`).
        """
        graph = cls(catalog)
        with graph.events.blocked():
            for record in nodes:
                graph._add_node(Node(record["id"], record["type"], dict(record.get("params", {})),
                                     tuple(record.get("position", (0.0, 0.0))),  # type: ignore[arg-type]
                                     init=record.get("init") or DEFAULT_INIT,
                                     trainable=bool(record.get("trainable", True)),
                                     lr_scale=float(record.get("lr_scale", 1.0))),
                                allow_clash=allow_clashes)
            graph._add_edges([Edge(record["source"], record["target"], record.get("port", "in"),
                                   int(record.get("index", 0))) for record in edges])
        graph.revision = 0
        return graph

    def _add_edges(self, edges: list[Edge]) -> None:
        """Add many wires at once (loading); raises GraphError naming the first bad wire or a cycle."""
        taken: set[tuple[str, str, int]] = set()
        single: set[tuple[str, str]] = set()
        for edge in edges:
            problem = self._wire_problem(edge.source, edge.target, edge.port)
            if problem is None:
                port_spec = self.node(edge.target).spec.port(edge.port)
                if (edge.target, edge.port, edge.index) in taken:
                    problem = f"port {edge.port}[{edge.index}] is already wired"
                elif not port_spec.variadic and ((edge.target, edge.port) in single or edge.index != 0):
                    problem = (f"{edge.target} already has an input; remove that wire first"
                               if (edge.target, edge.port) in single else
                               f"port {edge.port} takes one wire, at index 0 (not {edge.index})")
            if problem:
                raise GraphError(problem, edge.target if edge.target in self._g else None)
            taken.add((edge.target, edge.port, edge.index))
            single.add((edge.target, edge.port))
            self._g.add_edge(edge.source, edge.target, key=edge.key, edge=edge)
        if edges and not nx.is_directed_acyclic_graph(self._g):
            cycle = nx.find_cycle(self._g)
            path = " -> ".join([str(u) for u, *_ in cycle] + [str(cycle[0][0])])
            raise GraphError(f"the wires make a cycle: {path}", str(cycle[0][0]))
        for edge in edges:
            self.events.edge_added.emit(edge)
        self._touch()

    def same_as(self, other: Graph) -> bool:
        """Equal nodes (type, params, position) and edges."""
        return self.to_records() == other.to_records()


def checked_init(spec: LayerSpec, init: str) -> str:
    """Return ``init`` when a layer of ``spec`` may take it; raise ParamError("init", ...) otherwise."""
    if init == DEFAULT_INIT:
        return init
    INIT_FIELD.validate(init)
    if spec.kind is not LayerKind.MODULE:
        raise ParamError("init", f"{spec.title} has no weights to initialise")
    return init


def _record(node: Node) -> dict[str, Any]:
    """A node as a project file stores it; ``init`` and the training flags only when not their defaults."""
    record: dict[str, Any] = {"id": node.id, "type": node.type_id, "position": [node.position[0], node.position[1]],
                              "params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in node.params.items()}}
    if node.init != DEFAULT_INIT:
        record["init"] = node.init
    if not node.trainable:
        record["trainable"] = False
    if node.lr_scale != 1.0:
        record["lr_scale"] = node.lr_scale
    return record


def _prefixes(node_id: str) -> list[str]:
    """The container paths around a dotted id: ``a.b.c`` -> ``["a", "a.b"]``."""
    parts = node_id.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]

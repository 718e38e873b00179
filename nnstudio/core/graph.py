"""The graph model: layers (nodes) wired by edges into input ports, stored in a networkx graph.

Views and tools read the graph freely but change it only through commands
(:mod:`nnstudio.core.commands`), which call the underscore methods here. Every change is announced
on :attr:`Graph.events` (psygnal, no Qt), so the canvas, inspector and shape inference follow it.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
from psygnal import Signal, SignalGroup

from nnstudio.core.catalog import CATALOG, Catalog, LayerSpec
from nnstudio.core.errors import GraphError, ParamError

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Names that would clash with the generated module's own attributes or with Python.
_RESERVED = frozenset({"forward", "training", "self", "torch", "nn", "Model", "x"}) | set(keyword.kwlist)


def is_valid_node_id(node_id: str) -> bool:
    return bool(_IDENTIFIER.match(node_id)) and node_id not in _RESERVED and not node_id.startswith("_")


@dataclass
class Node:
    """One layer on the canvas; ``params`` always holds every parameter of its type, normalised."""

    id: str
    type_id: str
    params: dict[str, Any]
    position: tuple[float, float] = (0.0, 0.0)
    spec: LayerSpec = field(repr=False, compare=False, default=None)  # type: ignore[assignment]

    def copy(self) -> Node:
        return Node(self.id, self.type_id, dict(self.params), self.position, self.spec)


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
        #: Increases on every change that matters to analysis; caches compare it.
        self.revision = 0

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
        used = set(self._g.nodes) | set(taken)
        base = re.sub(r"\W", "_", prefix) or "node"
        if not _IDENTIFIER.match(base):
            base = f"n_{base}"
        i = 1
        while f"{base}{i}" in used or not is_valid_node_id(f"{base}{i}"):
            i += 1
        return f"{base}{i}"

    def connection_problem(self, source: str, target: str, port: str = "in") -> str | None:
        """Why ``source -> target.port`` cannot be connected, or ``None`` when it can."""
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
            port_spec = dst.spec.port(port)
        except ValueError as exc:
            return str(exc)
        if source == target:
            return "a layer cannot feed itself"
        if not port_spec.variadic and any(e.port == port for e in self.in_edges(target)):
            return f"{target} already has an input; remove that wire first"
        if nx.has_path(self._g, target, source):
            return f"connecting {source} to {target} would make a cycle"
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

    def _add_node(self, node: Node, order: int | None = None) -> None:
        if node.id in self._g:
            raise GraphError(f"a node named {node.id!r} already exists", node.id)
        if not is_valid_node_id(node.id):
            raise GraphError(f"{node.id!r} is not a valid layer name (letters, digits and _; not a "
                             "Python keyword)", node.id)
        node.spec = self.catalog.get(node.type_id)
        try:
            node.params = node.spec.validate_params(node.params)
        except ParamError as exc:
            raise exc.on_node(node.id) from None
        if order is None:
            order = self._next_order
        self._next_order = max(self._next_order, order + 1)
        self._order[node.id] = order
        self._g.add_node(node.id, node=node)
        self.events.node_added.emit(node.id)
        self._touch()

    def _remove_node(self, node_id: str) -> Node:
        node = self.node(node_id)
        if self._g.degree(node_id):
            raise GraphError("remove the node's wires first", node_id)
        self._g.remove_node(node_id)
        del self._order[node_id]
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

    def _move(self, node_id: str, position: tuple[float, float]) -> None:
        self.node(node_id).position = (float(position[0]), float(position[1]))
        self.events.node_moved.emit(node_id)

    # --- whole-graph helpers ---------------------------------------------------------------------

    def copy(self) -> Graph:
        """A deep copy without listeners (for analysis in another thread, or export)."""
        other = Graph(self.catalog)
        for node in self.nodes():
            copy = node.copy()
            other._g.add_node(copy.id, node=copy)
        other._order = dict(self._order)
        other._next_order = self._next_order
        for edge in self.edges():
            other._g.add_edge(edge.source, edge.target, key=edge.key, edge=edge)
        other.revision = self.revision
        return other

    def to_records(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Plain dicts for the nodes and edges (what project files store)."""
        nodes = [{"id": n.id, "type": n.type_id, "position": [n.position[0], n.position[1]],
                  "params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in n.params.items()}}
                 for n in self.nodes()]
        edges = [{"source": e.source, "target": e.target, "port": e.port, "index": e.index}
                 for e in sorted(self.edges(), key=lambda e: (e.target, e.port, e.index))]
        return nodes, edges

    @classmethod
    def from_records(cls, nodes: Iterable[Mapping[str, Any]], edges: Iterable[Mapping[str, Any]],
                     catalog: Catalog = CATALOG) -> Graph:
        """Build a graph from plain records; raises GraphError / ParamError / UnknownLayerError."""
        graph = cls(catalog)
        with graph.events.blocked():
            for record in nodes:
                position = tuple(record.get("position", (0.0, 0.0)))
                graph._add_node(Node(record["id"], record["type"], dict(record.get("params", {})),
                                     (float(position[0]), float(position[1]))))
            for record in edges:
                graph._add_edge(Edge(record["source"], record["target"], record.get("port", "in"),
                                     int(record.get("index", 0))))
        graph.revision = 0
        return graph

    def same_as(self, other: Graph) -> bool:
        """Equal nodes (type, params, position) and edges."""
        return self.to_records() == other.to_records()

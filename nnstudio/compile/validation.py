"""Structural checks of a graph before any shape is computed: wiring, reachability, cycles.

Each finding is an error :class:`~nnstudio.core.problems.Problem` attached to the node concerned,
so the canvas can mark it. Nodes with a structural error are not shape-inferred.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from nnstudio.core.catalog import LayerKind
from nnstudio.core.graph import Graph
from nnstudio.core.problems import Problem


@dataclass
class StructureReport:
    """What the structural checks found."""

    problems: list[Problem] = field(default_factory=list)
    #: Nodes that must not be shape-inferred (their own wiring is broken, or they sit on a cycle).
    broken: set[str] = field(default_factory=set)
    #: Node ids in an order where every node follows its inputs (cycle members left out).
    order: list[str] = field(default_factory=list)

    def add(self, code: str, message: str, node_id: str | None = None, *, blocks: bool = True) -> None:
        """Record an error; ``blocks``: the node cannot be shape-inferred because of it."""
        self.problems.append(Problem("error", code, message, node_id))
        if node_id is not None and blocks:
            self.broken.add(node_id)


def check_structure(graph: Graph) -> StructureReport:
    """Return the structural errors of ``graph`` and an evaluation order for the healthy part."""
    report = StructureReport()
    inputs = [n.id for n in graph.nodes() if n.spec.kind is LayerKind.INPUT]
    outputs = [n.id for n in graph.nodes() if n.spec.kind is LayerKind.OUTPUT]
    if not inputs:
        report.add("missing-input", "the network has no Input layer; add one and wire it to the first layer")
    if not outputs:
        report.add("missing-output", "the network has no Output layer; add one and wire the last layer to it")

    report.order = _order_without_cycles(graph, report)
    for node_id in report.order:
        _check_ports(graph, node_id, report)
    _check_reachability(graph, inputs, outputs, report)
    return report


def _order_without_cycles(graph: Graph, report: StructureReport) -> list[str]:
    """Return a topological order; nodes on a cycle get an error and are left out."""
    if not graph.has_cycle():
        return graph.topological_order()
    g = graph.nx
    cyclic: set[str] = set()
    for component in nx.strongly_connected_components(g):
        if len(component) > 1 or any(g.has_edge(n, n) for n in component):
            cyclic |= component
    for node_id in graph.node_ids():
        if node_id in cyclic:
            report.add("cycle", "this layer is part of a loop; a network must flow one way from Input to "
                       "Output", node_id)
    # Everything downstream of a cycle cannot be computed either; it is skipped without a second error.
    blocked = set(cyclic)
    for node_id in cyclic:
        blocked |= graph.descendants(node_id)
    position = {n: i for i, n in enumerate(graph.node_ids())}
    acyclic = nx.restricted_view(g, list(blocked), [])
    report.broken |= blocked
    return list(nx.lexicographical_topological_sort(acyclic, key=position.__getitem__))


def _check_ports(graph: Graph, node_id: str, report: StructureReport) -> None:
    node = graph.node(node_id)
    spec = node.spec
    edges = graph.in_edges(node_id)
    for port in spec.inputs:
        wired = [e for e in edges if e.port == port.name]
        if port.variadic:
            if len(wired) < 2:
                count = "nothing is" if not wired else "only one layer is"
                report.add("merge-needs-inputs", f"{count} connected; {spec.title} combines two or more "
                           "inputs", node_id)
                return
        elif not wired:
            report.add("unconnected-input", f"nothing is connected to its input; wire a layer into "
                       f"this {spec.title}", node_id)
            return
        elif len(wired) > 1:
            report.add("too-many-inputs", f"{len(wired)} wires enter its single input; remove all but one",
                       node_id)
            return
    known = {p.name for p in spec.inputs}
    stray = [e for e in edges if e.port not in known]
    if stray:
        report.add("unknown-port", f"a wire from {stray[0].source} enters a port {stray[0].port!r} that "
                   f"{spec.title} does not have", node_id)


def _check_reachability(graph: Graph, inputs: list[str], outputs: list[str], report: StructureReport
                        ) -> None:
    """Flag layers that no Input feeds, and layers whose result never reaches an Output."""
    fed: set[str] = set(inputs)
    for node_id in inputs:
        fed |= graph.descendants(node_id)
    g = graph.nx
    used: set[str] = set(outputs)
    for node_id in outputs:
        used |= nx.ancestors(g, node_id)
    for node in graph.nodes():
        if node.id in report.broken:
            continue
        kind = node.spec.kind
        if inputs and kind is not LayerKind.INPUT and node.id not in fed:
            report.add("not-fed", "no Input feeds this layer; connect it to the network", node.id)
        elif outputs and kind is not LayerKind.OUTPUT and node.id not in used:
            # Its shape can still be shown: the layer is fine, only its result is unused.
            report.add("dead-end", "its result never reaches the Output; connect it onward or delete it",
                       node.id, blocks=False)

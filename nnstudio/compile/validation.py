"""Structural checks of a graph before any shape is computed: wiring, reachability, cycles.

Each finding is an error :class:`~nnstudio.core.problems.Problem` attached to the node concerned,
so the canvas can mark it. Nodes with a structural error are not shape-inferred.

The checks run after every edit, so they read the graph once into a :class:`Wiring` snapshot and
walk plain dicts from there (a few hundred microseconds for a 200-layer network).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

from nnstudio.compile.rules import LayerRule, MissingRuleError, Trait, active_rules
from nnstudio.core.catalog import LayerKind
from nnstudio.core.graph import Edge, Graph, Node
from nnstudio.core.problems import Problem


@dataclass
class Wiring:
    """Who feeds whom, read from a graph in one pass."""

    nodes: dict[str, Node]
    #: Node id -> the edges entering it, in the order the layer reads them (as ``Graph.in_edges``).
    incoming: dict[str, list[Edge]]
    #: Node id -> the ids it feeds (with repeats when it feeds one node twice).
    feeds: dict[str, list[str]]

    @cached_property
    def rules(self) -> dict[str, LayerRule]:
        """Node id -> the layer's rule (read once per analysis: the lints ask for each node's traits).

        A layer without a rule (the analysis reports it) gets a stand-in without traits.
        """
        by_type = self._rules_by_type
        return {node_id: by_type[node.type_id] for node_id, node in self.nodes.items()}

    @cached_property
    def _rules_by_type(self) -> dict[str, LayerRule]:
        registry = active_rules()
        found: dict[str, LayerRule] = {}
        for type_id in {node.type_id for node in self.nodes.values()}:
            try:
                found[type_id] = registry.get(type_id)
            except MissingRuleError:
                found[type_id] = _NoRule(type_id)
        return found

    def having(self, *traits: Trait) -> list[Node]:
        """Return the layers whose rule has any of ``traits``, in graph order."""
        wanted = frozenset(traits)
        types = {t for t, rule in self._rules_by_type.items() if not wanted.isdisjoint(rule.traits)}
        return [node for node in self.nodes.values() if node.type_id in types] if types else []

    @classmethod
    def of(cls, graph: Graph) -> Wiring:
        nodes = {n.id: n for n in graph.nodes()}
        incoming: dict[str, list[Edge]] = {node_id: [] for node_id in nodes}
        feeds: dict[str, list[str]] = {node_id: [] for node_id in nodes}
        for edge in graph.edges():
            incoming[edge.target].append(edge)
            feeds[edge.source].append(edge.target)
        for node_id, edges in incoming.items():
            if len(edges) > 1:
                ports = {p.name: i for i, p in enumerate(nodes[node_id].spec.inputs)}
                edges.sort(key=lambda e: (ports.get(e.port, len(ports)), e.index))
        return cls(nodes, incoming, feeds)

    def reachable(self, starts: Iterable[str], forward: bool = True) -> set[str]:
        """Return the ids reachable from ``starts`` (downstream, or upstream when not ``forward``)."""
        seen = set(starts)
        stack = list(seen)
        while stack:
            node_id = stack.pop()
            nexts = self.feeds[node_id] if forward else [e.source for e in self.incoming[node_id]]
            for other in nexts:
                if other not in seen:
                    seen.add(other)
                    stack.append(other)
        return seen

    def topological_order(self) -> tuple[list[str], set[str]]:
        """Return the acyclic part in topological order (ties by insertion order), and the rest.

        Matches ``Graph.topological_order`` on acyclic graphs. The rest holds the nodes on a cycle
        and everything downstream of one.
        """
        position = {node_id: i for i, node_id in enumerate(self.nodes)}
        waiting = {node_id: len(edges) for node_id, edges in self.incoming.items()}
        ready = [position[n] for n, count in waiting.items() if count == 0]
        heapq.heapify(ready)
        ids = list(self.nodes)
        order: list[str] = []
        while ready:
            node_id = ids[heapq.heappop(ready)]
            order.append(node_id)
            for other in self.feeds[node_id]:
                waiting[other] -= 1
                if waiting[other] == 0:
                    heapq.heappush(ready, position[other])
        done = set(order)
        return order, {n for n in self.nodes if n not in done}


class _NoRule(LayerRule):
    """Stands in for a layer without a rule: it has no traits."""


@dataclass
class StructureReport:
    """What the structural checks found."""

    wiring: Wiring
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
    wiring = Wiring.of(graph)
    report = StructureReport(wiring)
    inputs = [n for n, node in wiring.nodes.items() if node.spec.kind is LayerKind.INPUT]
    outputs = [n for n, node in wiring.nodes.items() if node.spec.kind is LayerKind.OUTPUT]
    if not inputs:
        report.add("missing-input", "the network has no Input layer; add one and wire it to the first layer")
    if not outputs:
        report.add("missing-output", "the network has no Output layer; add one and wire the last layer to it")

    order, blocked = wiring.topological_order()
    if blocked:
        _report_cycles(wiring, blocked, report)
    report.order = order
    for node_id in order:
        _check_ports(wiring, node_id, report)
    _check_reachability(wiring, inputs, outputs, report)
    return report


def _report_cycles(wiring: Wiring, blocked: set[str], report: StructureReport) -> None:
    """Flag the nodes on a cycle; nodes merely downstream of one are skipped without a second error."""
    for node_id in wiring.nodes:
        if node_id in blocked and node_id in wiring.reachable(wiring.feeds[node_id]):
            report.add("cycle", "this layer is part of a loop; a network must flow one way from Input to "
                       "Output", node_id)
    report.broken |= blocked


def _check_ports(wiring: Wiring, node_id: str, report: StructureReport) -> None:
    spec = wiring.nodes[node_id].spec
    edges = wiring.incoming[node_id]
    for port in spec.inputs:
        wired = [e for e in edges if e.port == port.name]
        if port.variadic:
            if len(wired) < port.minimum:
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


def _check_reachability(wiring: Wiring, inputs: list[str], outputs: list[str], report: StructureReport
                        ) -> None:
    """Flag layers that no Input feeds, and layers whose result never reaches an Output."""
    # Layers that take no input (a Parameter, a call of torch.arange) start a path as Inputs do.
    sources = [n for n, edges in wiring.incoming.items() if not edges and _may_start(wiring.nodes[n])]
    fed = wiring.reachable([*inputs, *sources])
    used = wiring.reachable(outputs, forward=False)
    rules = wiring.rules
    for node_id, node in wiring.nodes.items():
        if node_id in report.broken or rules[node_id].stands_alone(node.params):
            continue
        kind = node.spec.kind
        if inputs and kind is not LayerKind.INPUT and node_id not in fed:
            report.add("not-fed", "no Input feeds this layer; connect it to the network", node_id)
        elif outputs and kind is not LayerKind.OUTPUT and node_id not in used:
            # Its shape can still be shown: the layer is fine, only its result is unused.
            report.add("dead-end", "its result never reaches the Output; connect it onward or delete it",
                       node_id, blocks=False)


def _may_start(node: Node) -> bool:
    """True when the layer may have no input at all (every port optional)."""
    return node.spec.kind is not LayerKind.OUTPUT and all(p.variadic and p.minimum == 0 for p in node.spec.inputs)

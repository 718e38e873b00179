"""Block placements expanded into plain layers: what analysis, the compiler and model.py work on.

A ``block`` layer ``stage1`` placing definition ``ResBlock`` becomes the definition's layers under
``stage1`` (``stage1.conv1``); with ``repeat`` N > 1 it becomes N copies ``stage1.0`` ... ``stage1.{N-1}``
fed one into the next, each with its own weights. Every copy is recorded as an instance of the
definition's class (``module_classes``), so the nested model.py writes one class per definition and
``stage1`` as an ``nn.Sequential`` of them (state-dict keys ``stage1.0.conv1.weight``).

The analysis of a graph with blocks is the analysis of its expansion, read back onto the editor's
layers: a block layer shows its last copy's output shape, the parameters and FLOPs of all its copies,
and every problem found inside it, named (``inside stage1.2.conv1: ...``). A repeated block whose
output shape differs from its input shape is refused, naming the size that differs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import fx

from nnstudio.compile.results import Analysis, NodeResult
from nnstudio.compile.rule_kinds import ModuleRule
from nnstudio.compile.tensors import NodeOutcome, TensorInfo, fail
from nnstudio.core.blocks import BLOCK_TYPE, MAX_DEPTH, BlockDefinition, definition_cycle
from nnstudio.core.catalog import LayerSpec
from nnstudio.core.errors import GraphError, NnstudioError
from nnstudio.core.formatting import format_shape
from nnstudio.core.graph import Edge, Graph, Node
from nnstudio.core.problems import Problem

#: The failure a block layer that could not be expanded reports (replaced by the reason, see below).
_UNEXPANDED = "block-unexpanded"


class BlockRule(ModuleRule):
    """A block layer left in an expansion because it cannot be expanded: it fails, so nothing below
    it is analysed; the expansion reports why on the layer."""

    dtypes = "any"

    def torch_classes(self, spec: LayerSpec) -> tuple[Any, ...]:
        return ()  # stands for no torch class: a block is many modules

    def infer(self, spec: LayerSpec, params: Mapping[str, Any], inputs: Any) -> NodeOutcome:
        raise fail(_UNEXPANDED, "this block cannot be expanded")

    def emit(self, graph: fx.Graph, node_id: str, spec: LayerSpec, resolved: Mapping[str, Any],
             inputs: list[fx.Node]) -> fx.Node:  # pragma: no cover - analysis errors stop compiling first
        raise GraphError("a block that cannot be expanded cannot be compiled", node_id)


@dataclass
class Expansion:
    """A graph with its block layers replaced by their layers."""

    graph: Graph
    #: Expanded layer id -> the editor's layer it stands for (the outermost block layer).
    origin: dict[str, str] = field(default_factory=dict)
    #: Block layer id -> the expanded layer whose output is the block's output.
    results: dict[str, str] = field(default_factory=dict)
    #: Block layer id -> per copy: (the layer feeding the copy's first input, the copy's result).
    copies: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    #: Problems of block layers that could not be expanded.
    problems: list[Problem] = field(default_factory=list)
    #: Wires to add once every layer is in (one cycle check for the whole graph), by the block adding them.
    wires: list[tuple[str, Edge]] = field(default_factory=list)


def has_blocks(graph: Graph) -> bool:
    return any(node.type_id == BLOCK_TYPE for node in graph.nodes())


def expand(graph: Graph) -> Expansion:
    """Return ``graph`` with every expandable block layer replaced by its layers (a new graph)."""
    flat = Graph(graph.catalog)
    flat.module_classes = dict(graph.module_classes)
    expansion = Expansion(flat)
    value_of: dict[str, str] = {}
    with flat.events.blocked():
        for node_id in graph.topological_order():
            node = graph.node(node_id)
            incoming = graph.in_edges(node_id)
            if node.type_id == BLOCK_TYPE:
                sources = [value_of.get(e.source) for e in incoming]
                try:
                    if any(s is None for s in sources):
                        raise _Unexpandable("")  # an upstream block failed: it reports
                    expander = _Expander(graph.blocks, flat, expansion, node_id)
                    expander.flags = (getattr(node, "trainable", True), getattr(node, "lr_scale", 1.0))
                    value_of[node_id] = expander.place(
                        node, node_id, [s for s in sources if s is not None], 0, [])
                    expansion.results[node_id] = value_of[node_id]
                    continue
                except _Unexpandable as exc:
                    if str(exc):
                        expansion.problems.append(Problem("error", "block-invalid", str(exc), node_id, None))
                    _remove_partial(flat, expansion, node_id)
            copy = node.copy()
            flat._add_node(copy, allow_clash=True)
            expansion.origin[node_id] = node_id
            value_of[node_id] = node_id
            expansion.wires += [(node_id, Edge(value_of[e.source], node_id, e.port, e.index)) for e in incoming
                                if e.source in value_of]
        flat._add_edges([edge for _, edge in expansion.wires])
    flat.revision = graph.revision
    return expansion


class _Unexpandable(NnstudioError):
    pass


def _remove_partial(flat: Graph, expansion: Expansion, block_id: str) -> None:
    """Take out what a failed expansion of ``block_id`` had added."""
    added = [n for n, origin in expansion.origin.items() if origin == block_id]
    expansion.wires = [(owner, edge) for owner, edge in expansion.wires if owner != block_id]
    for node_id in reversed(added):
        flat._remove_node(node_id)
        del expansion.origin[node_id]
    expansion.copies.pop(block_id, None)


class _Expander:
    """Adds the layers of one top-level block layer (and of the blocks inside it) to the expansion."""

    def __init__(self, blocks: Mapping[str, BlockDefinition], flat: Graph, expansion: Expansion, top: str) -> None:
        self.blocks, self.flat, self.expansion, self.top = blocks, flat, expansion, top
        #: The top block layer's training flags (trainable, lr_scale), given to every layer inside.
        self.flags: tuple[bool, float] = (True, 1.0)
        #: Definition name -> its layers in order, each with its incoming wires (read once, not per copy).
        self._plans: dict[str, list[tuple[str, list[Edge]]]] = {}

    def place(self, node: Node, path: str, sources: list[str], depth: int, chain: list[str]) -> str:
        """Add the copies placed by block layer ``node`` at ``path`` fed by ``sources``; return the result."""
        name, repeat = node.params["block"], node.params["repeat"]
        where = path if path == self.top else f"{path} (inside {self.top})"
        definition = self.blocks.get(name)
        if definition is None:
            raise _Unexpandable(f"{where} places block {name!r}, which the project does not define; delete it, or "
                                "choose a block from the palette's Project blocks")
        if name in chain or depth >= MAX_DEPTH:
            cycle = definition_cycle(self.blocks, name) or [*chain, name]
            raise _Unexpandable(f"{where}: block {name} places itself ({' -> '.join(cycle)}), and a block cannot "
                                "contain itself; remove that placement from its definition")
        if len(sources) != len(definition.inputs):
            raise _Unexpandable(f"{where} gets {len(sources)} input wire{'s' * (len(sources) != 1)}, but block "
                                f"{name} takes {len(definition.inputs)} ({', '.join(definition.inputs)}); connect one wire to each")
        if repeat > 1 and len(definition.inputs) != 1:
            raise _Unexpandable(f"{where} repeats block {name}, which takes {len(definition.inputs)} inputs, but only "
                                "a block with one input can repeat (its output feeds the next copy); set repeat to 1")
        copies = []
        for k in range(repeat):
            prefix = path if repeat == 1 else f"{path}.{k}"
            first = sources[0]
            sources = [self._definition(definition, prefix, sources, depth, [*chain, name])]
            self.flat.module_classes[prefix] = name
            copies.append((first, sources[0]))
        if path == self.top:
            self.expansion.copies[self.top] = copies
        return sources[0]

    def _definition(self, definition: BlockDefinition, prefix: str, sources: list[str], depth: int,
                    chain: list[str]) -> str:
        inner = definition.graph
        value_of = dict(zip(definition.inputs, sources))
        plan = self._plans.get(definition.name)
        if plan is None:
            plan = self._plans[definition.name] = [(n, inner.in_edges(n)) for n in inner.topological_order()]
        for node_id, incoming in plan:
            if node_id in value_of:
                continue
            node = inner.node(node_id)
            if node_id == definition.output:
                return value_of[incoming[0].source]
            if node.type_id == BLOCK_TYPE:
                value_of[node_id] = self.place(node, f"{prefix}.{node_id}", [value_of[e.source] for e in incoming],
                                               depth + 1, chain)
                continue
            copy = node.copy()
            copy.id = f"{prefix}.{node_id}"
            # A frozen block freezes every layer inside; its learning-rate multiplier scales theirs.
            copy.trainable = copy.trainable and self.flags[0]
            copy.lr_scale = copy.lr_scale * self.flags[1]
            try:
                self.flat._add_node(copy)
            except GraphError as exc:
                raise _Unexpandable(f"{self.top}: layer {copy.id}: {exc.reason}") from None
            self.expansion.origin[copy.id] = self.top
            self.expansion.wires += [(self.top, Edge(value_of[e.source], copy.id, e.port, e.index)) for e in incoming]
            value_of[node_id] = copy.id
        raise _Unexpandable(f"block {definition.name} has no wired output")  # pragma: no cover - checked on load


def read_back(graph: Graph, expansion: Expansion, flat: Analysis) -> Analysis:
    """The analysis of ``graph`` from the analysis ``flat`` of its expansion."""
    analysis = Analysis(revision=graph.revision)
    members: dict[str, list[str]] = {}
    for flat_id, origin in expansion.origin.items():
        if origin != flat_id:
            members.setdefault(origin, []).append(flat_id)
    for node in graph.nodes():
        if node.type_id != BLOCK_TYPE or node.id not in expansion.results:
            analysis.nodes[node.id] = flat.nodes.get(node.id, NodeResult(resolved=dict(node.params)))
            continue
        inside = [flat.nodes[m] for m in members.get(node.id, []) if m in flat.nodes]
        last = flat.nodes.get(expansion.results[node.id])
        analysis.nodes[node.id] = NodeResult(
            output_shape=last.output_shape if last else None, dtype=last.dtype if last else None,
            params=sum(r.params or 0 for r in inside), flops=sum(r.flops or 0 for r in inside),
            resolved=dict(node.params))
    for edge in graph.edges():
        analysis.edge_shapes[edge] = analysis.nodes[edge.source].output_shape
    analysis.output_shapes = dict(flat.output_shapes)
    problems = list(expansion.problems)
    for problem in flat.problems:
        if problem.code == _UNEXPANDED:
            continue
        placement = expansion.origin.get(problem.node_id or "", problem.node_id)
        if placement == problem.node_id:
            problems.append(problem)
            continue
        problems.append(Problem(problem.severity, problem.code, f"inside {problem.node_id}: {problem.message}",
                                placement, None, None))
    problems += _repeat_problems(graph, expansion, flat)
    analysis.problems = problems
    return analysis


def _repeat_problems(graph: Graph, expansion: Expansion, flat: Analysis) -> list[Problem]:
    """An error for each repeated block whose copy gives a shape other than the one it takes."""
    found = []
    for block_id, copies in expansion.copies.items():
        if len(copies) < 2:
            continue
        first, result = copies[0]
        taken = flat.nodes[first].output_shape if first in flat.nodes else None
        given = flat.nodes[result].output_shape if result in flat.nodes else None
        if taken is None or given is None or tuple(taken) == tuple(given):
            continue
        name = graph.node(block_id).params["block"]
        found.append(Problem("error", "block-repeat-shape", (
            f"{block_id} cannot repeat block {name}: its output {format_shape(given)} does not fit its input "
            f"{format_shape(taken)} ({_difference(tuple(taken), tuple(given))}); set repeat to 1, or change the "
            "block so its output has its input's shape"), block_id, "repeat"))
    return found


def _difference(taken: tuple[Any, ...], given: tuple[Any, ...]) -> str:
    if len(taken) != len(given):
        return f"{len(given)} dimensions instead of {len(taken)}"
    for axis, (a, b) in enumerate(zip(taken, given)):
        if a != b:
            return f"size {axis} is {b}, not {a}"
    return "the shapes differ"  # pragma: no cover - equal shapes are not reported


def analyze_expanded(graph: Graph, analyze: Callable[[Graph], Analysis]) -> Analysis:
    """The analysis of a graph with block layers, through ``analyze`` of its expansion."""
    expansion = expand(graph)
    return read_back(graph, expansion, analyze(expansion.graph))


def expanded_for_compiling(graph: Graph, analysis: Analysis | None) -> tuple[Graph, Analysis | None]:
    """The graph the compiler and model.py work on (blocks expanded) and its analysis when still valid."""
    if not has_blocks(graph):
        return graph, analysis
    return expand(graph).graph, None


__all__ = ["BlockRule", "Expansion", "TensorInfo", "analyze_expanded", "expand", "expanded_for_compiling",
           "has_blocks", "read_back"]

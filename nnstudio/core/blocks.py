"""Block definitions a person makes: a named network placed by ``block`` layers, each repeatable.

A :class:`BlockDefinition` is a small graph of its own: its ``input`` layers are the block's inputs
(in :attr:`~BlockDefinition.inputs` order), its one ``output`` layer is the block's result. A layer of
type ``block`` places it: ``params.block`` names the definition in the graph's table
(:attr:`Graph.blocks <nnstudio.core.graph.Graph.blocks>`), ``params.repeat`` stacks that many copies in
sequence. Every placement shares the definition, so an edit of the definition changes them all; the
compiler expands each placement into dotted layer ids (``stage1.0.conv1``), one copy per repeat.

Shapes inside a definition come from the wires into its placement: the ``shape`` of its ``input``
layers is not used.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nnstudio.core.catalog import LayerKind
from nnstudio.core.errors import GraphError, NnstudioError, ParamError
from nnstudio.core.graph import Graph

#: The layer type that places a block definition.
BLOCK_TYPE = "block"
#: The most copies one placement stacks (a 1000-layer network is already more than the editor is for).
MAX_REPEAT = 1000
#: How deep blocks may sit inside blocks.
MAX_DEPTH = 16
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
#: Names the exported model.py uses itself.
_RESERVED_NAMES = frozenset({"Model", "Sequential", "Module", "ModuleList", "ModuleDict"})


class BlockError(NnstudioError):
    """A block definition or placement that cannot be used; the message names the block."""


def block_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a block definition (it becomes a class of model.py), or None."""
    if not isinstance(name, str) or not _NAME.match(name):
        return (f"{name!r} is not a block name: use a letter, then letters, digits or _ (at most 80 "
                "characters), as in ResBlock")
    if keyword.iskeyword(name) or name in _RESERVED_NAMES:
        return f"{name!r} is a name model.py uses itself; pick another block name"
    return None


@dataclass
class BlockDefinition:
    """A named network placed by ``block`` layers: ``graph`` holds its layers, inputs and output."""

    name: str
    graph: Graph
    #: The ids of its ``input`` layers, in the order a placement's wires feed them (wire index k -> inputs[k]).
    inputs: list[str] = field(default_factory=list)
    #: The id of its one ``output`` layer (a list for the file format: one entry).
    outputs: list[str] = field(default_factory=list)

    def copy(self, name: str | None = None) -> BlockDefinition:
        return BlockDefinition(self.name if name is None else name, self.graph.copy(), list(self.inputs),
                               list(self.outputs))

    @property
    def output(self) -> str:
        return self.outputs[0]

    def layers(self) -> list[str]:
        """The ids of its layers other than its inputs and output, in graph order."""
        ends = set(self.inputs) | set(self.outputs)
        return [node_id for node_id in self.graph.node_ids() if node_id not in ends]

    def to_record(self) -> dict[str, Any]:
        """The definition as the project file's ``blocks`` table stores it."""
        nodes, edges = self.graph.to_records()
        return {"nodes": nodes, "edges": edges, "inputs": list(self.inputs), "outputs": list(self.outputs)}

    def key(self) -> str:
        """A text that changes whenever the definition does (caches compare it)."""
        return repr(self.to_record())

    def same_as(self, other: BlockDefinition) -> bool:
        return self.name == other.name and self.to_record() == other.to_record()

    @classmethod
    def from_record(cls, name: str, record: Mapping[str, Any], catalog: Any = None) -> BlockDefinition:
        """Build a definition from its file record; raises BlockError naming the block and the problem."""
        problem = block_name_problem(name)
        if problem:
            raise BlockError(problem)
        try:
            graph = Graph.from_records(record.get("nodes", []), record.get("edges", []),
                                       *([catalog] if catalog is not None else []))
        except ParamError as exc:
            raise BlockError(f"block {name!r}, layer {exc.node_id!r}, parameter {exc.field!r}: {exc.reason}") from None
        except (GraphError, NnstudioError) as exc:
            raise BlockError(f"block {name!r}: {exc}") from None
        definition = cls(name, graph, list(record.get("inputs", [])), list(record.get("outputs", [])))
        problem = definition.problem()
        if problem:
            raise BlockError(f"block {name!r}: {problem}")
        return definition

    def problem(self) -> str | None:
        """Why the definition's layers cannot form a block (inputs, output), or None."""
        graph = self.graph
        if not self.inputs:
            return "a block needs at least one input (an Input layer listed in `inputs`)"
        if len(self.outputs) != 1:
            return f"a block has exactly one output (an Output layer listed in `outputs`), not {len(self.outputs)}"
        if len(set(self.inputs)) != len(self.inputs):
            return "an input is listed twice in `inputs`"
        for node_id in self.inputs:
            if node_id not in graph or graph.node(node_id).spec.kind is not LayerKind.INPUT:
                return f"`inputs` names {node_id!r}, which is not an Input layer of the block"
        output = self.outputs[0]
        if output not in graph or graph.node(output).spec.kind is not LayerKind.OUTPUT:
            return f"`outputs` names {output!r}, which is not an Output layer of the block"
        ends = set(self.inputs) | {output}
        for node in graph.nodes():
            if node.spec.kind in (LayerKind.INPUT, LayerKind.OUTPUT) and node.id not in ends:
                return f"layer {node.id!r} is an {node.spec.title} not listed in `inputs`/`outputs`"
        if not graph.in_edges(output):
            return f"its output {output!r} is not wired"
        return None

    def placed_blocks(self) -> set[str]:
        """The names of the definitions placed inside this one."""
        return {node.params["block"] for node in self.graph.nodes() if node.type_id == BLOCK_TYPE}


def definition_cycle(blocks: Mapping[str, BlockDefinition], start: str) -> list[str] | None:
    """The chain of definitions through which ``start`` places itself (``[A, B, A]``), or None."""
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        if name in path:
            return [*path[path.index(name):], name]
        definition = blocks.get(name)
        if definition is None:
            return None
        path.append(name)
        for inner in sorted(definition.placed_blocks()):
            found = visit(inner)
            if found:
                return found
        path.pop()
        return None

    return visit(start)


def blocks_problem(blocks: Mapping[str, BlockDefinition], placements: Iterable[tuple[str, str]]) -> str | None:
    """The first problem of a table of definitions and the placements ``(layer id, block name)`` using it."""
    for layer, name in placements:
        if name not in blocks:
            return f"layer {layer!r} places block {name!r}, which the project does not define"
    for name, definition in blocks.items():
        for inner in sorted(definition.placed_blocks()):
            if inner not in blocks:
                return f"block {name!r} places block {inner!r}, which the project does not define"
        cycle = definition_cycle(blocks, name)
        if cycle:
            return f"block {name!r} places itself ({' -> '.join(cycle)}); a block cannot contain itself"
    return None


def placements(graph: Graph) -> list[tuple[str, str]]:
    """``(layer id, block name)`` of every ``block`` layer of ``graph``."""
    return [(node.id, node.params["block"]) for node in graph.nodes() if node.type_id == BLOCK_TYPE]


def instances_of(graph: Graph, name: str) -> list[str]:
    """The ids of the layers placing block ``name`` (top level only), in graph order."""
    return [layer for layer, block in placements(graph) if block == name]


def free_definition_name(blocks: Mapping[str, Any], wanted: str = "Block") -> str:
    """``wanted`` when no definition has it, else ``wanted2``, ``wanted3``..."""
    base = re.sub(r"\W", "", wanted) or "Block"
    if not base[0].isalpha():
        base = "Block" + base
    base = base[:70]
    if base not in blocks and block_name_problem(base) is None:
        return base
    i = 2
    while f"{base}{i}" in blocks or block_name_problem(f"{base}{i}"):
        i += 1
    return f"{base}{i}"


def blocks_from_records(records: Mapping[str, Mapping[str, Any]], catalog: Any = None) -> dict[str, BlockDefinition]:
    """The definitions of a project file's ``blocks`` table; raises BlockError naming the first bad one."""
    return {name: BlockDefinition.from_record(name, record, catalog) for name, record in records.items()}


def blocks_to_records(blocks: Mapping[str, BlockDefinition]) -> dict[str, dict[str, Any]]:
    return {name: blocks[name].to_record() for name in sorted(blocks)}


#: How a palette entry (or a drag) names the placement of a project block: ``block:ResBlock``.
ENTRY_PREFIX = "block:"


def placement_entry(entry: str) -> tuple[str, dict[str, Any] | None, str]:
    """``(type id, params, name prefix)`` of a palette entry: a layer type, or ``block:NAME`` (a placement)."""
    if not entry.startswith(ENTRY_PREFIX):
        return entry, None, ""
    name = entry[len(ENTRY_PREFIX):]
    return BLOCK_TYPE, {"block": name}, placement_prefix(name)


def placement_prefix(name: str) -> str:
    """The name prefix of a new placement of block ``name``: ``ResBlock`` -> ``res_block`` (res_block1, ...)."""
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower().strip("_")
    return snake or "block"

"""Undoable edits of blocks a person makes: Make Block, Ungroup, Make Unique, editing a definition.

Each is one :class:`~nnstudio.core.commands.Command`, checked before anything changes (a refusal is
a GraphError whose message names the culprit), and undone exactly: layer ids, parameters, positions,
wires and the table of definitions come back as they were.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from nnstudio.core.blocks import (
    BLOCK_TYPE,
    BlockDefinition,
    block_name_problem,
    definition_cycle,
    free_definition_name,
    instances_of,
    placement_prefix,
)
from nnstudio.core.catalog import LayerKind
from nnstudio.core.commands import Command
from nnstudio.core.errors import GraphError, ParamError
from nnstudio.core.graph import Edge, Graph, Node

#: Vertical room between stacked copies when a repeated block is ungrouped.
_COPY_GAP = 90.0


class _GraphState:
    """Removes and restores layers and wires of a graph, keeping each layer's rank (file order)."""

    @staticmethod
    def remove(graph: Graph, node_ids: Iterable[str], edges: Iterable[Edge]) -> list[tuple[Node, int]]:
        for edge in edges:
            graph._remove_edge(edge)
        removed = []
        for node_id in node_ids:
            order = graph.order_of(node_id)
            removed.append((graph._remove_node(node_id), order))
        return removed

    @staticmethod
    def add(graph: Graph, nodes: Iterable[tuple[Node, int | None]], edges: Iterable[Edge]) -> None:
        for node, order in nodes:
            graph._add_node(node.copy(), order, allow_clash=True)
        graph._add_edges(sorted(edges))


def _definition_changed(graph: Graph, name: str) -> None:
    """Tell every placement of block ``name`` that its definition changed (views and analysis redo it)."""
    for node_id in instances_of(graph, name):
        graph.events.param_changed.emit(node_id, "block")
    graph._touch()


def _wires_touching(graph: Graph, node_ids: Iterable[str]) -> list[Edge]:
    return sorted({e for n in node_ids for e in graph.in_edges(n) + graph.out_edges(n)})


class MakeBlock(Command):
    """Turn the layers ``node_ids`` into one new block definition ``name`` placed by one ``block`` layer.

    The block gets one input per outside layer feeding the selection (in graph order) and one output:
    the selected layer whose result the outside reads (or the selection's one last layer when nothing
    outside reads it). Refused when the selection holds an Input or Output layer, a layer with stored
    weights, two layers read from outside, or leaves out a layer that lies between selected ones.
    """

    def __init__(self, graph: Graph, node_ids: Iterable[str], name: str | None = None,
                 node_id: str | None = None) -> None:
        ids = list(dict.fromkeys(node_ids))
        if not ids:
            raise GraphError("select the layers that should become a block")
        for layer in ids:
            node = graph.node(layer)
            if node.spec.kind in (LayerKind.INPUT, LayerKind.OUTPUT):
                raise GraphError(f"{layer} is an {node.spec.title} layer; the network's ends stay outside blocks", layer)
            if node.weights:
                raise GraphError(f"{layer} holds stored weights; a block's layers start from fresh weights, "
                                 "so it cannot go into a block", layer)
        chosen = set(ids)
        ids.sort(key=graph.order_of)
        name = name or free_definition_name(graph.blocks, "Block")
        problem = block_name_problem(name)
        if problem:
            raise GraphError(problem)
        if name in graph.blocks:
            raise GraphError(f"a block named {name!r} already exists")
        between = _outside_between(graph, chosen)
        if between:
            raise GraphError(f"{between} lies between selected layers; select it too (or fewer layers)", between)
        incoming = [e for e in _wires_touching(graph, ids) if e.target in chosen and e.source not in chosen]
        outgoing = [e for e in _wires_touching(graph, ids) if e.source in chosen and e.target not in chosen]
        sources = sorted({e.source for e in incoming}, key=graph.order_of)
        if not sources:
            raise GraphError("nothing outside feeds the selection; a block needs at least one input")
        results = sorted({e.source for e in outgoing}, key=graph.order_of)
        if not results:
            results = [n for n in ids if not any(t in chosen for t in graph.successors(n))]
        if len(results) != 1:
            raise GraphError(f"a block has one output, but {len(results)} selected layers ({', '.join(results)}) "
                             "are read from outside the selection; select so that one layer feeds the rest")
        self.graph = graph
        self.name = name
        self.node_ids = ids
        self.orders = [graph.order_of(n) for n in ids]
        self.old_edges = _wires_touching(graph, ids)
        self.definition = _definition(graph, name, ids, sources, incoming, results[0])
        left = min(graph.node(n).position[0] for n in ids)
        top = min(graph.node(n).position[1] for n in ids)
        self.block_id = node_id or graph.new_node_id(placement_prefix(name), taken=ids)
        refusal = graph.name_refusal(self.block_id, BLOCK_TYPE, ignore=None)
        if refusal and self.block_id not in chosen:
            raise GraphError(f"{self.block_id!r} cannot name the block layer: {refusal}")
        self.block = Node(self.block_id, BLOCK_TYPE, {"block": name, "repeat": 1}, (left, top))
        self.new_edges = sorted(
            [Edge(source, self.block_id, "in", k) for k, source in enumerate(sources)]
            + [Edge(self.block_id, e.target, e.port, e.index) for e in outgoing])
        self.text = f"Make block {name} of {len(ids)} layer{'s' * (len(ids) != 1)}"

    def redo(self) -> None:
        graph = self.graph
        self.removed = _GraphState.remove(graph, self.node_ids, self.old_edges)
        graph.blocks[self.name] = self.definition.copy()
        _GraphState.add(graph, [(self.block, min(self.orders))], self.new_edges)

    def undo(self) -> None:
        graph = self.graph
        _GraphState.remove(graph, [self.block_id], self.new_edges)
        del graph.blocks[self.name]
        _GraphState.add(graph, self.removed, self.old_edges)


def _outside_between(graph: Graph, chosen: set[str]) -> str | None:
    """A layer outside ``chosen`` that is fed by a chosen layer and feeds one (it would make a cycle)."""
    below: set[str] = set()
    for node_id in chosen:
        below |= graph.descendants(node_id)
    below -= chosen
    for node_id in sorted(below, key=graph.order_of):
        if any(d in chosen for d in graph.descendants(node_id)):
            return node_id
    return None


def _definition(graph: Graph, name: str, ids: list[str], sources: list[str], incoming: list[Edge],
                result: str) -> BlockDefinition:
    """The definition of a new block: copies of ``ids`` at their places, an Input per outside source."""
    inner = Graph(graph.catalog)
    taken = set(ids)
    inputs = []
    for k in range(len(sources)):
        wanted = "x" if len(sources) == 1 else f"x{k + 1}"
        inputs.append(wanted if wanted not in taken else inner.new_node_id("x", taken))
        taken.add(inputs[-1])
    output = "out" if "out" not in taken else inner.new_node_id("out", taken)
    xs = [graph.node(n).position[0] for n in ids]
    ys = [graph.node(n).position[1] for n in ids]
    with inner.events.blocked():
        for node_id in ids:
            inner._add_node(graph.node(node_id).copy(), graph.order_of(node_id), allow_clash=True)
        for k, input_id in enumerate(inputs):
            x = min(xs) + k * 160.0
            inner._add_node(Node(input_id, "input", {}, (x, min(ys) - 90.0)))
        inner._add_node(Node(output, "output", {}, (graph.node(result).position[0], max(ys) + 90.0)))
        edges = [e for e in _wires_touching(graph, ids) if e.source in taken and e.target in taken]
        edges += [Edge(inputs[sources.index(e.source)], e.target, e.port, e.index) for e in incoming]
        edges.append(Edge(result, output))
        inner._add_edges(sorted(set(edges)))
    inner.revision = 0
    return BlockDefinition(name, inner, inputs, [output])


class Ungroup(Command):
    """Put the layers of block layer ``node_id`` back in its place (one copy per repeat), wired as inside.

    Layers keep their ids inside the definition where those are free (so Ungroup right after Make
    Block gives the layers back as they were), else they get the next free name. The definition is
    dropped with its last placement.
    """

    def __init__(self, graph: Graph, node_id: str) -> None:
        block = graph.node(node_id)
        if block.type_id != BLOCK_TYPE:
            raise GraphError(f"{node_id} is not a block", node_id)
        name = block.params["block"]
        definition = graph.blocks.get(name)
        if definition is None:
            raise GraphError(f"{node_id} places block {name!r}, which the project does not define", node_id)
        repeat = block.params["repeat"]
        incoming = graph.in_edges(node_id)
        if len(incoming) != len(definition.inputs):
            raise GraphError(f"{node_id} has {len(incoming)} input wire(s), but block {name} takes "
                             f"{len(definition.inputs)}; wire it first", node_id)
        if repeat > 1 and len(definition.inputs) != 1:
            raise GraphError(f"{node_id} repeats a block with {len(definition.inputs)} inputs; set repeat to 1", node_id)
        self.graph, self.block_id, self.name = graph, node_id, name
        self.old_edges = _wires_touching(graph, [node_id])
        self.old_block = block.copy()
        self.block_order = graph.order_of(node_id)
        self.drops_definition = instances_of(graph, name) == [node_id] and not any(
            name in d.placed_blocks() for other, d in graph.blocks.items() if other != name)
        self.definition = definition.copy()
        self.new_nodes, self.new_edges = self._expand(graph, definition, incoming, repeat)
        self.text = f"Ungroup {node_id}"

    def _expand(self, graph: Graph, definition: BlockDefinition, incoming: list[Edge], repeat: int
                ) -> tuple[list[tuple[Node, int | None]], list[Edge]]:
        inner = definition.graph
        layers = definition.layers()
        taken = set(graph.node_ids()) - {self.block_id}
        used_orders = {graph.order_of(n) for n in graph.node_ids()} - {self.block_order}
        left = min((inner.node(n).position[0] for n in layers), default=0.0)
        top = min((inner.node(n).position[1] for n in layers), default=0.0)
        height = max((inner.node(n).position[1] for n in layers), default=0.0) - top + _COPY_GAP
        nodes: list[tuple[Node, int | None]] = []
        edges: list[Edge] = []
        feeding = [e.source for e in incoming]  # the outside value feeding each input of this copy
        for copy in range(repeat):
            renamed: dict[str, str] = {}
            for layer in layers:
                wanted = layer if copy == 0 else f"{layer}_{copy + 1}"
                if wanted in taken or not graph.is_free(wanted, ignore=self.block_id) or any(
                        wanted.startswith(t + ".") or t.startswith(wanted + ".") for t in taken):
                    wanted = graph.new_node_id(layer.rsplit(".", 1)[-1], taken)
                taken.add(wanted)
                renamed[layer] = wanted
                node = inner.node(layer).copy()
                node.id = wanted
                x, y = node.position
                node.position = (x - left + self.old_block.position[0],
                                 y - top + self.old_block.position[1] + copy * height)
                order = inner.order_of(layer) if copy == 0 and inner.order_of(layer) not in used_orders else None
                if order is not None:
                    used_orders.add(order)
                nodes.append((node, order))
            for edge in inner.edges():
                if edge.target == definition.output:
                    continue
                if edge.source in definition.inputs:
                    source = feeding[definition.inputs.index(edge.source)]
                else:
                    source = renamed[edge.source]
                edges.append(Edge(source, renamed[edge.target], edge.port, edge.index))
            result = inner.in_edges(definition.output)[0].source
            feeding = [feeding[definition.inputs.index(result)] if result in definition.inputs else renamed[result]]
        for edge in graph.out_edges(self.block_id):
            edges.append(Edge(feeding[0], edge.target, edge.port, edge.index))
        if self.block_order not in {o for _, o in nodes} and nodes and nodes[0][1] is None:
            nodes[0] = (nodes[0][0], self.block_order)
        return nodes, edges

    def redo(self) -> None:
        graph = self.graph
        _GraphState.remove(graph, [self.block_id], self.old_edges)
        if self.drops_definition:
            del graph.blocks[self.name]
        _GraphState.add(graph, self.new_nodes, self.new_edges)

    def undo(self) -> None:
        graph = self.graph
        _GraphState.remove(graph, [n.id for n, _ in self.new_nodes], self.new_edges)
        if self.drops_definition:
            graph.blocks[self.name] = self.definition.copy()
        _GraphState.add(graph, [(self.old_block, self.block_order)], self.old_edges)


class MakeUnique(Command):
    """Give block layer ``node_id`` a definition of its own (a copy named ``name``): later edits of it
    no longer change the other placements."""

    def __init__(self, graph: Graph, node_id: str, name: str | None = None) -> None:
        node = graph.node(node_id)
        if node.type_id != BLOCK_TYPE:
            raise GraphError(f"{node_id} is not a block", node_id)
        old = node.params["block"]
        if old not in graph.blocks:
            raise GraphError(f"{node_id} places block {old!r}, which the project does not define", node_id)
        name = name or free_definition_name(graph.blocks, old)
        problem = block_name_problem(name)
        if problem or name in graph.blocks:
            raise GraphError(problem or f"a block named {name!r} already exists", node_id)
        self.graph, self.node_id, self.old, self.new = graph, node_id, old, name
        self.definition = graph.blocks[old].copy(name)
        self.text = f"Make {node_id} unique ({name})"

    def redo(self) -> None:
        self.graph.blocks[self.new] = self.definition.copy()
        self.graph._set_param(self.node_id, "block", self.new)

    def undo(self) -> None:
        self.graph._set_param(self.node_id, "block", self.old)
        del self.graph.blocks[self.new]


class SetBlockParam(Command):
    """Change a parameter of layer ``layer`` inside block definition ``name``: every placement follows."""

    def __init__(self, graph: Graph, name: str, layer: str, param: str, value: Any) -> None:
        definition = graph.blocks.get(name)
        if definition is None:
            raise GraphError(f"the project defines no block {name!r}")
        node = definition.graph.node(layer)
        try:
            self.new = node.spec.param(param).validate(value)
        except ParamError as exc:
            raise GraphError(f"block {name}, layer {layer}, parameter {param!r}: {exc.reason}") from None
        self.graph, self.name, self.layer, self.param = graph, name, layer, param
        self.old = node.params[param]
        self.text = f"Set {param} of {layer} in block {name}"

    def _set(self, value: Any) -> None:
        self.graph.blocks[self.name].graph._set_param(self.layer, self.param, value)
        _definition_changed(self.graph, self.name)

    def redo(self) -> None:
        self._set(self.new)

    def undo(self) -> None:
        self._set(self.old)


class AddDefinition(Command):
    """Add a block definition to the project's table (from the block library or a block file)."""

    def __init__(self, graph: Graph, definition: BlockDefinition) -> None:
        problem = block_name_problem(definition.name) or definition.problem()
        if problem:
            raise GraphError(f"block {definition.name!r}: {problem}")
        if definition.name in graph.blocks:
            raise GraphError(f"a block named {definition.name!r} already exists")
        missing = sorted(definition.placed_blocks() - set(graph.blocks))
        if missing:
            raise GraphError(f"block {definition.name!r} places block {missing[0]!r}, which the project does not define")
        self.graph, self.definition = graph, definition.copy()
        self.text = f"Add block {definition.name}"

    def redo(self) -> None:
        self.graph.blocks[self.definition.name] = self.definition.copy()
        self.graph._touch()

    def undo(self) -> None:
        del self.graph.blocks[self.definition.name]
        self.graph._touch()


def add_definitions(graph: Graph, definitions: dict[str, BlockDefinition]) -> list[Command]:
    """AddDefinition commands for ``definitions``, each after the definitions it places."""
    commands: list[Command] = []
    present = set(graph.blocks)
    pending = dict(definitions)
    while pending:
        ready = [name for name, d in pending.items() if d.placed_blocks() <= present | {name}]
        if not ready:
            name = sorted(pending)[0]
            missing = sorted(pending[name].placed_blocks() - present)
            raise GraphError(f"block {name!r} places block {missing[0]!r}, which is neither in the project nor "
                             "among the blocks added")
        for name in sorted(ready):
            commands.append(_AddDefinitionLater(graph, pending.pop(name)))
            present.add(name)
    return commands


class _AddDefinitionLater(AddDefinition):
    """An AddDefinition checked when it runs (the definitions it places are added just before it)."""

    def __init__(self, graph: Graph, definition: BlockDefinition) -> None:
        problem = block_name_problem(definition.name) or definition.problem()
        if problem:
            raise GraphError(f"block {definition.name!r}: {problem}")
        if definition.name in graph.blocks:
            raise GraphError(f"a block named {definition.name!r} already exists")
        self.graph, self.definition = graph, definition.copy()
        self.text = f"Add block {definition.name}"


class EditDefinition(Command):
    """Replace the layers of block definition ``name`` by those of ``definition`` (an edited copy):
    every placement follows. Refused when the edited block is not a valid block, or places itself."""

    def __init__(self, graph: Graph, name: str, definition: BlockDefinition) -> None:
        old = graph.blocks.get(name)
        if old is None:
            raise GraphError(f"the project defines no block {name!r}")
        new = definition.copy(name)
        problem = new.problem()
        if problem:
            raise GraphError(f"block {name}: {problem}")
        blocks = {**graph.blocks, name: new}
        for inner in sorted(new.placed_blocks()):
            if inner not in blocks:
                raise GraphError(f"block {name} places block {inner!r}, which the project does not define")
        cycle = definition_cycle(blocks, name)
        if cycle:
            raise GraphError(f"block {name} would place itself ({' -> '.join(cycle)})")
        self.graph, self.name, self.old, self.new = graph, name, old.copy(), new
        self.text = f"Edit block {name}"

    def _set(self, definition: BlockDefinition) -> None:
        self.graph.blocks[self.name] = definition.copy()
        _definition_changed(self.graph, self.name)

    def redo(self) -> None:
        self._set(self.new)

    def undo(self) -> None:
        self._set(self.old)

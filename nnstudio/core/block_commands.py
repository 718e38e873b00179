"""Undoable edits of whole blocks: renaming a block, and adding a network as a new block.

A *block* is a container path of dotted layer ids (``layer1`` holds ``layer1.0.conv1``); it is the
submodule those layers sit in, in the compiled network and in ``model.py``. Renaming a block renames
the leading part of every id inside it, so it is one command here (not one per layer), validated
before anything changes. :class:`AddBlock` puts a whole network (an imported model) into a graph
under a new block name, as one undoable step. Moving a block is an ordinary
:class:`~nnstudio.core.commands.MoveNodes` of its layers.
"""

from __future__ import annotations

from collections.abc import Iterable

from nnstudio.core import names
from nnstudio.core.catalog import LayerKind
from nnstudio.core.commands import Command
from nnstudio.core.errors import GraphError
from nnstudio.core.graph import Edge, Graph, Node, position_problem

#: Type id of the layer that calls another layer's module again; its ``module`` names that layer.
CALL_TYPE = "call"
#: The layer that passes its input on unchanged (the entry of an added block fed to several layers).
ENTRY_TYPE = "identity"


def block_members(graph: Graph, path: str) -> list[str]:
    """The ids of the layers inside block ``path``, in graph order (empty when it is not a block)."""
    prefix = path + "."
    return [node_id for node_id in graph.node_ids() if node_id.startswith(prefix)]


def block_rename_refusal(graph: Graph, old: str, new: str) -> str | None:
    """Why block ``old`` cannot be renamed ``new`` (one sentence), or None when it can."""
    if not block_members(graph, old):
        return f"there is no block named `{old}`"
    if new == old:
        return f"the block is already named `{old}`"
    reason = names.refusal(new, graph.is_free)
    if reason:
        return reason
    if new.startswith(old + ".") or old.startswith(new + "."):
        return f"`{new}` would put the block inside itself; pick a name that does not contain `{old}`"
    if new in graph:
        return f"a layer named `{new}` already exists"
    if not graph.is_free(new):
        outer = next((p for p in _prefixes(new) if p in graph), None)
        if outer is not None:
            return f"`{outer}` is a layer, so no block can sit inside it as `{new}`"
        return f"a block named `{new}` already exists"
    longest = max(len(new) + len(member) - len(old) for member in block_members(graph, old))
    if longest > names.MAX_NAME_LENGTH:
        return f"the layers inside would get names longer than {names.MAX_NAME_LENGTH} characters"
    return None


class RenameBlock(Command):
    """Rename block ``old`` to ``new``: every layer inside gets the new leading part, wires and all.

    Calls of a renamed layer's module (``call`` layers anywhere) follow the new name, and so do the
    module class names an import recorded for the block's paths. Refused (GraphError) before anything
    changes when the new name is malformed, clashes with an ``nn.Module`` attribute, or is taken.
    """

    def __init__(self, graph: Graph, old: str, new: str) -> None:
        refusal = block_rename_refusal(graph, old, new)
        if refusal:
            raise GraphError(f"{new!r} cannot name the block: {refusal}" if new != old else refusal)
        self.graph = graph
        self.old, self.new = old, new
        self.renames = [(member, new + member[len(old):]) for member in block_members(graph, old)]
        self.text = f"Rename block {old} to {new}"

    def _moved(self, node_id: str, before: str, after: str) -> str:
        if node_id == before or node_id.startswith(before + "."):
            return after + node_id[len(before):]
        return node_id

    def _apply(self, before: str, after: str, renames: Iterable[tuple[str, str]]) -> None:
        graph = self.graph
        for source, target in renames:
            # Checked as a whole at construction; a layer refused one by one would be an old file's.
            graph._rename_node(source, target, check=False)
        for node in graph.nodes():
            if node.type_id == CALL_TYPE:
                module = node.params.get("module")
                if isinstance(module, str) and self._moved(module, before, after) != module:
                    graph._set_param(node.id, "module", self._moved(module, before, after))
        classes = graph.module_classes
        for path in [p for p in classes if p == before or p.startswith(before + ".")]:
            classes[self._moved(path, before, after)] = classes.pop(path)

    def redo(self) -> None:
        self._apply(self.old, self.new, self.renames)

    def undo(self) -> None:
        self._apply(self.new, self.old, [(b, a) for a, b in reversed(self.renames)])


class AddBlock(Command):
    """Add the network ``source`` to ``graph`` as block ``name`` (one undo step), with its stored weights.

    The source's Output layers are left out (its last layers' outputs become the block's free
    outputs). Its Input is left out too when it feeds exactly one single-wire port (that port becomes
    the block's free input); otherwise it becomes an Identity layer ``name.<input>`` that passes the
    input on to every layer it fed. Positions are moved so the block's top-left corner is ``at``.
    """

    def __init__(self, graph: Graph, source: Graph, name: str, at: tuple[float, float] = (0.0, 0.0),
                 module_classes: dict[str, str] | None = None) -> None:
        reason = names.refusal(name, graph.is_free)
        if reason:
            raise GraphError(f"{name!r} cannot name the block: {reason}")
        if name in graph or not graph.is_free(name):
            raise GraphError(f"{name!r} cannot name the block: the name is taken")
        problem = position_problem(at)
        if problem:
            raise GraphError(f"position: {problem}")
        self.graph, self.name = graph, name
        self.nodes, self.edges = _block_records(source, name)
        if not self.nodes:
            raise GraphError(f"{name!r}: the network to add has no layers")
        for node in self.nodes:
            problem = names.name_problem(node.id)
            if problem:
                raise GraphError(f"{node.id!r} cannot name a layer: {problem}", node.id)
        left = min(node.position[0] for node in self.nodes)
        top = min(node.position[1] for node in self.nodes)
        for node in self.nodes:
            node.position = (node.position[0] - left + at[0], node.position[1] - top + at[1])
            problem = position_problem(node.position)
            if problem:
                raise GraphError(f"position: {problem}", node.id)
        classes = dict(module_classes if module_classes is not None else source.module_classes)
        self.classes = {(f"{name}.{path}" if path else name): cls for path, cls in classes.items()}
        self.text = f"Add {name}"

    @property
    def node_ids(self) -> list[str]:
        return [node.id for node in self.nodes]

    def redo(self) -> None:
        added: list[str] = []
        try:
            for node in self.nodes:
                self.graph._add_node(node.copy())
                added.append(node.id)
            self.graph._add_edges(list(self.edges))
        except GraphError:
            for node_id in reversed(added):
                for edge in self.graph.in_edges(node_id) + self.graph.out_edges(node_id):
                    self.graph._remove_edge(edge)
                self.graph._remove_node(node_id)
            raise
        self.graph.module_classes.update(self.classes)

    def undo(self) -> None:
        for edge in self.edges:
            self.graph._remove_edge(edge)
        for node in reversed(self.nodes):
            self.graph._remove_node(node.id)
        for path in self.classes:
            self.graph.module_classes.pop(path, None)


def _block_records(source: Graph, name: str) -> tuple[list[Node], list[Edge]]:
    """The layers and wires of ``source`` renamed into block ``name``, its Inputs and Outputs handled."""
    def inside(node_id: str) -> str:
        return f"{name}.{node_id}"

    nodes: list[Node] = []
    renamed: dict[str, str] = {}
    dropped: set[str] = set()
    for node in source.nodes():
        kind = node.spec.kind
        if kind is LayerKind.OUTPUT:
            dropped.add(node.id)
            continue
        if kind is LayerKind.INPUT:
            consumers = source.out_edges(node.id)
            single = (len(consumers) == 1
                      and not source.node(consumers[0].target).spec.port(consumers[0].port).variadic)
            if single or not consumers:
                dropped.add(node.id)
                continue
            entry = Node(inside(node.id), ENTRY_TYPE, {}, node.position)
            nodes.append(entry)
            renamed[node.id] = entry.id
            continue
        copy = node.copy()
        copy.id = inside(node.id)
        if node.type_id == CALL_TYPE and isinstance(node.params.get("module"), str):
            copy.params["module"] = inside(node.params["module"])
        nodes.append(copy)
        renamed[node.id] = copy.id
    edges = [Edge(renamed[e.source], renamed[e.target], e.port, e.index) for e in source.edges()
             if e.source not in dropped and e.target not in dropped]
    return nodes, sorted(edges)


def _prefixes(node_id: str) -> list[str]:
    parts = node_id.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def free_block_name(graph: Graph, wanted: str) -> str:
    """``wanted`` when it can name a new block here, else ``wanted_2``, ``wanted_3``... (made valid)."""
    base = "".join(c if c.isalnum() or c == "_" else "_" for c in wanted).lstrip("_") or "model"
    if base[0].isdigit():
        base = f"m{base}"
    candidate, i = base, 1
    while names.name_problem(candidate) is not None or candidate in graph or not graph.is_free(candidate):
        i += 1
        candidate = f"{base}_{i}"
    return candidate


def unit_positions(graph: Graph, ids: Iterable[str], delta: tuple[float, float]) -> dict[str, tuple[float, float]]:
    """New positions of ``ids`` moved by ``delta`` (for a MoveNodes of a whole block)."""
    dx, dy = delta
    return {node_id: (graph.node(node_id).position[0] + dx, graph.node(node_id).position[1] + dy)
            for node_id in ids}


"""Undoable graph edits behind the one-click fixes: bypass a layer, insert one on a wire, fit a size.

They are built from the project at click time (the analysis may have run on a copy of the graph),
check their preconditions when constructed and raise :class:`GraphError` before changing anything.
"""

from __future__ import annotations

from typing import Any

from nnstudio.core.commands import CallbackCommand, Command, SetParam
from nnstudio.core.errors import GraphError
from nnstudio.core.graph import Edge, Graph, Node
from nnstudio.core.problems import Fix
from nnstudio.core.project import Project
from nnstudio.core.settings import LOSS_TITLES, LossName


class BypassNode(Command):
    """Delete a single-input layer and wire its input straight to everything it fed.

    The new wires keep the old ports and indices, so a Concat still joins its inputs in order.
    """

    def __init__(self, graph: Graph, node_id: str) -> None:
        node = graph.node(node_id)
        inputs = graph.in_edges(node_id)
        if len(inputs) != 1:
            raise GraphError(f"{node.spec.title} can only be bypassed with exactly one input", node_id)
        self.graph = graph
        self.node: Node = node.copy()
        self.order = graph.order_of(node_id)  # undo puts it back in its place in files and lists
        self.input = inputs[0]
        self.outputs = graph.out_edges(node_id)
        self.bridges = [Edge(self.input.source, e.target, e.port, e.index) for e in self.outputs]
        self.text = f"Remove {node_id}"

    def redo(self) -> None:
        g = self.graph
        for edge in [self.input, *self.outputs]:
            g._remove_edge(edge)
        g._remove_node(self.node.id)
        for edge in self.bridges:
            g._add_edge(edge)

    def undo(self) -> None:
        g = self.graph
        for edge in self.bridges:
            g._remove_edge(edge)
        g._add_node(self.node.copy(), self.order)
        for edge in [self.input, *self.outputs]:
            g._add_edge(edge)


class InsertOnEdge(Command):
    """Put a new layer on an existing wire: ``source -> new -> target`` (same port and index)."""

    def __init__(self, graph: Graph, edge: Edge, type_id: str, params: dict[str, Any] | None = None) -> None:
        if edge not in graph.in_edges(edge.target):
            raise GraphError(f"there is no wire {edge.source} -> {edge.target}", edge.target)
        spec = graph.catalog.get(type_id)
        self.graph = graph
        self.edge = edge
        source, target = graph.node(edge.source).position, graph.node(edge.target).position
        middle = ((source[0] + target[0]) / 2, (source[1] + target[1]) / 2)
        self.node = Node(graph.new_node_id(spec.prefix), type_id, spec.validate_params(params or {}), middle)
        self.text = f"Insert {spec.title}"

    def redo(self) -> None:
        g = self.graph
        g._remove_edge(self.edge)
        g._add_node(self.node.copy())
        g._add_edge(Edge(self.edge.source, self.node.id))
        g._add_edge(Edge(self.node.id, self.edge.target, self.edge.port, self.edge.index))

    def undo(self) -> None:
        g = self.graph
        g._remove_edge(Edge(self.node.id, self.edge.target, self.edge.port, self.edge.index))
        g._remove_edge(Edge(self.edge.source, self.node.id))
        g._remove_node(self.node.id)
        g._add_edge(self.edge)


def set_loss(project: Project, loss: LossName) -> CallbackCommand:
    """Return a command that switches the project's loss to ``loss`` (undo restores the old one)."""
    old = project.settings.loss

    def apply() -> None:
        project.settings.loss = loss

    def revert() -> None:
        project.settings.loss = old

    return CallbackCommand(f"Use {LOSS_TITLES[loss]}", apply, revert)


def fit_pinned_size(node_id: str, field: str, fitting: Any) -> Fix:
    """Returns the fix that sets a pinned size to the value the input implies.

    Pinning the fitting value (rather than unpinning) keeps what the person chose to fix by hand;
    the problem's message tells them unpinning is the other way out.
    """
    shown = list(fitting) if isinstance(fitting, tuple) else fitting
    return Fix(f"Set {field} to {shown}",
               lambda project: SetParam(project.graph, node_id, field, fitting))

"""Collapsed views of a walked autograd graph: one box per layer, any layer expandable to its ops."""

from __future__ import annotations

from collections.abc import Collection

import networkx as nx

from nnstudio.autograd.walk import OP, PARAM

LAYER = "layer"

#: Graphs with more nodes than this open collapsed (one box per layer) in the view and the CLI.
COLLAPSE_ABOVE = 150


def group_of(graph: nx.DiGraph, node: str, expanded: Collection[str]) -> str:
    """Returns the id ``node`` is drawn as: its own id when its layer is expanded or unknown."""
    layer = graph.nodes[node]["layer"]
    if layer is None or layer in expanded:
        return node
    return f"layer:{layer}"


def collapse_layers(graph: nx.DiGraph, expanded: Collection[str] = ()) -> nx.DiGraph:
    """Returns ``graph`` with every layer not in ``expanded`` folded into one ``layer`` node.

    A layer node carries ``members`` (the ids it stands for, in graph order), ``ops`` (their op
    labels), ``params`` (parameter names) and the shapes of its parameters; nodes of expanded
    layers and nodes without a layer (the loss, say) are copied as they are. Node order follows the
    first member's order, so the result is as deterministic as the walk.
    """
    expanded = frozenset(expanded)
    groups: dict[str, list[str]] = {}
    for node in sorted(graph.nodes, key=lambda n: graph.nodes[n]["order"]):
        groups.setdefault(group_of(graph, node, expanded), []).append(node)
    collapsed: nx.DiGraph[str] = nx.DiGraph()
    for order, (group, members) in enumerate(groups.items()):
        if len(members) == 1 and members[0] == group:
            collapsed.add_node(group, **{**graph.nodes[group], "order": order, "members": (group,)})
            continue
        layer = graph.nodes[members[0]]["layer"]
        ops = tuple(graph.nodes[m]["label"] for m in members if graph.nodes[m]["kind"] == OP)
        params = tuple(graph.nodes[m]["param"] for m in members if graph.nodes[m]["kind"] == PARAM)
        shapes = tuple(graph.nodes[m]["shape"] for m in members if graph.nodes[m]["kind"] == PARAM)
        collapsed.add_node(group, kind=LAYER, op=None, label=layer, layer=layer, param=None,
                           shape=None, dtype=None, saved=(), order=order, members=tuple(members),
                           ops=ops, params=params, param_shapes=shapes)
    for u, v in graph.edges():
        gu, gv = group_of(graph, u, expanded), group_of(graph, v, expanded)
        if gu != gv and not collapsed.has_edge(gu, gv):
            collapsed.add_edge(gu, gv)
    return collapsed

"""The autograd view's layout: the one layered engine (:mod:`nnstudio.core.layered`) on a networkx graph.

Autograd graphs are ops fed by parameter leaves; the engine's ``"compact"`` ranking sinks each leaf
to just above the op it feeds and orders it beside that op, so the data path stays straight.
"""

from __future__ import annotations

import networkx as nx

from nnstudio.core.layered import Layout, LayoutOptions, PlacedNode, RoutedEdge, SizeOf
from nnstudio.core.layered import layered_layout as _engine

__all__ = ["Layout", "LayoutOptions", "PlacedNode", "RoutedEdge", "SizeOf", "layered_layout"]

#: What the autograd view asks of the engine (its defaults: compact ranks, small boxes, high effort).
AUTOGRAD_OPTIONS = LayoutOptions(ranking="compact")


def layered_layout(graph: nx.DiGraph, size_of: SizeOf | None = None,
                   options: LayoutOptions = AUTOGRAD_OPTIONS) -> Layout:
    """Return the layered layout of ``graph`` (node insertion order breaks ties); see the engine."""
    return _engine(list(graph.nodes), list(graph.edges()), size_of, options)

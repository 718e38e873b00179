"""The editor's auto-layout: where each card of a network goes, from the one layered layout engine.

Data flows top to bottom, like the bundled examples: every layer of the same depth (longest path
from an Input) shares a row, wires spanning several rows are routed around the main chain, crossings
are reduced and chains come out as straight columns. The work is done by
:mod:`nnstudio.core.layered` (the engine the autograd view uses too) with the editor's options:
rows by depth, cards of the canvas's size, the canvas's spacing.

Pure Python and deterministic: ties are broken by the graph's insertion order, never by hashing.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from nnstudio.core.graph import Graph
from nnstudio.core.layered import LayoutOptions, count_inversions
from nnstudio.core.layered import layered_layout as _engine

#: Vertical distance between layers and horizontal distance between neighbouring cards (scene px).
LAYER_GAP = 90.0
COLUMN_GAP = 180.0
#: A card on the canvas (nnstudio.ui.canvas_style's node size): the gaps above are card + spacing.
CARD_WIDTH = 150.0
CARD_HEIGHT = 62.0


def layer_of_each_node(graph: Graph) -> dict[str, int]:
    """Return each node's layer: the length of the longest path reaching it from a node without inputs."""
    layers: dict[str, int] = {}
    for node_id in graph.topological_order():
        sources = [e.source for e in graph.in_edges(node_id)]
        layers[node_id] = max((layers[s] + 1 for s in sources), default=0)
    return layers


def count_crossings(order: Sequence[Sequence[Hashable]], links: Sequence[tuple[Hashable, Hashable]]) -> int:
    """Return the number of pairs of links that cross, for links joining consecutive rows of ``order``."""
    where = {v: (row, i) for row, vertices in enumerate(order) for i, v in enumerate(vertices)}
    by_row: dict[int, list[tuple[int, int]]] = {}
    for upper, lower in links:
        row_u, pos_u = where[upper]
        by_row.setdefault(row_u, []).append((pos_u, where[lower][1]))
    return sum(count_inversions(pairs) for pairs in by_row.values())


def editor_options(layer_gap: float = LAYER_GAP, column_gap: float = COLUMN_GAP, sweeps: int = 24) -> LayoutOptions:
    """Return the engine's options for cards ``column_gap`` apart in rows ``layer_gap`` apart."""
    return LayoutOptions(ranking="longest_path", rank_gap=layer_gap - CARD_HEIGHT,
                         node_gap=column_gap - CARD_WIDTH, dummy_width=column_gap * 0.6 - CARD_WIDTH / 2,
                         margin=0.0, order_sweeps=sweeps, center_forks=True)


def layered_layout(graph: Graph, *, layer_gap: float = LAYER_GAP, column_gap: float = COLUMN_GAP,
                   origin: tuple[float, float] = (0.0, 0.0), sweeps: int = 24) -> dict[str, tuple[float, float]]:
    """Return a position for every node (top-left corner of its card), layered top to bottom.

    Raises :class:`~nnstudio.core.errors.GraphError` when the graph has a cycle (commands never make
    one, so this only happens for graphs built by hand).
    """
    if not len(graph):
        return {}
    graph.topological_order()  # a cycle is a GraphError naming a node, as everywhere in the editor
    layout = _engine(graph.node_ids(), sorted((e.source, e.target) for e in graph.edges()),
                     lambda _node: (CARD_WIDTH, CARD_HEIGHT), editor_options(layer_gap, column_gap, sweeps))
    placed = layout.nodes.values()
    left = min(p.x for p in placed)
    top = min(p.y for p in placed)
    return {str(p.id): (origin[0] + _snap(p.x - left), origin[1] + _snap(p.y - top)) for p in placed}


def _snap(value: float) -> float:
    return round(value / 10.0) * 10.0

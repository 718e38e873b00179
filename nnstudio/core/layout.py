"""Layered (Sugiyama-style) auto-layout of a graph: where each node goes, as plain coordinates.

Data flows top to bottom, like the bundled examples. The steps are the classic ones:

1. layers by longest path from the sources, so every wire points downwards;
2. wires spanning several layers get invisible waypoints ("dummies"), one per crossed layer, so the
   ordering step sees them and routes long skips around the main chain;
3. crossing reduction by barycentre sweeps (down, then up, repeated), keeping the best order found;
4. x coordinates pulled towards the mean of each node's neighbours, then spread apart so cards never
   overlap, which straightens chains.

Pure Python and deterministic: ties are broken by the graph's insertion order, never by hashing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from nnstudio.core.graph import Graph

#: Vertical distance between layers and horizontal distance between neighbouring cards (scene px).
LAYER_GAP = 90.0
COLUMN_GAP = 180.0


@dataclass(frozen=True)
class _Dummy:
    """A waypoint of a long wire in one layer; compared by identity of the wire and the layer."""

    edge_index: int
    layer: int


_Vertex = str | _Dummy


def layer_of_each_node(graph: Graph) -> dict[str, int]:
    """Each node's layer: the length of the longest path reaching it from a node without inputs."""
    layers: dict[str, int] = {}
    for node_id in graph.topological_order():
        sources = [e.source for e in graph.in_edges(node_id)]
        layers[node_id] = max((layers[s] + 1 for s in sources), default=0)
    return layers


def count_crossings(order: Sequence[Sequence[_Vertex]], links: Sequence[tuple[_Vertex, _Vertex]]) -> int:
    """The number of pairs of links that cross, for links joining consecutive rows of ``order``."""
    where = {v: (row, i) for row, vertices in enumerate(order) for i, v in enumerate(vertices)}
    by_row: dict[int, list[tuple[int, int]]] = {}
    for upper, lower in links:
        row_u, pos_u = where[upper]
        _, pos_l = where[lower]
        by_row.setdefault(row_u, []).append((pos_u, pos_l))
    crossings = 0
    for pairs in by_row.values():
        pairs.sort()
        # After sorting by the upper end, each crossing is an inversion of the lower ends.
        lowers = [lo for _, lo in pairs]
        for i, a in enumerate(lowers):
            for j in range(i + 1, len(lowers)):
                if lowers[j] < a and pairs[j][0] != pairs[i][0]:
                    crossings += 1
    return crossings


def layered_layout(graph: Graph, *, layer_gap: float = LAYER_GAP, column_gap: float = COLUMN_GAP,
                   origin: tuple[float, float] = (0.0, 0.0), sweeps: int = 8) -> dict[str, tuple[float, float]]:
    """A position for every node (top-left corner of its card), layered top to bottom.

    Raises :class:`~nnstudio.core.errors.GraphError` when the graph has a cycle (commands never make
    one, so this only happens for graphs built by hand).
    """
    if not len(graph):
        return {}
    layers = layer_of_each_node(graph)
    insertion = {node_id: i for i, node_id in enumerate(graph.node_ids())}

    # Rows of vertices, and links between consecutive rows (long wires split at dummies).
    rows: list[list[_Vertex]] = [[] for _ in range(max(layers.values()) + 1)]
    for node_id in sorted(layers, key=insertion.__getitem__):
        rows[layers[node_id]].append(node_id)
    links: list[tuple[_Vertex, _Vertex]] = []
    for index, edge in enumerate(sorted(graph.edges())):
        previous: _Vertex = edge.source
        for layer in range(layers[edge.source] + 1, layers[edge.target]):
            dummy = _Dummy(index, layer)
            rows[layer].append(dummy)
            links.append((previous, dummy))
            previous = dummy
        links.append((previous, edge.target))

    order = _reduce_crossings(rows, links, sweeps)
    xs = _assign_columns(order, links, column_gap)
    left = min(xs[v] for row in order for v in row if isinstance(v, str))
    return {v: (origin[0] + xs[v] - left, origin[1] + row_index * layer_gap)
            for row_index, row in enumerate(order) for v in row if isinstance(v, str)}


def _neighbours(links: Sequence[tuple[_Vertex, _Vertex]]) -> tuple[dict[_Vertex, list[_Vertex]],
                                                                   dict[_Vertex, list[_Vertex]]]:
    above: dict[_Vertex, list[_Vertex]] = {}
    below: dict[_Vertex, list[_Vertex]] = {}
    for upper, lower in links:
        below.setdefault(upper, []).append(lower)
        above.setdefault(lower, []).append(upper)
    return above, below


def _reduce_crossings(rows: list[list[_Vertex]], links: Sequence[tuple[_Vertex, _Vertex]],
                      sweeps: int) -> list[list[_Vertex]]:
    """Rows reordered by alternating barycentre sweeps; the order with fewest crossings wins."""
    above, below = _neighbours(links)
    order = [list(row) for row in rows]
    best, best_crossings = [list(r) for r in order], count_crossings(order, links)
    for sweep in range(sweeps):
        downward = sweep % 2 == 0
        row_indices = range(1, len(order)) if downward else range(len(order) - 2, -1, -1)
        for r in row_indices:
            fixed_row = order[r - 1] if downward else order[r + 1]
            position = {v: i for i, v in enumerate(fixed_row)}
            neighbours = above if downward else below
            current = {v: i for i, v in enumerate(order[r])}

            def barycentre(v: _Vertex, position: Mapping[_Vertex, int] = position,
                           neighbours: Mapping[_Vertex, list[_Vertex]] = neighbours,
                           current: Mapping[_Vertex, int] = current) -> tuple[float, int]:
                linked = [position[n] for n in neighbours.get(v, ()) if n in position]
                # A vertex with no neighbour on the fixed side keeps its place.
                centre = sum(linked) / len(linked) if linked else float(current[v])
                return (centre, current[v])

            order[r].sort(key=barycentre)
        crossings = count_crossings(order, links)
        if crossings < best_crossings:
            best, best_crossings = [list(r) for r in order], crossings
        if best_crossings == 0:
            break
    return best


def _assign_columns(order: list[list[_Vertex]], links: Sequence[tuple[_Vertex, _Vertex]],
                    column_gap: float) -> dict[_Vertex, float]:
    """x of every vertex: near the mean of its neighbours, keeping row order and spacing."""
    above, below = _neighbours(links)
    xs: dict[_Vertex, float] = {}
    for row in order:
        for i, v in enumerate(row):
            xs[v] = i * column_gap

    def gap(a: _Vertex, b: _Vertex) -> float:
        # Waypoints are thin lines, not cards: they need less room.
        return column_gap if isinstance(a, str) and isinstance(b, str) else column_gap * 0.6

    for sweep in range(6):
        neighbours = above if sweep % 2 == 0 else below
        rows = order if sweep % 2 == 0 else list(reversed(order))
        for row in rows:
            wanted = []
            for v in row:
                linked = neighbours.get(v, ())
                wanted.append(sum(xs[n] for n in linked) / len(linked) if linked else xs[v])
            # Spread left-to-right and right-to-left from the wishes, then meet halfway.
            forward = list(wanted)
            for i in range(1, len(row)):
                forward[i] = max(forward[i], forward[i - 1] + gap(row[i - 1], row[i]))
            backward = list(wanted)
            for i in range(len(row) - 2, -1, -1):
                backward[i] = min(backward[i], backward[i + 1] - gap(row[i], row[i + 1]))
            for i, v in enumerate(row):
                xs[v] = (forward[i] + backward[i]) / 2
            # Meeting halfway can leave two cards too close; push them apart once more.
            for i in range(1, len(row)):
                xs[row[i]] = max(xs[row[i]], xs[row[i - 1]] + gap(row[i - 1], row[i]))
    return {v: round(x / 10.0) * 10.0 for v, x in xs.items()}

"""Edge-crossing counts of layered drawings, the same measure for nnstudio's layouts and Graphviz's.

A crossing is two edge segments between the same two consecutive ranks whose ends swap order:
one starts left of the other and ends right of it. Segments that share an end point never cross.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence

from nnstudio.core.layered import count_inversions

__all__ = ["count_inversions", "count_polyline_crossings"]


def count_polyline_crossings(polylines: Iterable[Sequence[tuple[float, float]]],
                             rank_ys: Sequence[float], tolerance: float = 0.5) -> int:
    """Returns the crossings of edges drawn as polylines, measured between consecutive ranks.

    Each polyline is a list of (x, y) points running from one node centre to another (y grows
    downwards or upwards, either way); ``rank_ys`` are the y of the rank centres. Every edge is cut
    at each rank line it spans, giving one straight segment per gap, and the gaps are counted with
    :func:`count_inversions`. The same cut is applied to nnstudio's routes and to Graphviz's splines,
    so the two counts compare like with like.
    """
    ranks = sorted(rank_ys)
    gaps: dict[int, list[tuple[float, float]]] = {}
    for line in polylines:
        points = sorted(line, key=lambda p: p[1])
        if len(points) < 2:
            continue
        top, bottom = points[0][1], points[-1][1]
        lo = bisect_left(ranks, top - tolerance)
        hi = bisect_left(ranks, bottom + tolerance)
        cuts = [(_x_at(points, ranks[k]), k) for k in range(lo, hi) if top - tolerance <= ranks[k]
                <= bottom + tolerance]
        for (x0, k0), (x1, _) in zip(cuts, cuts[1:]):
            gaps.setdefault(k0, []).append((x0, x1))
    return sum(count_inversions(segments) for segments in gaps.values())


def _x_at(points: Sequence[tuple[float, float]], y: float) -> float:
    """Returns the x where a polyline sorted by y meets the horizontal line at ``y``."""
    if y <= points[0][1]:
        return points[0][0]
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if y0 <= y <= y1:
            return x0 if y1 == y0 else x0 + (x1 - x0) * (y - y0) / (y1 - y0)
    return points[-1][0]

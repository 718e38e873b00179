"""Layered layout: golden drawings of small graphs, crossing counts, separation and determinism."""

from __future__ import annotations

import json
import os
from pathlib import Path

import networkx as nx
import pytest

from nnstudio.autograd.crossings import count_inversions, count_polyline_crossings
from nnstudio.autograd.layout import layered_layout

GOLDEN = Path(__file__).parent / "golden"


def _graph(edges: list[tuple[str, str]], nodes: list[str] = ()) -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(nodes)
    graph.add_edges_from(edges)
    return graph


GRAPHS = {
    # a chain with a skip connection (a residual block) and two parameter leaves
    "residual": _graph([("x", "conv1"), ("w1", "conv1"), ("conv1", "relu"), ("relu", "conv2"),
                        ("w2", "conv2"), ("conv2", "add"), ("x", "add"), ("add", "loss")]),
    # three permutations stacked: tangled in insertion order, untangled by the sweeps
    "crossed": _graph([("t1", "m3"), ("t2", "m1"), ("t3", "m2"), ("m1", "b2"), ("m2", "b3"),
                       ("m3", "b1"), ("b1", "z"), ("b2", "z"), ("b3", "z")],
                      nodes=["t1", "t2", "t3", "m1", "m2", "m3", "b1", "b2", "b3", "z"]),
    # a long edge spanning four ranks next to a chain
    "long_edge": _graph([("s", "n1"), ("n1", "n2"), ("n2", "n3"), ("n3", "t"), ("s", "t"), ("p", "n3")]),
    # a cycle (a reused module in a collapsed drawing) must still lay out
    "cycle": _graph([("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]),
}


def _snapshot(graph: nx.DiGraph) -> dict:
    layout = layered_layout(graph, lambda n: (20.0 + 8 * len(str(n)), 30.0))
    return {
        "crossings": layout.crossings,
        "size": [round(layout.width, 1), round(layout.height, 1)],
        "nodes": {str(n): [round(b.x, 1), round(b.y, 1), b.rank, b.order] for n, b in layout.nodes.items()},
        "edges": [[str(e.source), str(e.target), [[round(x, 1), round(y, 1)] for x, y in e.points]]
                  for e in layout.edges],
    }


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_layout_matches_golden_file(name):
    path = GOLDEN / f"layout_{name}.json"
    snapshot = _snapshot(GRAPHS[name])
    if os.environ.get("NNSTUDIO_REGEN_GOLDEN") == "1":
        path.write_text(json.dumps(snapshot, indent=1) + "\n", encoding="utf-8")
    assert snapshot == json.loads(path.read_text(encoding="utf-8"))


def test_ranks_follow_edges_and_leaves_sit_above_their_consumer():
    layout = layered_layout(GRAPHS["residual"])
    nodes = layout.nodes
    for u, v in GRAPHS["residual"].edges:
        assert nodes[u].rank < nodes[v].rank
    assert nodes["w2"].rank == nodes["conv2"].rank - 1  # not stuck on the top row


def test_tangled_permutations_are_untangled():
    assert layered_layout(GRAPHS["crossed"]).crossings == 0


def test_complete_bipartite_keeps_its_one_unavoidable_crossing():
    k22 = _graph([("a", "c"), ("a", "d"), ("b", "c"), ("b", "d")])
    assert layered_layout(k22).crossings == 1


def test_boxes_in_a_rank_never_overlap():
    graph = nx.gnp_random_graph(60, 0.06, seed=3, directed=True)
    dag = nx.DiGraph((u, v) for u, v in graph.edges if u < v)
    layout = layered_layout(dag, lambda n: (30.0 + n % 7 * 9, 24.0))
    by_rank: dict[int, list] = {}
    for box in layout.nodes.values():
        by_rank.setdefault(box.rank, []).append(box)
    for boxes in by_rank.values():
        boxes.sort(key=lambda b: b.x)
        for left, right in zip(boxes, boxes[1:]):
            assert left.x + left.width / 2 < right.x - right.width / 2


def test_long_edges_run_through_every_rank_they_span():
    layout = layered_layout(GRAPHS["long_edge"])
    edge = next(e for e in layout.edges if (e.source, e.target) == ("s", "t"))
    span = layout.nodes["t"].rank - layout.nodes["s"].rank
    assert len(edge.points) == span + 1


def test_cycles_are_drawn_with_edges_kept_in_their_direction():
    layout = layered_layout(GRAPHS["cycle"])
    assert {(e.source, e.target) for e in layout.edges} == set(GRAPHS["cycle"].edges)


def test_layout_is_deterministic():
    graph = nx.DiGraph((u, v) for u, v in nx.gnp_random_graph(80, 0.05, seed=7, directed=True).edges
                       if u < v)
    assert _snapshot(graph) == _snapshot(graph.copy())


def test_counted_crossings_match_the_drawn_geometry():
    graph = nx.DiGraph((u, v) for u, v in nx.gnp_random_graph(40, 0.1, seed=11, directed=True).edges
                       if u < v)
    layout = layered_layout(graph)
    lines = [[(e.points[0][0], layout.nodes[e.source].y), *e.points[1:-1],
              (e.points[-1][0], layout.nodes[e.target].y)] for e in layout.edges]
    # ports spread along a box never add crossings, so centre-to-centre lines count the same
    centre_lines = [[(layout.nodes[e.source].x, layout.nodes[e.source].y), *e.points[1:-1],
                     (layout.nodes[e.target].x, layout.nodes[e.target].y)] for e in layout.edges]
    assert count_polyline_crossings(centre_lines, layout.rank_ys) == layout.crossings
    assert count_polyline_crossings(lines, layout.rank_ys) >= 0


def test_inversions_on_hand_made_segments():
    assert count_inversions([]) == 0
    assert count_inversions([(0, 1), (1, 0)]) == 1  # an X
    assert count_inversions([(0, 0), (0, 1), (1, 1)]) == 0  # shared ends do not cross
    assert count_inversions([(0, 2), (1, 1), (2, 0)]) == 3  # every pair crosses
    assert count_inversions([(0, 1), (1, 0), (2, 3), (3, 2)]) == 2


def test_polyline_crossings_between_ranks():
    ranks = [0.0, 10.0, 20.0]
    # two edges that swap sides between rank 0 and 1, then run parallel to rank 2
    lines = [[(0.0, 0.0), (10.0, 10.0), (10.0, 20.0)], [(10.0, 0.0), (0.0, 10.0), (0.0, 20.0)]]
    assert count_polyline_crossings(lines, ranks) == 1
    # a curve described by many points counts once per gap, not once per point
    wiggle = [(5.0 + (i % 2), i * 1.0) for i in range(21)]
    assert count_polyline_crossings([wiggle, [(0.0, 0.0), (0.0, 20.0)]], ranks) == 0

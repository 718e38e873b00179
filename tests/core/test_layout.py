"""Layered auto-layout: wires point down, cards never overlap, crossings are removed, output is stable."""

from __future__ import annotations

import pytest

from nnstudio.core.examples import load_example
from nnstudio.core.graph import Graph
from nnstudio.core.layout import COLUMN_GAP, LAYER_GAP, count_crossings, layer_of_each_node, layered_layout


def _graph(node_ids: list[str], wires: list[tuple[str, str]], merge: tuple[str, ...] = ()) -> Graph:
    nodes = [{"id": n, "type": "add" if n in merge else "relu"} for n in node_ids]
    edges = []
    for source, target in wires:
        index = sum(1 for e in edges if e["target"] == target)
        edges.append({"source": source, "target": target, "port": "in", "index": index})
    return Graph.from_records(nodes, edges)


def _crossings(graph: Graph, positions: dict[str, tuple[float, float]]) -> int:
    """Crossings between wires joining adjacent layers, judged from the laid-out x coordinates."""
    wires = [(positions[e.source], positions[e.target]) for e in graph.edges()]
    count = 0
    for i, (a0, a1) in enumerate(wires):
        for b0, b1 in wires[i + 1:]:
            if a0[1] == b0[1] and a1[1] == b1[1] and a0 != b0 and a1 != b1:
                if (a0[0] - b0[0]) * (a1[0] - b1[0]) < 0:
                    count += 1
    return count


def test_layers_follow_the_longest_path():
    graph = _graph(["a", "b", "c", "d"], [("a", "b"), ("b", "c"), ("a", "d"), ("c", "d")], merge=("d",))
    assert layer_of_each_node(graph) == {"a": 0, "b": 1, "c": 2, "d": 3}


def test_every_wire_points_down_and_cards_in_a_layer_do_not_overlap():
    graph = load_example("residual-block").graph
    positions = layered_layout(graph)
    assert set(positions) == set(graph.node_ids())
    for edge in graph.edges():
        assert positions[edge.target][1] > positions[edge.source][1]
    by_row: dict[float, list[float]] = {}
    for x, y in positions.values():
        by_row.setdefault(y, []).append(x)
    for xs in by_row.values():
        xs.sort()
        assert all(b - a >= COLUMN_GAP for a, b in zip(xs, xs[1:]))
    assert all(y % LAYER_GAP == 0 for _, y in positions.values())


def test_a_chain_is_laid_out_as_one_straight_column():
    graph = load_example("digits-cnn").graph
    positions = layered_layout(graph, origin=(100.0, 50.0))
    assert {x for x, _ in positions.values()} == {100.0}
    assert sorted(y for _, y in positions.values()) == [50.0 + i * LAYER_GAP for i in range(len(graph))]


def test_barycentre_sweeps_remove_crossings_that_insertion_order_would_make():
    # Insertion order puts c left of d, but a (left) feeds d and b (right) feeds c: one crossing.
    graph = _graph(["a", "b", "c", "d", "e", "f"],
                   [("a", "d"), ("b", "c"), ("d", "f"), ("c", "e")])
    naive_rows = [["a", "b"], ["c", "d"], ["e", "f"]]
    links = [(e.source, e.target) for e in graph.edges()]
    assert count_crossings(naive_rows, links) > 0
    assert _crossings(graph, layered_layout(graph)) == 0


def test_a_long_skip_wire_is_routed_beside_the_branch_without_crossings():
    graph = load_example("residual-block").graph
    positions = layered_layout(graph)
    branch_x = {positions[n][0] for n in ("conv1", "bn1", "relu2", "conv2", "bn2")}
    assert len(branch_x) == 1  # the branch is one straight column
    assert _crossings(graph, positions) == 0


def test_layout_is_deterministic_and_ignores_current_positions():
    graph = load_example("residual-block").graph
    first = layered_layout(graph)
    moved = graph.copy()
    for node in moved.nodes():
        node.position = (node.position[1] * 3, -node.position[0])
    assert layered_layout(moved) == first
    assert layered_layout(graph) == first


def test_disconnected_nodes_share_the_first_layer_side_by_side():
    graph = _graph(["a", "b", "c"], [])
    positions = layered_layout(graph)
    assert [positions[n] for n in ("a", "b", "c")] == [(0.0, 0.0), (COLUMN_GAP, 0.0), (2 * COLUMN_GAP, 0.0)]


def test_empty_graph_has_no_positions():
    assert layered_layout(Graph()) == {}


@pytest.mark.parametrize("width", [3, 7])
def test_wide_fan_out_and_fan_in_is_crossing_free(width):
    branches = [f"b{i}" for i in range(width)]
    graph = _graph(["top", *branches, "join"], [("top", b) for b in branches] + [(b, "join") for b in branches],
                   merge=("join",))
    positions = layered_layout(graph)
    assert _crossings(graph, positions) == 0
    # The single source and sink sit centred over and under the fan.
    xs = sorted(positions[b][0] for b in branches)
    assert positions["top"][0] == positions["join"][0]
    assert abs(positions["top"][0] - (xs[0] + xs[-1]) / 2) <= 10

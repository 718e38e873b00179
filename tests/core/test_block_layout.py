"""The nested layout: every layer placed, each block's cards together and apart from other blocks."""

from __future__ import annotations

from nnstudio.core.block_layout import nested_layout
from nnstudio.core.graph import Graph
from nnstudio.core.layout import CARD_HEIGHT, CARD_WIDTH


def _residual_stages(stages: int = 3, blocks: int = 2) -> Graph:
    nodes = [{"id": "x", "type": "input", "params": {"shape": [8]}}]
    edges = []
    previous = "x"
    for s in range(stages):
        for b in range(blocks):
            path = f"layer{s}.{b}"
            nodes += [{"id": f"{path}.fc1", "type": "linear", "params": {"out_features": 8}},
                      {"id": f"{path}.act", "type": "relu"},
                      {"id": f"{path}.add", "type": "add"}]
            edges += [{"source": previous, "target": f"{path}.fc1"}, {"source": f"{path}.fc1", "target": f"{path}.act"},
                      {"source": f"{path}.act", "target": f"{path}.add", "index": 0},
                      {"source": previous, "target": f"{path}.add", "index": 1}]
            previous = f"{path}.add"
    nodes.append({"id": "out", "type": "output"})
    edges.append({"source": previous, "target": "out"})
    return Graph.from_records(nodes, edges)


def _box(positions, ids):
    xs = [positions[i][0] for i in ids]
    ys = [positions[i][1] for i in ids]
    return min(xs), min(ys), max(xs) + CARD_WIDTH, max(ys) + CARD_HEIGHT


def test_every_layer_is_placed_and_blocks_do_not_overlap():
    graph = _residual_stages()
    positions = nested_layout(graph)
    assert set(positions) == set(graph.node_ids())
    cards = list(positions.values())
    for i, (x, y) in enumerate(cards):  # no two cards on top of each other
        for ox, oy in cards[i + 1:]:
            assert abs(x - ox) >= CARD_WIDTH or abs(y - oy) >= CARD_HEIGHT
    boxes = {f"layer{s}.{b}": _box(positions, [n for n in positions if n.startswith(f"layer{s}.{b}.")])
             for s in range(3) for b in range(2)}
    names = sorted(boxes)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            ax0, ay0, ax1, ay1 = boxes[a]
            bx0, by0, bx1, by1 = boxes[b]
            assert ax1 <= bx0 or bx1 <= ax0 or ay1 <= by0 or by1 <= ay0, (a, b)
    assert positions["x"][1] < positions["layer0.0.fc1"][1] < positions["layer2.1.add"][1] < positions["out"][1]


def test_a_flat_graph_gets_the_one_layout_of_its_layers():
    graph = Graph.from_records([{"id": "x", "type": "input"}, {"id": "relu1", "type": "relu"},
                                {"id": "out", "type": "output"}],
                               [{"source": "x", "target": "relu1"}, {"source": "relu1", "target": "out"}])
    positions = nested_layout(graph)
    assert positions["x"][0] == positions["relu1"][0] == positions["out"][0]
    assert positions["x"][1] < positions["relu1"][1] < positions["out"][1]

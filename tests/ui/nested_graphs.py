"""Small networks with nested blocks (dotted layer ids), built by hand for the canvas's tests."""

from __future__ import annotations

from nnstudio.core.block_layout import nested_layout
from nnstudio.core.graph import Graph


def residual_network() -> Graph:
    """``x -> stem -> stage1 (two residual blocks) -> head -> out``, laid out as an import would be."""
    conv = {"out_channels": 8, "kernel_size": 3, "padding": 1}
    nodes = [
        {"id": "x", "type": "input", "params": {"shape": [3, 8, 8]}},
        {"id": "stem.conv", "type": "conv2d", "params": conv},
        {"id": "stem.relu", "type": "relu"},
        {"id": "stage1.0.conv1", "type": "conv2d", "params": conv},
        {"id": "stage1.0.relu", "type": "relu"},
        {"id": "stage1.0.conv2", "type": "conv2d", "params": conv},
        {"id": "stage1.0.add", "type": "add"},
        {"id": "stage1.1.conv1", "type": "conv2d", "params": conv},
        {"id": "stage1.1.relu", "type": "relu"},
        {"id": "stage1.1.conv2", "type": "conv2d", "params": conv},
        {"id": "stage1.1.add", "type": "add"},
        {"id": "head.flatten", "type": "flatten"},
        {"id": "head.fc", "type": "linear", "params": {"out_features": 10}},
        {"id": "out", "type": "output"},
    ]
    chain = ["x", "stem.conv", "stem.relu", "stage1.0.conv1", "stage1.0.relu", "stage1.0.conv2", "stage1.0.add",
             "stage1.1.conv1", "stage1.1.relu", "stage1.1.conv2", "stage1.1.add", "head.flatten", "head.fc", "out"]
    edges = [{"source": a, "target": b} for a, b in zip(chain, chain[1:])]
    edges += [{"source": "stem.relu", "target": "stage1.0.add", "index": 1},
              {"source": "stage1.0.add", "target": "stage1.1.add", "index": 1}]
    graph = Graph.from_records(nodes, edges)
    graph.module_classes = {"stem": "Stem", "stage1": "Sequential", "stage1.0": "BasicBlock",
                            "stage1.1": "BasicBlock", "head": "Head"}
    for node_id, position in nested_layout(graph).items():
        graph.node(node_id).position = position
    return graph

"""SVG and DOT output: well-formed, one titled group per node, collapsed layers, gradient colours."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest
import torch
from torch import nn

from nnstudio.autograd.appearance import DARK
from nnstudio.autograd.collapse import LAYER, collapse_layers
from nnstudio.autograd.gradients import (
    EXPLODING,
    NAN,
    NAN_COLOR,
    VANISHING,
    classify,
    find_gradient_problems,
    gradient_color,
    node_gradient_norms,
)
from nnstudio.autograd.render import display_graph, layout_graph, to_dot, to_svg
from nnstudio.autograd.walk import trace_autograd

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def trace():
    torch.manual_seed(0)
    model = nn.Sequential()
    model.add_module("conv", nn.Conv2d(1, 2, 3))
    model.add_module("act", nn.ReLU())
    model.add_module("flat", nn.Flatten())
    model.add_module("head", nn.Linear(8, 3))
    return trace_autograd(model, torch.randn(2, 1, 4, 4))


def test_svg_parses_and_has_a_titled_group_per_node(trace):
    display = display_graph(trace.graph, collapsed=False)
    svg = to_svg(display, layout_graph(display), trace.root)
    root = ET.fromstring(svg)
    groups = [g for g in root.iter(f"{SVG}g") if "node" in g.get("class", "").split()]
    assert {g.get("id") for g in groups} == set(trace.graph.nodes)
    conv = next(g for g in groups if g.find(f"{SVG}title").text.startswith("ConvolutionBackward0"))
    tooltip = conv.find(f"{SVG}title").text
    assert "layer conv" in tooltip and "[2, 1, 4, 4] float32" in tooltip  # saved input shape, dtype
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "conv.weight" in texts and "Convolution" in texts
    assert float(root.get("width")) > 0 and float(root.get("height")) > 0


def test_collapsed_drawing_has_one_box_per_layer(trace):
    collapsed = collapse_layers(trace.graph)
    layers = {d["layer"] for _, d in trace.graph.nodes(data=True) if d["layer"]}
    boxes = {d["layer"] for _, d in collapsed.nodes(data=True) if d["kind"] == LAYER}
    assert boxes == layers
    conv = collapsed.nodes["layer:conv"]
    assert set(conv["params"]) == {"conv.weight", "conv.bias"}
    assert "Convolution" in conv["ops"]
    assert collapsed.has_edge("layer:conv", "layer:act")
    opened = collapse_layers(trace.graph, expanded={"conv"})
    assert "param:conv.weight" in opened and "layer:conv" not in opened and "layer:head" in opened
    svg = to_svg(collapsed, layout_graph(collapsed), trace.root)
    assert len([g for g in ET.fromstring(svg).iter(f"{SVG}g") if "layer" in g.get("class", "")]) == len(layers)


def test_dot_lists_every_node_and_edge(trace):
    dot = to_dot(trace.graph, trace.root, DARK)
    assert dot.startswith('digraph "autograd" {') and dot.rstrip().endswith("}")
    for node in trace.graph.nodes:
        assert f'"{node}" [label=' in dot
    for u, v in trace.graph.edges:
        assert f'"{u}" -> "{v}";' in dot
    assert DARK.background in dot


def test_gradient_colours_and_flags(trace):
    norms = {"conv.weight": 1e-9, "conv.bias": 0.5, "head.weight": float("nan"), "head.bias": 5e3}
    problems = find_gradient_problems(norms, trace.graph)
    assert [(p.param, p.kind) for p in problems] == [
        ("head.weight", NAN), ("head.bias", EXPLODING), ("conv.weight", VANISHING)]
    assert problems[0].layer == "head" and "NaN" in problems[0].message
    per_node = node_gradient_norms(trace.graph, norms)
    assert per_node["param:conv.weight"] == 1e-9
    conv_op = next(n for n, d in trace.graph.nodes(data=True) if d["op"] == "ConvolutionBackward0")
    assert per_node[conv_op] == pytest.approx(math.sqrt(1e-18 + 0.25))
    svg = to_svg(trace.graph, layout_graph(trace.graph), trace.root, gradient_norms=per_node)
    assert NAN_COLOR in svg and gradient_color(0.5) in svg
    ET.fromstring(svg)


def test_gradient_scale_is_logarithmic_and_ordered():
    assert classify(1e-8) == VANISHING and classify(2e3) == EXPLODING and classify(float("inf")) == NAN
    assert classify(1.0) is None
    assert gradient_color(1e-12) == gradient_color(1e-8)  # clamped at the scale's ends
    assert gradient_color(1e-8) != gradient_color(1e-2) != gradient_color(1e4)
    assert gradient_color(float("nan")) == NAN_COLOR

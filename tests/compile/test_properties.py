"""Property tests: random valid networks compile, train a step and export equal code; random broken
networks give Problems with a node id and CompileError, never any other exception.

Run more examples with HYPOTHESIS_PROFILE=long.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
from graph_builders import graph_from
from hypothesis import given, settings
from hypothesis import strategies as st

from nnstudio.compile import CompileError, analyze, compile_graph, generate_source
from nnstudio.core.commands import Disconnect, SetParam
from nnstudio.core.graph import Edge, Graph

#: The active profile (tests/conftest.py registers dev, ci and long; HYPOTHESIS_PROFILE picks one).
PROFILE = settings()

ACTIVATIONS = ["relu", "leaky_relu", "gelu", "silu", "sigmoid", "tanh"]


@dataclass
class Builder:
    """Grows a network while tracking the shape of one sample at its tip."""

    draw: Any
    nodes: dict[str, tuple[str, dict[str, Any]] | str] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)

    def add(self, type_id: str, params: dict[str, Any] | None, *sources: str) -> str:
        node_id = f"n{len(self.nodes)}"
        self.nodes[node_id] = (type_id, params or {})
        self.edges += [(s, node_id) for s in sources]
        return node_id

    # One step on the tip; returns (new tip, its per-sample shape).
    def step(self, tip: str, shape: tuple[int, ...], depth: int) -> tuple[str, tuple[int, ...]]:
        draw = self.draw
        choices = ["activation", "dropout", "branch"] if depth < 2 else ["activation", "dropout"]
        if len(shape) == 3:
            choices += ["conv", "batch_norm", "flatten"] + (["pool"] if min(shape[1:]) >= 2 else [])
            choices += ["adaptive_pool"]
        elif len(shape) == 2:
            choices += ["linear", "layer_norm", "recurrent", "flatten"] + (["attention"] if shape[1] % 2 == 0 else [])
        else:
            choices += ["linear", "layer_norm", "batch_norm", "reshape"]
        kind = draw(st.sampled_from(choices))
        if kind == "activation":
            return self.add(draw(st.sampled_from(ACTIVATIONS)), None, tip), shape
        if kind == "dropout":
            return self.add("dropout", {"p": 0.1}, tip), shape
        if kind == "conv":
            out = draw(st.integers(1, 5))
            return self.add("conv2d", {"out_channels": out, "kernel_size": 3, "padding": 1}, tip), (out, *shape[1:])
        if kind == "batch_norm":
            return self.add("batch_norm2d" if len(shape) == 3 else "batch_norm1d", None, tip), shape
        if kind == "pool":
            pool = draw(st.sampled_from(["max_pool2d", "avg_pool2d"]))
            return self.add(pool, {"kernel_size": 2}, tip), (shape[0], shape[1] // 2, shape[2] // 2)
        if kind == "adaptive_pool":
            return self.add("adaptive_avg_pool2d", {"output_size": [1, 1]}, tip), (shape[0], 1, 1)
        if kind == "flatten":
            size = 1
            for d in shape:
                size *= d
            return self.add("flatten", None, tip), (size,)
        if kind == "linear":
            out = draw(st.integers(1, 8))
            return self.add("linear", {"out_features": out}, tip), (*shape[:-1], out)
        if kind == "layer_norm":
            return self.add("layer_norm", None, tip), shape
        if kind == "recurrent":
            hidden = draw(st.integers(1, 6))
            output = draw(st.sampled_from(["sequence", "last", "hidden"]))
            node = self.add(draw(st.sampled_from(["lstm", "gru"])), {"hidden_size": hidden, "output": output}, tip)
            return node, ((shape[0], hidden) if output == "sequence" else (hidden,))
        if kind == "attention":
            return self.add("multihead_attention", {"num_heads": 2}, tip), shape
        if kind == "reshape":
            if shape[0] % 2:
                return self.add("reshape", {"shape": [1, -1]}, tip), (1, shape[0])
            return self.add("reshape", {"shape": [2, -1]}, tip), (2, shape[0] // 2)
        # A branch: a skip or a short path, and a path, from the tip, merged by Add, Multiply or Concat.
        merge = draw(st.sampled_from(["add", "concat", "multiply"]))
        left = tip if draw(st.booleans()) else self.same_shape_step(tip, shape)
        right = self.same_shape_step(tip, shape)
        if merge == "concat":
            return self.add("concat", {"dim": 1}, left, right), (shape[0] * 2, *shape[1:])
        return self.add(merge, None, left, right), shape

    def same_shape_step(self, tip: str, shape: tuple[int, ...]) -> str:
        """A layer that keeps the shape: an activation, a norm, or a size-keeping conv / linear."""
        options = ["activation", "dropout", "norm", "weights"]
        kind = self.draw(st.sampled_from(options))
        if kind == "activation":
            return self.add(self.draw(st.sampled_from(ACTIVATIONS)), None, tip)
        if kind == "dropout":
            return self.add("dropout", {"p": 0.2}, tip)
        if kind == "norm":
            return self.add("batch_norm2d" if len(shape) == 3 else "layer_norm", None, tip)
        if len(shape) == 3:
            return self.add("conv2d", {"out_channels": shape[0], "kernel_size": 3, "padding": 1}, tip)
        return self.add("linear", {"out_features": shape[-1]}, tip)


@st.composite
def valid_networks(draw) -> tuple[Graph, tuple[int, ...]]:
    family = draw(st.sampled_from(["image", "sequence", "vector"]))
    shape = {
        "image": (draw(st.integers(1, 3)), draw(st.integers(2, 8)), draw(st.integers(2, 8))),
        "sequence": (draw(st.integers(1, 4)), draw(st.integers(1, 4)) * 2),
        "vector": (draw(st.integers(1, 10)),),
    }[family]
    builder = Builder(draw)
    tip = builder.add("input", {"shape": list(shape)})
    for _ in range(draw(st.integers(1, 6))):
        tip, shape = builder.step(tip, shape, 0)
    builder.nodes["out"] = "output"
    builder.edges.append((tip, "out"))
    return graph_from(builder.nodes, builder.edges), shape


def real_input(graph: Graph) -> torch.Tensor:
    shape = graph.node("n0").params["shape"]
    return torch.rand(3, *shape, requires_grad=True)


@settings(PROFILE)
@given(valid_networks())
def test_random_valid_networks_compile_train_and_export_equal_code(case):
    graph, final_shape = case
    analysis = analyze(graph)
    assert analysis.ok, [str(p) for p in analysis.errors]
    assert analysis.output_shape == ("N", *final_shape)
    module = compile_graph(graph, analysis)
    x = real_input(graph)
    out = module(x)
    assert tuple(out.shape) == (3, *final_shape)
    out.square().mean().backward()
    assert x.grad is not None and x.grad.shape == x.shape
    assert all(p.grad is not None for p in module.parameters())
    namespace: dict = {}
    exec(compile(generate_source(graph, analysis=analysis), "model.py", "exec"), namespace)
    exported = namespace["Model"]()
    exported.load_state_dict(module.state_dict())
    module.eval()
    exported.eval()
    with torch.no_grad():
        assert torch.equal(module(x), exported(x))


MUTATIONS = ["cycle", "dangling", "pinned", "absurd", "stray"]


def break_network(draw, graph: Graph) -> str:
    """Apply one random fault to a valid network; return its kind."""
    analysis = analyze(graph)
    layers = [n for n in graph.topological_order() if n not in ("n0", "out")]
    mutation = draw(st.sampled_from(MUTATIONS))
    if mutation == "cycle":
        first, second = draw(st.sampled_from(layers)), draw(st.sampled_from(layers))
        # Commands refuse loops; a corrupted document could still hold one.
        graph._g.add_edge(first, second, key=("in", 99), edge=Edge(first, second, "in", 99))
        graph._g.add_edge(second, first, key=("in", 98), edge=Edge(second, first, "in", 98))
    elif mutation == "dangling":
        Disconnect(graph, draw(st.sampled_from(graph.edges()))).redo()
    elif mutation == "pinned":
        sized = [(n, name) for n in layers for name in analysis.nodes[n].inferred]
        if not sized:
            return break_network_stray(graph)
        node_id, name = draw(st.sampled_from(sized))
        fitting = analysis.nodes[node_id].resolved[name]
        wrong = fitting + draw(st.integers(1, 50)) if isinstance(fitting, int) else [fitting[-1] + 1]
        SetParam(graph, node_id, name, wrong).redo()
    elif mutation == "absurd":
        node_id = draw(st.sampled_from(layers))
        return break_with_absurd_kernel(graph, node_id)
    else:
        return break_network_stray(graph)
    return mutation


def break_network_stray(graph: Graph) -> str:
    from nnstudio.core.commands import AddNode

    AddNode(graph, "linear", node_id="stray").redo()
    return "stray"


def break_with_absurd_kernel(graph: Graph, node_id: str) -> str:
    """Put a layer whose window is far larger than its input after ``node_id``."""
    from nnstudio.core.commands import AddNode, Connect

    rank = len(analyze(graph).nodes[node_id].output_shape)
    absurd = {4: ("conv2d", {"kernel_size": 4096}), 3: ("conv1d", {"kernel_size": 4096}),
              2: ("reshape", {"shape": [4096, 4096]})}[rank]
    AddNode(graph, absurd[0], params=absurd[1], node_id="huge").redo()
    for edge in graph.out_edges(node_id):
        Disconnect(graph, edge).redo()
        Connect(graph, "huge", edge.target, edge.port).redo()
    Connect(graph, node_id, "huge").redo()
    return "absurd"


@settings(PROFILE)
@given(st.data())
def test_random_broken_networks_report_problems_and_raise_only_compile_error(data):
    graph, _ = data.draw(valid_networks())
    mutation = break_network(data.draw, graph)
    analysis = analyze(graph)
    assert analysis.errors, f"{mutation} went unnoticed"
    assert all(p.node_id is not None for p in analysis.errors), [str(p) for p in analysis.errors]
    assert all(p.node_id in graph for p in analysis.errors)
    with pytest.raises(CompileError) as caught:
        compile_graph(graph)
    assert caught.value.node_id in graph
    with pytest.raises(CompileError):
        generate_source(graph)

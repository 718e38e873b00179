"""The compiled torch.fx module: what training, export and the autograd view run."""

from __future__ import annotations

import pytest
import torch
from graph_builders import chain, graph_from
from torch import fx

from nnstudio.compile import CompileError, analyze, compile_graph
from nnstudio.core.commands import SetParam
from nnstudio.core.errors import GraphError
from nnstudio.core.examples import list_examples, load_example

EXAMPLES = [e.name for e in list_examples()]


def sample(analysis, batch=3):
    first = next(iter(analysis.nodes.values()))
    if first.dtype == "int64":  # token ids for an Embedding (the sequence examples)
        return torch.randint(0, 2, (batch, *first.output_shape[1:]))
    return torch.rand(batch, *first.output_shape[1:])


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_compiles_and_returns_the_analysed_shape(name):
    project = load_example(name)
    analysis = analyze(project.graph)
    module = compile_graph(project.graph, analysis)
    assert isinstance(module, fx.GraphModule)
    out = module(sample(analysis))
    assert tuple(out.shape) == (3, *analysis.output_shape[1:])
    out.sum().backward()
    assert all(p.grad is not None for p in module.parameters())


def test_submodules_and_state_dict_follow_node_ids():
    project = load_example("digits-cnn")
    module = compile_graph(project.graph)
    assert [name for name, _ in module.named_children()] == [
        "conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "flatten1", "fc1", "relu3", "fc2"]
    assert list(module.state_dict()) == [
        "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias",
        "fc2.weight", "fc2.bias"]
    assert module.fc1.in_features == 256


def test_residual_add_uses_both_branches():
    project = load_example("residual-block")
    module = compile_graph(project.graph)
    calls = [n.target for n in module.graph.nodes if n.op == "call_function"]
    assert calls == [torch.add]
    add = next(n for n in module.graph.nodes if n.op == "call_function")
    assert [a.name for a in add.args] == ["bn2", "relu1"]


def test_a_graph_with_errors_raises_compile_error_naming_the_node():
    project = load_example("digits-cnn")
    SetParam(project.graph, "fc1", "in_features", 100).redo()
    with pytest.raises(CompileError) as caught:
        compile_graph(project.graph)
    assert caught.value.node_id == "fc1" and "256" in str(caught.value)
    assert isinstance(caught.value, GraphError)


def test_a_stale_analysis_is_not_trusted():
    project = load_example("digits-mlp")
    analysis = analyze(project.graph)
    SetParam(project.graph, "fc3", "out_features", 4).redo()
    module = compile_graph(project.graph, analysis)
    assert module(torch.rand(2, 1, 8, 8)).shape == (2, 4)


def test_several_inputs_and_outputs():
    nodes = {"a_in": ("input", {"shape": [3]}), "b_in": ("input", {"shape": [5]}),
             "cat": ("concat", {"dim": 1}), "fc": ("linear", {"out_features": 2}), "m": "multiply",
             "extra": ("linear", {"out_features": 2}), "first": "output", "second": "output"}
    edges = [("a_in", "cat"), ("b_in", "cat"), ("cat", "fc"), ("fc", "m"), ("cat", "extra"), ("extra", "m"),
             ("fc", "m"), ("m", "first"), ("b_in", "second")]
    graph = graph_from(nodes, edges)
    module = compile_graph(graph)
    a, b = torch.rand(4, 3), torch.rand(4, 5)
    first, second = module(a, b)
    joined = torch.cat([a, b], dim=1)
    expected = module.fc(joined) * module.extra(joined) * module.fc(joined)
    torch.testing.assert_close(first, expected)
    assert torch.equal(second, b)


@pytest.mark.parametrize("output", ["sequence", "last", "hidden"])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_recurrent_selection_matches_pytorch(kind, output):
    graph = chain((kind, {"hidden_size": 6, "num_layers": 2, "output": output}), shape=(4, 3))
    module = compile_graph(graph)
    x = torch.rand(2, 4, 3)
    raw_out, state = module.l1(x)
    h_n = state[0] if kind == "lstm" else state
    expected = {"sequence": raw_out, "last": raw_out[:, -1], "hidden": h_n[-1]}[output]
    torch.testing.assert_close(module(x), expected)


def test_self_attention_and_reshape():
    graph = chain(("reshape", {"shape": [4, 6]}), ("multihead_attention", {"num_heads": 2}), shape=(24,))
    module = compile_graph(graph)
    x = torch.rand(3, 24)
    seq = x.reshape(3, 4, 6)
    expected = module.l2(seq, seq, seq, need_weights=False)[0]
    torch.testing.assert_close(module(x), expected)


def test_structural_errors_raise_compile_error_not_anything_else():
    graph = graph_from({"x_in": ("input", {"shape": [4]}), "fc": "linear", "out": "output"}, [("x_in", "out")])
    with pytest.raises(CompileError) as caught:
        compile_graph(graph)
    assert caught.value.node_id == "fc"


def test_weights_larger_than_memory_are_refused_before_allocating(monkeypatch):
    from nnstudio.compile import memory

    monkeypatch.setattr(memory, "physical_memory_bytes", lambda: 100_000)
    with pytest.raises(CompileError) as caught:
        compile_graph(load_example("digits-cnn").graph)
    assert caught.value.node_id == "fc1"  # 32,896 of the 53,002 parameters
    assert "32,896" in str(caught.value) and "97.7 KB" in str(caught.value)


def test_an_absurd_layer_is_refused_by_compile_without_touching_memory():
    graph = chain(("linear", {"out_features": 1_000_000}), shape=(1_000_000,))
    with pytest.raises(CompileError) as caught:
        compile_graph(graph)
    assert caught.value.node_id == "l1" and "TB" in str(caught.value)

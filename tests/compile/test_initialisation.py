"""Weight initialisation per layer: the compiled network and model.py start from the chosen scheme."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import pytest
import torch
from graph_builders import chain, graph_from

from nnstudio.compile import compile_graph, generate_source
from nnstudio.core.commands import SetInit, UndoStack
from nnstudio.core.errors import ParamError
from nnstudio.core.initialisation import INIT_SCHEMES

FAN_IN, FAN_OUT = 256, 512


def _wide_linear(init: str):
    graph = chain(("linear", {"out_features": FAN_OUT}), shape=(FAN_IN,))
    if init != "default":
        SetInit(graph, "l1", init).redo()
    return graph


def _layer(graph, node_id="l1"):
    torch.manual_seed(0)
    return compile_graph(graph).get_submodule(node_id)


@pytest.mark.parametrize(("init", "std"), [
    ("kaiming_normal", math.sqrt(2 / FAN_IN)),
    ("kaiming_uniform", math.sqrt(2 / FAN_IN)),
    ("xavier_normal", math.sqrt(2 / (FAN_IN + FAN_OUT))),
    ("xavier_uniform", math.sqrt(2 / (FAN_IN + FAN_OUT))),
    ("default", 1 / math.sqrt(FAN_IN) / math.sqrt(3)),  # PyTorch's: uniform(+-1/sqrt(fan_in))
])
def test_the_compiled_layer_starts_from_the_schemes_distribution(init, std):
    layer = _layer(_wide_linear(init))
    assert layer.weight.std().item() == pytest.approx(std, rel=0.03)
    if init == "default":
        assert layer.bias.abs().max() > 0
    else:
        assert torch.count_nonzero(layer.bias) == 0  # every scheme but the default zeros the biases


def test_orthogonal_rows_are_orthonormal():
    weight = _layer(_wide_linear("orthogonal")).weight
    assert torch.allclose(weight.T @ weight, torch.eye(FAN_IN), atol=1e-4)


def test_recurrent_convolution_attention_and_embedding_layers_take_a_scheme_on_every_matrix():
    graph = graph_from({
        "tokens": ("input", {"shape": [6], "dtype": "int64"}),
        "embed": ("embedding", {"num_embeddings": 50, "embedding_dim": 16, "padding_idx": 0}),
        "lstm": ("lstm", {"hidden_size": 16, "output": "sequence"}),
        "attn": ("multihead_attention", {"num_heads": 2}),
        "norm": "layer_norm",
        "flat": "flatten",
        "head": ("linear", {"out_features": 3}),
        "out": "output",
    }, [("tokens", "embed"), ("embed", "lstm"), ("lstm", "attn"), ("attn", "norm"), ("norm", "flat"),
        ("flat", "head"), ("head", "out")])
    for node_id in ("embed", "lstm", "attn", "norm", "head"):
        SetInit(graph, node_id, "orthogonal").redo()
    torch.manual_seed(0)
    model = compile_graph(graph)
    for name, parameter in model.named_parameters():
        if parameter.dim() >= 2:
            flat = parameter.detach().reshape(parameter.shape[0], -1)
            rows, cols = flat.shape
            gram = flat.T @ flat if rows >= cols else flat @ flat.T
            if name == "embed.weight":  # the padding row is zeroed again after the scheme
                assert torch.count_nonzero(parameter[0]) == 0
                continue
            assert torch.allclose(gram, torch.eye(min(rows, cols)), atol=1e-4), name
        elif "bias" in name.rpartition(".")[2]:
            assert torch.count_nonzero(parameter) == 0, name
    assert torch.equal(model.norm.weight, torch.ones_like(model.norm.weight))  # a scale keeps PyTorch's ones


def _model_py_state(source: str, seed: int) -> dict[str, torch.Tensor]:
    """Build ``Model()`` from ``source`` under ``seed`` in a fresh interpreter (only torch imported)."""
    script = textwrap.dedent(f"""
        import sys, torch
        namespace = {{"__name__": "model"}}
        exec(compile(sys.stdin.read(), "model.py", "exec"), namespace)
        torch.manual_seed({seed})
        torch.save(namespace["Model"]().state_dict(), sys.argv[1])
        assert "nnstudio" not in sys.modules
    """)
    import tempfile
    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/state.pth"
        subprocess.run([sys.executable, "-c", script, path], input=source, text=True, check=True, timeout=120)
        return torch.load(path, weights_only=True)


def test_model_py_writes_the_schemes_as_nn_init_calls_and_reproduces_the_compiled_start():
    graph = chain(("conv2d", {"out_channels": 8}), "relu", "flatten", ("linear", {"out_features": 32}),
                  "relu", ("linear", {"out_features": 10}))
    SetInit(graph, "l1", "kaiming_normal").redo()
    SetInit(graph, "l4", "xavier_uniform").redo()
    source = generate_source(graph)
    assert "nn.init.kaiming_normal_(self.l1.weight, nonlinearity='relu')" in source
    assert "nn.init.zeros_(self.l1.bias)" in source
    assert "nn.init.xavier_uniform_(self.l4.weight)" in source
    assert "self.l6.weight" not in source  # the default: no call at all

    written = _model_py_state(source, seed=7)
    torch.manual_seed(7)
    compiled = compile_graph(graph).state_dict()
    assert written.keys() == compiled.keys()
    for key in compiled:
        assert torch.equal(written[key], compiled[key]), key


def test_choosing_a_scheme_is_one_undoable_step_and_bad_choices_are_refused():
    graph = _wide_linear("default")
    stack = UndoStack()
    stack.push(SetInit(graph, "l1", "xavier_normal"))
    assert graph.node("l1").init == "xavier_normal"
    assert stack.undo_text() == "Initialise l1: Xavier/Glorot normal"
    stack.undo()
    assert graph.node("l1").init == "default"
    stack.redo()
    assert graph.node("l1").init == "xavier_normal"
    with pytest.raises(ParamError, match="init"):
        SetInit(graph, "l1", "glorot")
    with pytest.raises(ParamError, match="Input has no weights to initialise"):
        SetInit(graph, "x_in", "kaiming_normal")
    assert set(INIT_SCHEMES) >= {"default", "kaiming_normal", "xavier_uniform", "orthogonal"}


def test_a_nested_model_py_applies_the_schemes_too():
    from nnstudio.core.graph import Graph

    nodes = [{"id": "image", "type": "input", "params": {"shape": [16]}},
             {"id": "layer1.0.fc1", "type": "linear", "params": {"out_features": 32}},
             {"id": "layer1.0.act", "type": "relu"},
             {"id": "layer1.1.fc1", "type": "linear", "params": {"out_features": 8}},
             {"id": "head", "type": "linear", "params": {"out_features": 3}},
             {"id": "out", "type": "output"}]
    chain_ids = ["image", "layer1.0.fc1", "layer1.0.act", "layer1.1.fc1", "head", "out"]
    graph = Graph.from_records(nodes, [{"source": a, "target": b} for a, b in zip(chain_ids, chain_ids[1:])])
    SetInit(graph, "layer1.0.fc1", "orthogonal").redo()
    SetInit(graph, "head", "zeros" if "zeros" in INIT_SCHEMES else "xavier_normal").redo()
    source = generate_source(graph)
    assert "class Model(nn.Module):" in source and "nn.Sequential(" in source  # the nested writer's
    assert 'nn.init.orthogonal_(getattr(self.layer1, "0").fc1.weight)' in source

    written = _model_py_state(source, seed=3)
    torch.manual_seed(3)
    compiled = compile_graph(graph).state_dict()
    assert written.keys() == compiled.keys()
    weight = written["layer1.0.fc1.weight"]
    assert torch.allclose(weight.T @ weight, torch.eye(16), atol=1e-4)
    assert torch.count_nonzero(written["layer1.0.fc1.bias"]) == 0 and torch.count_nonzero(written["head.bias"]) == 0
    for key in compiled:
        assert torch.equal(written[key], compiled[key]), key

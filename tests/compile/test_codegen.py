"""The exported model.py: standalone, readable, deterministic, and equal to the compiled module."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest
import torch
from graph_builders import chain, graph_from, sample_input

from nnstudio.compile import CompileError, analyze, compile_graph, generate_source
from nnstudio.core.catalog import CATALOG, LayerKind
from nnstudio.core.commands import SetParam
from nnstudio.core.examples import list_examples, load_example

GOLDEN = Path(__file__).parent / "golden"
EXAMPLES = [e.name for e in list_examples()]


def load_model_class(source, class_name="Model"):
    namespace: dict = {"__name__": "generated_model"}
    exec(compile(source, "model.py", "exec"), namespace)
    return namespace[class_name]


def assert_same_outputs(graph, *inputs):
    compiled = compile_graph(graph)
    model = load_model_class(generate_source(graph))()
    model.load_state_dict(compiled.state_dict())  # strict: the same keys and shapes
    compiled.eval()
    model.eval()
    with torch.no_grad():
        expected, got = compiled(*inputs), model(*inputs)
    if isinstance(expected, tuple):
        for e, g in zip(expected, got, strict=True):
            assert torch.equal(e, g)
    else:
        assert torch.equal(expected, got)


@pytest.mark.parametrize("name", EXAMPLES)
def test_generated_model_equals_the_compiled_module(name):
    project = load_example(name)
    first = next(iter(analyze(project.graph).nodes.values()))
    shape = (4, *first.output_shape[1:])
    tokens = first.dtype == "int64"  # token ids for an Embedding (the sequence examples)
    assert_same_outputs(project.graph, torch.randint(0, 2, shape) if tokens else torch.rand(*shape))


def test_recurrent_attention_reshape_and_merges_generate_equal_code():
    nodes = {
        "tokens": ("input", {"shape": [6], "dtype": "int64"}),
        "embed": ("embedding", {"num_embeddings": 20, "embedding_dim": 8}),
        "lstm": ("lstm", {"hidden_size": 8, "output": "sequence"}),
        "gru": ("gru", {"hidden_size": 8, "output": "last", "bidirectional": True}),
        "attn": ("multihead_attention", {"num_heads": 2}),
        "sum3": "add",
        "cat": ("concat", {"dim": 1}),
        "flat": "flatten",
        "shape": ("reshape", {"shape": [2, -1]}),
        "norm": ("layer_norm", {}),
        "fc": ("linear", {"out_features": 3}),
        "out": "output",
    }
    edges = [("tokens", "embed"), ("embed", "lstm"), ("embed", "attn"), ("lstm", "sum3"), ("attn", "sum3"),
             ("embed", "sum3"), ("sum3", "gru"), ("sum3", "flat"), ("gru", "cat"), ("flat", "cat"),
             ("cat", "shape"), ("shape", "norm"), ("norm", "fc"), ("fc", "out")]
    graph = graph_from(nodes, edges)
    assert analyze(graph).ok, analyze(graph).errors
    assert_same_outputs(graph, torch.randint(0, 20, (3, 6)))
    source = generate_source(graph)
    assert "gru = self.gru(sum3)[0][:, -1]" in source
    assert "shape = cat.reshape(cat.size(0), 2, -1)" in source
    assert "sum3 = torch.add(torch.add(lstm, attn), embed)" in source
    assert "attn = self.attn(embed, embed, embed, need_weights=False)[0]" in source


def test_source_imports_only_torch_and_builds_without_arguments():
    source = generate_source(load_example("residual-block").graph)
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module)
    assert imported == {"torch"}
    model = load_model_class(source)()
    assert sum(p.numel() for p in model.parameters()) == analyze(load_example("residual-block").graph).total_params


def test_inferred_sizes_are_written_out_and_defaults_left_out():
    source = generate_source(load_example("digits-cnn").graph)
    assert "self.conv2 = nn.Conv2d(32, 64, 3, padding=1)" in source
    assert "self.fc1 = nn.Linear(256, 128)" in source
    assert "self.pool1 = nn.MaxPool2d(2)" in source
    lstm = generate_source(chain(("lstm", {"hidden_size": 5}), shape=(4, 3)))
    assert "nn.LSTM(input_size=3, hidden_size=5, batch_first=True)" in lstm


def test_class_name_is_configurable_and_checked():
    source = generate_source(load_example("digits-mlp").graph, class_name="DigitsNet")
    assert "class DigitsNet(nn.Module):" in source
    load_model_class(source, "DigitsNet")()
    with pytest.raises(ValueError, match="class name"):
        generate_source(load_example("digits-mlp").graph, class_name="not valid")


def test_a_graph_with_errors_cannot_be_exported():
    project = load_example("digits-cnn")
    SetParam(project.graph, "fc1", "in_features", 100).redo()
    with pytest.raises(CompileError):
        generate_source(project.graph)


def test_generation_is_deterministic():
    graph = load_example("residual-block").graph
    assert generate_source(graph) == generate_source(graph.copy())


@pytest.mark.parametrize("name", ["digits-cnn", "residual-block"])
def test_golden_source(name):
    """Compare with tests/compile/golden; regenerate with NNSTUDIO_REGEN_GOLDEN=1 after a deliberate change."""
    path = GOLDEN / f"{name}.model.py.txt"
    source = generate_source(load_example(name).graph)
    if os.environ.get("NNSTUDIO_REGEN_GOLDEN") == "1":
        path.write_text(source, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with NNSTUDIO_REGEN_GOLDEN=1"
    assert source == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("type_id", [s.type_id for s in CATALOG if s.kind is LayerKind.MODULE])
def test_every_module_layer_compiles_and_exports_the_same_network(type_id):
    spec = CATALOG.get(type_id)
    shape, dtype = sample_input(spec)
    graph = chain(type_id, shape=shape, dtype=dtype)
    x = torch.randint(0, 8, (3, *shape)) if dtype == "int64" else torch.rand(3, *shape)
    assert_same_outputs(graph, x)
    assert tuple(compile_graph(graph)(x).shape[1:]) == analyze(graph).output_shape[1:]

"""Blocks through analysis, the compiler and model.py: repeats, shared classes, state-dict keys."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import torch

from nnstudio.compile import analyze, compile_graph, generate_source
from nnstudio.core.block_edits import MakeBlock, SetBlockParam
from nnstudio.core.blocks import BLOCK_TYPE
from nnstudio.core.commands import AddNode, Connect, Disconnect, SetParam

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from test_blocks import RESIDUAL, residual_project  # noqa: E402
from test_codegen import assert_same_outputs, load_model_class  # noqa: E402


def repeated(times: int = 4):
    project = residual_project()
    MakeBlock(project.graph, RESIDUAL, "ResBlock", node_id="stage1").redo()
    SetParam(project.graph, "stage1", "repeat", times).redo()
    return project


def test_a_block_repeated_four_times_compiles_with_one_weight_set_per_copy():
    graph = repeated(4).graph
    model = compile_graph(graph)
    keys = model.state_dict().keys()
    for k in range(4):
        assert f"stage1.{k}.conv_a.weight" in keys and f"stage1.{k}.conv_b.bias" in keys
    assert "stage1.4.conv_a.weight" not in keys
    weights = [model.get_submodule(f"stage1.{k}.conv_a").weight for k in range(4)]
    assert len({w.data_ptr() for w in weights}) == 4  # own weights, not shared
    assert model(torch.rand(2, 1, 8, 8)).shape == (2, 10)


def test_model_py_uses_one_class_four_times_and_matches_the_compiled_network():
    graph = repeated(4).graph
    source = generate_source(graph)
    tree = ast.parse(source)
    classes = [node.name for node in tree.body if isinstance(node, ast.ClassDef)]
    assert classes == ["ResBlock", "Model"]
    assert "self.stage1 = nn.Sequential(ResBlock(), ResBlock(), ResBlock(), ResBlock())" in source
    assert_same_outputs(graph, torch.rand(3, 1, 8, 8))
    model = load_model_class(source)()
    assert "stage1.3.conv_b.weight" in model.state_dict()


def test_shapes_are_checked_through_every_copy():
    graph = repeated(3).graph
    analysis = analyze(graph)
    assert analysis.ok, [str(p) for p in analysis.problems]
    single = analyze(repeated(1).graph).nodes["stage1"]
    assert analysis.nodes["stage1"].output_shape == ("N", 8, 8, 8)
    assert analysis.nodes["stage1"].params == 3 * single.params
    assert analysis.edge_shapes[graph.in_edges("pool")[0]] == ("N", 8, 8, 8)


def test_a_block_whose_output_does_not_fit_its_input_cannot_repeat_and_the_error_names_the_size():
    graph = residual_project().graph
    MakeBlock(graph, ["conv_a", "relu_a"], "Widen", node_id="wide").redo()
    SetBlockParam(graph, "Widen", "conv_a", "out_channels", 16).redo()
    assert analyze(graph).ok  # once, the block widens 8 channels to 16 (conv_b takes 16)
    SetParam(graph, "wide", "repeat", 2).redo()
    problems = [p for p in analyze(graph).errors if p.node_id == "wide"]
    assert len(problems) == 1
    assert problems[0].field == "repeat"
    assert "its output [N, 16, 8, 8] does not fit its input [N, 8, 8, 8] (size 1 is 16, not 8)" in problems[0].message


def test_an_error_inside_a_block_is_shown_on_the_block_naming_the_layer():
    graph = repeated(2).graph
    SetBlockParam(graph, "ResBlock", "conv_b", "out_channels", 4).redo()
    errors = analyze(graph).errors
    assert errors and all(p.node_id == "stage1" for p in errors)
    assert errors[0].message.startswith("inside stage1.0.add: ")


def test_an_edit_of_the_definition_changes_every_placement():
    graph = repeated(1).graph
    AddNode(graph, BLOCK_TYPE, (0, 0), {"block": "ResBlock", "repeat": 2}, node_id="stage2").redo()
    for edge in graph.in_edges("pool"):
        Disconnect(graph, edge).redo()
    Connect(graph, "stage1", "stage2").redo()
    Connect(graph, "stage2", "pool").redo()
    SetBlockParam(graph, "ResBlock", "conv_a", "kernel_size", [5, 5]).redo()
    SetBlockParam(graph, "ResBlock", "conv_a", "padding", [2, 2]).redo()
    model = compile_graph(graph)
    for path in ("stage1.conv_a", "stage2.0.conv_a", "stage2.1.conv_a"):
        assert model.get_submodule(path).kernel_size == (5, 5)
    source = generate_source(graph)
    assert source.count("class ResBlock(nn.Module)") == 1
    assert_same_outputs(graph, torch.rand(2, 1, 8, 8))


def test_a_block_with_the_wrong_number_of_wires_is_an_error_on_it():
    graph = repeated(1).graph
    AddNode(graph, BLOCK_TYPE, (0, 0), {"block": "ResBlock"}, node_id="loose").redo()
    problems = [p for p in analyze(graph).errors if p.node_id == "loose"]
    assert any("gets 0 input wires, but block ResBlock takes 1 (x)" in p.message for p in problems), problems


def test_blocks_inside_blocks_compile_with_nested_keys_and_classes():
    graph = repeated(2).graph
    MakeBlock(graph, ["stem", "stage1"], "Stage", node_id="body").redo()
    SetParam(graph, "body", "repeat", 1).redo()
    analysis = analyze(graph)
    assert analysis.ok, [str(p) for p in analysis.problems]
    keys = compile_graph(graph).state_dict().keys()
    assert "body.stage1.1.conv_b.weight" in keys and "body.stem.weight" in keys
    source = generate_source(graph)
    assert [n.name for n in ast.parse(source).body if isinstance(n, ast.ClassDef)] == ["ResBlock", "Stage", "Model"]
    assert_same_outputs(graph, torch.rand(2, 1, 8, 8))


def test_a_frozen_block_freezes_every_layer_of_every_copy():
    from nnstudio.compile.block_expansion import expand

    graph = repeated(2).graph
    graph._set_training_flags("stage1", False, 0.5)
    flat = expand(graph).graph
    inside = [n for n in flat.nodes() if n.id.startswith("stage1.")]
    assert inside and all(not n.trainable and n.lr_scale == 0.5 for n in inside)
    assert flat.node("stem").trainable

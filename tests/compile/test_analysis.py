"""Shape inference and structural validation, as the canvas and `nnstudio check` show them."""

from __future__ import annotations

import pytest
import torch
from graph_builders import chain, graph_from

from nnstudio.compile import ShapeInference, analyze
from nnstudio.core.commands import Connect, Disconnect, SetParam
from nnstudio.core.examples import list_examples, load_example
from nnstudio.core.graph import Edge

EXAMPLES = [e.name for e in list_examples()]


def errors_by_node(analysis):
    return {p.node_id: p for p in analysis.errors}


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_bundled_example_analyzes_without_errors(name):
    project = load_example(name)
    analysis = analyze(project.graph, project.settings)
    assert analysis.errors == [], [str(p) for p in analysis.errors]
    assert analysis.output_shape is not None
    assert all(r.output_shape is not None for r in analysis.nodes.values())


def test_digits_cnn_shapes_params_and_flops():
    project = load_example("digits-cnn")
    analysis = analyze(project.graph)
    shapes = {node_id: r.output_shape for node_id, r in analysis.nodes.items()}
    assert shapes["conv1"] == ("N", 32, 8, 8)
    assert shapes["pool2"] == ("N", 64, 2, 2)
    assert shapes["flatten1"] == ("N", 256)
    assert shapes["fc2"] == ("N", 10)
    assert analysis.output_shape == ("N", 10)
    fc1 = analysis.nodes["fc1"]
    assert fc1.resolved["in_features"] == 256 and fc1.inferred == ("in_features",)
    assert fc1.params == 256 * 128 + 128
    assert fc1.flops == 2 * 256 * 128
    # Conv: 2 * k*k*in * out per output pixel.
    assert analysis.nodes["conv2"].flops == 2 * 3 * 3 * 32 * 64 * 4 * 4
    assert analysis.nodes["conv2"].resolved["in_channels"] == 32
    assert analysis.total_params == 53_002


def test_parameter_counts_match_real_modules():
    project = load_example("residual-block")
    analysis = analyze(project.graph)
    from nnstudio.compile import compile_graph

    module = compile_graph(project.graph, analysis)
    for name, child in module.named_children():
        assert analysis.nodes[name].params == sum(p.numel() for p in child.parameters())


def test_edge_shapes_are_the_source_output_shapes():
    project = load_example("digits-cnn")
    analysis = analyze(project.graph)
    assert analysis.edge_shapes[Edge("pool2", "flatten1")] == ("N", 64, 2, 2)
    assert set(analysis.edge_shapes) == set(project.graph.edges())


def test_pinned_in_features_that_disagrees_names_the_size_that_fits():
    project = load_example("digits-cnn")
    SetParam(project.graph, "fc1", "in_features", 100).redo()
    analysis = analyze(project.graph)
    problem = errors_by_node(analysis)["fc1"]
    assert problem.field == "in_features"
    assert "256" in problem.message and "100" in problem.message
    # Downstream layers are not blamed for it.
    assert set(errors_by_node(analysis)) == {"fc1"}
    assert analysis.nodes["fc2"].output_shape is None


def test_a_pinned_value_that_agrees_is_used_as_is():
    graph = chain(("linear", {"in_features": 64, "out_features": 3}), shape=(64,))
    result = analyze(graph).nodes["l1"]
    assert result.output_shape == ("N", 3) and result.inferred == ()


@pytest.mark.parametrize(("layer", "field"), [
    (("conv2d", {"in_channels": 3}), "in_channels"),
    (("batch_norm2d", {"num_features": 7}), "num_features"),
    (("layer_norm", {"normalized_shape": [5]}), "normalized_shape"),
])
def test_other_pinned_sizes_name_the_value_that_fits(layer, field):
    analysis = analyze(chain(layer, shape=(4, 6, 6)))
    problem = errors_by_node(analysis)["l1"]
    assert problem.field == field
    assert ("to 4" in problem.message) if field != "normalized_shape" else ("to 6" in problem.message)


def test_kernel_larger_than_input_reports_pytorchs_message_on_the_node():
    analysis = analyze(chain(("conv2d", {"kernel_size": 20})))
    problem = errors_by_node(analysis)["l1"]
    assert "Kernel size can't be greater than actual input size" in problem.message


def test_an_absurd_size_is_analysed_without_allocating_it_and_is_an_error_naming_the_largest_layer():
    graph = chain(("linear", {"out_features": 1_000_000}), ("linear", {"out_features": 500_000}),
                  shape=(1_000_000,))
    analysis = analyze(graph)
    assert analysis.nodes["l1"].params == 1_000_000 * 1_000_000 + 1_000_000  # 4 TB if it were real
    assert analysis.nodes["l2"].output_shape == ("N", 500_000)  # shapes are still shown
    (problem,) = analysis.errors
    assert problem.code == "too-large-for-memory" and problem.node_id == "l1"
    assert "1,500,001,500,000 weights" in problem.message and "5.5 TB" in problem.message
    assert "1,000,001,000,000 parameters" in problem.message


def test_weights_too_large_for_this_machine_are_an_analysis_error(monkeypatch):
    from nnstudio.compile import memory

    monkeypatch.setattr(memory, "physical_memory_bytes", lambda: 100_000)
    analysis = analyze(load_example("digits-cnn").graph)
    (problem,) = analysis.errors
    assert problem.node_id == "fc1"  # 32,896 of the 53,002 parameters
    assert "53,002 weights" in problem.message and "32,896" in problem.message and "97.7 KB" in problem.message
    monkeypatch.setattr(memory, "physical_memory_bytes", lambda: None)  # a platform that does not say
    assert analyze(load_example("digits-cnn").graph).ok


def test_wrong_input_rank_is_explained():
    analysis = analyze(chain(("flatten", {}), ("conv2d", {})))
    problem = errors_by_node(analysis)["l2"]
    assert "[N, C, H, W]" in problem.message and "[N, 64]" in problem.message


def test_attention_head_count_must_divide_the_embedding():
    analysis = analyze(chain(("multihead_attention", {"num_heads": 3}), shape=(5, 8)))
    problem = errors_by_node(analysis)["l1"]
    assert problem.field == "num_heads"
    assert "num_heads 3 does not divide embed_dim 8" in problem.message and "1, 2, 4 or 8" in problem.message


@pytest.mark.parametrize(("output", "shape"), [
    ("sequence", ("N", 5, 16)), ("last", ("N", 16)), ("hidden", ("N", 16)),
])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_recurrent_output_selection(kind, output, shape):
    analysis = analyze(chain((kind, {"hidden_size": 16, "num_layers": 2, "output": output}), shape=(5, 8)))
    assert analysis.ok
    assert analysis.nodes["l1"].output_shape == shape
    assert analysis.nodes["l1"].resolved["input_size"] == 8


def test_token_ids_through_embedding_and_transformer():
    graph = chain(("embedding", {"num_embeddings": 50, "embedding_dim": 16}),
                  ("transformer_encoder_layer", {"nhead": 4, "dim_feedforward": 32}),
                  shape=(7,), dtype="int64")
    analysis = analyze(graph)
    assert analysis.ok
    assert analysis.nodes["l2"].output_shape == ("N", 7, 16)
    assert analysis.nodes["l2"].resolved["d_model"] == 16


def test_float_input_into_embedding_and_ids_into_linear_are_errors():
    assert "int64" in errors_by_node(analyze(chain("embedding", shape=(7,))))["l1"].message
    assert "Embedding" in errors_by_node(analyze(chain("linear", shape=(7,), dtype="int64")))["l1"].message


def test_reshape_checks_the_element_count():
    ok = analyze(chain(("reshape", {"shape": [4, -1]}), shape=(1, 8, 8)))
    assert ok.nodes["l1"].output_shape == ("N", 4, 16)
    bad = analyze(chain(("reshape", {"shape": [3, -1]}), shape=(1, 8, 8)))
    assert "64" in errors_by_node(bad)["l1"].message
    assert errors_by_node(bad)["l1"].field == "shape"


def test_merges_check_their_inputs():
    nodes = {"x_in": ("input", {"shape": [4, 8, 8]}), "a": ("conv2d", {"out_channels": 4, "padding": 1}),
             "b": ("conv2d", {"out_channels": 6, "padding": 1}), "m": "add", "out": "output"}
    edges = [("x_in", "a"), ("x_in", "b"), ("a", "m"), ("b", "m"), ("m", "out")]
    problem = errors_by_node(analyze(graph_from(nodes, edges)))["m"]
    assert "[N, 4, 8, 8]" in problem.message and "[N, 6, 8, 8]" in problem.message
    nodes["m"] = ("concat", {"dim": 1})
    analysis = analyze(graph_from(nodes, edges))
    assert analysis.nodes["m"].output_shape == ("N", 10, 8, 8)
    nodes["m"] = ("concat", {"dim": 0})
    assert errors_by_node(analyze(graph_from(nodes, edges)))["m"].field == "dim"


def test_flatten_of_the_batch_dimension_is_refused():
    analysis = analyze(chain(("flatten", {"start_dim": 0})))
    assert errors_by_node(analysis)["l1"].code == "flattens-batch"


# --- structure -----------------------------------------------------------------------------------

def test_missing_input_and_output_are_reported():
    graph = graph_from({"fc": "linear"}, [])
    codes = {p.code for p in analyze(graph).errors}
    assert {"missing-input", "missing-output", "unconnected-input"} <= codes


def test_unconnected_and_unreachable_layers_are_errors_on_their_nodes():
    nodes = {"x_in": ("input", {"shape": [4]}), "a": "linear", "lonely": "relu", "spare": "relu",
             "m": "add", "out": "output"}
    edges = [("x_in", "a"), ("a", "out"), ("a", "spare"), ("a", "m")]
    found = errors_by_node(analyze(graph_from(nodes, edges)))
    assert found["lonely"].code == "unconnected-input"
    assert found["spare"].code == "dead-end"
    assert found["m"].code == "merge-needs-inputs"
    assert "a" not in found
    # A dead end still shows its shape: only its result is unused.
    assert analyze(graph_from(nodes, edges)).nodes["spare"].output_shape == ("N", 10)


def test_layers_not_fed_by_an_input_are_errors():
    nodes = {"x_in": ("input", {"shape": [4]}), "a": "linear", "b": "linear", "c": "relu", "out": "output"}
    graph = graph_from(nodes, [("x_in", "a"), ("a", "out"), ("c", "b")])
    found = errors_by_node(analyze(graph))
    assert found["b"].code == "not-fed"
    assert found["c"].code == "unconnected-input"


def test_cycles_are_errors_on_every_member_and_never_raise():
    graph = chain("relu", "relu", "relu", shape=(4,))
    # Commands refuse cycles, so make one behind their back, as a corrupted document could.
    graph._g.add_edge("l3", "l1", key=("in", 1), edge=Edge("l3", "l1", "in", 1))
    analysis = analyze(graph)
    codes = {p.node_id: p.code for p in analysis.errors}
    assert {codes[n] for n in ("l1", "l2", "l3")} == {"cycle"}
    assert codes["l1"] == "cycle"


def test_two_wires_into_a_single_input_port_are_an_error():
    graph = chain("relu", shape=(4,))
    graph._g.add_edge("x_in", "out", key=("in", 1), edge=Edge("x_in", "out", "in", 1))
    assert errors_by_node(analyze(graph))["out"].code == "too-many-inputs"


# --- incremental ---------------------------------------------------------------------------------

def test_a_parameter_change_reinfers_only_the_node_and_what_its_change_reaches():
    project = load_example("digits-cnn")
    graph = project.graph
    inference = ShapeInference()
    first = inference.analyze(graph)
    assert set(inference.recomputed) == set(graph.node_ids())
    SetParam(graph, "fc1", "out_features", 100).redo()
    second = inference.analyze(graph)
    # fc1 changed; fc2 sees a new in_features; relu3 a new shape. fc2's output is unchanged, so the Output
    # and everything upstream come from the cache.
    assert set(inference.recomputed) == {"fc1", "relu3", "fc2"}
    assert second.nodes["fc2"].resolved["in_features"] == 100
    assert second.nodes["conv1"] == first.nodes["conv1"]
    SetParam(graph, "fc1", "out_features", 128).redo()
    inference.analyze(graph)
    assert inference.recomputed == []  # back to a state it has seen: all cached


def test_a_structural_edit_reinfers_what_it_touches():
    project = load_example("digits-mlp")
    graph = project.graph
    inference = ShapeInference()
    inference.analyze(graph)
    edge = graph.in_edges("fc3")[0]
    Disconnect(graph, edge).redo()
    broken = inference.analyze(graph)
    assert errors_by_node(broken)["fc3"].code == "unconnected-input"
    assert inference.recomputed == []
    Connect(graph, edge.source, "fc3").redo()
    assert inference.analyze(graph).ok


def test_analysis_of_real_modules_matches_eager_pytorch():
    graph = chain(("conv2d", {"out_channels": 5, "kernel_size": 3, "stride": 2}), ("max_pool2d", {}),
                  ("flatten", {}), ("linear", {"out_features": 7}), shape=(3, 17, 13))
    analysis = analyze(graph)
    from nnstudio.compile import compile_graph

    out = compile_graph(graph, analysis)(torch.zeros(4, 3, 17, 13))
    assert tuple(out.shape[1:]) == analysis.output_shape[1:]


def test_a_surprise_inside_one_layer_becomes_a_problem_not_an_exception(monkeypatch):
    from nnstudio.compile.rule_kinds import ModuleRule

    original = ModuleRule.resolve

    def explode(self, spec, params, x):
        if spec.type_id == "linear":
            raise ZeroDivisionError("boom")
        return original(self, spec, params, x)

    monkeypatch.setattr(ModuleRule, "resolve", explode)
    analysis = analyze(load_example("digits-mlp").graph)
    problem = errors_by_node(analysis)["fc1"]
    assert problem.code == "analysis-failed" and "ZeroDivisionError: boom" in problem.message
    assert analysis.nodes["flatten1"].output_shape == ("N", 64)  # the layers before it are still shown


def test_problems_for_lists_errors_first():
    project = load_example("digits-cnn")
    SetParam(project.graph, "fc1", "in_features", 100).redo()
    analysis = analyze(project.graph)
    assert [p.code for p in analysis.problems_for("fc1")] == ["size-mismatch"]
    assert analysis.problems_for("conv1") == []


@pytest.mark.parametrize(("layer", "field", "shape", "fitting"), [
    (("linear", {"in_features": 100}), "in_features", (8,), 8),
    (("conv1d", {"in_channels": 3}), "in_channels", (4, 6), 4),
    (("conv2d", {"in_channels": 3}), "in_channels", (4, 6, 6), 4),
    (("conv_transpose2d", {"in_channels": 3}), "in_channels", (4, 6, 6), 4),
    (("batch_norm1d", {"num_features": 7}), "num_features", (4, 6), 4),
    (("batch_norm2d", {"num_features": 7}), "num_features", (4, 6, 6), 4),
    (("layer_norm", {"normalized_shape": [5]}), "normalized_shape", (4, 6, 6), 6),
    (("lstm", {"input_size": 3}), "input_size", (5, 8), 8),
    (("gru", {"input_size": 3}), "input_size", (5, 8), 8),
    (("multihead_attention", {"embed_dim": 16}), "embed_dim", (5, 8), 8),
    (("transformer_encoder_layer", {"d_model": 16}), "d_model", (5, 8), 8),
])
def test_a_pinned_size_that_disagrees_has_a_one_click_fix_that_undo_takes_back(layer, field, shape, fitting):
    from nnstudio.core.commands import UndoStack
    from nnstudio.core.project import Project

    project = Project(chain(layer, shape=shape))
    problem = errors_by_node(analyze(project.graph))["l1"]
    assert problem.fix is not None and problem.fix.description == f"Set {field} to {fitting}"
    assert "unpin it" in problem.message
    stack = UndoStack()
    stack.push(problem.fix.make_command(project))
    assert analyze(project.graph).errors == []
    stack.undo()
    assert errors_by_node(analyze(project.graph))["l1"].field == field


# --- messages in the project's words ------------------------------------------------------------

def _branches(merge, a, b, shape=(4, 8, 8)):
    nodes = {"x_in": ("input", {"shape": list(shape)}), "a": a, "b": b, "m": merge, "out": "output"}
    return graph_from(nodes, [("x_in", "a"), ("x_in", "b"), ("a", "m"), ("b", "m"), ("m", "out")])


@pytest.mark.parametrize(("merge", "verb"), [("add", "add"), ("multiply", "multiply")])
def test_a_broadcast_error_names_the_inputs_the_dimension_and_a_fix(merge, verb):
    from nnstudio.core.commands import UndoStack
    from nnstudio.core.project import Project

    graph = _branches(merge, ("conv2d", {"out_channels": 4, "padding": 1}), ("conv2d", {"out_channels": 6, "padding": 1}))
    problem = errors_by_node(analyze(graph))["m"]
    assert problem.message.startswith(f"{merge.capitalize()} cannot {verb} its inputs: a gives [N, 4, 8, 8] but b "
                                      "gives [N, 6, 8, 8], which differ in dimension 1 (4 vs 6 channels); put a 1x1 "
                                      "Conv2d with out_channels 6 after a")
    assert "2, " not in problem.message and "Concat" in problem.message
    assert problem.fix.description == "Insert a 1x1 Conv2d with out_channels 6 after a"
    project = Project(graph)
    UndoStack().push(problem.fix.make_command(project))
    assert analyze(project.graph).ok


def test_broadcasting_a_size_of_one_is_allowed_and_differing_ranks_are_not():
    gate = _branches("multiply", ("conv2d", {"out_channels": 4, "padding": 1}), ("adaptive_avg_pool2d", {}))
    assert analyze(gate).nodes["m"].output_shape == ("N", 4, 8, 8)  # squeeze-and-excitation style
    # With the probe batch of 2 this broadcast "worked" ([2, 3, 8] + [2, 8]); with a batch of 64 it cannot.
    mixed = _branches("add", ("reshape", {"shape": [2, 8]}), ("linear", {"out_features": 8}), shape=(16,))
    problem = errors_by_node(analyze(mixed))["m"]
    assert "a gives [N, 2, 8] (3 dimensions) but b gives [N, 8] (2 dimensions)" in problem.message


def test_concat_names_the_dimension_that_must_agree():
    graph = _branches(("concat", {"dim": 1}), ("conv2d", {"out_channels": 4, "padding": 1}),
                      ("conv2d", {"out_channels": 4, "padding": 1, "stride": 2}))
    problem = errors_by_node(analyze(graph))["m"]
    assert ("a gives [N, 4, 8, 8] and b gives [N, 4, 4, 4], which differ in dimension 2 (8 vs 4 height)"
            in problem.message)
    graph = _branches(("concat", {"dim": 4}), "relu", "relu")
    problem = errors_by_node(analyze(graph))["m"]
    assert problem.field == "dim" and "4 dimensions" in problem.message


def test_torch_messages_show_the_batch_as_n():
    from nnstudio.compile.tensors import TensorInfo, torch_message

    x = TensorInfo((2, 64), torch.float32)
    text = torch_message(RuntimeError("got input of size: [2, 64], torch.Size([2, 64]), (2, 64) and 2x64, not [2, 6]"),
                         [x])
    assert text == "got input of size: [N, 64], [N, 64], [N, 64] and [N, 64], not [2, 6]"


@pytest.mark.parametrize(("layer", "field", "words"), [
    (("softmax", {"dim": 5}), "dim", "Softmax's dim 5 does not exist in its input [N, 1, 8, 8]"),
    (("flatten", {"end_dim": 7}), "end_dim", "set end_dim to a value from -4 to 3"),
    (("conv_transpose2d", {"stride": 2, "output_padding": 2}), "output_padding", "smaller than its stride 2"),
    (("group_norm", {"num_groups": 3}), "num_groups", "set num_groups to a divisor of 1"),
])
def test_parameters_meta_tensors_do_not_check_are_checked_by_the_rule(layer, field, words):
    problem = errors_by_node(analyze(chain(layer)))["l1"]
    assert problem.field == field and words in problem.message


def test_a_layer_that_loses_the_batch_dimension_says_so_without_the_probe_size():
    graph = chain(("glu", {"dim": 0}), shape=(4,))
    problem = errors_by_node(analyze(graph))["l1"]
    assert problem.code == "loses-batch" and "2" not in problem.message

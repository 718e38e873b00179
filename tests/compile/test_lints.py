"""Lints: the tutorials' mistakes are flagged, and their one-click fixes repair (and undo) cleanly."""

from __future__ import annotations

import pytest
from graph_builders import chain, graph_from

from nnstudio.compile import analyze
from nnstudio.compile.data_fit import DATA_FIT_CODES
from nnstudio.core.commands import UndoStack
from nnstudio.core.examples import load_example
from nnstudio.core.project import Project
from nnstudio.core.settings import DatasetSettings, TrainingSettings


def project_of(graph, loss="cross_entropy", dataset="digits", **options):
    return Project(graph, TrainingSettings(loss=loss, dataset=DatasetSettings(kind=dataset, options=options)))


def lint_codes(project):
    return {p.code: p for p in analyze(project.graph, project.settings).problems}


def records(graph):
    """Nodes (in the graph's order) and wires, as a project file stores them."""
    return graph.to_records()


def apply_fix(project, problem):
    stack = UndoStack()
    before = records(project.graph), project.settings.loss
    stack.push(problem.fix.make_command(project))
    return stack, before


def test_softmax_before_cross_entropy_is_removed_and_rewired():
    project = project_of(chain("flatten", ("linear", {"out_features": 10}), ("softmax", {})))
    problem = lint_codes(project)["softmax-before-cross-entropy"]
    assert problem.node_id == "l3" and problem.severity == "warning"
    stack, before = apply_fix(project, problem)
    assert "l3" not in project.graph
    assert project.graph.predecessors("out") == ["l2"]
    assert "softmax-before-cross-entropy" not in lint_codes(project)
    stack.undo()
    assert records(project.graph) == before[0]


def test_sigmoid_with_bce_in_the_logistic_example_switches_to_logits():
    project = load_example("logistic-moons")
    problems = analyze(project.graph, project.settings).problems
    assert [p.code for p in problems] == ["sigmoid-before-bce"]
    stack, before = apply_fix(project, problems[0])
    assert project.settings.loss == "bce_with_logits"
    assert "sigmoid1" not in project.graph
    assert analyze(project.graph, project.settings).problems == []
    stack.undo()
    assert (records(project.graph), project.settings.loss) == before


def test_nll_without_log_softmax_gets_one_inserted():
    project = project_of(chain("flatten", ("linear", {"out_features": 10})), loss="nll")
    problem = lint_codes(project)["nll-without-log-softmax"]
    stack, before = apply_fix(project, problem)
    (inserted,) = project.graph.predecessors("out")
    assert project.graph.node(inserted).type_id == "log_softmax"
    assert project.graph.predecessors(inserted) == ["l2"]
    assert "nll-without-log-softmax" not in lint_codes(project)
    stack.undo()
    assert records(project.graph) == before[0]


@pytest.mark.parametrize("between", [(), ("dropout",), (("reshape", {"shape": [-1]}), "dropout")])
def test_linear_after_linear_without_a_nonlinearity(between):
    graph = chain(("linear", {"out_features": 32}), *between, ("linear", {"out_features": 10}), shape=(16,))
    project = project_of(graph, dataset="blobs", classes=10)
    problem = lint_codes(project)["linear-after-linear"]
    last = f"l{len(between) + 2}"
    assert problem.node_id == last and "l1" in problem.message
    between = ", ".join(f"l{i}" for i in range(2, len(between) + 2))
    assert f"{last} follows l1 with {'only ' + between + ' and ' if between else ''}no activation between them" \
        in problem.message
    apply_fix(project, problem)
    inserted = project.graph.predecessors(last)[0]
    assert project.graph.node(inserted).type_id == "relu"
    assert "linear-after-linear" not in lint_codes(project)


def test_an_activation_between_linears_silences_the_lint():
    project = load_example("digits-mlp")
    assert analyze(project.graph, project.settings).problems == []


def test_lints_without_settings_only_look_at_the_graph():
    graph = graph_from({"x_in": ("input", {"shape": [4]}), "a": "linear", "b": "linear", "s": "softmax",
                        "out": "output"}, [("x_in", "a"), ("a", "b"), ("b", "s"), ("s", "out")])
    codes = {p.code for p in analyze(graph).problems}
    assert codes == {"linear-after-linear"}


@pytest.mark.parametrize("dim", [0, -2])
def test_softmax_across_the_batch_is_flagged_and_fixed(dim):
    project = project_of(chain("flatten", ("linear", {"out_features": 10}), ("log_softmax", {"dim": dim})),
                         loss="nll")
    problem = lint_codes(project)["softmax-over-batch"]
    assert problem.node_id == "l3" and problem.field == "dim"
    apply_fix(project, problem)
    assert project.graph.node("l3").params["dim"] == 1
    assert analyze(project.graph, project.settings).problems == []


# --- traits, not type ids: the mistakes behind pass-through layers and normalisers ---------------

@pytest.mark.parametrize("squash", ["sigmoid", "hardsigmoid"])
def test_a_sigmoid_before_bce_with_logits_is_removed(squash):
    project = project_of(chain(("linear", {"out_features": 1}), squash, shape=(2,)), loss="bce_with_logits",
                         dataset="moons")
    problem = lint_codes(project)["sigmoid-before-bce-with-logits"]
    assert problem.node_id == "l2" and "applied twice" in problem.message and "remove l2" in problem.message
    stack, before = apply_fix(project, problem)
    assert "l2" not in project.graph and project.settings.loss == "bce_with_logits"
    assert analyze(project.graph, project.settings).problems == []
    stack.undo()
    assert records(project.graph) == before[0]


def test_softmax_behind_dropout_before_cross_entropy_is_found():
    project = project_of(chain("flatten", ("linear", {"out_features": 10}), ("softmax", {}), "dropout"))
    problem = lint_codes(project)["softmax-before-cross-entropy"]
    assert problem.node_id == "l3" and "through l4" in problem.message
    apply_fix(project, problem)
    assert project.graph.predecessors("l4") == ["l2"]
    assert "softmax-before-cross-entropy" not in lint_codes(project)


def test_a_normaliser_between_two_linears_is_not_a_nonlinearity():
    project = project_of(chain(("linear", {"out_features": 32}), "batch_norm1d", ("linear", {"out_features": 10}),
                               shape=(16,)), dataset="blobs", classes=10)
    codes = lint_codes(project)
    problem = codes["linear-after-linear"]
    assert problem.node_id == "l3" and "l1" in problem.message and "BatchNorm1d normalises but is not a nonlinearity" \
        in problem.message
    apply_fix(project, problem)
    inserted = project.graph.predecessors("l3")[0]
    assert project.graph.node(inserted).type_id == "relu" and project.graph.predecessors(inserted) == ["l2"]
    assert "linear-after-linear" not in lint_codes(project)


@pytest.mark.parametrize(("layers", "shape", "biased"), [
    ((("conv2d", {"out_channels": 8}), "batch_norm2d"), (1, 8, 8), "l1"),
    ((("linear", {"out_features": 8}), "batch_norm1d"), (16,), "l1"),
    ((("conv1d", {"out_channels": 8}), "batch_norm1d"), (4, 16), "l1"),
    ((("conv2d", {"out_channels": 8}), "instance_norm2d"), (1, 8, 8), "l1"),
])
def test_a_bias_right_before_batch_norm_is_flagged_with_the_bias_false_fix(layers, shape, biased):
    project = project_of(chain(*layers, shape=shape), loss="mse", dataset="linear")
    problem = lint_codes(project)["bias-before-norm"]
    assert (problem.node_id, problem.field, problem.severity) == (biased, "bias", "warning")
    assert problem.message.startswith(f"{biased}'s bias is wasted") and "set bias to False" in problem.message
    stack, before = apply_fix(project, problem)
    assert project.graph.node(biased).params["bias"] is False
    assert "bias-before-norm" not in lint_codes(project)
    stack.undo()
    assert records(project.graph) == before[0]


@pytest.mark.parametrize("graph", [
    chain(("conv2d", {"out_channels": 8, "bias": False}), "batch_norm2d"),  # already without a bias
    chain(("linear", {"out_features": 8}), "batch_norm1d", shape=(5, 16)),  # bias on the features, BN on time
    chain(("linear", {"out_features": 8}), "layer_norm", shape=(16,)),  # normalises each sample, keeps the shift
    graph_from({"x_in": ("input", {"shape": [1, 8, 8]}), "c": ("conv2d", {"out_channels": 4}), "bn": "batch_norm2d",
                "m": "add", "out": "output"},
               [("x_in", "c"), ("c", "bn"), ("bn", "m"), ("c", "m"), ("m", "out")]),  # the bias also feeds the Add
])
def test_a_bias_that_matters_is_left_alone(graph):
    assert "bias-before-norm" not in lint_codes(project_of(graph, loss="mse", dataset="linear"))


def test_lint_messages_are_one_sentence_naming_the_layer():
    cases = [
        project_of(chain("flatten", ("linear", {"out_features": 10}), ("softmax", {}))),
        project_of(chain(("linear", {"out_features": 1}), "sigmoid", shape=(2,)), loss="bce", dataset="moons"),
        project_of(chain(("linear", {"out_features": 1}), "sigmoid", shape=(2,)), loss="bce_with_logits",
                   dataset="moons"),
        project_of(chain("flatten", ("linear", {"out_features": 10})), loss="nll"),
        project_of(chain(("linear", {"out_features": 8}), "batch_norm1d", ("linear", {"out_features": 10}),
                         ("log_softmax", {"dim": 0}), shape=(16,)), loss="nll"),
    ]
    seen = set()
    for project in cases:
        for problem in analyze(project.graph, project.settings).problems:
            if problem.code in DATA_FIT_CODES:
                continue  # the data-fit rule's; tests/compile/test_data_fit.py holds them to the same style
            seen.add(problem.code)
            text = problem.message
            assert ". " not in text and not text.endswith("."), text
            assert problem.node_id in text, text
            assert ";" in text, f"no remedy in: {text}"
    assert seen == {"softmax-before-cross-entropy", "sigmoid-before-bce", "sigmoid-before-bce-with-logits",
                    "nll-without-log-softmax", "linear-after-linear", "bias-before-norm", "softmax-over-batch"}

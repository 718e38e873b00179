"""Lints: the tutorials' mistakes are flagged, and their one-click fixes repair (and undo) cleanly."""

from __future__ import annotations

import pytest
from graph_builders import chain, graph_from

from nnstudio.compile import analyze
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

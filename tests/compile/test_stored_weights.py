"""Stored tensors reach the compiled network, and tensors that do not fit their layer are errors with a fix."""

from __future__ import annotations

import torch
from safetensors.torch import save as save_torch

from nnstudio.compile import CompileError, analyze, compile_graph
from nnstudio.core.commands import SetParam, UndoStack
from nnstudio.core.graph import Graph
from nnstudio.core.project import Project, load_project, save_project
from nnstudio.core.weights import TensorSource, bind_weights


def _project() -> Project:
    nodes = [{"id": "image", "type": "input", "params": {"shape": [4]}},
             {"id": "body.0.fc", "type": "linear", "params": {"out_features": 3}},
             {"id": "body.0.norm", "type": "batch_norm1d"}, {"id": "act", "type": "relu"},
             {"id": "head", "type": "linear", "params": {"out_features": 2}}, {"id": "out", "type": "output"}]
    chain = [n["id"] for n in nodes]
    return Project(Graph.from_records(nodes, [{"source": a, "target": b} for a, b in zip(chain, chain[1:])]))


def _pretrained(project: Project) -> dict[str, torch.Tensor]:
    """A state dict for the project's network, with values no initialisation would give."""
    torch.manual_seed(7)
    state = compile_graph(project.graph).state_dict()
    return {k: (torch.randn_like(v) if v.is_floating_point() else v + 3) for k, v in state.items()}


def test_a_saved_and_reopened_project_compiles_with_its_stored_tensors(tmp_path):
    project = _project()
    pretrained = _pretrained(project)
    bind_weights(project.graph, TensorSource.from_bytes(save_torch(pretrained)))
    save_project(project, tmp_path / "net.nns")
    reopened = load_project(tmp_path / "net.nns")
    assert analyze(reopened.graph).ok
    module = compile_graph(reopened.graph)
    for key, value in module.state_dict().items():
        assert torch.equal(value, pretrained[key]), key
    assert module.get_submodule("body.0.norm").num_batches_tracked.item() == pretrained[
        "body.0.norm.num_batches_tracked"].item()


def test_a_tensor_that_no_longer_fits_is_an_error_whose_fix_drops_the_layers_tensors():
    project = _project()
    bind_weights(project.graph, TensorSource.from_bytes(save_torch(_pretrained(project))))
    stack = UndoStack()
    stack.push(SetParam(project.graph, "head", "out_features", 5))
    [problem] = [p for p in analyze(project.graph).errors if p.code == "stored-weights-mismatch"]
    assert problem.node_id == "head"
    assert problem.message.startswith("the stored head.bias is [2], but the layer's bias is [5]")
    try:
        compile_graph(project.graph)
    except CompileError as exc:
        assert "the stored head.bias is [2]" in str(exc)
    else:
        raise AssertionError("a network whose stored tensors do not fit compiled")
    assert problem.fix is not None and problem.fix.description.startswith("Start head from fresh weights")
    stack.push(problem.fix.make_command(project))
    assert analyze(project.graph).ok
    assert compile_graph(project.graph).get_submodule("head").bias.shape == (5,)
    stack.undo()
    stack.undo()
    assert analyze(project.graph).ok  # the tensors fit again once out_features is back


def test_a_tensor_a_layer_has_no_place_for_is_an_error():
    project = _project()
    bind_weights(project.graph, TensorSource.from_bytes(save_torch({"act.weight": torch.ones(2)})))
    [problem] = [p for p in analyze(project.graph).errors if p.code == "stored-weights-mismatch"]
    assert problem.node_id == "act"
    assert "the weights file holds act.weight, but ReLU has no tensor named 'weight'" in problem.message

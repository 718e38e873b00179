"""A pretrained state dict file applied to a project's layers: strict, undoable, saved in the weights file."""

from __future__ import annotations

import pytest
import torch

from nnstudio.compile import compile_graph
from nnstudio.core.commands import UndoStack
from nnstudio.core.examples import load_example
from nnstudio.core.project import load_project, save_project
from nnstudio.train.export import build_model
from nnstudio.train.model_import import ImportFailure
from nnstudio.train.pretrained import apply_weights_file


def test_applied_weights_build_the_network_and_are_saved_with_the_project(tmp_path):
    project = load_example("digits-cnn")
    torch.manual_seed(9)
    source = compile_graph(project.graph)
    state = {k: v.clone() for k, v in source.state_dict().items()}
    torch.save(state, tmp_path / "pretrained.pth")
    stack = UndoStack()
    stack.push(apply_weights_file(project, tmp_path / "pretrained.pth"))
    model = build_model(project)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
    save_project(project, tmp_path / "tuned.nns")
    assert (tmp_path / "tuned.safetensors").is_file()
    again = build_model(load_project(tmp_path / "tuned.nns"))
    assert all(torch.equal(again.state_dict()[k], v) for k, v in state.items())
    stack.undo()
    assert all(not node.weights for node in project.graph.nodes())


def test_a_file_that_does_not_fit_names_its_keys_and_changes_nothing(tmp_path):
    project = load_example("digits-cnn")
    torch.save({"conv1.weight": torch.zeros(3, 1, 3, 3), "head.bias": torch.zeros(2)}, tmp_path / "other.pth")
    with pytest.raises(ImportFailure, match=r"weights other.pth do not fit this network: .*missing .*"
                                            r"unexpected \(head.bias\)"):
        apply_weights_file(project, tmp_path / "other.pth")
    assert all(not node.weights for node in project.graph.nodes())

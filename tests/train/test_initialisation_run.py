"""Training starts from the initialisation each layer asks for."""

from __future__ import annotations

import math

import pytest
import torch

from nnstudio.core.commands import SetInit
from nnstudio.core.examples import load_example
from nnstudio.train.project_run import build_training_run


def test_a_run_starts_from_the_chosen_scheme_and_the_others_from_pytorchs():
    project = load_example("digits-mlp")  # fc1: Linear(64 -> 128), fc2: Linear(128 -> 64)
    project.settings.device = "cpu"
    SetInit(project.graph, "fc1", "kaiming_normal").redo()
    run = build_training_run(project)
    fc1, fc2 = run.model.get_submodule("fc1"), run.model.get_submodule("fc2")
    assert fc1.weight.std().item() == pytest.approx(math.sqrt(2 / 64), rel=0.1)
    assert torch.count_nonzero(fc1.bias) == 0
    assert fc2.weight.abs().max().item() <= 1 / math.sqrt(128) + 1e-6  # PyTorch's uniform(+-1/sqrt(fan_in))
    assert torch.count_nonzero(fc2.bias) > 0

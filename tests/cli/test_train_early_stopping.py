"""``nnstudio train`` says which epoch's weights it wrote when early stopping kept the best one."""

from __future__ import annotations

import torch

from nnstudio.cli import main
from nnstudio.core.examples import load_example
from nnstudio.core.project import save_project
from nnstudio.train.trainer import TrainingRun


def test_the_cli_names_the_epoch_whose_weights_it_wrote(tmp_path, capsys, monkeypatch):
    project = load_example("logistic-moons")
    project.settings.early_stopping = 2
    path = tmp_path / "moons.nns"
    save_project(project, path)
    losses = iter([1.0, 0.5, 0.7, 0.9, 0.1, 0.1])
    real = TrainingRun._validate

    def scripted(self):
        _loss, accuracy, mae, confusion = real(self)
        return next(losses), accuracy, mae, confusion
    monkeypatch.setattr(TrainingRun, "_validate", scripted)

    out = tmp_path / "run"
    assert main(["train", str(path), "--epochs", "6", "--device", "cpu", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "weights written: epoch 2 of 4, the best validation loss" in captured.out
    assert "the weights kept are those of epoch 2" in captured.err
    assert torch.load(out / "checkpoint.pth", weights_only=True)["early_stopping"]["weights_epoch"] == 2

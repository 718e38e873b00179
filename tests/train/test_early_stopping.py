"""Early stopping keeps the best epoch's weights (by validation loss) and says which epoch they are."""

from __future__ import annotations

import torch

from nnstudio.core.examples import load_example
from nnstudio.train.outputs import write_outputs
from nnstudio.train.project_run import build_training_run
from nnstudio.train.trainer import TrainingRun


def _scripted_validation(run: TrainingRun, losses: list[float]) -> None:
    """Make the run's validation report ``losses`` epoch by epoch (the rest of its numbers are real)."""
    real = run._validate
    script = iter(losses)

    def validate():
        _loss, accuracy, mae, confusion = real()
        return next(script), accuracy, mae, confusion
    run._validate = validate


def _weights_by_epoch(run: TrainingRun) -> dict[int, dict[str, torch.Tensor]]:
    seen: dict[int, dict[str, torch.Tensor]] = {}
    run.events.epoch_end.connect(
        lambda m: seen.__setitem__(m.epoch, {k: v.detach().clone() for k, v in run.model.state_dict().items()}))
    return seen


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _run(epochs: int, patience: int | None) -> TrainingRun:
    project = load_example("digits-mlp")
    project.settings.epochs = epochs
    project.settings.early_stopping = patience
    project.settings.device = "cpu"
    return build_training_run(project)


def test_early_stopping_writes_the_best_epochs_weights_and_names_that_epoch(tmp_path):
    run = _run(epochs=10, patience=2)
    _scripted_validation(run, [1.0, 0.5, 0.7, 0.9, 0.4])
    weights = _weights_by_epoch(run)
    result = run.run()

    assert result.status == "finished" and run.epochs_done == 4  # stopped after two worse epochs
    assert _same(run.weights(), weights[2]) and not _same(run.weights(), weights[4])
    assert run.weights_epoch == 2
    assert any("epoch 2" in note and "best validation loss" in note for note in result.notes), result.notes
    folder = write_outputs(run, tmp_path / "out")
    written = torch.load(folder / "model.pth", weights_only=True)
    assert _same(written, weights[2])
    checkpoint = torch.load(folder / "checkpoint.pth", weights_only=True)
    assert checkpoint["early_stopping"]["weights_epoch"] == 2 and checkpoint["epoch"] == 4
    assert _same(checkpoint["model"], weights[2])
    # The model the window predicts with is the kept one too.
    assert _same({k: v.detach() for k, v in run.model.state_dict().items()}, weights[2])


def test_with_early_stopping_a_run_that_reaches_its_last_epoch_also_keeps_the_best():
    run = _run(epochs=3, patience=5)
    _scripted_validation(run, [0.9, 0.3, 0.6])
    weights = _weights_by_epoch(run)
    run.run()
    assert _same(run.weights(), weights[2]) and run.weights_epoch == 2


def test_without_early_stopping_the_last_epoch_is_kept():
    run = _run(epochs=3, patience=None)
    _scripted_validation(run, [0.9, 0.3, 0.6])
    weights = _weights_by_epoch(run)
    result = run.run()
    assert run.weights_epoch == 3 and _same(run.weights(), weights[3])
    assert not any("weights kept" in note for note in result.notes)

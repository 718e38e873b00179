"""The figures the examples promise, at full length (NNSTUDIO_LONG=1; shorter versions run by default)."""

import pytest

from nnstudio.core.examples import load_example
from nnstudio.train.project_run import build_training_run


def full_run(name):
    project = load_example(name)
    project.settings.seed = 0
    run = build_training_run(project, device="cpu")
    result = run.run()
    assert result.status == "finished" and len(result.history) == project.settings.epochs
    return run, result


@pytest.mark.long
def test_digits_mlp_reaches_95_percent_in_30_epochs():
    _, result = full_run("digits-mlp")
    assert result.last.val_acc >= 0.95


@pytest.mark.long
def test_digits_cnn_reaches_97_percent_in_30_epochs():
    _, result = full_run("digits-cnn")
    assert result.last.val_acc >= 0.97

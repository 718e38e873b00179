"""`check` and `train` agree: what one calls an error the other refuses, in the same words.

Issue 14 item 1: an MLP returning [N, 12] on the 10-class digits, or a loss that cannot take the
data, once passed `check` with a warning and was then refused by `train`.
"""

from __future__ import annotations

import pytest

from nnstudio.cli import main
from nnstudio.core.commands import SetParam
from nnstudio.core.examples import load_example
from nnstudio.core.project import save_project
from nnstudio.core.settings import DatasetSettings


def _twelve_outputs(project):
    SetParam(project.graph, "fc3", "out_features", 12).redo()


def _mse(project):
    project.settings.loss = "mse"


def _bce(project):
    project.settings.loss = "bce_with_logits"


def _moons(project):
    project.settings.dataset = DatasetSettings(kind="moons")


def _bad_option(project):
    project.settings.dataset = DatasetSettings(kind="digits", options={"size": 3})


BROKEN = {
    "output width": (_twelve_outputs, "fc3 returns 12 class scores per sample, but the digits dataset has 10 classes"),
    "regression loss": (_mse, "MSELoss cannot learn the digits dataset: its targets are class labels"),
    "binary loss": (_bce, "BCEWithLogitsLoss learns two classes, but the digits dataset has 10"),
    "input shape": (_moons, "image takes samples of shape [1, 8, 8], but the moons dataset gives [2]"),
    "dataset option": (_bad_option, "dataset digits.size: unknown option(s) size (it has no options)"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_what_check_calls_an_error_train_refuses_with_the_same_words(case, tmp_path, capsys):
    break_it, words = BROKEN[case]
    project = load_example("digits-mlp")
    break_it(project)
    path = tmp_path / "broken.nns"
    save_project(project, path)

    assert main(["check", str(path)]) == 1
    checked = capsys.readouterr()
    assert words in checked.out and "must be fixed" in checked.err

    assert main(["train", str(path), "--epochs", "1", "--device", "cpu", "--out", str(tmp_path / "run")]) == 1
    trained = capsys.readouterr()
    assert words in trained.err and "Traceback" not in trained.err
    assert not (tmp_path / "run").exists(), "nothing is trained or written for a refused run"


def test_train_prints_the_warnings_it_trains_through(tmp_path, capsys):
    assert main(["check", "--example", "logistic-moons"]) == 0
    checked = capsys.readouterr().out
    assert "Ready to train (1 warning)" in checked
    warning = next(line for line in checked.splitlines() if line.startswith("warning: sigmoid1:"))

    assert main(["train", "--example", "logistic-moons", "--epochs", "1", "--device", "cpu",
                 "--out", str(tmp_path / "run")]) == 0
    err = capsys.readouterr().err
    assert warning in err
    assert "fix (in the window): Remove sigmoid1 and switch the loss to BCEWithLogitsLoss" in err


def test_a_clean_project_is_ready_to_train(capsys):
    assert main(["check", "--example", "digits-mlp"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("Ready to train")

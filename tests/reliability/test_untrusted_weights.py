"""Untrusted weights and checkpoints: refused without running anything, damaged ones named, misfits listed.

Every path that reads a weights or checkpoint file goes through ``load_weights_file``; these tests
drive the user-facing entry points (``nnstudio train --resume``, ``nnstudio export --weights``) and
the loader itself, and check that a payload never ran by looking for the file it would have created.
The GUI's "Resume from Checkpoint" is covered in ``gui/test_gui_files.py``.
"""

from __future__ import annotations

import random

import pytest
import torch
from reliability_payloads import PAYLOAD_WRITERS, write_payload_checkpoint
from torch import nn

from nnstudio.cli import main
from nnstudio.core.examples import load_example
from nnstudio.train import (
    CheckpointError,
    UnsafeWeightsError,
    WeightsFileError,
    build_training_run,
    load_state_dict_file,
    load_weights_file,
)
from nnstudio.train.export import build_model
from nnstudio.train.state_dicts import WeightsMismatchError, load_state_dict_checked


@pytest.fixture(scope="module")
def regression_run():
    """A one-epoch run of the linear-regression example (tiny: trains in well under a second)."""
    project = load_example("linear-regression")
    project.settings.epochs = 1
    run = build_training_run(project, device="cpu")
    run.run()
    return run


@pytest.fixture
def real_checkpoint(tmp_path, regression_run):
    path = tmp_path / "checkpoint.pth"
    torch.save(regression_run.checkpoint(), path)
    return path


def _state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _assert_same_weights(module: nn.Module, before: dict[str, torch.Tensor]) -> None:
    after = module.state_dict()
    assert list(after) == list(before)
    changed = [k for k in before if not torch.equal(after[k], before[k])]
    assert not changed, f"a refused file changed the model: {changed}"


# --- payloads ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", sorted(PAYLOAD_WRITERS))
def test_a_pickle_payload_is_refused_by_the_loader_and_never_runs(tmp_path, kind):
    marker = tmp_path / "payload-ran"
    path = PAYLOAD_WRITERS[kind](tmp_path / "evil.pth", marker)
    with pytest.raises(UnsafeWeightsError) as refused:
        load_weights_file(path)
    assert refused.value.global_name is not None and refused.value.global_name.endswith("open")
    assert refused.value.global_name in str(refused.value)
    assert "arbitrary code" in str(refused.value)
    assert not marker.exists()


@pytest.mark.parametrize("kind", sorted(PAYLOAD_WRITERS))
def test_train_resume_refuses_a_payload_checkpoint_with_exit_1(tmp_path, capsys, kind):
    marker = tmp_path / "payload-ran"
    path = PAYLOAD_WRITERS[kind](tmp_path / "checkpoint.pth", marker)
    out = tmp_path / "run"
    code = main(["train", "--example", "linear-regression", "--epochs", "2", "--resume", str(path),
                 "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1
    assert "refused" in err and "open" in err and "Traceback" not in err
    assert not marker.exists()
    assert not out.exists(), "nothing is trained or written from a refused checkpoint"


def test_export_weights_refuses_a_payload_with_exit_1(tmp_path, capsys):
    marker = tmp_path / "payload-ran"
    path = write_payload_checkpoint(tmp_path / "model.pth", marker)
    target = tmp_path / "model.onnx"
    code = main(["export", "--example", "linear-regression", "--weights", str(path), "-o", str(target)])
    err = capsys.readouterr().err
    assert code == 1 and "refused" in err and "Traceback" not in err
    assert not marker.exists() and not target.exists()


def test_a_whole_pickled_module_is_refused_and_explained(tmp_path, capsys):
    path = tmp_path / "model.pth"
    torch.save(nn.Sequential(nn.Linear(1, 1)), path)
    with pytest.raises(UnsafeWeightsError) as refused:
        load_state_dict_file(path)
    message = str(refused.value)
    assert "whole pickled model" in message and "torch.nn.modules" in message
    assert "model.state_dict()" in message, "the message says what to save instead"
    code = main(["export", "--example", "linear-regression", "--weights", str(path), "-o",
                 str(tmp_path / "out.pth")])
    assert code == 1 and "whole pickled model" in capsys.readouterr().err


# --- damaged files -------------------------------------------------------------------------------

def test_every_truncation_of_a_checkpoint_is_a_weights_file_error(real_checkpoint):
    data = real_checkpoint.read_bytes()
    cut = real_checkpoint.with_name("cut.pth")
    # Every 97th length plus the very ends: the zip directory sits at the end, headers at the start.
    lengths = sorted({*range(0, len(data), 97), 1, 2, 3, len(data) - 1, len(data) - 22})
    for length in lengths:
        cut.write_bytes(data[:length])
        with pytest.raises(WeightsFileError):
            load_weights_file(cut)


def test_random_byte_flips_in_a_checkpoint_load_or_fail_as_weights_file_errors(real_checkpoint):
    data = real_checkpoint.read_bytes()
    rng = random.Random(7)
    damaged = real_checkpoint.with_name("flipped.pth")
    refused = 0
    for _ in range(60):
        flipped = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
        damaged.write_bytes(bytes(flipped))
        try:
            load_weights_file(damaged)  # a flip inside tensor bytes still loads: only the values differ
        except WeightsFileError:
            refused += 1
    assert refused > 0, "flips in the zip structure must be noticed"


def test_an_empty_or_missing_weights_file_is_named(tmp_path):
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(WeightsFileError, match="empty"):
        load_weights_file(empty)
    with pytest.raises(WeightsFileError, match="No such file"):
        load_weights_file(tmp_path / "absent.pth")


def test_a_file_of_the_wrong_content_is_a_clear_resume_error(tmp_path, capsys):
    path = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), path)
    code = main(["train", "--example", "linear-regression", "--epochs", "2", "--resume", str(path),
                 "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 1 and "not an nnstudio checkpoint" in err and "Traceback" not in err


# --- weights that do not fit ---------------------------------------------------------------------

def test_a_misfit_state_dict_lists_every_mismatch_and_leaves_the_model_untouched():
    project = load_example("digits-mlp")
    model = build_model(project)
    before = _state(model)
    wrong = dict(before)
    del wrong["fc1.weight"]
    wrong["fc2.weight"] = torch.zeros(3, 3)
    wrong["extra.bias"] = torch.zeros(2)
    wrong["fc3.bias"] = "not a tensor"
    with pytest.raises(WeightsMismatchError) as misfit:
        load_state_dict_checked(model, wrong)
    message = str(misfit.value)
    assert "missing: fc1.weight [128, 64]" in message
    assert "fc2.weight: shape [3, 3] in the file, [64, 128] in the network" in message
    assert "not in this network: extra.bias" in message
    assert "fc3.bias: holds a str" in message
    assert len(misfit.value.mismatches) == 4
    _assert_same_weights(model, before)


def test_export_with_misfit_weights_lists_the_mismatches(tmp_path, capsys):
    path = tmp_path / "model.pth"
    torch.save({"fc1.weight": torch.zeros(3, 3), "head.bias": torch.zeros(1)}, path)
    code = main(["export", "--example", "linear-regression", "--weights", str(path), "-o",
                 str(tmp_path / "out.pth")])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "fc1.weight: shape [3, 3] in the file, [1, 1] in the network" in err
    assert "missing: fc1.bias [1]" in err
    assert "not in this network: head.bias" in err
    assert not (tmp_path / "out.pth").exists()


def test_a_misfit_checkpoint_leaves_the_run_untouched(regression_run):
    project = load_example("linear-regression")
    run = build_training_run(project, device="cpu")
    before = _state(run.model)
    checkpoint = regression_run.checkpoint()
    name = next(iter(checkpoint["model"]))
    checkpoint["model"] = {k: v + 1 for k, v in checkpoint["model"].items()}
    checkpoint["model"][name] = torch.zeros(7, 7)
    with pytest.raises(CheckpointError, match="do not fit this network") as misfit:
        run.load_checkpoint(checkpoint)
    assert misfit.value.field == "model" and name in str(misfit.value)
    _assert_same_weights(run.model, before)
    assert run.epochs_done == 0


def test_a_checkpoint_with_a_damaged_optimizer_part_leaves_the_run_untouched(regression_run):
    project = load_example("linear-regression")
    run = build_training_run(project, device="cpu")
    before = _state(run.model)
    checkpoint = regression_run.checkpoint()
    checkpoint["model"] = {k: v + 1 for k, v in checkpoint["model"].items()}  # fits, and would change
    checkpoint["optimizer"] = {"state": {}, "param_groups": "damaged"}
    with pytest.raises(CheckpointError) as damaged:
        run.load_checkpoint(checkpoint)
    assert damaged.value.field == "optimizer.param_groups"
    _assert_same_weights(run.model, before)
    assert run.epochs_done == 0
    run.run()  # still trains normally afterwards
    assert run.epochs_done == project.settings.epochs

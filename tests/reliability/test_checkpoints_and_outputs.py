"""Checkpoints whose parts have the wrong types, and run outputs that cannot be written where asked.

A generated corpus of malformed checkpoints (every part replaced by values of the wrong type, and
non-finite or non-numeric hyperparameters) must be refused at load with the part named, through the
trainer, ``nnstudio train --resume`` and the reader, never accepted to fail at epoch 3. A run whose
``--out`` cannot take the files is refused before the first epoch; one whose disk fails at the end
writes to a rescue folder that the message names.
"""

from __future__ import annotations

import copy
import errno
import math
from pathlib import Path

import pytest
import torch

from nnstudio.cli import main
from nnstudio.core.errors import NnstudioError
from nnstudio.core.examples import load_example
from nnstudio.core.files import FileWriteError, check_output_folder, simulate_fault
from nnstudio.train import outputs as outputs_module
from nnstudio.train.checkpoints import read_checkpoint_file, validate_checkpoint
from nnstudio.train.outputs import OUTPUT_FILES, write_outputs_or_rescue
from nnstudio.train.project_run import build_training_run
from nnstudio.train.trainer import CheckpointError

WRONG_VALUES = ["text", 3, -1, 2.5, math.nan, math.inf, None, True, [], {}, [1, "x"], {"a": 1}, torch.zeros(2)]


@pytest.fixture(scope="module")
def trained():
    project = load_example("linear-regression")
    project.settings.epochs = 2
    run = build_training_run(project, device="cpu")
    run.run()
    return project, run


def _parts(value, path: tuple = ()):
    """Yield the path (a tuple of keys) of every mapping entry and list item, tensor data excepted."""
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in list(items):
        where = (*path, key)
        yield where
        if isinstance(item, (dict, list)) and where[0] not in ("model", "rng") and where[:2] != ("optimizer", "state"):
            yield from _parts(item, where)


def _corpus(checkpoint: dict) -> list[tuple[tuple, dict]]:
    cases = []
    for where in _parts(checkpoint):
        for value in WRONG_VALUES:
            broken = copy.deepcopy(checkpoint)
            owner = broken
            for part in where[:-1]:
                owner = owner[part]
            if _same_kind(owner[where[-1]], value):
                continue
            owner[where[-1]] = value
            cases.append((where, broken))
    return cases


def _same_kind(old, new) -> bool:
    numbers = (int, float)
    if isinstance(old, bool) or isinstance(new, bool):
        return isinstance(old, bool) and isinstance(new, bool)
    if isinstance(old, numbers) and isinstance(new, numbers):
        return math.isfinite(new) and (not isinstance(old, int) or isinstance(new, int))
    return type(old) is type(new) and not isinstance(old, (dict, list, torch.Tensor))


def test_every_malformed_part_is_refused_at_load_naming_it_or_trains_correctly(trained):
    project, run = trained
    checkpoint = run.checkpoint()
    cases = _corpus(checkpoint)
    assert len(cases) > 300, "the corpus covers every part"
    refused = accepted = 0
    for where, broken in cases:
        fresh = build_training_run(project, device="cpu")
        before = {k: v.clone() for k, v in fresh.model.state_dict().items()}
        try:
            fresh.load_checkpoint(broken)
        except CheckpointError as exc:
            refused += 1
            assert exc.field and exc.field.split(".")[0].split("[")[0] == where[0], (where, str(exc))
            assert all(torch.equal(before[k], v) for k, v in fresh.model.state_dict().items()), where
            continue
        # Accepted: then it must train on without a fault (values torch reads as equivalent).
        accepted += 1
        fresh.settings.epochs = fresh.epochs_done + 1
        result = fresh.run()
        assert result.status == "finished", (where, result.failure)
    assert refused > accepted


@pytest.mark.parametrize(("part", "value", "named"), [
    ("lr", "fast", "optimizer.param_groups[0].lr: must be a finite number"),
    ("lr", math.nan, "optimizer.param_groups[0].lr"),
    ("momentum", [1], "optimizer.param_groups[0].momentum"),
])
def test_a_non_numeric_learning_rate_is_refused_at_load_not_at_epoch_3(trained, tmp_path, capsys, part, value, named):
    project, run = trained
    checkpoint = run.checkpoint()
    checkpoint["optimizer"]["param_groups"][0][part] = value
    path = tmp_path / "bad.pth"
    torch.save(checkpoint, path)
    with pytest.raises(CheckpointError, match=named.replace("[", r"\[").replace("]", r"\]")):
        read_checkpoint_file(path)
    assert main(["train", "--example", "linear-regression", "--resume", str(path), "--epochs", "4",
                 "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert named.split(":")[0] in err and "Traceback" not in err and "epoch 3" not in err
    assert not (tmp_path / "run").exists()


def test_a_malformed_history_is_refused_with_the_row_and_field(trained):
    _, run = trained
    checkpoint = run.checkpoint()
    checkpoint["history"][1]["val_loss"] = "low"
    with pytest.raises(CheckpointError, match=r"history\[1\]\.val_loss"):
        validate_checkpoint(checkpoint)


# --------------------------------------------------------------------------- where outputs go

def test_an_out_path_that_is_a_file_or_under_one_is_refused_before_training(tmp_path, capsys):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    for out, reason in ((blocker, "is a file, not a folder"), (blocker / "run", "blocker is a file")):
        assert main(["train", "--example", "linear-regression", "--out", str(out)]) == 1
        err = capsys.readouterr().err
        assert reason in err and "epoch 1" not in err and "Traceback" not in err
    assert blocker.read_text() == "a file"


def test_an_out_folder_that_refuses_writes_is_refused_before_training(tmp_path, capsys):
    with simulate_fault("create", errno.EACCES):
        assert main(["train", "--example", "linear-regression", "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert "cannot write in" in err and "Permission denied" in err and "epoch 1" not in err


def test_too_little_free_space_is_refused_before_training(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _p: usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(FileWriteError, match="1000 bytes free|1.0 KB free|free; the outputs need"):
        check_output_folder(tmp_path / "run", needed_bytes=10**6)
    assert not (tmp_path / "run").exists(), "the check creates nothing"


def test_outputs_that_fail_at_the_end_are_rescued_to_a_folder_the_message_names(tmp_path, monkeypatch, capsys):
    rescue = tmp_path / "rescue"
    monkeypatch.setattr(outputs_module, "rescue_folder_root", lambda: rescue)
    out = tmp_path / "run"
    real = outputs_module.write_outputs

    def full_disk_at_the_end(run, folder, project=None, **options):
        if Path(folder) == out:  # the asked folder's disk fills while the files are written
            with simulate_fault("write", errno.ENOSPC):
                return real(run, folder, project, **options)
        return real(run, folder, project, **options)

    monkeypatch.setattr(outputs_module, "write_outputs", full_disk_at_the_end)
    assert main(["train", "--example", "linear-regression", "--epochs", "2", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    rescued = next(rescue.iterdir())
    assert f"could not write the outputs to {out}" in err and "No space left on device" in err
    assert f"wrote them to {rescued} instead" in err
    assert sorted(p.name for p in rescued.iterdir()) == sorted(OUTPUT_FILES)
    assert len(read_checkpoint_file(rescued / "checkpoint.pth")["history"]) == 2, "the trained epochs are kept"


def test_when_the_rescue_fails_too_both_places_are_named(trained, tmp_path, monkeypatch):
    project, run = trained
    monkeypatch.setattr(outputs_module, "rescue_folder_root", lambda: tmp_path / "rescue")
    with simulate_fault("write", errno.ENOSPC), pytest.raises(NnstudioError) as failed:
        write_outputs_or_rescue(run, tmp_path / "run", project)
    assert "rescue folders" in str(failed.value) and str(tmp_path / "rescue") in str(failed.value)


def test_export_of_model_py_with_weights_that_do_not_fit_says_so(tmp_path, capsys):
    weights = tmp_path / "moons.pth"
    assert main(["export", "--example", "logistic-moons", "-o", str(weights)]) == 0
    capsys.readouterr()
    assert main(["export", "--example", "digits-mlp", "--weights", str(weights), "-o", str(tmp_path / "m.py")]) == 1
    err = capsys.readouterr().err
    assert "do not fit this network" in err and "missing: fc2.weight" in err
    assert not (tmp_path / "m.py").exists()

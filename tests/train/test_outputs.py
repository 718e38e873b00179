import csv

import pytest
import torch

from nnstudio.core.examples import load_example
from nnstudio.core.project import load_project
from nnstudio.train.outputs import (
    METRICS_COLUMNS,
    UnsafeWeightsError,
    WeightsFileError,
    load_state_dict_file,
    load_weights_file,
    write_outputs,
)
from nnstudio.train.project_run import build_training_run
from nnstudio.train.trainer import CheckpointError


def trained(name, epochs):
    project = load_example(name)
    project.settings.epochs = epochs
    run = build_training_run(project, device="cpu")
    run.run()
    return run


@pytest.fixture(scope="module")
def moons_run():
    return trained("logistic-moons", 3)


def test_output_folder_holds_every_file(tmp_path, moons_run):
    folder = write_outputs(moons_run, tmp_path / "out")
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["model.pth", "model.py", "project.nns", "metrics.csv", "checkpoint.pth", "preprocessing.json"])
    weights = torch.load(folder / "model.pth", weights_only=True)
    assert set(weights) == {"fc1.weight", "fc1.bias"}
    assert load_project(folder / "project.nns").name == "logistic-moons"
    assert "class Model(nn.Module)" in (folder / "model.py").read_text()


def test_metrics_csv_has_the_documented_columns(tmp_path, moons_run):
    folder = write_outputs(moons_run, tmp_path)
    with (folder / "metrics.csv").open() as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == METRICS_COLUMNS
    assert [row[0] for row in rows[1:]] == ["1", "2", "3"]
    assert all(float(row[4]) > 0.5 for row in rows[1:])


def test_regression_metrics_leave_accuracy_empty(tmp_path):
    folder = write_outputs(trained("linear-regression", 2), tmp_path)
    rows = list(csv.DictReader((folder / "metrics.csv").open()))
    assert rows[0]["train_acc"] == "" and rows[0]["val_acc"] == "" and float(rows[0]["val_loss"]) > 0


def test_same_seed_gives_an_identical_metrics_csv_except_timings(tmp_path):
    def table(run, where):
        rows = list(csv.DictReader((write_outputs(run, where) / "metrics.csv").open()))
        return [{k: v for k, v in row.items() if k not in ("epoch_time_s", "samples_per_s")} for row in rows]

    assert table(trained("digits-mlp", 2), tmp_path / "a") == table(trained("digits-mlp", 2), tmp_path / "b")


def test_checkpoint_loads_weights_only_and_holds_everything_to_resume(tmp_path, moons_run):
    folder = write_outputs(moons_run, tmp_path)
    checkpoint = torch.load(folder / "checkpoint.pth", weights_only=True)
    assert checkpoint["epoch"] == 3 and len(checkpoint["history"]) == 3
    assert {"model", "optimizer", "scheduler", "settings", "rng"} <= set(checkpoint)
    assert checkpoint["settings"]["loss"] == "bce"


def test_resuming_continues_exactly_like_an_uninterrupted_run(tmp_path):
    straight = trained("digits-mlp", 4)
    half = trained("digits-mlp", 2)
    checkpoint = load_weights_file(write_outputs(half, tmp_path) / "checkpoint.pth")
    project = load_example("digits-mlp")
    project.settings.epochs = 4
    resumed = build_training_run(project, device="cpu")
    resumed.load_checkpoint(checkpoint)
    result = resumed.run()
    assert [m.epoch for m in result.history] == [1, 2, 3, 4]
    assert [m.val_loss for m in result.history] == [m.val_loss for m in straight.history]


def test_a_checkpoint_of_another_network_is_refused(tmp_path, moons_run):
    checkpoint = load_weights_file(write_outputs(moons_run, tmp_path) / "checkpoint.pth")
    project = load_example("linear-regression")
    other = build_training_run(project, device="cpu")
    checkpoint["model"] = {"fc1.weight": torch.zeros(1, 2), "fc1.bias": torch.zeros(1)}
    with pytest.raises(CheckpointError, match="do not fit this network"):
        other.load_checkpoint(checkpoint)


class Sneaky:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_files_needing_full_unpickling_are_refused_not_loaded(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    torch.save({"weights": torch.zeros(2), "extra": Sneaky()}, path)
    with pytest.raises(UnsafeWeightsError, match="refused") as info:
        load_weights_file(path)
    assert info.value.global_name and "print" in info.value.global_name
    assert "this must never run" not in capsys.readouterr().out


def test_non_weight_files_are_a_clear_error(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("hello")
    with pytest.raises(WeightsFileError, match="not a PyTorch weights file"):
        load_weights_file(path)
    pickled = tmp_path / "list.pth"
    torch.save([1, 2, 3], pickled)
    with pytest.raises(WeightsFileError, match="does not hold a state dict"):
        load_state_dict_file(pickled)
    with pytest.raises(WeightsFileError, match="(?i)no such file"):
        load_weights_file(tmp_path / "missing.pth")

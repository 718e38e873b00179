"""metrics.csv carries the mean absolute error `nnstudio train` prints for regression (issue 14 item 7)."""

from __future__ import annotations

import csv

from nnstudio.cli import main

EARLIER_COLUMNS = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_time_s", "samples_per_s"]


def _rows(folder):
    with (folder / "metrics.csv").open(newline="") as handle:
        return list(csv.reader(handle))


def test_regression_runs_write_their_mae_after_the_earlier_columns(tmp_path, capsys):
    out = tmp_path / "line"
    assert main(["train", "--example", "linear-regression", "--epochs", "2", "--device", "cpu", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    header, *rows = _rows(out)
    assert header == [*EARLIER_COLUMNS, "train_mae", "val_mae"]
    last = dict(zip(header, rows[-1]))
    assert last["train_acc"] == last["val_acc"] == ""
    assert float(last["train_mae"]) > 0 and float(last["val_mae"]) > 0
    assert f"val_mae {float(last['val_mae']):.4g}" in printed  # the number the terminal showed


def test_classification_runs_leave_the_mae_empty(tmp_path):
    out = tmp_path / "moons"
    assert main(["train", "--example", "logistic-moons", "--epochs", "1", "--device", "cpu", "--out", str(out)]) == 0
    header, row = _rows(out)
    values = dict(zip(header, row))
    assert values["train_mae"] == values["val_mae"] == "" and 0 <= float(values["val_acc"]) <= 1

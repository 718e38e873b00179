import csv
import os
import signal
import subprocess
import sys

import pytest
import torch

from nnstudio.cli import main
from nnstudio.core.examples import example_path


def metrics(folder):
    return list(csv.DictReader((folder / "metrics.csv").open()))


def test_train_an_example_writes_the_output_folder(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--example", "logistic-moons", "--epochs", "2", "--device", "cpu", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "epoch 1/2" in printed and "epoch 2/2" in printed and "val_acc" in printed
    names = {p.name for p in out.iterdir()}
    assert {"model.pth", "model.py", "project.nns", "metrics.csv", "checkpoint.pth", "run.json",
            "preprocessing.json"} <= names
    assert len([n for n in names if n.startswith("events.out.tfevents.")]) == 1, "TensorBoard events"
    assert len(names) == 8
    assert len(metrics(out)) == 2


def test_overrides_reach_the_run(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--example", "linear-regression", "--epochs", "3", "--lr", "0.05", "--batch-size", "8",
                 "--seed", "4", "--device", "cpu", "--out", str(out)]) == 0
    settings = torch.load(out / "checkpoint.pth", weights_only=True)["settings"]
    assert (settings["epochs"], settings["lr"], settings["batch_size"], settings["seed"]) == (3, 0.05, 8, 4)
    assert float(metrics(out)[0]["lr"]) == 0.05


def test_default_output_folder_is_in_the_runs_folder_beside_the_project(tmp_path):
    project = tmp_path / "moons.nns"
    project.write_bytes(example_path("logistic-moons").read_bytes())
    assert main(["train", str(project), "--epochs", "1", "--device", "cpu"]) == 0
    assert main(["train", str(project), "--epochs", "1", "--device", "cpu"]) == 0
    runs = sorted(p for p in (tmp_path / "moons.runs").iterdir())
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == ["moons.runs"]
    assert len(runs) == 2, "each run gets a folder of its own"
    assert all((run / "model.pth").is_file() and (run / "run.json").is_file() for run in runs)


def test_example_runs_go_to_the_user_data_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--example", "logistic-moons", "--epochs", "1", "--device", "cpu"]) == 0
    from nnstudio.experiments.folders import runs_folder_for, user_runs_root

    runs = list(runs_folder_for(example="logistic-moons").iterdir())
    assert len(runs) == 1 and (runs[0] / "run.json").is_file()
    assert runs[0].parent == user_runs_root() / "examples" / "logistic-moons.runs"
    assert list(tmp_path.iterdir()) == [], "nothing is written in the current folder"


def test_resume_continues_from_a_checkpoint(tmp_path, capsys):
    first = tmp_path / "first"
    assert main(["train", "--example", "logistic-moons", "--epochs", "2", "--device", "cpu", "--out", str(first)]) == 0
    second = tmp_path / "second"
    assert main(["train", "--example", "logistic-moons", "--epochs", "4", "--device", "cpu", "--out", str(second),
                 "--resume", str(first / "checkpoint.pth")]) == 0
    rows = metrics(second)
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "4"]
    assert rows[:2] == metrics(first)
    capsys.readouterr()
    assert main(["train", "--example", "logistic-moons", "--epochs", "2", "--device", "cpu",
                 "--resume", str(first / "checkpoint.pth")]) == 2
    assert "already trained 2 epochs" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys):
    assert main(["train"]) == 2
    assert main(["train", "--example", "digits-mlp", "--epochs", "0"]) == 2
    assert "--epochs 0" in capsys.readouterr().err


def test_user_errors_exit_1_with_a_message(tmp_path, capsys):
    assert main(["train", "--example", "no-such-example"]) == 1
    assert "no example named" in capsys.readouterr().err
    evil = tmp_path / "evil.pth"
    torch.save({"f": print}, evil)
    assert main(["train", "--example", "logistic-moons", "--resume", str(evil)]) == 1
    assert "refused" in capsys.readouterr().err


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")
def test_ctrl_c_stops_and_still_writes_the_last_good_epoch(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "nnstudio", "train", "--example", "digits-mlp", "--epochs", "100000",
         "--device", "cpu", "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        first_line = process.stdout.readline()
        assert first_line.split()[:2] == ["epoch", "1/100000"], first_line
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert "stopped by Ctrl+C" in stderr
    rows = metrics(out)
    assert len(rows) >= 1
    checkpoint = torch.load(out / "checkpoint.pth", weights_only=True)
    assert checkpoint["epoch"] == len(rows)


def test_a_failing_run_exits_1_naming_the_problem(tmp_path, capsys):
    # A learning rate this large makes the loss overflow to inf/NaN within the first epochs.
    code = main(["train", "--example", "linear-regression", "--lr", "100", "--epochs", "30", "--device", "cpu",
                 "--out", str(tmp_path / "run")])
    assert code == 1
    assert "the loss became" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_an_absent_device_exits_1_naming_it(capsys):
    assert main(["train", "--example", "logistic-moons", "--device", "cuda"]) == 1
    assert "device 'cuda' is not available" in capsys.readouterr().err

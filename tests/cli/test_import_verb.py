"""``nnstudio import``: writes a project other verbs take; says it runs code; bad sources are one line."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import types

import pytest
import torch
from torch import nn

from nnstudio.cli import main
from nnstudio.core.project import load_project

DIGITS_NET = textwrap.dedent("""
    import torch.nn as nn
    import torch.nn.functional as F

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(64, 32)
            self.fc2 = nn.Linear(32, 10)

        def forward(self, x):
            return self.fc2(F.relu(self.fc1(x.flatten(1))))
""")


@pytest.fixture
def digits_net(tmp_path):
    path = tmp_path / "net.py"
    path.write_text(DIGITS_NET)
    return path


def test_import_writes_a_project_that_check_train_and_export_take(digits_net, tmp_path, capsys):
    out = tmp_path / "net.nns"
    assert main(["import", f"{digits_net}:Net", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "wrote net.nns and net.safetensors" in printed and "input shape guessed as [1, 8, 8]" in printed
    project = load_project(out)
    assert project.graph.node("fc1").weights and project.graph.node("x").params["shape"] == (1, 8, 8)
    assert main(["check", str(out)]) == 0
    run = tmp_path / "run"
    assert main(["train", str(out), "--epochs", "1", "--device", "cpu", "--out", str(run)]) == 0
    assert (run / "model.py").exists() and (run / "model.pth").exists()
    assert main(["export", str(out), "-o", str(tmp_path / "model.py")]) == 0
    assert "class Model(nn.Module)" in (tmp_path / "model.py").read_text()


def test_the_imported_weights_are_what_export_writes(tmp_path, monkeypatch, capsys):
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    zoo = types.ModuleType("cli_zoo")
    zoo.net = lambda: model
    monkeypatch.setitem(sys.modules, "cli_zoo", zoo)
    assert main(["import", "cli_zoo:net", "--input-shape", "4", "-o", str(tmp_path / "n.nns")]) == 0
    assert main(["export", str(tmp_path / "n.nns"), "-o", str(tmp_path / "n.pth")]) == 0
    assert "exporting the weights the project holds" in capsys.readouterr().out
    exported = torch.load(tmp_path / "n.pth", weights_only=True)
    assert all(torch.equal(exported[k], v) for k, v in model.state_dict().items())


def test_help_says_plainly_that_importing_runs_the_models_code(capsys):
    with pytest.raises(SystemExit):
        main(["import", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "RUNS THE MODEL'S CODE" in text and "import only models you trust" in text
    with pytest.raises(SystemExit):
        main(["autograd", "--help"])
    assert "THIS RUNS THAT CODE" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("source, message", [
    ("no_such_package_xyz:model", "there is no module named 'no_such_package_xyz'"),
    ("sys:exit", "called sys.exit() instead of returning a model"),
    ("collections:OrderedDict", "returned a collections.OrderedDict, not a torch.nn.Module"),
    ("torch.nn:Linear(4, 'x')", "calling Linear(4, 'x') raised TypeError"),
    ("torch.nn:Linear(open('/etc/passwd'))", "is not a Python literal"),
])
def test_bad_sources_exit_1_with_one_line(source, message, tmp_path, capsys):
    assert main(["import", source, "-o", str(tmp_path / "x.nns")]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and err.count("\n") == 0 and "Traceback" not in err
    assert not list(tmp_path.iterdir())  # nothing written


def test_sys_exit_in_the_source_is_an_error_in_a_real_process(tmp_path):
    done = subprocess.run([sys.executable, "-m", "nnstudio", "import", "sys:exit", "-o", str(tmp_path / "x.nns")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "sys.exit()" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("argv, message", [
    (["torch.nn:Linear", "-o", "x.txt"], "-o must name a project file ending in .nns"),
    (["torch.nn:Linear", "--input-shape", "3,x", "-o", "x.nns"], "whole numbers"),
])
def test_usage_errors_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["import", *argv]) == 2
    assert message in capsys.readouterr().err


def test_autograd_takes_the_same_sources(digits_net, tmp_path, capsys):
    out = tmp_path / "g.svg"
    assert main(["autograd", "--model", f"{digits_net}:Net", "--input-shape", "1,8,8", "--out", str(out)]) == 0
    assert "layer fc2" in out.read_text() or "fc2" in out.read_text()
    assert main(["autograd", "--model", "torch.nn:Linear(8, 3)", "--input-shape", "8", "--out", str(out)]) == 0


def test_progress_lines_let_a_parent_process_follow_the_import(digits_net, tmp_path):
    done = subprocess.run([sys.executable, "-m", "nnstudio", "import", f"{digits_net}:Net", "-o",
                           str(tmp_path / "n.nns"), "--progress"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    import json

    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    fractions = [line["progress"] for line in lines]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert any("tracing" in line["message"] for line in lines)

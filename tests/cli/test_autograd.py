"""``nnstudio autograd``: writes SVG, DOT and PNG for projects and any model; clear errors otherwise."""

from __future__ import annotations

import sys
import types
import xml.etree.ElementTree as ET

import pytest
from torch import nn

from nnstudio.autograd.appearance import LIGHT
from nnstudio.cli import main


def test_example_to_svg(tmp_path, capsys):
    out = tmp_path / "graph.svg"
    assert main(["autograd", "--example", "digits-cnn", "--out", str(out)]) == 0
    root = ET.fromstring(out.read_text(encoding="utf-8"))
    ids = {g.get("id") for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("id")}
    assert "param:conv1.weight" in ids and "param:fc2.bias" in ids
    assert "wrote" in capsys.readouterr().out


def test_project_file_collapsed_to_dot(tmp_path):
    from nnstudio.core.examples import example_path

    out = tmp_path / "graph.dot"
    assert main(["autograd", str(example_path("residual-block")), "--collapsed", "--out", str(out)]) == 0
    dot = out.read_text(encoding="utf-8")
    assert '"layer:skip_add"' in dot and '"layer:stem" -> "layer:relu1";' in dot


def test_png_has_the_png_signature(tmp_path):
    out = tmp_path / "graph.png"
    assert main(["autograd", "--example", "linear-regression", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_any_model_from_a_callable(tmp_path, monkeypatch):
    module = types.ModuleType("user_models")
    module.tiny = lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2))
    monkeypatch.setitem(sys.modules, "user_models", module)
    out = tmp_path / "tiny.svg"
    assert main(["autograd", "--model", "user_models:tiny", "--input-shape", "2,3,6,6",
                 "--gradients", "--out", str(out)]) == 0
    root = ET.fromstring(out.read_text(encoding="utf-8"))
    weight = next(g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("id") == "param:3.weight")
    fill = weight.find("{http://www.w3.org/2000/svg}rect").get("fill")
    assert fill != LIGHT.param_fill  # --gradients painted it on the gradient-norm scale
    assert "layer 3" in weight.find("{http://www.w3.org/2000/svg}title").text


@pytest.mark.parametrize("argv, message", [
    (["--example", "digits-cnn", "--out", "graph.txt"], "--out must end in"),
    (["--out", "graph.svg"], "exactly one of"),
    (["--example", "digits-cnn", "--input-shape", "1,2", "--out", "g.svg"], "--input-shape goes with --model"),
    (["--model", "torch.nn:Linear", "--input-shape", "1,x", "--out", "g.svg"], "whole numbers"),
])
def test_usage_errors_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["autograd", *argv]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("spec, message", [
    ("no_such_package_xyz:model", "there is no module named"),
    ("torch.nn:NoSuchThing", "torch.nn has no 'NoSuchThing'"),
    ("torch.nn:Linear", "calling Linear() raised TypeError"),
    ("math:pi", "pi is a float, not a class or function that builds a model"),
    ("collections:OrderedDict", "not a torch.nn.Module"),
    ("sys:exit", "called sys.exit() instead of returning a model"),
])
def test_bad_model_specs_name_the_culprit(spec, message, capsys, tmp_path):
    assert main(["autograd", "--model", spec, "--out", str(tmp_path / "g.svg")]) == 1
    err = capsys.readouterr().err
    assert spec in err and message in err

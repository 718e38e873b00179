import pytest
import torch

from nnstudio.cli import main


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert main(["train", "--example", "logistic-moons", "--epochs", "1", "--device", "cpu", "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("fmt", ["py", "pth", "safetensors", "pt2", "onnx"])
def test_export_every_format_from_a_run(fmt, run_folder, tmp_path):
    target = tmp_path / f"model.{fmt}"
    code = main(["export", str(run_folder / "project.nns"), "--weights", str(run_folder / "model.pth"),
                 "--format", fmt, "-o", str(target)])
    assert code == 0 and target.is_file() and target.stat().st_size > 0


def test_exported_weights_are_the_trained_ones(run_folder, tmp_path):
    target = tmp_path / "copy.pth"
    assert main(["export", str(run_folder / "project.nns"), "--weights", str(run_folder / "checkpoint.pth"),
                 "-o", str(target)]) == 0
    trained = torch.load(run_folder / "model.pth", weights_only=True)
    exported = torch.load(target, weights_only=True)
    assert all(torch.equal(trained[k], exported[k]) for k in trained)


def test_format_is_taken_from_the_suffix_or_must_be_given(tmp_path, capsys):
    assert main(["export", "--example", "digits-mlp", "-o", str(tmp_path / "model.bin")]) == 2
    assert "pass --format" in capsys.readouterr().err


def test_weights_for_another_network_are_a_clear_error(run_folder, tmp_path, capsys):
    code = main(["export", "--example", "digits-mlp", "--weights", str(run_folder / "model.pth"),
                 "-o", str(tmp_path / "m.pth")])
    assert code == 1 and "do not fit this network" in capsys.readouterr().err

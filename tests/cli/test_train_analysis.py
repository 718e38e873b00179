"""``nnstudio train`` analyses the network once: the run and the exported model.py share that analysis."""

from __future__ import annotations

from nnstudio.cli import main


def test_train_analyses_the_network_once(tmp_path, monkeypatch):
    from nnstudio.compile.analysis import ShapeInference

    calls = []
    real = ShapeInference.analyze
    monkeypatch.setattr(ShapeInference, "analyze", lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    out = tmp_path / "run"
    assert main(["train", "--example", "logistic-moons", "--epochs", "1", "--device", "cpu", "--out", str(out)]) == 0
    assert (out / "model.py").is_file() and (out / "model.pth").is_file()
    assert len(calls) == 1

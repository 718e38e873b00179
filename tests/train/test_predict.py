"""Predictions on new files by a trained run: `nnstudio predict`, and the preprocessing model.py carries."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import pytest
import torch
from transfer_helpers import fine_tuning_project

from nnstudio.cli import main
from nnstudio.core.errors import NnstudioError
from nnstudio.core.examples import load_example
from nnstudio.core.settings import DatasetSettings
from nnstudio.train.outputs import write_outputs
from nnstudio.train.predict import PredictError, Predictor
from nnstudio.train.project_run import build_training_run


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("predict")
    project, _ = fine_tuning_project(tmp_path, size=32, epochs=1, per_class=6)
    project.settings.dataset.options.update(size=36, crop=32, normalize="dataset")
    run = build_training_run(project, num_workers=0)
    run.run()
    return run, write_outputs(run, tmp_path / "run"), tmp_path


def test_predict_prints_each_pictures_top_classes_as_the_app_computes_them(image_run, capsys):
    run, folder, tmp_path = image_run
    picture = run.data.val.files[0]
    x, _ = run.data.val[0]
    with torch.no_grad():
        probabilities = torch.softmax(run.model.eval()(x.unsqueeze(0))[0], 0)
    assert main(["predict", str(folder), picture, "--top", "2"]) == 0
    line = capsys.readouterr().out.strip()
    best = int(probabilities.argmax())
    names = run.data.class_names
    assert line == (f"{picture}: {names[best]} {float(probabilities[best]):.1%}, "
                    f"{names[1 - best]} {float(probabilities[1 - best]):.1%}")


def test_model_py_carries_the_preprocessing_and_class_names(image_run):
    run, folder, tmp_path = image_run
    picture = run.data.val.files[1]
    x, _ = run.data.val[1]
    with torch.no_grad():
        expected = run.model.eval()(x.unsqueeze(0))
    script = textwrap.dedent(f"""
        import json, sys, torch
        from PIL import Image
        sys.path.insert(0, {str(folder)!r})
        import model
        net = model.Model()
        net.load_state_dict(torch.load({str(folder / 'model.pth')!r}, weights_only=True))
        net.eval()
        with Image.open({picture!r}) as image:
            batch = model.preprocess(image)
        with torch.no_grad():
            out = net(batch)
        print(json.dumps({{"out": out.tolist(), "top": model.top_classes(out[0], 2), "names": model.CLASS_NAMES,
                          "crop": model.PREPROCESSING["crop"]}}))
    """)
    done = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["names"] == run.data.class_names and got["crop"] == [32, 32]
    torch.testing.assert_close(torch.tensor(got["out"]), expected, rtol=1e-4, atol=1e-4)
    prediction = Predictor.from_run(folder).predict_files([picture], 2)[0]
    assert [name for name, _ in got["top"]] == [name for name, _ in prediction.top]


def test_predict_names_what_it_cannot_use(image_run, tmp_path):
    run, folder, _ = image_run
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    with pytest.raises(PredictError, match="notes.png: not a picture Pillow can read"):
        Predictor.from_run(folder).predict_files([str(text)])
    with pytest.raises(NnstudioError, match="has no project.nns; give the folder of a finished run$"):
        Predictor.from_run(tmp_path)
    old = tmp_path / "old"
    shutil.copytree(folder, old)
    (old / "preprocessing.json").unlink()
    with pytest.raises(NnstudioError, match="has no preprocessing.json.*train again"):
        Predictor.from_run(old)


def test_predict_reads_csv_rows_by_column_name_and_standardises_them(tmp_path, capsys):
    rows = ["b,a,label"] + [f"{i % 7},{(i * 3) % 5},{'yes' if i % 7 > 3 else 'no'}" for i in range(40)]
    (tmp_path / "table.csv").write_text("\n".join(rows) + "\n")
    project = load_example("logistic-moons")
    project.settings.dataset = DatasetSettings(kind="csv", options={"path": str(tmp_path / "table.csv")})
    project.settings.epochs, project.settings.device = 2, "cpu"
    run = build_training_run(project, num_workers=0)
    run.run()
    folder = write_outputs(run, tmp_path / "run")
    (tmp_path / "new.csv").write_text("a,b\n1,6\n4,0\n")
    assert main(["predict", str(folder), str(tmp_path / "new.csv")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    prep = json.loads((folder / "preprocessing.json").read_text())["preprocessing"]
    x = (torch.tensor([6.0, 1.0]) - torch.tensor(prep["mean"])) / torch.tensor(prep["std"])
    with torch.no_grad():
        p = float(run.model.eval()(x.float().unsqueeze(0)).reshape(-1)[0])
    # logistic-moons ends in a Sigmoid with BCELoss: the output already is the probability of class 1
    assert lines[0].startswith("new.csv line 2: ")
    assert len(lines) == 2
    first, second = ("yes", p), ("no", 1 - p)
    if p < 0.5:
        first, second = second, first
    assert lines[0] == f"new.csv line 2: {first[0]} {first[1]:.1%}, {second[0]} {second[1]:.1%}"
    script = textwrap.dedent(f"""
        import sys, torch
        sys.path.insert(0, {str(folder)!r})
        import model
        net = model.Model()
        net.load_state_dict(torch.load({str(folder / 'model.pth')!r}, weights_only=True))
        net.eval()
        with torch.no_grad():
            print(float(net(model.preprocess({{"a": "1", "b": "6"}})).reshape(-1)[0]))
    """)
    done = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout.strip().splitlines()[-1]) == pytest.approx(p, abs=1e-6)  # raw row, standardised once
    (tmp_path / "bad.csv").write_text("a,c\n1,2\n")
    with pytest.raises(PredictError, match="bad.csv has no column 'b'"):
        Predictor.from_run(folder).predict_files([str(tmp_path / "bad.csv")])

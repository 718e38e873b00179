"""A standardised CSV: statistics of the training rows, kept with the run, applied by the exported model."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch

from nnstudio.core.graph import Graph
from nnstudio.core.input_scaling import InputScaling
from nnstudio.core.project import Project
from nnstudio.core.settings import DatasetSettings, TrainingSettings
from nnstudio.train.checkpoints import CheckpointError, validate_checkpoint
from nnstudio.train.datasets import load_dataset
from nnstudio.train.outputs import write_outputs
from nnstudio.train.project_run import build_training_run

ROWS = 160


def _write_table(path, outlier_row: int | None = None) -> list[list[float]]:
    """Two features far from mean 0 / std 1 (around 1000, and tiny), and a unique regression target."""
    generator = torch.Generator().manual_seed(0)
    a = 1000 + 50 * torch.randn(ROWS, generator=generator, dtype=torch.float64)
    b = 0.002 * torch.randn(ROWS, generator=generator, dtype=torch.float64)
    rows = []
    for i in range(ROWS):
        target = 0.02 * (float(a[i]) - 1000) + 400 * float(b[i]) + i * 1e-4  # unique: finds a sample's row
        rows.append([float(a[i]), float(b[i]), target])
    if outlier_row is not None:
        rows[outlier_row][0] = 1e6
    path.write_text("pressure,flow,yield\n" + "".join(",".join(repr(v) for v in row) + "\n" for row in rows))
    return rows


def _by_target(rows: list[list[float]]) -> dict[float, list[float]]:
    """The rows by their target as a float32 sample holds it (every target differs)."""
    found = {float(torch.tensor(row[2], dtype=torch.float32)): row for row in rows}
    assert len(found) == len(rows)
    return found


def _project(table) -> Project:
    nodes = [{"id": "rows", "type": "input", "params": {"shape": [2]}},
             {"id": "hidden", "type": "linear", "params": {"out_features": 16}},
             {"id": "act", "type": "tanh"},
             {"id": "head", "type": "linear", "params": {"out_features": 1}},
             {"id": "out", "type": "output"}]
    ids = [node["id"] for node in nodes]
    graph = Graph.from_records(nodes, [{"source": a, "target": b} for a, b in zip(ids, ids[1:])])
    settings = TrainingSettings(dataset=DatasetSettings(kind="csv", options={"path": str(table)}), loss="mse",
                                epochs=3, lr=0.01, batch_size=16)
    return Project(graph, settings, name="yield")


def test_the_statistics_are_the_training_rows_and_named_by_column(tmp_path):
    table = tmp_path / "plant.csv"
    rows = _write_table(table)
    bundle = load_dataset(DatasetSettings(kind="csv", options={"path": str(table)}), 0, loss="mse")
    scaling = bundle.input_scaling
    assert scaling.columns == ("pressure", "flow")
    by_target = _by_target(rows)
    train_rows = torch.tensor([by_target[float(t)][:2] for t in bundle.train.y.reshape(-1)], dtype=torch.float64)
    assert scaling.mean == pytest.approx(train_rows.mean(0).tolist(), rel=1e-6)
    assert scaling.std == pytest.approx(train_rows.std(0, unbiased=False).tolist(), rel=1e-4)
    assert bundle.train.x.mean(0).abs().max() < 1e-4  # what training sees is standardised

    unscaled = load_dataset(DatasetSettings(kind="csv", options={"path": str(table), "standardize": False}), 0,
                            loss="mse")
    assert unscaled.input_scaling is None


def test_a_validation_row_does_not_move_the_statistics(tmp_path):
    table = tmp_path / "plant.csv"
    _write_table(table)
    clean = load_dataset(DatasetSettings(kind="csv", options={"path": str(table)}), 0, loss="mse")
    val_targets = set(clean.val.y.reshape(-1).tolist())
    rows = _write_table(table)
    outlier = next(i for i, row in enumerate(rows) if float(torch.tensor(row[2], dtype=torch.float32)) in val_targets)
    _write_table(table, outlier_row=outlier)
    with_outlier = load_dataset(DatasetSettings(kind="csv", options={"path": str(table)}), 0, loss="mse")
    assert with_outlier.input_scaling.mean == pytest.approx(clean.input_scaling.mean, rel=1e-9)


MODEL_PY = textwrap.dedent("""
    import json, sys, torch
    folder, rows = sys.argv[1], json.loads(sys.stdin.read())
    namespace = {"__name__": "model"}
    exec(compile(open(folder + "/model.py").read(), "model.py", "exec"), namespace)
    model = namespace["Model"]()
    model.load_state_dict(torch.load(folder + "/model.pth", weights_only=True))
    model.eval()
    with torch.no_grad():
        print(json.dumps(model(torch.tensor(rows, dtype=torch.float32)).reshape(-1).tolist()))
""")


def test_model_py_with_model_pth_fed_raw_rows_predicts_what_the_app_does(tmp_path):
    table = tmp_path / "plant.csv"
    rows = _write_table(table)
    run = build_training_run(_project(table), device="cpu")
    assert run.run().status == "finished"
    folder = write_outputs(run, tmp_path / "out")

    # The app's predictions: the trained network on the validation samples as the app feeds them.
    run.model.eval()
    with torch.no_grad():
        app = run.model(run.data.val.x.to(run.device)).reshape(-1).cpu()
    by_target = _by_target(rows)
    raw = [by_target[float(t)][:2] for t in run.data.val.y.reshape(-1)]

    done = subprocess.run([sys.executable, "-c", MODEL_PY, str(folder)], input=json.dumps(raw), text=True,
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    exported = torch.tensor(json.loads(done.stdout))
    assert torch.allclose(exported, app, atol=1e-4, rtol=1e-4), (exported - app).abs().max()

    source = (folder / "model.py").read_text()
    assert "(pressure, flow) are standardised" in source
    checkpoint = torch.load(folder / "checkpoint.pth", weights_only=True)
    kept = InputScaling.from_dict(checkpoint["input_scaling"])
    assert kept == run.data.input_scaling and kept.columns == ("pressure", "flow")
    assert set(torch.load(folder / "model.pth", weights_only=True)) == set(run.weights())  # keys unchanged


def test_a_checkpoint_with_broken_statistics_is_refused_naming_them(tmp_path):
    table = tmp_path / "plant.csv"
    _write_table(table)
    project = _project(table)
    project.settings.epochs = 1
    run = build_training_run(project, device="cpu")
    run.run()
    checkpoint = run.checkpoint()
    validate_checkpoint(checkpoint)
    checkpoint["input_scaling"] = {"mean": [0.0, 1.0], "std": [1.0, 0.0]}
    with pytest.raises(CheckpointError, match="input_scaling"):
        validate_checkpoint(checkpoint)


def test_the_onnx_export_of_a_run_takes_raw_rows_too(tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    table = tmp_path / "plant.csv"
    rows = _write_table(table)
    project = _project(table)
    project.settings.epochs = 1
    run = build_training_run(project, device="cpu")
    assert run.run().status == "finished"
    folder = write_outputs(run, tmp_path / "out", extra_formats=("onnx",))
    run.model.eval()
    with torch.no_grad():
        app = run.model(run.data.val.x).reshape(-1)
    by_target = _by_target(rows)
    raw = torch.tensor([by_target[float(t)][:2] for t in run.data.val.y.reshape(-1)], dtype=torch.float32)
    session = onnxruntime.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    (exported,) = session.run(None, {"rows": raw.numpy()})
    assert torch.allclose(torch.from_numpy(exported).reshape(-1), app, atol=1e-4, rtol=1e-4)

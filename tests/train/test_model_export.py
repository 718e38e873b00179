import subprocess
import sys
import textwrap

import pytest
import torch

from nnstudio.core.examples import load_example
from nnstudio.train.export import ExportError, build_model, example_input, export_model
from nnstudio.train.outputs import write_outputs
from nnstudio.train.project_run import build_training_run

FRESH_INTERPRETER = textwrap.dedent("""
    import importlib.util, sys
    sys.modules["nnstudio"] = None  # make nnstudio unimportable: model.py must need only torch
    import torch
    folder = sys.argv[1]
    spec = importlib.util.spec_from_file_location("model", folder + "/model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.Model()
    model.load_state_dict(torch.load(folder + "/model.pth", weights_only=True))
    model.eval()
    with torch.no_grad():
        torch.save(model(torch.load(folder + "/input.pt", weights_only=True)), folder + "/output.pt")
""")


@pytest.fixture(scope="module")
def trained_cnn():
    project = load_example("digits-cnn")
    project.settings.epochs = 1
    run = build_training_run(project, device="cpu")
    run.run()
    return project, run


def test_model_py_and_weights_reproduce_the_outputs_in_a_fresh_interpreter(tmp_path, trained_cnn):
    project, run = trained_cnn
    folder = write_outputs(run, tmp_path)
    sample = example_input(project, batch=5)
    torch.save(sample, folder / "input.pt")
    (tmp_path / "check.py").write_text(FRESH_INTERPRETER)
    done = subprocess.run([sys.executable, "-I", str(tmp_path / "check.py"), str(folder)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    expected = build_model(project, run.weights())(sample)
    assert torch.allclose(torch.load(folder / "output.pt", weights_only=True), expected, atol=1e-6)


def test_the_fresh_interpreter_really_cannot_import_nnstudio(tmp_path):
    script = tmp_path / "probe.py"
    script.write_text('import sys\nsys.modules["nnstudio"] = None\nimport nnstudio\n')
    done = subprocess.run([sys.executable, "-I", str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "import of nnstudio halted" in done.stderr


def test_pth_and_safetensors_hold_the_trained_weights(tmp_path, trained_cnn):
    project, run = trained_cnn
    weights = run.weights()
    export_model(project, "pth", tmp_path / "w.pth", weights)
    loaded = torch.load(tmp_path / "w.pth", weights_only=True)
    assert all(torch.equal(loaded[k], v) for k, v in weights.items())
    from safetensors.torch import load_file

    export_model(project, "safetensors", tmp_path / "w.safetensors", weights)
    tensors = load_file(str(tmp_path / "w.safetensors"))
    assert set(tensors) == set(weights) and all(torch.equal(tensors[k], v) for k, v in weights.items())


def test_pt2_program_runs_with_any_batch_size(tmp_path, trained_cnn):
    project, run = trained_cnn
    export_model(project, "pt2", tmp_path / "m.pt2", run.weights())
    program = torch.export.load(str(tmp_path / "m.pt2"))
    sample = example_input(project, batch=7)
    expected = build_model(project, run.weights())(sample)
    assert torch.allclose(program.module()(sample), expected, atol=1e-5)


def test_onnx_export_is_checked_and_matches_onnxruntime(tmp_path, trained_cnn):
    onnx = pytest.importorskip("onnx")
    project, run = trained_cnn
    path = export_model(project, "onnx", tmp_path / "m.onnx", run.weights())
    model = onnx.load(str(path))
    assert [i.name for i in model.graph.input] == ["image"]
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    sample = example_input(project, batch=3)
    got = torch.from_numpy(session.run(None, {"image": sample.numpy()})[0])
    assert torch.allclose(got, build_model(project, run.weights())(sample), rtol=1e-3, atol=1e-4)


def test_py_export_is_the_generated_source(tmp_path):
    project = load_example("digits-mlp")
    path = export_model(project, "py", tmp_path / "model.py")
    assert "class Model(nn.Module)" in path.read_text() and "nnstudio" not in path.read_text().split('"""')[-1]


def test_unknown_format_is_refused(tmp_path):
    with pytest.raises(ExportError, match="choose one of py, pth, safetensors, pt2, onnx"):
        export_model(load_example("digits-mlp"), "tflite", tmp_path / "m.tflite")

"""The project's weights file: read, checked against the layers, kept through edits, saved beside the project."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from safetensors.numpy import load_file as load_numpy
from safetensors.numpy import save as save_numpy

from nnstudio.core.commands import RemoveNodes, RenameNode, SetStoredWeights, UndoStack
from nnstudio.core.errors import ProjectFileError
from nnstudio.core.graph import Graph
from nnstudio.core.project import Project, load_project, loads_project, save_project
from nnstudio.core.weights import TensorSource, WeightsFileError, bind_weights, layer_of_key, stored_tensors


def _graph() -> Graph:
    nodes = [{"id": "image", "type": "input", "params": {"shape": [3]}},
             {"id": "body.0.fc", "type": "linear", "params": {"out_features": 2}},
             {"id": "act", "type": "relu"}, {"id": "out", "type": "output"}]
    edges = [{"source": a, "target": b} for a, b in [("image", "body.0.fc"), ("body.0.fc", "act"), ("act", "out")]]
    return Graph.from_records(nodes, edges)


WEIGHT = np.arange(6, dtype=np.float32).reshape(2, 3)
BIAS = np.array([0.5, -0.5], dtype=np.float32)


def _project_with_weights() -> Project:
    project = Project(_graph())
    bind_weights(project.graph, TensorSource.from_bytes(save_numpy({"body.0.fc.weight": WEIGHT,
                                                                    "body.0.fc.bias": BIAS})))
    return project


def test_a_saved_project_keeps_its_tensors_in_a_safetensors_file_beside_it(tmp_path):
    project = _project_with_weights()
    save_project(project, tmp_path / "net.nns")
    assert json.loads((tmp_path / "net.nns").read_text())["weights"] == "net.safetensors"
    on_disk = load_numpy(str(tmp_path / "net.safetensors"))  # any safetensors reader takes it
    assert set(on_disk) == {"body.0.fc.weight", "body.0.fc.bias"}
    np.testing.assert_array_equal(on_disk["body.0.fc.weight"], WEIGHT)
    again = load_project(tmp_path / "net.nns")
    weight = again.graph.node("body.0.fc").weights["weight"]
    assert (weight.dtype, weight.shape) == ("F32", (2, 3))
    np.testing.assert_array_equal(np.frombuffer(weight.data(), np.float32).reshape(2, 3), WEIGHT)
    assert again.graph.node("act").weights == {}


def test_saving_again_unchanged_writes_nothing_and_a_rename_moves_the_keys(tmp_path):
    path = tmp_path / "net.nns"
    save_project(_project_with_weights(), path)
    project = load_project(path)
    before = (tmp_path / "net.safetensors").stat()
    save_project(project, path)
    assert (tmp_path / "net.safetensors").stat().st_mtime_ns == before.st_mtime_ns
    stack = UndoStack()
    stack.push(RenameNode(project.graph, "body.0.fc", "head"))
    save_project(project, path)
    assert set(load_numpy(str(tmp_path / "net.safetensors"))) == {"head.weight", "head.bias"}
    stack.undo()  # the tensors read before the file was replaced are still readable
    assert set(stored_tensors(project.graph)) == {"body.0.fc.weight", "body.0.fc.bias"}
    np.testing.assert_array_equal(
        np.frombuffer(project.graph.node("body.0.fc").weights["bias"].data(), np.float32), BIAS)


def test_deleted_layers_take_their_tensors_and_undo_brings_them_back(tmp_path):
    project = _project_with_weights()
    stack = UndoStack()
    stack.push(RemoveNodes(project.graph, ["body.0.fc"]))
    assert stored_tensors(project.graph) == {}
    save_project(project, tmp_path / "net.nns")
    assert "weights" not in json.loads((tmp_path / "net.nns").read_text())
    stack.undo()
    assert set(stored_tensors(project.graph)) == {"body.0.fc.weight", "body.0.fc.bias"}
    stack.push(SetStoredWeights(project.graph, "body.0.fc", {}))
    assert stored_tensors(project.graph) == {}
    stack.undo()
    assert len(stored_tensors(project.graph)) == 2


def test_keys_belong_to_the_longest_layer_path():
    graph = _graph()
    assert layer_of_key(graph, "body.0.fc.weight") == ("body.0.fc", "weight")
    assert layer_of_key(graph, "body.0.fc.inner.bias") == ("body.0.fc", "inner.bias")
    assert layer_of_key(graph, "body.0.weight") is None


def _save_with(tmp_path, tensors, name="net.safetensors"):
    (tmp_path / name).write_bytes(save_numpy(tensors))
    text = json.dumps({"format": "nnstudio-project", "version": 2, "nodes": [
        {"id": "image", "type": "input", "params": {"shape": [3]}},
        {"id": "fc", "type": "linear", "params": {"out_features": 2}}, {"id": "act", "type": "relu"}],
        "edges": [{"source": "image", "target": "fc"}, {"source": "fc", "target": "act"}], "weights": name})
    (tmp_path / "net.nns").write_text(text)
    return tmp_path / "net.nns"


@pytest.mark.parametrize(("tensors", "message"), [
    ({"fc9.weight": WEIGHT}, "holds 'fc9.weight', but the project has no layer 'fc9' to own it"),
    ({"image.weight": WEIGHT}, "holds 'image.weight', but layer 'image' \\(Input\\) has no weights"),
])
def test_keys_no_layer_can_hold_are_refused_at_load_by_name(tmp_path, tensors, message):
    with pytest.raises(ProjectFileError, match=message) as refused:
        load_project(_save_with(tmp_path, tensors))
    assert refused.value.location == "weights"


def _corrupt(data: bytes, how: str) -> bytes:
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + size])
    if how == "truncated":
        return data[:-4]
    if how == "header-too-long":
        return struct.pack("<Q", 10**12) + data[8:]
    if how == "not-json":
        return data[:8] + b"{" * size + data[8 + size:]
    if how == "wrong-size":
        header["fc.weight"]["shape"] = [3, 3]
    elif how == "overlap":
        header["fc.bias"]["data_offsets"] = [8, 16]  # inside fc.weight's bytes
    elif how == "dtype":
        header["fc.weight"]["dtype"] = "F128"
    elif how == "shape":
        header["fc.weight"]["shape"] = [2, -3]
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data[8 + size:]


@pytest.mark.parametrize(("how", "message"), [
    ("truncated", "outside the file's"), ("header-too-long", "the header claims"), ("not-json", "not valid JSON"),
    ("wrong-size", "needs 36 bytes, its range holds 24"), ("overlap", "share bytes"), ("dtype", "unknown dtype"),
    ("shape", "malformed shape"),
])
def test_a_damaged_weights_file_is_one_clear_error(tmp_path, how, message):
    path = _save_with(tmp_path, {"fc.weight": WEIGHT, "fc.bias": BIAS})
    weights = tmp_path / "net.safetensors"
    weights.write_bytes(_corrupt(weights.read_bytes(), how))
    with pytest.raises(ProjectFileError, match=message):
        load_project(path)


@pytest.mark.parametrize(("name", "message"), [
    ("../elsewhere.safetensors", "a plain file name, no folder"), ("net.pth", "not the name of a .safetensors"),
    ("missing.safetensors", "missing.safetensors: cannot read the file"),
    ("folder.safetensors", "is a folder, not a weights file"),
])
def test_the_weights_key_names_a_readable_file_beside_the_project(tmp_path, name, message):
    path = _save_with(tmp_path, {"fc.weight": WEIGHT})
    (tmp_path / "folder.safetensors").mkdir()
    text = json.loads(path.read_text())
    text["weights"] = name
    path.write_text(json.dumps(text))
    with pytest.raises(ProjectFileError, match=message):
        load_project(path)


def test_text_naming_a_weights_file_needs_its_folder():
    text = json.dumps({"format": "nnstudio-project", "version": 2, "weights": "net.safetensors"})
    with pytest.raises(ProjectFileError, match="read without its folder"):
        loads_project(text)


def test_a_version_1_reader_is_told_the_file_is_newer(tmp_path, monkeypatch):
    """What an old nnstudio (reading versions up to 1) says of the files this one writes."""
    import nnstudio.core.project as project_module

    save_project(_project_with_weights(), tmp_path / "net.nns")
    monkeypatch.setattr(project_module, "VERSION", 1)
    with pytest.raises(ProjectFileError, match="the file is version 2, made by a newer nnstudio"):
        load_project(tmp_path / "net.nns")


def test_weights_file_errors_name_the_file(tmp_path):
    (tmp_path / "w.safetensors").write_bytes(b"12345")
    with pytest.raises(WeightsFileError, match="w.safetensors"):
        TensorSource.open(tmp_path / "w.safetensors")


def test_a_failed_weights_write_keeps_both_old_files_and_says_why(tmp_path):
    from nnstudio.core.files import simulate_fault

    path = tmp_path / "net.nns"
    project = _project_with_weights()
    save_project(project, path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    RenameNode(project.graph, "body.0.fc", "head").redo()  # new keys: the weights file must be rewritten
    for stage in ("write", "fsync", "rename"):
        with simulate_fault(stage, name="net.safetensors"), pytest.raises(ProjectFileError) as refused:
            save_project(project, path)
        assert refused.value.location == "weights" and "No space left" in refused.value.reason
        assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    save_project(project, path)
    assert set(load_numpy(str(tmp_path / "net.safetensors"))) == {"head.weight", "head.bias"}

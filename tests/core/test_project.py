import json
import os

import pytest

from nnstudio.core.commands import AddNode, SetParam, UndoStack
from nnstudio.core.errors import ProjectFileError
from nnstudio.core.examples import DEFAULT_EXAMPLE, UnknownExampleError, list_examples, load_example
from nnstudio.core.project import (
    FORMAT,
    MIGRATIONS,
    VERSION,
    Project,
    dumps_project,
    load_project,
    loads_project,
    save_project,
)

EXAMPLE_TEXT = load_example("digits-cnn")


def example_dict() -> dict:
    return json.loads(dumps_project(load_example("residual-block")))


def test_every_bundled_example_loads_and_round_trips(tmp_path):
    names = [e.name for e in list_examples()]
    assert {"linear-regression", "logistic-moons", "digits-mlp", "digits-cnn", "mnist-mlp", "mnist-cnn",
            "cifar10-cnn", "residual-block", DEFAULT_EXAMPLE} <= set(names)
    for info in list_examples():
        project = load_example(info.name)
        assert info.description
        path = tmp_path / f"{info.name}.nns"
        save_project(project, path)
        again = load_project(path)
        assert again.graph.same_as(project.graph)
        assert again.settings == project.settings
        assert (again.name, again.description) == (project.name, project.description)


def test_unknown_example_lists_the_known_ones():
    with pytest.raises(UnknownExampleError, match="digits-cnn"):
        load_example("nope")


def test_save_and_load_keep_edits(tmp_path):
    project = load_example("digits-mlp")
    stack = UndoStack()
    stack.push(AddNode(project.graph, "dropout", (5, 5), {"p": 0.3}))
    stack.push(SetParam(project.graph, "fc1", "out_features", 99))
    project.settings.lr = 0.05
    path = tmp_path / "p.nns"
    save_project(project, path)
    loaded = load_project(path)
    assert loaded.graph.node("drop1").params["p"] == 0.3
    assert loaded.graph.node("fc1").params["out_features"] == 99
    assert loaded.settings.lr == 0.05


def test_a_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "p.nns"
    save_project(load_example("digits-mlp"), path)
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(ProjectFileError, match="No space left"):
        save_project(load_example("digits-cnn"), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["p.nns"]  # no temporary file left behind


def test_saving_into_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ProjectFileError, match="cannot write"):
        save_project(Project(), tmp_path / "no" / "such" / "p.nns")


@pytest.mark.parametrize(
    ("mutate", "message", "location"),
    [
        (lambda d: d.update(format="something-else"), "not an nnstudio project", "format"),
        (lambda d: d.update(version=VERSION + 1), "newer nnstudio", "version"),
        (lambda d: d.update(version="1"), "whole number", "version"),
        (lambda d: d["nodes"][1].update(type="conv9d"), "unknown type 'conv9d'", "nodes[1].type"),
        (lambda d: d["nodes"][1]["params"].update(out_channels="many"), "whole number", "params.out_channels"),
        (lambda d: d["nodes"][1]["params"].update(kernel_size=[3, 3, 3]), "expected 2 numbers", None),
        (lambda d: d["nodes"][1]["params"].update(units=3), "no parameter 'units'", None),
        (lambda d: d["nodes"][1].pop("type"), "Field required", "nodes[1].type"),
        (lambda d: d["nodes"][1].update(position="left"), "valid list", "nodes[1].position"),
        (lambda d: d["nodes"].append(dict(d["nodes"][0])), "two layers are named", None),
        (lambda d: d["edges"][0].update(source="ghost"), "'ghost'", "edges[0].source"),
        (lambda d: d["edges"].append(dict(d["edges"][0])), "already", None),
        (lambda d: d["training"].update(lr=-1), "greater than 0", "training.lr"),
        (lambda d: d["training"].update(optimizer="magic"), "adam", "training.optimizer"),
        (lambda d: d.update(extra_key=1), "Extra inputs", "extra_key"),
    ],
)
def test_bad_files_get_one_clear_message(mutate, message, location):
    data = example_dict()
    mutate(data)
    with pytest.raises(ProjectFileError, match=message) as info:
        loads_project(json.dumps(data), source="bad.nns")
    assert str(info.value).startswith("bad.nns")
    if location:
        assert location in (info.value.location or "")


def test_every_truncation_of_an_example_is_a_clear_error():
    text = dumps_project(load_example("digits-cnn"))
    for cut in range(0, len(text) - 2, 37):
        with pytest.raises(ProjectFileError):
            loads_project(text[:cut])


@pytest.mark.parametrize("data", [b"", b"   ", b"\xff\xfe\x00", b"[1, 2]", b"null", b"[" * 100_000,
                                  b'{"format": "nnstudio-project"}'])
def test_garbage_is_a_project_file_error(data):
    with pytest.raises(ProjectFileError):
        loads_project(data)


def test_huge_files_are_refused_before_reading(tmp_path):
    path = tmp_path / "huge.nns"
    with open(path, "wb") as handle:
        handle.truncate(30 * 1024 * 1024)
    with pytest.raises(ProjectFileError, match="MB"):
        load_project(path)


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(ProjectFileError, match="missing.nns"):
        load_project(tmp_path / "missing.nns")


def test_older_versions_are_migrated_step_by_step(monkeypatch):
    """Pretend the format is at version 3 and today's files are old: each step runs once, in order."""
    import nnstudio.core.project as project_module

    current = project_module.VERSION
    monkeypatch.setattr(project_module, "VERSION", current + 2)
    steps = []

    def rename_nodes(raw):  # version N -> N+1 renamed "nodes" to "layers"
        steps.append(1)
        raw["layers"] = raw.pop("nodes")
        return raw

    def rename_back(raw):  # version N+1 -> N+2 renamed them back
        steps.append(2)
        raw["nodes"] = raw.pop("layers")
        return raw

    monkeypatch.setitem(MIGRATIONS, current, rename_nodes)
    monkeypatch.setitem(MIGRATIONS, current + 1, rename_back)
    loaded = loads_project(json.dumps(example_dict()))
    assert steps == [1, 2]
    assert loaded.graph.same_as(load_example("residual-block").graph)


def test_a_version_without_migration_is_refused(monkeypatch):
    import nnstudio.core.project as project_module

    monkeypatch.setattr(project_module, "VERSION", project_module.VERSION + 1)
    with pytest.raises(ProjectFileError, match="no migration"):
        loads_project(json.dumps(example_dict()))


def test_file_header_is_the_documented_one():
    data = json.loads(dumps_project(Project()))
    assert data["format"] == FORMAT == "nnstudio-project"
    assert data["version"] == VERSION
    assert set(data) == {"format", "version", "name", "description", "nodes", "edges", "training"}

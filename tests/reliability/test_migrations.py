"""Every released project format version still opens: one frozen fixture per version, migrated forward.

``fixtures/project-vN.nns`` is a file as nnstudio wrote version N; when the format changes, the new
version gets a new fixture and the old ones stay untouched forever.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import nnstudio.core.project as project_module
from nnstudio.compile import analyze, compile_graph
from nnstudio.core.errors import ProjectFileError
from nnstudio.core.project import FORMAT, VERSION, load_project, loads_project, save_project

FIXTURES = Path(__file__).with_name("fixtures")


def fixture_versions() -> dict[int, Path]:
    found = {}
    for path in FIXTURES.glob("project-v*.nns"):
        match = re.fullmatch(r"project-v(\d+)\.nns", path.name)
        if match:
            found[int(match.group(1))] = path
    return found


def test_every_released_format_version_has_a_fixture():
    assert sorted(fixture_versions()) == list(range(1, VERSION + 1)), (
        "a new project format version needs fixtures/project-v<N>.nns written by that version")


@pytest.mark.parametrize("version", sorted(fixture_versions()))
def test_an_old_version_opens_analyses_compiles_and_saves_as_the_current_one(version, tmp_path):
    path = fixture_versions()[version]
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert raw["version"] == version and raw["format"] == FORMAT
    project = load_project(path)
    assert [n.id for n in project.graph.nodes()] == [n["id"] for n in raw["nodes"]]
    assert len(project.graph.edges()) == len(raw["edges"])
    analysis = analyze(project.graph, project.settings)
    assert analysis.ok, [str(p) for p in analysis.errors]
    module = compile_graph(project.graph, analysis)
    if "weights" in raw:  # the stored tensors reach the network, under their state-dict keys
        stored = load_file(str(path.with_name(raw["weights"])))
        state = module.state_dict()
        assert stored and all(torch.equal(state[key], value) for key, value in stored.items())
    output = module(torch.rand(2, *project.graph.node("image").params["shape"]))
    assert output.shape == (2, 10)
    saved = tmp_path / "migrated.nns"
    save_project(project, saved)
    assert json.loads(saved.read_text(encoding="utf-8"))["version"] == VERSION
    again = load_project(saved)
    assert again.graph.same_as(project.graph)
    assert again.settings == project.settings
    assert (again.name, again.description) == (project.name, project.description)


def test_migrations_run_in_order_and_a_missing_step_is_named(monkeypatch):
    """The migration chain itself, with a made-up version 3 that renames a layer type twice."""
    original = fixture_versions()[1].read_text(encoding="utf-8")

    def v1_to_v2(raw):
        for node in raw["nodes"]:
            if node["type"] == "gelu":
                node["type"] = "gelu_v2"
        return raw

    def v2_to_v3(raw):
        for node in raw["nodes"]:
            if node["type"] == "gelu_v2":
                node["type"] = "gelu"
                node["params"]["approximate"] = "none"
        return raw

    monkeypatch.setattr(project_module, "VERSION", 3)
    monkeypatch.setattr(project_module, "MIGRATIONS", {1: v1_to_v2, 2: v2_to_v3})
    migrated = loads_project(original)
    assert migrated.graph.node("gelu").params["approximate"] == "none"
    monkeypatch.setattr(project_module, "MIGRATIONS", {1: v1_to_v2})
    with pytest.raises(ProjectFileError, match="no migration from version 2"):
        loads_project(original)


def test_version_1_becomes_version_2_unchanged():
    """Version 2 only adds (dotted ids, weights): the migration keeps every layer, wire and setting."""
    raw = json.loads(fixture_versions()[1].read_text(encoding="utf-8"))
    migrated = project_module.MIGRATIONS[1](json.loads(json.dumps(raw)))
    assert {k: v for k, v in migrated.items() if k != "version"} == {k: v for k, v in raw.items() if k != "version"}
    project = loads_project(json.dumps(raw))
    saved = json.loads(project_module.dumps_project(project))
    assert saved["version"] == 2 and "weights" not in saved

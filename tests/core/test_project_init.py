"""A layer's weight initialisation in project files: the optional ``init`` key of a node (version 2)."""

from __future__ import annotations

import json

import pytest

from nnstudio.core.commands import RenameNode, SetInit, paste_fragment
from nnstudio.core.errors import ProjectFileError
from nnstudio.core.examples import load_example
from nnstudio.core.project import dumps_project, loads_project


def _digits_with_init():
    project = load_example("digits-mlp")
    SetInit(project.graph, "fc1", "kaiming_uniform").redo()
    return project


def test_init_is_saved_on_the_node_only_when_chosen_and_read_back():
    project = _digits_with_init()
    document = json.loads(dumps_project(project))
    nodes = {n["id"]: n for n in document["nodes"]}
    assert nodes["fc1"]["init"] == "kaiming_uniform"
    assert "init" not in nodes["fc2"]  # the default is not written: older files and tools stay as they were
    assert document["version"] == 2
    again = loads_project(dumps_project(project))
    assert again.graph.node("fc1").init == "kaiming_uniform" and again.graph.node("fc2").init == "default"
    assert again.graph.same_as(project.graph)


def _with_node_key(key, value, layer="fc1"):
    document = json.loads(dumps_project(load_example("digits-mlp")))
    node = next(n for n in document["nodes"] if n["id"] == layer)
    node[key] = value
    return json.dumps(document)


def test_an_unknown_scheme_is_refused_naming_the_layer_and_the_key():
    with pytest.raises(ProjectFileError) as caught:
        loads_project(_with_node_key("init", "he"))
    assert caught.value.location == "nodes[2].init"
    assert "layer 'fc1', init: 'he' is not one of 'default', 'kaiming_normal'" in str(caught.value)


def test_an_init_on_a_layer_without_weights_is_refused():
    with pytest.raises(ProjectFileError, match="layer 'image', init: Input has no weights to initialise"):
        loads_project(_with_node_key("init", "orthogonal", layer="image"))


def test_copies_keep_the_scheme():
    project = _digits_with_init()
    graph = project.graph
    nodes, edges = graph.to_records()
    macro, renamed = paste_fragment(graph, [n for n in nodes if n["id"] == "fc1"], [], verb="Duplicate")
    macro.redo()
    assert graph.node(renamed["fc1"]).init == "kaiming_uniform"
    copy = graph.copy()
    assert copy.node("fc1").init == "kaiming_uniform"
    RenameNode(graph, "fc1", "first").redo()
    assert graph.node("first").init == "kaiming_uniform"

import json

import pytest

from nnstudio.core.commands import AddNode, Connect, UndoStack
from nnstudio.core.errors import GraphError, ProjectFileError
from nnstudio.core.examples import load_example
from nnstudio.core.graph import Graph
from nnstudio.core.project import dumps_project, loads_project
from nnstudio.core.transfer import (
    SetTraining,
    freeze_block,
    head_layer,
    layers_in,
    parameter_split,
    replace_head,
)


def chain(graph: Graph, stack: UndoStack, *specs: tuple[str, str]) -> None:
    previous = None
    for i, (type_id, node_id) in enumerate(specs):
        stack.push(AddNode(graph, type_id, (0, 100 * i), node_id=node_id))
        if previous:
            stack.push(Connect(graph, previous, node_id))
        previous = node_id


@pytest.fixture
def nested():
    graph, stack = Graph(), UndoStack()
    chain(graph, stack, ("input", "x"), ("linear", "body.0.fc1"), ("relu", "body.0.act"), ("linear", "body.1.fc1"),
          ("flatten", "flat"), ("linear", "fc"), ("output", "out"))
    return graph, stack


def test_freezing_a_block_freezes_every_layer_inside_and_undo_redo_round_trip_the_file(nested):
    graph, stack = nested
    project = load_example("digits-mlp")
    project.graph = graph
    before = dumps_project(project)
    stack.push(freeze_block(graph, "body"))
    assert [n.id for n in graph.nodes() if not n.trainable] == ["body.0.fc1", "body.0.act", "body.1.fc1"]
    stack.push(SetTraining(graph, ["body.1.fc1"], lr_scale=0.1))
    frozen = dumps_project(project)
    nodes = {n["id"]: n for n in json.loads(frozen)["nodes"]}
    assert nodes["body.0.fc1"]["trainable"] is False and "trainable" not in nodes["fc"]
    assert nodes["body.1.fc1"]["lr_scale"] == 0.1 and "lr_scale" not in nodes["body.0.fc1"]
    stack.undo()
    stack.undo()
    assert dumps_project(project) == before
    stack.redo()
    stack.redo()
    assert dumps_project(project) == frozen
    again = loads_project(frozen)
    assert not again.graph.node("body.0.act").trainable and again.graph.node("body.1.fc1").lr_scale == 0.1
    assert again.graph.same_as(graph)


def test_a_file_with_a_bad_training_flag_is_refused_naming_the_layer(nested):
    graph, _ = nested
    project = load_example("digits-mlp")
    project.graph = graph
    raw = json.loads(dumps_project(project))
    raw["nodes"][1]["trainable"] = "no"
    with pytest.raises(ProjectFileError, match="body.0.fc1"):
        loads_project(json.dumps(raw))
    raw["nodes"][1]["trainable"] = False
    raw["nodes"][1]["lr_scale"] = 0
    with pytest.raises(ProjectFileError, match="lr_scale"):
        loads_project(json.dumps(raw))


def test_copies_and_renames_keep_the_flags(nested):
    graph, stack = nested
    stack.push(SetTraining(graph, ["fc"], trainable=False, lr_scale=0.5))
    copy = graph.copy()
    assert not copy.node("fc").trainable and copy.node("fc").lr_scale == 0.5
    graph._rename_node("fc", "head")
    assert not graph.node("head").trainable


def test_replace_head_sets_the_class_count_starts_fresh_and_trains_in_one_undo_step(nested):
    graph, stack = nested
    assert head_layer(graph) == "fc"
    stack.push(SetTraining(graph, layers_in(graph, "fc"), trainable=False))
    graph.node("fc").weights = {"weight": object()}
    before = graph.to_records()
    stack.push(replace_head(graph, 2))
    node = graph.node("fc")
    assert node.params["out_features"] == 2 and node.weights == {} and node.trainable
    stack.undo()
    assert graph.to_records() == before and graph.node("fc").weights and not graph.node("fc").trainable
    with pytest.raises(GraphError, match="at least one class"):
        replace_head(graph, 0)


def test_freezing_the_backbone_leaves_only_the_head_trainable_in_one_step(nested):
    from nnstudio.core.transfer import freeze_backbone

    graph, stack = nested
    stack.push(SetTraining(graph, ["fc"], trainable=False))
    before = graph.to_records()
    stack.push(freeze_backbone(graph))
    assert [n.id for n in graph.nodes() if n.trainable] == ["fc"]
    stack.undo()
    assert graph.to_records() == before


def test_replace_head_says_when_no_layer_sets_the_width():
    graph, stack = Graph(), UndoStack()
    chain(graph, stack, ("input", "x"), ("relu", "act"), ("output", "out"))
    with pytest.raises(GraphError, match="replace the head by hand"):
        replace_head(graph, 3)
    from nnstudio.core.transfer import freeze_backbone

    with pytest.raises(GraphError, match="select the layers to freeze instead"):
        freeze_backbone(graph)


def test_parameter_split_counts_frozen_layers_apart(nested):
    graph, stack = nested
    stack.push(freeze_block(graph, "body"))
    split = parameter_split(graph, {"body.0.fc1": 10, "body.1.fc1": 5, "fc": 3, "gone": 99})
    assert (split.trainable, split.frozen, split.total) == (3, 15, 18)
    with pytest.raises(GraphError, match="no layer or block"):
        freeze_block(graph, "nothing")


def test_the_class_count_comes_from_the_facts_or_an_image_folders_subfolders(tmp_path):
    from nnstudio.core.transfer import dataset_classes

    assert dataset_classes("blobs", {"classes": 4}) == 4
    for name in ("ants", "bees", "wasps", ".hidden"):
        (tmp_path / name).mkdir()
    assert dataset_classes("image_folder", {"path": str(tmp_path)}) == 3
    assert dataset_classes("image_folder", {"path": str(tmp_path / "missing")}) is None

"""Layer names: refused wherever a name is given, with the reason; dotted paths for nested modules."""

from __future__ import annotations

import json

import pytest

from nnstudio.core import names
from nnstudio.core.commands import AddNode, RenameNode, UndoStack
from nnstudio.core.errors import GraphError, ProjectFileError
from nnstudio.core.graph import Graph
from nnstudio.core.problems import name_problems
from nnstudio.core.project import VERSION, Project, dumps_project, loads_project


def _chain(*ids_and_types: tuple[str, str]) -> Graph:
    nodes = [{"id": node_id, "type": type_id, "params": {"shape": [4]} if type_id == "input" else {}}
             for node_id, type_id in ids_and_types]
    edges = [{"source": a["id"], "target": b["id"]} for a, b in zip(nodes, nodes[1:])]
    return Graph.from_records(nodes, edges)


@pytest.mark.parametrize("name", sorted(names.CLASHING_NAMES))
def test_every_clashing_name_is_refused_for_a_new_layer_with_its_reason(name):
    graph = Graph()
    with pytest.raises(GraphError) as refused:
        AddNode(graph, "linear", node_id=name)
    message = str(refused.value)
    assert names.clash_reason(name) in message
    assert f"pick another name such as `{name}1`" in message
    assert name not in graph


@pytest.mark.parametrize(("name", "reason"), [
    ("train", "`train` is a method of every nn.Module; pick another name such as `train1`"),
    ("training", "`training` is an attribute of every nn.Module"),
    ("graph", "`graph` is an attribute of torch.fx's GraphModule"),
    ("self", "`self` is the module itself inside forward()"),
    ("torch", "`torch` names the PyTorch module inside forward()"),
    ("class", "`class` is a Python keyword"),
    ("_hidden", "starts with `_`, which PyTorch keeps for its own attributes"),
    ("2fast", "is not a valid layer name"),
    ("a b", "is not a valid layer name"),
    ("", "a layer needs a name"),
    ("a" * 201, "at most 200 characters"),
    ("layer1..conv", "an empty part between dots"),
    ("layer1.01.conv", "not a plain index"),
    ("layer1.train", "`train` is a method of every nn.Module; pick another name such as `layer1.train1`"),
])
def test_each_refused_name_says_why(name, reason):
    assert reason in names.refusal(name)


@pytest.mark.parametrize("name", ["x", "nn", "Model", "fc1", "layer1.0.conv1", "0.weight_scale", "features.10",
                                  "trainer", "to_logits", "evaluate", "floaty"])
def test_names_without_a_real_clash_are_accepted(name):
    """``x``, ``nn`` and ``Model`` were refused as "reserved" before, though nothing breaks with them."""
    assert names.refusal(name) is None
    graph = Graph()
    AddNode(graph, "relu", node_id=name).redo()
    assert name in graph


def test_an_input_takes_one_identifier_because_it_names_an_argument_of_forward():
    graph = Graph()
    with pytest.raises(GraphError, match="an Input's name becomes an argument of forward"):
        AddNode(graph, "input", node_id="images.left")
    with pytest.raises(GraphError, match="must be an identifier"):
        AddNode(graph, "input", node_id="0")
    AddNode(graph, "input", node_id="x").redo()


def test_dotted_layers_cannot_sit_inside_another_layer_or_around_one():
    graph = _chain(("image", "input"), ("layer1.0.conv1", "relu"), ("out", "output"))
    with pytest.raises(GraphError, match="layers sit inside `layer1.0`"):
        AddNode(graph, "relu", node_id="layer1.0")
    with pytest.raises(GraphError, match="`layer1.0.conv1` is a layer, so no layer can sit inside it"):
        AddNode(graph, "relu", node_id="layer1.0.conv1.inner")
    AddNode(graph, "relu", node_id="layer1.0.conv2").redo()
    assert graph.new_node_id("layer") == "layer2"


def test_a_layer_name_refused_anywhere_is_refused_by_rename():
    graph = _chain(("image", "input"), ("fc1", "linear"), ("out", "output"))
    for bad, reason in [("eval", "method of every nn.Module"), ("out", "already exists"), ("for", "keyword"),
                        ("image.x", None)]:
        with pytest.raises(GraphError) as refused:
            RenameNode(graph, "fc1", bad)
        assert reason is None or reason in str(refused.value)
    with pytest.raises(GraphError, match="an argument of forward"):
        RenameNode(graph, "image", "image.left")


def test_an_old_file_with_a_clashing_name_loads_and_the_problem_offers_a_rename():
    document = {"format": "nnstudio-project", "version": 1, "nodes": [
        {"id": "image", "type": "input", "params": {"shape": [4]}},
        {"id": "train", "type": "linear", "params": {"out_features": 3}},
        {"id": "train1", "type": "relu"},
        {"id": "out", "type": "output"}],
        "edges": [{"source": "image", "target": "train"}, {"source": "train", "target": "train1"},
                  {"source": "train1", "target": "out"}]}
    project = loads_project(json.dumps(document))
    [problem] = name_problems(project.graph)
    assert (problem.severity, problem.code, problem.node_id) == ("error", "name-clash", "train")
    assert problem.message.startswith("`train` is a method of every nn.Module")
    assert "so a layer named `train` breaks training and export; rename it (its state-dict keys" in problem.message
    assert problem.fix is not None
    assert problem.fix.description == "Rename to train2 (state-dict keys become train2.*)"
    stack = UndoStack()
    stack.push(problem.fix.make_command(project))
    assert project.graph.predecessors("train1") == ["train2"]
    assert name_problems(project.graph) == []
    stack.undo()  # the old name comes back exactly, though it would be refused as a new name
    assert project.graph.predecessors("train1") == ["train"]
    assert json.loads(dumps_project(project))["nodes"][1]["id"] == "train"


def test_a_clashing_name_is_not_an_excuse_for_a_malformed_one():
    document = {"format": "nnstudio-project", "version": VERSION,
                "nodes": [{"id": "train.for", "type": "relu"}], "edges": []}
    with pytest.raises(ProjectFileError, match=r"nodes\[0\]\.id: layer name 'train.for': `for` is a Python keyword"):
        loads_project(json.dumps(document))


def test_dotted_ids_round_trip_through_a_file():
    graph = _chain(("image", "input"), ("layer1.0.conv1", "relu"), ("layer1.0.relu", "relu"), ("0.fc", "relu"),
                   ("out", "output"))
    again = loads_project(dumps_project(Project(graph)))
    assert again.graph.same_as(graph)
    assert again.graph.node_ids() == ["image", "layer1.0.conv1", "layer1.0.relu", "0.fc", "out"]

"""Blocks a person makes: Make Block, Ungroup, Make Unique, definition edits, repeat; undo and files."""

from __future__ import annotations

import pytest

from nnstudio.core.block_edits import AddDefinition, MakeBlock, MakeUnique, SetBlockParam, Ungroup
from nnstudio.core.blocks import BLOCK_TYPE, BlockDefinition, instances_of
from nnstudio.core.commands import AddNode, Connect, Macro, SetParam, UndoStack
from nnstudio.core.errors import GraphError, ProjectFileError
from nnstudio.core.graph import Graph
from nnstudio.core.project import Project, dumps_project, loads_project


def residual_project() -> Project:
    """image -> stem conv -> [conv_a, relu_a, conv_b, add(stem, conv_b), relu_b] -> pool -> flatten -> fc."""
    records = [
        {"id": "image", "type": "input", "params": {"shape": [1, 8, 8]}, "position": [0, 0]},
        {"id": "stem", "type": "conv2d", "params": {"out_channels": 8, "kernel_size": 3, "padding": 1},
         "position": [0, 90]},
        {"id": "conv_a", "type": "conv2d", "params": {"out_channels": 8, "kernel_size": 3, "padding": 1},
         "position": [0, 180]},
        {"id": "relu_a", "type": "relu", "position": [0, 270]},
        {"id": "conv_b", "type": "conv2d", "params": {"out_channels": 8, "kernel_size": 3, "padding": 1},
         "position": [0, 360]},
        {"id": "add", "type": "add", "position": [0, 450]},
        {"id": "relu_b", "type": "relu", "position": [0, 540]},
        {"id": "pool", "type": "adaptive_avg_pool2d", "params": {"output_size": [1, 1]}, "position": [0, 630]},
        {"id": "flat", "type": "flatten", "position": [0, 720]},
        {"id": "fc", "type": "linear", "params": {"out_features": 10}, "position": [0, 810]},
        {"id": "output", "type": "output", "position": [0, 900]},
    ]
    wires = [("image", "stem"), ("stem", "conv_a"), ("conv_a", "relu_a"), ("relu_a", "conv_b"),
             ("stem", "add"), ("conv_b", "add"), ("add", "relu_b"), ("relu_b", "pool"), ("pool", "flat"),
             ("flat", "fc"), ("fc", "output")]
    counts: dict[str, int] = {}
    edges = []
    for source, target in wires:
        edges.append({"source": source, "target": target, "index": counts.get(target, 0)})
        counts[target] = counts.get(target, 0) + 1
    return Project(Graph.from_records(records, edges), name="residual")


RESIDUAL = ["conv_a", "relu_a", "conv_b", "add", "relu_b"]


def test_make_block_gives_one_block_layer_with_the_ports_its_wires_need():
    project = residual_project()
    graph = project.graph
    MakeBlock(graph, RESIDUAL, "ResBlock").redo()
    assert [n.id for n in graph.nodes_of_type(BLOCK_TYPE)] == ["res_block1"]
    assert graph.predecessors("res_block1") == ["stem"]  # one outside source, read twice inside: one input
    assert graph.successors("res_block1") == ["pool"]
    definition = graph.blocks["ResBlock"]
    assert definition.inputs == ["x"] and definition.outputs == ["out"]
    assert sorted(definition.layers()) == sorted(RESIDUAL)
    assert sorted(definition.graph.successors("x")) == ["add", "conv_a"]


def test_make_block_ungroup_repeat_and_unique_undo_and_redo_exactly():
    project = residual_project()
    graph = project.graph
    stack = UndoStack()
    texts = [dumps_project(project)]
    stack.push(MakeBlock(graph, RESIDUAL, "ResBlock"))
    texts.append(dumps_project(project))
    stack.push(SetParam(graph, "res_block1", "repeat", 4))
    texts.append(dumps_project(project))
    stack.push(MakeUnique(graph, "res_block1"))
    texts.append(dumps_project(project))
    stack.push(SetBlockParam(graph, "ResBlock2", "conv_a", "kernel_size", [5, 5]))
    texts.append(dumps_project(project))
    stack.push(Ungroup(graph, "res_block1"))
    texts.append(dumps_project(project))
    assert len(set(texts)) == len(texts)  # every step changed the file
    for expected in reversed(texts[:-1]):
        stack.undo()
        assert dumps_project(project) == expected
    for expected in texts[1:]:
        stack.redo()
        assert dumps_project(project) == expected


def test_ungroup_right_after_make_block_gives_the_layers_back():
    project = residual_project()
    before = dumps_project(project)
    MakeBlock(project.graph, RESIDUAL, "ResBlock").redo()
    Ungroup(project.graph, "res_block1").redo()
    assert dumps_project(project) == before
    assert project.graph.blocks == {}  # the definition went with its last placement


def test_ungroup_of_a_repeated_block_stacks_its_copies_wired_in_sequence():
    graph = residual_project().graph
    MakeBlock(graph, RESIDUAL, "ResBlock").redo()
    SetParam(graph, "res_block1", "repeat", 3).redo()
    Ungroup(graph, "res_block1").redo()
    assert graph.predecessors("conv_a_2") == ["relu_b"]
    assert graph.predecessors("conv_a_3") == ["relu_b_2"]
    assert graph.predecessors("pool") == ["relu_b_3"]
    assert sorted(graph.predecessors("add_2")) == ["conv_b_2", "relu_b"]


def test_placements_share_a_definition_until_one_is_made_unique():
    graph = residual_project().graph
    MakeBlock(graph, RESIDUAL, "ResBlock").redo()
    Macro("place", [AddNode(graph, BLOCK_TYPE, (300, 300), {"block": "ResBlock"}, node_id="again")]).redo()
    assert instances_of(graph, "ResBlock") == ["res_block1", "again"]
    SetBlockParam(graph, "ResBlock", "conv_a", "kernel_size", [5, 5]).redo()  # both placements change
    MakeUnique(graph, "again").redo()
    assert graph.node("again").params["block"] == "ResBlock2"
    SetBlockParam(graph, "ResBlock2", "conv_a", "kernel_size", [1, 1]).redo()
    assert graph.blocks["ResBlock"].graph.node("conv_a").params["kernel_size"] == (5, 5)
    assert graph.blocks["ResBlock2"].graph.node("conv_a").params["kernel_size"] == (1, 1)


def test_blocks_survive_saving_and_opening():
    project = residual_project()
    MakeBlock(project.graph, RESIDUAL, "ResBlock").redo()
    SetParam(project.graph, "res_block1", "repeat", 4).redo()
    text = dumps_project(project)
    again = loads_project(text)
    assert again.graph.same_as(project.graph)
    assert dumps_project(again) == text


@pytest.mark.parametrize(("selection", "culprit"), [
    (["image", "stem"], "image is an Input layer"),
    (["conv_a", "conv_b"], "relu_a lies between selected layers"),
    (["stem", "conv_a"], "2 selected layers (stem, conv_a)"),
    ([], "select the layers"),
])
def test_make_block_refuses_selections_it_cannot_make_a_block_of(selection, culprit):
    project = residual_project()
    before = dumps_project(project)
    with pytest.raises(GraphError, match=culprit.replace("(", r"\(").replace(")", r"\)")):
        MakeBlock(project.graph, selection, "ResBlock")
    assert dumps_project(project) == before


def test_make_block_refuses_a_bad_or_taken_name():
    graph = residual_project().graph
    with pytest.raises(GraphError, match="not a block name"):
        MakeBlock(graph, RESIDUAL, "res block")
    MakeBlock(graph, ["stem"], "Stem").redo()
    with pytest.raises(GraphError, match="already exists"):
        MakeBlock(graph, RESIDUAL, "Stem")


def _file_with_blocks(project: Project, change) -> str:
    import json
    MakeBlock(project.graph, RESIDUAL, "ResBlock").redo()
    record = json.loads(dumps_project(project))
    change(record)
    return json.dumps(record)


@pytest.mark.parametrize(("change", "message", "where"), [
    (lambda r: r["nodes"][2]["params"].update(block="Missing"), "places block 'Missing', which the project "
     "does not define", "blocks"),
    (lambda r: r["blocks"]["ResBlock"].update(inputs=["relu_a"]), "block 'ResBlock': `inputs` names 'relu_a', "
     "which is not an Input layer", "blocks.ResBlock"),
    (lambda r: r["blocks"].update({"bad name": r["blocks"]["ResBlock"]}), "not a block name", "blocks"),
    (lambda r: r["blocks"]["ResBlock"]["nodes"].append(
        {"id": "inner", "type": "block", "params": {"block": "ResBlock"}}), "places itself", "blocks"),
    (lambda r: r["blocks"]["ResBlock"]["nodes"][0]["params"].update(out_channels=-1),
     "block 'ResBlock', layer 'conv_a', parameter 'out_channels'", "blocks.ResBlock"),
])
def test_a_bad_block_table_is_refused_naming_the_culprit(change, message, where):
    text = _file_with_blocks(residual_project(), change)
    with pytest.raises(ProjectFileError) as caught:
        loads_project(text)
    assert message in str(caught.value)
    assert caught.value.location.startswith(where)


def test_add_definition_refuses_a_clash_and_undoes():
    graph = residual_project().graph
    MakeBlock(graph, RESIDUAL, "ResBlock").redo()
    definition: BlockDefinition = graph.blocks["ResBlock"].copy("Other")
    with pytest.raises(GraphError, match="already exists"):
        AddDefinition(graph, graph.blocks["ResBlock"])
    command = AddDefinition(graph, definition)
    command.redo()
    assert "Other" in graph.blocks
    command.undo()
    assert "Other" not in graph.blocks


def test_a_block_layer_is_wired_like_any_layer():
    graph = residual_project().graph
    MakeBlock(graph, RESIDUAL, "ResBlock").redo()
    AddNode(graph, BLOCK_TYPE, (0, 0), {"block": "ResBlock"}, node_id="second").redo()
    Connect(graph, "res_block1", "second").redo()
    assert graph.predecessors("second") == ["res_block1"]

import pytest

from nnstudio.core.commands import (
    AddNode,
    CallbackCommand,
    Connect,
    Disconnect,
    Macro,
    MoveNodes,
    RemoveNodes,
    RenameNode,
    SetParam,
    UndoStack,
    paste_fragment,
)
from nnstudio.core.errors import GraphError, ParamError
from nnstudio.core.graph import Edge, Graph


def build(stack: UndoStack, graph: Graph, *layers: str) -> list[str]:
    ids = []
    for i, type_id in enumerate(layers):
        command = AddNode(graph, type_id, (0, i * 100))
        stack.push(command)
        if ids:
            stack.push(Connect(graph, ids[-1], command.node_id))
        ids.append(command.node_id)
    return ids


@pytest.fixture
def doc():
    graph = Graph()
    stack = UndoStack()
    return graph, stack


def test_new_nodes_get_unique_python_names(doc):
    graph, stack = doc
    ids = build(stack, graph, "input", "linear", "relu", "linear", "output")
    assert ids == ["input1", "fc1", "relu1", "fc2", "output1"]
    assert graph.topological_order() == ids


def test_every_edit_kind_undoes_and_redoes_exactly(doc):
    graph, stack = doc
    build(stack, graph, "input", "linear", "output")
    snapshots = [graph.to_records()]
    edits = [
        lambda: SetParam(graph, "fc1", "out_features", 3),
        lambda: MoveNodes(graph, {"fc1": (50, 60), "input1": (5, 5)}),
        lambda: Disconnect(graph, graph.in_edges("output1")[0]),
        lambda: RemoveNodes(graph, ["fc1"]),
        lambda: AddNode(graph, "conv2d", (1, 2)),
    ]
    for make in edits:
        stack.push(make())
        snapshots.append(graph.to_records())
    for expected in reversed(snapshots[:-1]):
        stack.undo()
        assert graph.to_records() == expected
    for expected in snapshots[1:]:
        stack.redo()
        assert graph.to_records() == expected


def test_removing_a_node_takes_its_wires_and_undo_restores_them(doc):
    graph, stack = doc
    build(stack, graph, "input", "linear", "output")
    stack.push(RemoveNodes(graph, ["fc1"]))
    assert graph.edges() == []
    stack.undo()
    assert [(e.source, e.target) for e in graph.edges()] == [("input1", "fc1"), ("fc1", "output1")]


def test_refused_edits_change_nothing(doc):
    graph, stack = doc
    ids = build(stack, graph, "input", "linear", "output")
    before = graph.to_records()
    with pytest.raises(GraphError, match="cannot feed itself"):
        stack.push(Connect(graph, "fc1", "fc1"))
    with pytest.raises(GraphError, match="already has an input"):
        stack.push(Connect(graph, "input1", "output1"))
    with pytest.raises(GraphError, match="takes no input"):
        stack.push(Connect(graph, "fc1", "input1"))
    with pytest.raises(ParamError, match="below the minimum") as info:
        stack.push(SetParam(graph, "fc1", "out_features", 0))
    assert info.value.node_id == "fc1"
    assert graph.to_records() == before
    assert stack.undo_text() == f"Connect {ids[1]} to {ids[2]}"


def test_connecting_back_to_an_ancestor_is_a_cycle(doc):
    graph, stack = doc
    stack.push(AddNode(graph, "relu", node_id="a"))
    stack.push(AddNode(graph, "add", node_id="b"))
    stack.push(Connect(graph, "a", "b"))
    assert graph.connection_problem("b", "a") == "connecting b to a would make a cycle"


def test_variadic_ports_keep_their_order(doc):
    graph, stack = doc
    for name in ("a", "b", "c"):
        stack.push(AddNode(graph, "relu", node_id=name))
    stack.push(AddNode(graph, "concat", node_id="cat"))
    for name in ("c", "a", "b"):
        stack.push(Connect(graph, name, "cat"))
    assert graph.predecessors("cat") == ["c", "a", "b"]
    stack.push(Disconnect(graph, Edge("a", "cat", "in", 1)))
    stack.push(Connect(graph, "a", "cat"))
    assert graph.predecessors("cat") == ["c", "b", "a"]


def test_consecutive_edits_of_one_field_merge_into_one_undo_step(doc):
    graph, stack = doc
    build(stack, graph, "input", "linear")
    for value in (20, 30, 40):
        stack.push(SetParam(graph, "fc1", "out_features", value))
    stack.undo()
    assert graph.node("fc1").params["out_features"] == 10
    stack.redo()
    stack.seal()
    stack.push(SetParam(graph, "fc1", "out_features", 50))
    stack.undo()
    assert graph.node("fc1").params["out_features"] == 40


def test_clean_state_tracks_saves_and_branches(doc):
    graph, stack = doc
    build(stack, graph, "input")
    stack.set_clean()
    assert stack.is_clean()
    stack.push(MoveNodes(graph, {"input1": (9, 9)}))
    assert not stack.is_clean()
    stack.undo()
    assert stack.is_clean()
    stack.undo()
    stack.push(AddNode(graph, "relu"))  # a new branch: the saved state can never come back
    stack.undo()
    assert not stack.is_clean()


def test_macro_is_one_step_and_rolls_back_when_a_child_fails(doc):
    graph, stack = doc
    build(stack, graph, "input", "linear", "output")
    before = graph.to_records()
    bad = Macro("bad", [MoveNodes(graph, {"fc1": (1, 1)}), Disconnect(graph, Edge("x", "y"))])
    with pytest.raises(GraphError):
        stack.push(bad)
    assert graph.to_records() == before
    stack.push(Macro("two moves", [MoveNodes(graph, {"fc1": (1, 1)}), MoveNodes(graph, {"fc1": (2, 2)})]))
    stack.undo()
    assert graph.to_records() == before


def test_paste_adds_renamed_copies_with_their_inner_wires(doc):
    graph, stack = doc
    build(stack, graph, "input", "linear", "relu")
    nodes, edges = graph.to_records()
    fragment = [n for n in nodes if n["id"] in {"fc1", "relu1"}]
    macro, renamed = paste_fragment(graph, fragment, edges)
    stack.push(macro)
    assert renamed == {"fc1": "fc2", "relu1": "relu2"}
    assert graph.predecessors("relu2") == ["fc2"]
    assert graph.in_edges("fc2") == []
    stack.undo()
    assert "fc2" not in graph


def test_a_pasted_frozen_layer_stays_frozen_with_its_learning_rate_multiplier(doc):
    graph, stack = doc
    build(stack, graph, "input", "linear", "relu")
    graph._set_training_flags("fc1", False, 0.1)
    nodes, edges = graph.to_records()
    macro, renamed = paste_fragment(graph, [n for n in nodes if n["id"] == "fc1"], edges)
    stack.push(macro)
    copy = graph.node(renamed["fc1"])
    assert (copy.trainable, copy.lr_scale) == (False, 0.1)
    stack.undo()
    stack.redo()
    assert (graph.node(renamed["fc1"]).trainable, graph.node(renamed["fc1"]).lr_scale) == (False, 0.1)


@pytest.mark.parametrize("bad", ["fast", -1, 0, 1e9, True, None])
def test_a_pasted_layer_with_a_bad_learning_rate_multiplier_is_refused_naming_it(doc, bad):
    graph, stack = doc
    build(stack, graph, "input", "linear")
    record = {**graph.to_records()[0][1], "lr_scale": bad}
    with pytest.raises(GraphError, match=r"fc1: lr_scale must be a number"):
        paste_fragment(graph, [record], [])


def test_events_announce_changes(doc):
    graph, stack = doc
    seen = []
    graph.events.node_added.connect(lambda n: seen.append(("added", n)))
    graph.events.param_changed.connect(lambda n, p: seen.append(("param", n, p)))
    graph.events.structure_changed.connect(lambda: seen.append("changed"))
    stack.push(AddNode(graph, "linear"))
    stack.push(SetParam(graph, "fc1", "bias", False))
    assert seen == [("added", "fc1"), "changed", ("param", "fc1", "bias"), "changed"]


def test_callback_commands_edit_things_outside_the_graph():
    stack = UndoStack()
    state = {"lr": 0.1}
    stack.push(CallbackCommand("lr", lambda: state.update(lr=0.5), lambda: state.update(lr=0.1)))
    assert state["lr"] == 0.5
    stack.undo()
    assert state["lr"] == 0.1


def test_copy_is_independent(doc):
    graph, stack = doc
    build(stack, graph, "input", "linear")
    clone = graph.copy()
    stack.push(SetParam(graph, "fc1", "out_features", 77))
    assert clone.node("fc1").params["out_features"] == 10
    assert not clone.same_as(graph)


def test_rename_keeps_wires_ports_order_position_and_rank_and_undoes_exactly(doc):
    graph, stack = doc
    for name in ("a", "b", "c"):
        stack.push(AddNode(graph, "relu", (10.0, 20.0), node_id=name))
    stack.push(AddNode(graph, "concat", (5.0, 6.0), {"dim": 1}, node_id="cat"))
    for name in ("c", "a", "b"):
        stack.push(Connect(graph, name, "cat"))
    stack.push(AddNode(graph, "relu", node_id="after"))
    stack.push(Connect(graph, "cat", "after"))
    before = graph.to_records()
    stack.push(RenameNode(graph, "a", "branch.left"))
    stack.push(RenameNode(graph, "cat", "joined"))
    assert stack.undo_text() == "Rename cat to joined"
    assert graph.predecessors("joined") == ["c", "branch.left", "b"]
    assert graph.successors("joined") == ["after"]
    assert graph.node("joined").position == (5.0, 6.0) and graph.node("joined").params == {"dim": 1}
    assert graph.node_ids() == ["branch.left", "b", "c", "joined", "after"]  # same rank as before
    stack.undo()
    stack.undo()
    assert graph.to_records() == before
    stack.redo()
    stack.redo()
    assert graph.predecessors("joined") == ["c", "branch.left", "b"]


def test_rename_is_refused_before_anything_changes(doc):
    graph, stack = doc
    build(stack, graph, "input", "linear", "output")
    before = graph.to_records()
    for bad, reason in [("input1", "already exists"), ("to", "method of every nn.Module"),
                        ("fc1", "already named"), ("1x", "not a valid layer name")]:
        with pytest.raises(GraphError, match=reason):
            stack.push(RenameNode(graph, "fc1", bad))
    assert graph.to_records() == before
    assert stack.undo_text() == "Connect fc1 to output1"


def test_rename_announces_the_new_name_after_views_saw_the_node_move(doc):
    graph, stack = doc
    build(stack, graph, "input", "linear")
    seen = []
    graph.events.node_removed.connect(lambda n: seen.append(("removed", n)))
    graph.events.node_added.connect(lambda n: seen.append(("added", n)))
    graph.events.edge_added.connect(lambda e: seen.append(("wire", e.source, e.target)))
    graph.events.node_renamed.connect(lambda old, new: seen.append(("renamed", old, new)))
    stack.push(RenameNode(graph, "fc1", "head"))
    assert seen == [("removed", "fc1"), ("added", "head"), ("wire", "input1", "head"),
                    ("renamed", "fc1", "head")]


@pytest.mark.parametrize(("verb", "ids", "text"), [
    ("Duplicate", ["fc1"], "Duplicate fc1"),
    ("Duplicate", ["fc1", "relu1", "input1"], "Duplicate 3 layers"),
    ("Paste", ["relu1"], "Paste relu1"),
])
def test_paste_and_duplicate_are_named_for_what_they_did(doc, verb, ids, text):
    graph, stack = doc
    build(stack, graph, "input", "linear", "relu")
    nodes, edges = graph.to_records()
    macro, _ = paste_fragment(graph, [n for n in nodes if n["id"] in ids], edges, verb=verb)
    stack.push(macro)
    assert stack.undo_text() == text


@pytest.mark.parametrize("position", [(float("inf"), 0.0), (0.0, float("nan")), (1e300, 0.0), (0.0, -2e8)])
def test_positions_off_the_canvas_are_refused(doc, position):
    graph, stack = doc
    build(stack, graph, "input")
    with pytest.raises(GraphError, match="position"):
        stack.push(AddNode(graph, "relu", position))
    with pytest.raises(GraphError, match="position"):
        stack.push(MoveNodes(graph, {"input1": position}))
    assert graph.node("input1").position == (0.0, 0.0)

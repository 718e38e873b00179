"""Nested blocks on the canvas: closed cards, opening in place, stepping in, renaming, moving, wiring."""

from __future__ import annotations

import pytest
from nested_graphs import residual_network
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from nnstudio.core.commands import SetParam, UndoStack
from nnstudio.core.graph import Graph
from nnstudio.ui.canvas import CanvasView
from nnstudio.ui.canvas_block_items import CHEVRON_BOX
from nnstudio.ui.canvas_items import PortRef
from nnstudio.ui.canvas_outline import BLOCK_HEIGHT, BLOCK_WIDTH

LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def canvas(qtbot):
    view = CanvasView()
    qtbot.addWidget(view)
    view.resize(900, 700)
    view.show()
    qtbot.waitExposed(view)
    return view


def _bind(view: CanvasView, graph: Graph) -> UndoStack:
    stack = UndoStack()
    view.set_document(graph, stack)
    view.reset_zoom()
    return stack


def _point(view: CanvasView, scene_pos: QPointF) -> QPoint:
    return view.mapFromScene(scene_pos)


def _centre(view: CanvasView, key: str) -> QPoint:
    item = view.canvas_scene.item_for(key)
    return _point(view, item.mapToScene(QPointF(BLOCK_WIDTH / 2, BLOCK_HEIGHT / 2)))


def _drag(view: CanvasView, start: QPoint, end: QPoint) -> None:
    QTest.mousePress(view.viewport(), LEFT, Qt.KeyboardModifier.NoModifier, start)
    viewport = view.viewport()
    for step in range(1, 6):
        point = start + (end - start) * step / 5
        event = QMouseEvent(QMouseEvent.Type.MouseMove, QPointF(point), QPointF(viewport.mapToGlobal(point)),
                            Qt.MouseButton.NoButton, LEFT, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(viewport, event)
    QTest.mouseRelease(view.viewport(), LEFT, Qt.KeyboardModifier.NoModifier, end)


def _shown_boxes(view: CanvasView) -> dict[str, QRectF]:
    """Scene rectangles of the cards and closed blocks shown (frames hold others, so they are left out)."""
    return {key: QRectF(item.scenePos(), item.boundingRect().size()) for key, item in
            view.canvas_scene.unit_items.items() if not key.startswith(("in:", "out:"))}


def _overlapping(boxes: dict[str, QRectF]) -> list[tuple[str, str]]:
    keys = sorted(boxes)
    cards = {k: QRectF(boxes[k].topLeft(), boxes[k].size()).adjusted(4, 14, -12, -20) for k in keys}
    return [(a, b) for i, a in enumerate(keys) for b in keys[i + 1:] if cards[a].intersects(cards[b])]


# --- what a nested network looks like --------------------------------------------------------------


def test_an_opened_network_shows_its_top_level_with_every_block_closed(canvas):
    graph = residual_network()
    _bind(canvas, graph)
    scene = canvas.canvas_scene
    assert set(scene.node_items) == {"x", "out"}
    assert set(scene.block_items) == {"stem", "stage1", "head"}
    assert not scene.frame_items
    # One wire per value between the units shown; the two edges from stem.relu into stage1 are one wire.
    wires = {(w.source_port.node_id, w.target_port.node_id) for w in scene.wire_items}
    assert wires == {("x", "stem"), ("stem", "stage1"), ("stage1", "head"), ("head", "out")}
    stage1 = scene.block_items["stage1"]
    assert [p.key for p in stage1.inputs] == ["from:stem.relu"]
    assert [p.key for p in stage1.outputs] == ["stage1.1.add"]
    assert sorted(stage1.inputs[0].ends) == [("stage1.0.add", "in"), ("stage1.0.conv1", "in")]
    assert stage1.subtitle == "Sequential · 2 blocks"
    assert not _overlapping(_shown_boxes(canvas))


def test_a_closed_block_shows_its_output_shape_parameters_and_the_problems_inside(canvas):
    from nnstudio.compile.analysis import analyze

    graph = residual_network()
    _bind(canvas, graph)
    analysis = analyze(graph)
    canvas.set_analysis(analysis)
    stage1 = canvas.canvas_scene.block_items["stage1"]
    assert stage1.shape_text == "[N, 8, 8, 8]"
    inside = sum(analysis.nodes[n].params for n in graph.node_ids() if n.startswith("stage1."))
    assert inside == 4 * (8 * 8 * 9 + 8) and stage1.count_text == "2.3k"
    assert stage1.problem_summary == (None, 0)
    # Break two layers deep inside: the closed block says how bad and how many.
    graph._set_param("stage1.1.conv2", "out_channels", 5)
    canvas.set_analysis(analyze(graph))
    worst, count = canvas.canvas_scene.block_items["stage1"].problem_summary
    assert worst == "error" and count >= 1
    assert "stage1.1.add" in stage1.toolTip() or "stage1.1" in stage1.toolTip()


def test_a_problem_found_by_a_run_inside_a_closed_block_shows_on_the_block(canvas):
    from nnstudio.compile.analysis import analyze
    from nnstudio.core.problems import Problem

    graph = residual_network()
    _bind(canvas, graph)
    canvas.set_analysis(analyze(graph))
    scene = canvas.canvas_scene
    assert scene.block_items["stage1"].problem_summary == (None, 0)
    # Telemetry names a layer deep inside: its card is not shown, so its closed block says it.
    found = Problem("warning", "dead-relu", "stage1.1.relu outputs zeros for 98% of its inputs", "stage1.1.relu")
    scene.set_extra_problems("telemetry", [found])
    assert scene.block_items["stage1"].problem_summary == ("warning", 1)
    canvas.blocks.expand("stage1")
    assert scene.block_items["stage1.1"].problem_summary == ("warning", 1)
    scene.set_extra_problems("telemetry", [])
    assert scene.block_items["stage1.1"].problem_summary == (None, 0)


def test_opening_a_block_in_place_makes_room_and_closing_gives_it_back(canvas):
    graph = residual_network()
    _bind(canvas, graph)
    scene = canvas.canvas_scene
    closed = {k: QPointF(v.topLeft()) for k, v in _shown_boxes(canvas).items()}
    canvas.blocks.expand("stage1")
    assert set(scene.frame_items) == {"stage1"}
    assert {"stage1.0", "stage1.1"} <= set(scene.block_items)
    assert "stage1" not in scene.block_items
    opened = _shown_boxes(canvas)
    # What comes after the opened block moved down to make room; what comes before stayed.
    assert opened["head"].top() > closed["head"].y() + 100
    assert opened["stem"].topLeft() == closed["stem"]
    frame = scene.frame_items["stage1"]
    assert frame.sceneBoundingRect().contains(opened["stage1.0"].center())
    assert not _overlapping(opened)
    canvas.blocks.collapse("stage1")
    assert {k: QPointF(v.topLeft()) for k, v in _shown_boxes(canvas).items()} == closed


def test_a_fully_opened_network_is_drawn_exactly_at_its_layers_positions(canvas):
    graph = residual_network()
    _bind(canvas, graph)
    canvas.blocks.expand_all()
    items = canvas.canvas_scene.node_items
    assert set(items) == set(graph.node_ids())
    for node in graph.nodes():
        assert (items[node.id].scenePos().x(), items[node.id].scenePos().y()) == node.position
    assert not _overlapping(_shown_boxes(canvas))


def test_double_click_opens_a_block_and_the_triangle_closes_it(canvas):
    _bind(canvas, residual_network())
    QTest.mouseDClick(canvas.viewport(), LEFT, Qt.KeyboardModifier.NoModifier, _centre(canvas, "stage1"))
    assert canvas.blocks.expanded == {"stage1"}
    frame = canvas.canvas_scene.frame_items["stage1"]
    QTest.mouseClick(canvas.viewport(), LEFT, Qt.KeyboardModifier.NoModifier,
                     _point(canvas, frame.mapToScene(QPointF(15, 15))))
    assert canvas.blocks.expanded == set()
    block = canvas.canvas_scene.block_items["stage1"]
    QTest.mouseClick(canvas.viewport(), LEFT, Qt.KeyboardModifier.NoModifier,
                     _point(canvas, block.mapToScene(CHEVRON_BOX.center())))
    assert canvas.blocks.expanded == {"stage1"}


def test_enter_toggles_the_selected_block(canvas):
    _bind(canvas, residual_network())
    canvas.select_nodes([])
    canvas.canvas_scene.block_items["head"].setSelected(True)
    QTest.keyClick(canvas, Qt.Key.Key_Return)
    assert canvas.blocks.expanded == {"head"}
    assert canvas.selected_node_ids() == ["head.flatten", "head.fc"]  # the frame stays selected


# --- stepping in and out ---------------------------------------------------------------------------


def test_stepping_into_a_block_shows_its_inside_with_pins_and_breadcrumbs_lead_back(canvas, qtbot):
    _bind(canvas, residual_network())
    QTest.mouseDClick(canvas.viewport(), LEFT, Qt.KeyboardModifier.ControlModifier, _centre(canvas, "stage1"))
    scene = canvas.canvas_scene
    assert canvas.blocks.scope == "stage1"
    assert set(scene.block_items) == {"stage1.0", "stage1.1"} and not scene.node_items
    assert set(scene.pin_items) == {"in:stem.relu", "out:stage1.1.add"}
    assert canvas.breadcrumbs.isVisible() and canvas.breadcrumbs.crumb_texts() == ["Network", "stage1"]
    canvas.blocks.step_into("stage1.0")
    assert canvas.breadcrumbs.crumb_texts() == ["Network", "stage1", "stage1.0"]
    assert set(scene.node_items) == {"stage1.0.conv1", "stage1.0.relu", "stage1.0.conv2", "stage1.0.add"}
    # The skip wire comes from the pin of stem.relu, outside.
    assert scene.edge_items[next(e for e in scene.edge_items if e.target == "stage1.0.add" and e.index == 1)] \
        .source.key == "in:stem.relu"
    qtbot.mouseClick(canvas.breadcrumbs.buttons[1], LEFT)  # back to stage1, the block we left selected
    assert canvas.blocks.scope == "stage1"
    assert canvas.selected_blocks() == ["stage1.0"]
    canvas.setFocus()
    QTest.keyClick(canvas, Qt.Key.Key_Escape)
    assert canvas.blocks.scope == "" and not canvas.breadcrumbs.isVisible()
    assert canvas.selected_blocks() == ["stage1"]


def test_double_clicking_a_pin_goes_to_the_layer_outside(canvas):
    _bind(canvas, residual_network())
    canvas.blocks.step_into("stage1")
    pin = canvas.canvas_scene.pin_items["in:stem.relu"]
    QTest.mouseDClick(canvas.viewport(), LEFT, Qt.KeyboardModifier.NoModifier,
                      _point(canvas, pin.mapToScene(pin.boundingRect().center())))
    assert canvas.blocks.scope == ""
    assert canvas.selected_node_ids() == ["stem.relu"] and "stem" in canvas.blocks.expanded


# --- renaming --------------------------------------------------------------------------------------


def test_renaming_a_block_renames_every_layer_inside_as_one_undoable_step(canvas):
    graph = residual_network()
    stack = _bind(canvas, graph)
    canvas.blocks.expand("stage1")
    canvas.blocks.expand("stage1.0")
    edges_before = len(graph.edges())
    assert canvas.blocks.rename("stage1", "body") is None
    assert [n for n in graph.node_ids() if n.startswith("body.")] == [
        "body.0.conv1", "body.0.relu", "body.0.conv2", "body.0.add",
        "body.1.conv1", "body.1.relu", "body.1.conv2", "body.1.add"]
    assert not any(n.startswith("stage1") for n in graph.node_ids())
    assert len(graph.edges()) == edges_before and graph.predecessors("body.0.add") == ["body.0.conv2", "stem.relu"]
    assert graph.module_classes["body.0"] == "BasicBlock"
    assert canvas.blocks.expanded == {"body", "body.0"}  # what was open stays open
    assert stack.undo_text() == "Rename block stage1 to body"
    stack.undo()
    assert "stage1.0.conv1" in graph and "body.0.conv1" not in graph
    assert canvas.blocks.expanded == {"stage1", "stage1.0"}
    stack.redo()
    assert "body.1.add" in graph and canvas.blocks.expanded == {"body", "body.0"}


@pytest.mark.parametrize(("name", "reason"), [
    ("train", "`train` is a method of every nn.Module"),
    ("head", "a block named `head` already exists"),
    ("out", "a layer named `out` already exists"),
    ("stage1.inner", "would put the block inside itself"),
    ("2stage", "is not a valid layer name"),
])
def test_a_refused_block_name_says_why_and_changes_nothing(canvas, name, reason):
    graph = residual_network()
    stack = _bind(canvas, graph)
    before = graph.to_records()
    refusal = canvas.blocks.rename("stage1", name)
    assert refusal is not None and reason in refusal
    assert graph.to_records() == before and not stack.can_undo()


def test_f2_edits_a_block_name_in_place(canvas, qtbot):
    graph = residual_network()
    stack = _bind(canvas, graph)
    canvas.select_nodes([])
    canvas.canvas_scene.block_items["head"].setSelected(True)
    QTest.keyClick(canvas, Qt.Key.Key_F2)
    editor = canvas.findChild(type(canvas.blocks._editor), "blockNameEditor")
    assert editor is not None and editor.text() == "head"
    editor.selectAll()
    QTest.keyClicks(editor, "eval")
    assert editor.error.isVisible() and "`eval` is a method" in editor.error.text()
    QTest.keyClick(editor, Qt.Key.Key_Return)
    assert "head.fc" in graph  # refused: nothing renamed, the field stays open
    editor.selectAll()
    QTest.keyClicks(editor, "classifier")
    QTest.keyClick(editor, Qt.Key.Key_Return)
    assert "classifier.fc" in graph and stack.undo_text() == "Rename block head to classifier"
    assert canvas.selected_blocks() == ["classifier"]


# --- moving, deleting, wiring ----------------------------------------------------------------------


def test_dragging_a_closed_block_moves_all_its_layers_as_one_undo_step(canvas):
    graph = residual_network()
    stack = _bind(canvas, graph)
    inside = [n for n in graph.node_ids() if n.startswith("stage1.")]
    before = {n: graph.node(n).position for n in graph.node_ids()}
    start = _centre(canvas, "stage1")
    _drag(canvas, start, start + QPoint(240, 30))
    moved = {n for n in graph.node_ids() if graph.node(n).position != before[n]}
    assert moved == set(inside)
    deltas = {(graph.node(n).position[0] - before[n][0], graph.node(n).position[1] - before[n][1]) for n in inside}
    assert len(deltas) == 1 and deltas != {(0.0, 0.0)}
    assert stack.undo_text() == "Move stage1"
    block = canvas.canvas_scene.block_items["stage1"]
    shown = block.scenePos()
    stack.undo()
    assert {n: graph.node(n).position for n in graph.node_ids()} == before
    stack.redo()
    assert canvas.canvas_scene.block_items["stage1"].scenePos() == shown


def test_dragging_an_open_blocks_title_bar_carries_its_cards(canvas):
    graph = residual_network()
    stack = _bind(canvas, graph)
    canvas.blocks.expand("head")
    scene = canvas.canvas_scene
    card_before = scene.node_items["head.fc"].scenePos()
    frame = scene.frame_items["head"]
    start = _point(canvas, frame.mapToScene(QPointF(60, 12)))
    _drag(canvas, start, start + QPoint(-150, 20))
    assert stack.undo_text() == "Move head"
    assert scene.node_items["head.fc"].scenePos() - card_before == QPointF(-150, 20)
    assert graph.node("head.fc").position != graph.node("head.flatten").position


def test_deleting_a_selected_block_removes_its_layers_and_undo_brings_them_back(canvas):
    graph = residual_network()
    stack = _bind(canvas, graph)
    before = graph.to_records()
    canvas.select_nodes([])
    canvas.canvas_scene.block_items["stage1"].setSelected(True)
    QTest.keyClick(canvas, Qt.Key.Key_Delete)
    assert not any(n.startswith("stage1.") for n in graph.node_ids())
    assert "stage1" not in canvas.canvas_scene.block_items
    stack.undo()
    assert graph.to_records() == before and "stage1" in canvas.canvas_scene.block_items


def test_a_wire_dragged_to_a_blocks_free_input_connects_the_layer_inside(canvas):
    graph = residual_network()
    stack = _bind(canvas, graph)
    # Cut the wire into the block: its first layer's input is free, and the card shows it as a port.
    stack.push(__import__("nnstudio.core.commands", fromlist=["Disconnect"]).Disconnect(
        graph, next(e for e in graph.in_edges("head.flatten"))))
    head = canvas.canvas_scene.block_items["head"]
    assert [p.key for p in head.inputs] == ["open:head.flatten:in"]
    source = canvas.canvas_scene.block_items["stage1"]
    out = PortRef("stage1", "out", "stage1.1.add")
    into = PortRef("head", "in", "open:head.flatten:in")
    _drag(canvas, _point(canvas, source.port_scene_pos(out)), _point(canvas, head.port_scene_pos(into)))
    assert graph.predecessors("head.flatten") == ["stage1.1.add"]
    assert stack.undo_text() == "Connect stage1.1.add to head.flatten"


def test_a_layer_dropped_inside_an_open_block_joins_it(canvas):
    graph = residual_network()
    stack = _bind(canvas, graph)
    canvas.blocks.expand("head")
    frame = canvas.canvas_scene.frame_items["head"]
    inside = frame.mapToScene(frame.rect().center() + QPointF(60, 0))
    node_id = canvas.edits.add_layer("dropout", inside)
    assert node_id == "head.drop1" and node_id in canvas.canvas_scene.node_items
    assert "head" in canvas.blocks.expanded
    card = canvas.canvas_scene.node_items[node_id]
    assert abs(card.sceneBoundingRect().center().x() - inside.x()) < 20
    stack.undo()
    assert node_id not in graph


def test_a_param_edit_inside_a_closed_block_keeps_the_block_closed(canvas):
    graph = residual_network()
    stack = _bind(canvas, graph)
    stack.push(SetParam(graph, "stage1.0.conv1", "kernel_size", 5))
    assert "stage1" in canvas.canvas_scene.block_items and not canvas.blocks.expanded


def test_a_block_made_by_renaming_a_layer_opens_so_the_layer_stays_in_view(canvas):
    from nnstudio.core.commands import RenameNode

    graph = residual_network()
    stack = _bind(canvas, graph)
    stack.push(RenameNode(graph, "out", "tail.out"))
    assert "tail" in canvas.blocks.expanded and "tail.out" in canvas.canvas_scene.node_items


def test_a_dropped_canvas_showing_blocks_is_freed(qtbot):
    import gc
    import weakref

    from PySide6.QtCore import QCoreApplication, QEvent

    graph = residual_network()
    view = CanvasView()
    view.resize(600, 400)
    view.show()
    _bind(view, graph)
    view.blocks.expand_all()
    view.blocks.step_into("stage1")
    view.show_search()
    view.blocks.menu_for("stage1.0").deleteLater()
    view.blocks.edit_name("stage1.0")
    refs = [weakref.ref(view), weakref.ref(view.canvas_scene), weakref.ref(view.overview)]
    view.close()
    view.deleteLater()
    del view
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QApplication.processEvents()
    gc.collect()
    assert [ref() for ref in refs] == [None, None, None]
    graph._set_param("stem.conv", "kernel_size", 5)  # the graph outlives its canvas without harm


def test_a_wire_entering_an_open_block_passes_under_its_title_bar(canvas, qtbot):
    graph = residual_network()
    _bind(canvas, graph)
    canvas.blocks.expand("stage1")
    scene = canvas.canvas_scene
    frame = scene.frame_items["stage1"]
    title = frame.mapRectToScene(frame.title_rect())
    wire = next(w for w in scene.wire_items if w.target.key == "stage1.0")
    path = wire.path()
    crossing = min((path.pointAtPercent(i / 400) for i in range(401)),
                   key=lambda p: abs(p.y() - title.center().y()))
    assert title.contains(crossing)
    canvas.centerOn(crossing)
    # The title bar around the crossing looks the same with the wire as without it (its upper part, where
    # the title is: the arrow head into the first card inside may reach into the lower part).
    around = canvas.mapFromScene(QRectF(crossing.x() - 6, title.top() + 3, 12, title.height() / 3)).boundingRect()

    def title_bar_pixels():
        canvas.viewport().repaint()
        return canvas.viewport().grab(around).toImage()

    with_wire = title_bar_pixels()
    wire.setVisible(False)
    without_wire = title_bar_pixels()
    wire.setVisible(True)
    assert with_wire == without_wire


def test_a_block_named_by_indices_shows_the_name_before_them(canvas):
    # ConvNeXt's features.1.0: "1.0" alone would not say which stage it belongs to.
    graph = Graph.from_records(
        [{"id": "x", "type": "input", "params": {"shape": [4]}},
         {"id": "features.1.0.fc", "type": "linear", "params": {"out_features": 4}},
         {"id": "features.1.1.fc", "type": "linear", "params": {"out_features": 4}},
         {"id": "head.fc", "type": "linear", "params": {"out_features": 2}}, {"id": "out", "type": "output"}],
        [{"source": "x", "target": "features.1.0.fc"}, {"source": "features.1.0.fc", "target": "features.1.1.fc"},
         {"source": "features.1.1.fc", "target": "head.fc"}, {"source": "head.fc", "target": "out"}])
    _bind(canvas, graph)
    canvas.blocks.expand("features")
    canvas.blocks.expand("features.1")
    blocks = canvas.canvas_scene.block_items
    assert blocks["features.1.0"].title == "features.1.0" and blocks["head"].title == "head"
    canvas.blocks.expand("features.1.0")
    assert canvas.canvas_scene.node_items["features.1.0.fc"].title == "fc"

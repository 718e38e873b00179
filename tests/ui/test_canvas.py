"""The graph-editor canvas, driven the way a person drives it: drops, mouse drags, keys, clipboard."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QDropEvent, QGuiApplication, QMouseEvent, QPalette, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QGraphicsPathItem

from nnstudio.core.commands import AddNode, Connect, MoveNodes, SetParam, UndoStack
from nnstudio.core.examples import list_examples, load_example
from nnstudio.core.graph import Edge, Graph
from nnstudio.ui.canvas import CanvasView
from nnstudio.ui.canvas_edits import READ_ONLY_MESSAGE
from nnstudio.ui.canvas_interactions import MIME_LAYER
from nnstudio.ui.canvas_items import PortHighlight, PortRef
from nnstudio.ui.canvas_style import NODE_HEIGHT, NODE_WIDTH

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


def _chain() -> Graph:
    """input -> relu1, and a loose linear1 and output1 to wire by hand."""
    return Graph.from_records(
        [{"id": "image", "type": "input", "position": [0, 0], "params": {"shape": [4]}},
         {"id": "relu1", "type": "relu", "position": [0, 100]},
         {"id": "linear1", "type": "linear", "position": [200, 100], "params": {"out_features": 3}},
         {"id": "output1", "type": "output", "position": [200, 300]}],
        [{"source": "image", "target": "relu1"}])


def _viewport_point(view: CanvasView, scene_pos: QPointF) -> QPoint:
    return view.mapFromScene(scene_pos)


def _port(view: CanvasView, node_id: str, direction: str, name: str | None = None) -> QPoint:
    item = view.canvas_scene.node_items[node_id]
    port = PortRef(node_id, direction, name if direction == "in" else None)
    return _viewport_point(view, item.port_scene_pos(port))


def _card_centre(view: CanvasView, node_id: str) -> QPoint:
    item = view.canvas_scene.node_items[node_id]
    return _viewport_point(view, item.mapToScene(QPointF(NODE_WIDTH / 2, NODE_HEIGHT / 2)))


def _mouse(view: CanvasView, kind, at: QPoint, button, buttons, modifiers=Qt.KeyboardModifier.NoModifier):
    """Send one mouse event to the viewport with an explicit button state (QTest.mouseMove has none)."""
    viewport = view.viewport()
    event = QMouseEvent(kind, QPointF(at), QPointF(viewport.mapToGlobal(at)), button, buttons, modifiers)
    QApplication.sendEvent(viewport, event)


def _drag(view: CanvasView, start: QPoint, end: QPoint, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    """A left-button drag in several steps, like a hand would make."""
    QTest.mousePress(view.viewport(), LEFT, modifiers, start)
    for step in range(1, 6):
        point = start + (end - start) * step / 5
        _mouse(view, QMouseEvent.Type.MouseMove, point, Qt.MouseButton.NoButton, LEFT, modifiers)
    QTest.mouseRelease(view.viewport(), LEFT, modifiers, end)


def _drop(view: CanvasView, type_id: str, at: QPoint) -> QDropEvent:
    mime = QMimeData()
    mime.setData(MIME_LAYER, type_id.encode("utf-8"))
    event = QDropEvent(QPointF(at), Qt.DropAction.CopyAction, mime, LEFT, Qt.KeyboardModifier.NoModifier)
    view.dropEvent(event)
    return event


# --- showing a document ----------------------------------------------------------------------------


def test_set_document_shows_every_layer_and_wire(canvas):
    graph = load_example("residual-block").graph
    _bind(canvas, graph)
    scene = canvas.canvas_scene
    assert set(scene.node_items) == set(graph.node_ids())
    assert set(scene.edge_items) == set(graph.edges())
    assert scene.node_items["conv1"].pos() == QPointF(*graph.node("conv1").position)


def test_canvas_follows_commands_pushed_by_others(canvas):
    graph = _chain()
    stack = _bind(canvas, graph)
    add = AddNode(graph, "dropout", (400, 0))
    stack.push(add)
    stack.push(Connect(graph, "relu1", add.node_id))
    stack.push(MoveNodes(graph, {"relu1": (40, 120)}))
    scene = canvas.canvas_scene
    assert add.node_id in scene.node_items
    assert Edge("relu1", add.node_id) in scene.edge_items
    assert scene.node_items["relu1"].pos() == QPointF(40, 120)
    stack.undo()
    stack.undo()
    assert Edge("relu1", add.node_id) not in scene.edge_items
    assert scene.node_items["relu1"].pos() == QPointF(0, 100)


def test_a_new_document_replaces_the_old_one_and_the_old_graph_is_no_longer_followed(canvas):
    old = _chain()
    old_stack = _bind(canvas, old)
    new = load_example("digits-cnn").graph
    _bind(canvas, new)
    old_stack.push(AddNode(old, "relu", (0, 0)))
    assert set(canvas.canvas_scene.node_items) == set(new.node_ids())


# --- adding layers ---------------------------------------------------------------------------------


def test_dropping_a_palette_layer_adds_it_at_the_drop_point_and_undo_removes_it(canvas):
    graph = _chain()
    stack = _bind(canvas, graph)
    target = QPoint(450, 400)
    event = _drop(canvas, "conv2d", target)
    assert event.isAccepted()
    assert "conv1" in graph
    scene_drop = canvas.mapToScene(target)
    x, y = graph.node("conv1").position
    assert abs(x + NODE_WIDTH / 2 - scene_drop.x()) <= 10 and abs(y + NODE_HEIGHT / 2 - scene_drop.y()) <= 10
    assert x % 10 == 0 and y % 10 == 0  # snapped to the grid
    assert canvas.selected_node_ids() == ["conv1"]
    stack.undo()
    assert "conv1" not in graph and "conv1" not in canvas.canvas_scene.node_items


def test_dropping_an_unknown_layer_type_is_refused_with_its_name(canvas, qtbot):
    graph = _chain()
    _bind(canvas, graph)
    with qtbot.waitSignal(canvas.status_message) as message:
        event = _drop(canvas, "warp_drive", QPoint(300, 300))
    assert not event.isAccepted()
    assert "warp_drive" in message.args[0]
    assert len(graph) == 4


def test_add_layer_without_position_lands_in_the_view_centre(canvas):
    graph = _chain()
    _bind(canvas, graph)
    node_id = canvas.edits.add_layer("gelu")
    centre = canvas.mapToScene(canvas.viewport().rect().center())
    x, y = graph.node(node_id).position
    assert abs(x + NODE_WIDTH / 2 - centre.x()) <= 10 and abs(y + NODE_HEIGHT / 2 - centre.y()) <= 10


# --- wiring ----------------------------------------------------------------------------------------


def test_dragging_from_an_output_port_to_an_input_port_connects_them(canvas):
    graph = _chain()
    stack = _bind(canvas, graph)
    _drag(canvas, _port(canvas, "relu1", "out"), _port(canvas, "linear1", "in", "in"))
    assert Edge("relu1", "linear1") in graph.edges()
    assert Edge("relu1", "linear1") in canvas.canvas_scene.edge_items
    assert stack.undo_text() == "Connect relu1 to linear1"
    # The gesture is over and its dashed preview wire is gone from the scene.
    assert canvas._wire is None
    assert not [item for item in canvas.canvas_scene.items() if isinstance(item, QGraphicsPathItem)]


def test_dragging_from_an_input_port_back_to_an_output_port_also_connects(canvas):
    graph = _chain()
    _bind(canvas, graph)
    _drag(canvas, _port(canvas, "output1", "in", "in"), _port(canvas, "linear1", "out"))
    assert Edge("linear1", "output1") in graph.edges()


def test_an_invalid_connection_is_refused_and_the_reason_is_told(canvas, qtbot):
    graph = _chain()
    stack = _bind(canvas, graph)
    # relu1 already has its single input wired from image.
    with qtbot.waitSignal(canvas.status_message) as message:
        _drag(canvas, _port(canvas, "linear1", "out"), _port(canvas, "relu1", "in", "in"))
    assert "already has an input" in message.args[0]
    assert Edge("linear1", "relu1") not in graph.edges()
    assert not stack.can_undo()


def test_a_wire_that_would_make_a_cycle_is_refused(canvas, qtbot):
    graph = Graph.from_records(
        [{"id": "image", "type": "input", "position": [0, 0], "params": {"shape": [4]}},
         {"id": "join", "type": "add", "position": [0, 100]},
         {"id": "relu1", "type": "relu", "position": [0, 200]}],
        [{"source": "image", "target": "join"}, {"source": "join", "target": "relu1"}])
    _bind(canvas, graph)
    with qtbot.waitSignal(canvas.status_message) as message:
        _drag(canvas, _port(canvas, "relu1", "out"), _port(canvas, "join", "in", "in"))
    assert "cycle" in message.args[0]
    assert len(graph.edges()) == 2


def test_dropping_a_wire_on_another_output_says_outputs_connect_to_inputs(canvas, qtbot):
    graph = _chain()
    _bind(canvas, graph)
    with qtbot.waitSignal(canvas.status_message) as message:
        _drag(canvas, _port(canvas, "linear1", "out"), _port(canvas, "image", "out"))
    assert "output to an input" in message.args[0]
    assert len(graph.edges()) == 1


def test_dropping_a_wire_on_a_card_body_uses_its_free_input(canvas):
    graph = _chain()
    _bind(canvas, graph)
    _drag(canvas, _port(canvas, "relu1", "out"), _card_centre(canvas, "linear1"))
    assert Edge("relu1", "linear1") in graph.edges()


def test_compatible_ports_light_up_while_a_wire_is_dragged(canvas):
    graph = _chain()
    _bind(canvas, graph)
    start = _port(canvas, "relu1", "out")
    QTest.mousePress(canvas.viewport(), LEFT, Qt.KeyboardModifier.NoModifier, start)
    over = _port(canvas, "linear1", "in", "in")
    _mouse(canvas, QMouseEvent.Type.MouseMove, over, Qt.MouseButton.NoButton, LEFT)
    items = canvas.canvas_scene.node_items
    assert items["linear1"]._highlights == {("in", "in"): PortHighlight.HOVER}
    assert items["output1"]._highlights == {("in", "in"): PortHighlight.ACCEPT}
    assert items["relu1"]._highlights == {}  # occupied, and it cannot feed itself
    QTest.keyClick(canvas.viewport(), Qt.Key.Key_Escape)
    assert all(not item._highlights for item in items.values())
    QTest.mouseRelease(canvas.viewport(), LEFT, Qt.KeyboardModifier.NoModifier, over)
    assert Edge("relu1", "linear1") not in graph.edges()  # Escape cancelled the wire


def test_a_variadic_port_takes_several_wires(canvas):
    graph = load_example("residual-block").graph
    _bind(canvas, graph)
    add_item = canvas.canvas_scene.node_items["skip_add"]
    wires = [e for e in add_item.edges if e.edge.target == "skip_add"]
    assert len(wires) == 2
    ends = {round(w.end_points()[1].x()) for w in wires}
    assert len(ends) == 2  # the two wires fan out instead of overlapping


# --- selecting and moving --------------------------------------------------------------------------


def test_moving_several_selected_layers_is_one_undo_step(canvas, qtbot):
    graph = _chain()
    stack = _bind(canvas, graph)
    canvas.select_nodes(["relu1", "linear1"])
    before = {n: graph.node(n).position for n in ("relu1", "linear1", "image")}
    start = _card_centre(canvas, "relu1")
    _drag(canvas, start, start + QPoint(47, 33), Qt.KeyboardModifier.NoModifier)
    after = {n: graph.node(n).position for n in ("relu1", "linear1")}
    assert after["relu1"] != before["relu1"] and after["linear1"] != before["linear1"]
    # Both moved by the same snapped distance.
    delta = (after["relu1"][0] - before["relu1"][0], after["relu1"][1] - before["relu1"][1])
    assert delta == (after["linear1"][0] - before["linear1"][0], after["linear1"][1] - before["linear1"][1])
    assert delta[0] % 10 == 0 and delta[1] % 10 == 0 and delta != (0, 0)
    assert graph.node("image").position == before["image"]
    assert stack.undo_text() == "Move 2 layers"
    stack.undo()
    assert {n: graph.node(n).position for n in before} == before
    assert canvas.canvas_scene.node_items["linear1"].pos() == QPointF(*before["linear1"])
    assert not stack.can_undo()


def test_ctrl_click_adds_to_the_selection_and_signals_it(canvas, qtbot):
    _bind(canvas, _chain())
    QTest.mouseClick(canvas.viewport(), LEFT, Qt.KeyboardModifier.NoModifier, _card_centre(canvas, "relu1"))
    with qtbot.waitSignal(canvas.selection_changed) as selected:
        QTest.mouseClick(canvas.viewport(), LEFT, Qt.KeyboardModifier.ControlModifier,
                         _card_centre(canvas, "linear1"))
    assert selected.args[0] == ["relu1", "linear1"]


def test_rubber_band_selects_the_layers_it_touches(canvas):
    _bind(canvas, _chain())
    top_left = _viewport_point(canvas, QPointF(-20, 80))
    bottom_right = _viewport_point(canvas, QPointF(400, 180))
    _drag(canvas, top_left, bottom_right)
    assert canvas.selected_node_ids() == ["relu1", "linear1"]


# --- deleting --------------------------------------------------------------------------------------


def test_delete_key_removes_the_selection_with_its_wires_and_undo_redo_restore(canvas):
    graph = load_example("digits-cnn").graph
    stack = _bind(canvas, graph)
    canvas.select_nodes(["relu1"])
    canvas.setFocus()
    QTest.keyClick(canvas.viewport(), Qt.Key.Key_Delete)
    assert "relu1" not in graph and "relu1" not in canvas.canvas_scene.node_items
    assert all("relu1" not in (e.source, e.target) for e in canvas.canvas_scene.edge_items)
    stack.undo()
    assert Edge("conv1", "relu1") in canvas.canvas_scene.edge_items
    assert Edge("relu1", "pool1") in canvas.canvas_scene.edge_items
    stack.redo()
    assert "relu1" not in canvas.canvas_scene.node_items


def test_deleting_a_selected_wire_disconnects_it(canvas):
    graph = _chain()
    stack = _bind(canvas, graph)
    canvas.canvas_scene.edge_items[Edge("image", "relu1")].setSelected(True)
    canvas.edits.delete_selection()
    assert graph.edges() == []
    assert stack.undo_text() == "Disconnect image from relu1"


# --- clipboard -------------------------------------------------------------------------------------


def test_copy_and_paste_adds_renamed_copies_with_their_inner_wires(canvas):
    graph = load_example("digits-cnn").graph
    stack = _bind(canvas, graph)
    canvas.select_nodes(["conv1", "relu1"])
    canvas.edits.copy_selection()
    canvas.edits.paste()
    assert "conv3" in graph and "relu4" in graph
    assert Edge("conv3", "relu4") in graph.edges()
    assert graph.in_edges("conv3") == []  # the wire from image was outside the copy
    assert graph.node("conv3").params == graph.node("conv1").params
    x0, y0 = graph.node("conv1").position
    assert graph.node("conv3").position == (x0 + 30, y0 + 30)
    assert canvas.selected_node_ids() == ["conv3", "relu4"]
    canvas.edits.paste()  # a second paste steps further, never on top of the first copy
    assert graph.node("conv4").position == (x0 + 60, y0 + 60)
    stack.undo()
    stack.undo()
    assert len(graph) == 12


def test_cut_removes_and_paste_brings_back(canvas):
    graph = _chain()
    _bind(canvas, graph)
    canvas.select_nodes(["linear1"])
    canvas.edits.cut_selection()
    assert "linear1" not in graph
    canvas.edits.paste()
    assert graph.nodes_of_type("linear")[0].params["out_features"] == 3


def test_pasting_something_that_is_not_layers_says_so(canvas, qtbot):
    graph = _chain()
    stack = _bind(canvas, graph)
    QGuiApplication.clipboard().setText("hello")
    with qtbot.waitSignal(canvas.status_message) as message:
        canvas.edits.paste()
    assert "JSON" in message.args[0]
    assert not stack.can_undo()


def test_duplicate_places_copies_beside_the_originals(canvas):
    graph = _chain()
    stack = _bind(canvas, graph)
    canvas.select_nodes(["linear1"])
    canvas.edits.duplicate_selection()
    copy = next(n for n in graph.nodes_of_type("linear") if n.id != "linear1")
    assert copy.position == (230.0, 130.0)
    assert canvas.selected_node_ids() == [copy.id]
    assert stack.undo_text() == "Duplicate linear1"


# --- layout, zoom ----------------------------------------------------------------------------------


def test_auto_layout_is_one_undoable_step(canvas):
    graph = load_example("residual-block").graph
    stack = _bind(canvas, graph)
    stack.push(MoveNodes(graph, {"bn1": (900, -300), "fc1": (-500, 40)}))
    scrambled = {n.id: n.position for n in graph.nodes()}
    canvas.edits.auto_layout()
    assert graph.node("bn1").position[0] == graph.node("conv1").position[0]
    assert graph.node("bn1").position[1] > graph.node("conv1").position[1]
    assert stack.undo_text() == "Auto-layout"
    stack.undo()
    assert {n.id: n.position for n in graph.nodes()} == scrambled


def test_ctrl_wheel_zooms_and_plain_wheel_scrolls(canvas):
    _bind(canvas, load_example("digits-cnn").graph)
    centre = QPointF(canvas.viewport().rect().center())

    def wheel(modifiers):
        event = QWheelEvent(centre, QPointF(canvas.viewport().mapToGlobal(centre.toPoint())), QPoint(),
                            QPoint(0, 120), Qt.MouseButton.NoButton, modifiers, Qt.ScrollPhase.NoScrollPhase,
                            False)
        QApplication.sendEvent(canvas.viewport(), event)

    wheel(Qt.KeyboardModifier.ControlModifier)
    assert canvas.zoom() == pytest.approx(1.2)
    scroll_before = canvas.verticalScrollBar().value()
    wheel(Qt.KeyboardModifier.NoModifier)
    assert canvas.zoom() == pytest.approx(1.2)
    assert canvas.verticalScrollBar().value() < scroll_before


def test_zoom_is_clamped_and_fit_shows_every_layer(canvas):
    graph = load_example("residual-block").graph
    _bind(canvas, graph)
    for _ in range(40):
        canvas.zoom_in()
    assert canvas.zoom() == pytest.approx(4.0)
    for _ in range(60):
        canvas.zoom_out()
    assert canvas.zoom() == pytest.approx(0.1)
    canvas.fit_to_view()
    visible = canvas.mapToScene(canvas.viewport().rect()).boundingRect()
    assert visible.contains(canvas.canvas_scene.content_rect())


# --- read-only while training ----------------------------------------------------------------------


def test_read_only_refuses_every_edit_and_says_why(canvas, qtbot):
    graph = _chain()
    stack = _bind(canvas, graph)
    canvas.set_read_only(True)
    messages = []
    canvas.status_message.connect(messages.append)
    assert canvas.edits.add_layer("relu") == ""
    canvas.select_nodes(["relu1"])
    canvas.edits.delete_selection()
    _drag(canvas, _port(canvas, "relu1", "out"), _port(canvas, "linear1", "in", "in"))
    start = _card_centre(canvas, "linear1")
    _drag(canvas, start, start + QPoint(60, 60))
    assert not _drop(canvas, "relu", QPoint(300, 300)).isAccepted()
    assert not stack.can_undo()
    assert graph.node("linear1").position == (200.0, 100.0)
    assert canvas.canvas_scene.node_items["linear1"].pos() == QPointF(200, 100)
    assert READ_ONLY_MESSAGE in messages
    canvas.set_read_only(False)
    assert canvas.edits.add_layer("relu") != ""


def test_read_only_shows_a_banner(canvas):
    _bind(canvas, _chain())
    plain = canvas.grab().toImage()
    canvas.set_read_only(True)
    locked = canvas.grab().toImage()
    banner_point = QPoint(canvas.viewport().width() // 2, 18)
    assert plain.pixelColor(banner_point) != locked.pixelColor(banner_point)


# --- analysis --------------------------------------------------------------------------------------


def test_cards_and_wires_show_shapes_counts_and_problems_from_a_real_analysis(canvas):
    from nnstudio.compile.analysis import analyze

    project = load_example("digits-cnn")
    graph = project.graph
    stack = _bind(canvas, graph)
    canvas.set_analysis(analyze(graph, project.settings))
    items = canvas.canvas_scene.node_items
    assert items["conv1"].shape_text == "[N, 32, 8, 8]"
    assert items["conv1"].count_text == "320"  # 32 * 1 * 3 * 3 + 32
    assert canvas.canvas_scene.edge_items[Edge("pool1", "conv2")].label == "[N, 32, 4, 4]"
    assert items["fc1"].problems == []

    stack.push(SetParam(graph, "fc1", "in_features", 100))  # flatten gives 256: a shape error
    canvas.set_analysis(analyze(graph, project.settings))
    assert any(p.is_error for p in items["fc1"].problems)
    assert "error" in items["fc1"].toolTip()
    canvas.set_analysis(None)
    assert items["conv1"].shape_text == "" and items["fc1"].problems == []


def test_a_wire_label_never_covers_its_own_wire(canvas):
    """Beside a steep wire, above one that runs sideways (the residual block's skip into conv1)."""
    from nnstudio.compile.analysis import analyze

    project = load_example("residual-block")
    graph = project.graph
    _bind(canvas, graph)
    canvas.set_analysis(analyze(graph, project.settings))
    labelled = [item for item in canvas.canvas_scene.edge_items.values() if item.label]
    assert len(labelled) == len(graph.edges())
    cards = [card.mapRectToScene(QRectF(0, 0, NODE_WIDTH, NODE_HEIGHT))
             for card in canvas.canvas_scene.node_items.values()]
    flat = 0
    for item in labelled:
        path = item.path()
        rect = item.label_rect()
        assert not any(rect.intersects(card) for card in cards), (item.edge, rect)
        for i in range(1, 20):  # the middle of the wire, where the label is placed
            point = path.pointAtPercent(0.3 + 0.02 * i)
            assert not rect.adjusted(1, 1, -1, -1).contains(point), (item.edge, rect, point)
        if abs(path.pointAtPercent(0.6).y() - path.pointAtPercent(0.4).y()) < 10:
            flat += 1
    assert flat >= 1, "the example should hold a sideways wire for this test to mean anything"


# --- looks -----------------------------------------------------------------------------------------


def test_the_canvas_follows_a_dark_palette(canvas):
    _bind(canvas, load_example("digits-cnn").graph)
    assert not canvas.canvas_scene.colours.dark
    dark = QPalette()
    dark.setColor(QPalette.ColorRole.Window, QColor("#202124"))
    dark.setColor(QPalette.ColorRole.WindowText, QColor("#e8eaed"))
    dark.setColor(QPalette.ColorRole.Base, QColor("#17181a"))
    canvas.setPalette(dark)
    assert canvas.canvas_scene.colours.dark
    image = canvas.grab().toImage()
    assert image.pixelColor(3, 3).lightness() < 80  # the background itself went dark


def test_the_view_carries_its_names_for_tests_and_screen_readers(canvas):
    assert canvas.objectName() == "canvas"
    assert canvas.accessibleName() == "Network canvas"


def test_the_cursor_turns_to_a_crosshair_over_a_port(canvas):
    _bind(canvas, _chain())
    _mouse(canvas, QMouseEvent.Type.MouseMove, _port(canvas, "linear1", "out"), Qt.MouseButton.NoButton,
           Qt.MouseButton.NoButton)
    assert canvas.viewport().cursor().shape() == Qt.CursorShape.CrossCursor
    _mouse(canvas, QMouseEvent.Type.MouseMove, _card_centre(canvas, "linear1"), Qt.MouseButton.NoButton,
           Qt.MouseButton.NoButton)
    assert canvas.viewport().cursor().shape() == Qt.CursorShape.ArrowCursor


def test_a_graph_outliving_its_canvas_keeps_working(qtbot):
    import shiboken6

    graph = _chain()
    stack = UndoStack()
    view = CanvasView()
    view.set_document(graph, stack)
    shiboken6.delete(view)
    stack.push(AddNode(graph, "relu", (0, 0)))  # must not reach the deleted scene
    stack.undo()
    assert len(graph) == 4
    assert len(graph.events.node_added) == 0  # the dead canvas let go of the graph


def test_a_tall_network_opens_readable_with_its_input_in_view(qtbot):
    view = CanvasView()
    qtbot.addWidget(view)
    view.resize(600, 400)
    view.set_document(load_example("residual-block").graph, UndoStack())  # before the view shows
    view.show()
    qtbot.waitExposed(view)
    assert view.zoom() >= 0.8
    visible = view.mapToScene(view.viewport().rect()).boundingRect()
    assert visible.contains(view.canvas_scene.node_items["image"].sceneBoundingRect())
    assert not visible.contains(view.canvas_scene.node_items["output1"].sceneBoundingRect())


def test_arrow_keys_nudge_the_selection_by_grid_steps(canvas):
    graph = _chain()
    stack = _bind(canvas, graph)
    canvas.select_nodes(["relu1", "linear1"])
    canvas.setFocus()
    QTest.keyClick(canvas.viewport(), Qt.Key.Key_Right)
    QTest.keyClick(canvas.viewport(), Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    assert graph.node("relu1").position == (10.0, 200.0)
    assert graph.node("linear1").position == (210.0, 200.0)
    stack.undo()
    assert graph.node("relu1").position == (10.0, 100.0)


@pytest.mark.parametrize("example", [info.name for info in list_examples()])
def test_every_card_of_every_bundled_example_shows_its_whole_output_shape(canvas, example):
    from nnstudio.compile.analysis import analyze
    from nnstudio.ui.canvas_style import STRIP_WIDTH, fit_shape_text

    project = load_example(example)
    _bind(canvas, project.graph)
    canvas.set_analysis(analyze(project.graph, project.settings))
    fonts = canvas.canvas_scene._fonts
    text_width = NODE_WIDTH - STRIP_WIDTH - 16  # the card's text column, between its margins
    for node_id, item in canvas.canvas_scene.node_items.items():
        if not item.shape_text:
            continue
        shown = fit_shape_text(item.shape_text, fonts.mono_metrics, text_width)
        assert "…" not in shown, (example, node_id, item.shape_text, item.count_text)
        assert shown.replace(" ", "") == item.shape_text.replace(" ", "")

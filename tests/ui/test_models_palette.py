"""The palette's Models section: torchvision's classifiers, searchable, dropped onto the canvas as one block."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt
from PySide6.QtGui import QDropEvent
from PySide6.QtTest import QTest

from nnstudio.core.commands import UndoStack
from nnstudio.core.graph import Graph
from nnstudio.ui.canvas import CanvasView
from nnstudio.ui.canvas_block_items import PendingItem
from nnstudio.ui.canvas_interactions import MIME_MODEL
from nnstudio.ui.canvas_items import PortRef
from nnstudio.ui.palette import LayerPalette

torchvision = pytest.importorskip("torchvision")
LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def palette(qtbot):
    panel = LayerPalette()
    qtbot.addWidget(panel)
    yield panel
    panel.shutdown()


@pytest.fixture
def canvas(qtbot):
    view = CanvasView()
    qtbot.addWidget(view)
    view.resize(900, 700)
    view.show()
    qtbot.waitExposed(view)
    yield view
    view.shutdown()


def _drop_model(view: CanvasView, source: str, at: QPoint) -> QDropEvent:
    mime = QMimeData()
    mime.setData(MIME_MODEL, source.encode("utf-8"))
    event = QDropEvent(QPointF(at), Qt.DropAction.CopyAction, mime, LEFT, Qt.KeyboardModifier.NoModifier)
    view.dropEvent(event)
    return event


def test_the_models_section_lists_torchvision_classifiers_once_opened_and_searches_them(palette, qtbot):
    assert palette.visible_models() == []  # read only when asked: opening the window does not load torch
    with qtbot.waitSignal(palette.models_ready, timeout=120_000):
        palette.models_group.setExpanded(True)
    assert palette.visible_models() == list(torchvision.models.list_models(module=torchvision.models))
    palette.search.setText("resnet1")
    assert set(palette.visible_models()) == {"resnet18", "resnet101", "resnet152", "wide_resnet101_2"}
    assert palette.visible_type_ids() == []  # no layer is called that
    palette.search.setText("vit_b")
    assert set(palette.visible_models()) == {"vit_b_16", "vit_b_32"}


def test_a_model_drags_its_source_and_asks_for_cached_pretrained_weights_only_when_ticked(palette, qtbot):
    with qtbot.waitSignal(palette.models_ready, timeout=120_000):
        palette.load_models()
    mime = palette.tree.mimeData([palette.model_item("resnet18")])
    assert bytes(mime.data(MIME_MODEL).data()).decode() == "torchvision.models:resnet18"
    palette.pretrained.setChecked(True)
    mime = palette.tree.mimeData([palette.model_item("resnet18")])
    assert bytes(mime.data(MIME_MODEL).data()).decode() == "torchvision.models:resnet18(weights='DEFAULT')"


def test_dropping_resnet18_adds_one_closed_block_wired_like_any_layer(canvas, qtbot):
    from nnstudio.compile.analysis import analyze
    from nnstudio.compile.compiler import compile_graph

    graph = Graph.from_records([{"id": "image", "type": "input", "position": [0, 0], "params": {"shape": [3, 64, 64]}},
                                {"id": "result", "type": "output", "position": [0, 400]}], [])
    stack = UndoStack()
    canvas.set_document(graph, stack)
    canvas.reset_zoom()
    at = canvas.mapFromScene(QPointF(75, 200))
    with qtbot.waitSignal(canvas.status_message) as told:
        assert _drop_model(canvas, "torchvision.models:resnet18", at).isAccepted()
    assert "Building resnet18" in told.args[0]
    assert any(isinstance(item, PendingItem) for item in canvas.canvas_scene.items())  # progress where it lands
    with qtbot.waitSignal(canvas.edits.model_build.finished, timeout=240_000):
        pass
    assert not any(isinstance(item, PendingItem) for item in canvas.canvas_scene.items())
    assert stack.undo_text() == "Add resnet18"
    scene = canvas.canvas_scene
    assert set(scene.block_items) == {"resnet18"} and not scene.frame_items  # one closed block
    block = scene.block_items["resnet18"]
    assert abs(block.sceneBoundingRect().center().x() - 75) < 40
    assert [p.key for p in block.inputs] == ["open:resnet18.conv1:in"]
    assert [p.key for p in block.outputs] == ["resnet18.fc"]
    # Wired like any layer: from the input's output to the block's free input, from the block to the output.
    canvas.edits.connect_many("image", scene.port_targets(PortRef("resnet18", "in", "open:resnet18.conv1:in")))
    canvas.edits.connect_ports(scene.port_source(PortRef("resnet18", "out", "resnet18.fc")), "result")
    analysis = analyze(graph)
    assert analysis.ok, analysis.errors
    module = compile_graph(graph, analysis)
    expected = {f"resnet18.{key}" for key in torchvision.models.resnet18().state_dict()}
    assert set(module.state_dict()) == expected
    for _ in range(3):
        stack.undo()
    assert graph.node_ids() == ["image", "result"] and not scene.block_items


def test_escape_stops_building_a_dropped_model_and_adds_nothing(canvas, qtbot):
    graph = Graph.from_records([{"id": "image", "type": "input", "params": {"shape": [3, 32, 32]}}], [])
    stack = UndoStack()
    canvas.set_document(graph, stack)
    _drop_model(canvas, "torchvision.models:resnet18", canvas.viewport().rect().center())
    canvas.setFocus()
    with qtbot.waitSignal(canvas.status_message) as told:
        QTest.keyClick(canvas, Qt.Key.Key_Escape)
    assert "nothing was added" in told.args[0]
    assert canvas.edits.model_build.wait_idle()
    qtbot.wait(50)  # a late result would arrive through the event loop
    assert graph.node_ids() == ["image"] and not stack.can_undo()
    assert not any(isinstance(item, PendingItem) for item in canvas.canvas_scene.items())


def test_a_model_that_cannot_be_built_is_named_and_nothing_is_added(canvas, qtbot):
    graph = Graph()
    canvas.set_document(graph, UndoStack())
    _drop_model(canvas, "torchvision.models:no_such_model", canvas.viewport().rect().center())
    with qtbot.waitSignal(canvas.edits.model_build.failed, timeout=120_000) as failed:
        pass
    assert "no_such_model" in failed.args[0]
    assert len(graph) == 0


def test_a_palette_closed_while_it_reads_the_models_list_ends_its_thread(qtbot, monkeypatch):
    import threading
    import time

    from PySide6.QtCore import QThread

    from nnstudio.ui import model_build

    started = threading.Event()

    def slow_names() -> list[str]:
        started.set()
        time.sleep(0.5)  # importing torchvision on a busy machine
        return ["resnet18"]

    monkeypatch.setattr(model_build, "load_classifier_names", slow_names)
    panel = LayerPalette()
    qtbot.addWidget(panel)
    panel.show()
    panel.model_names.load()
    assert started.wait(10)
    threads = [t for t in panel.findChildren(QThread) if t.isRunning()]
    assert threads
    panel.close()  # destroying a running QThread would abort the whole process
    assert not any(t.isRunning() for t in threads)

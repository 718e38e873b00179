"""The main window as a person meets it: panels, actions, live analysis, problems and undo/redo."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QGraphicsView, QLabel, QPushButton

from nnstudio.core.catalog import CATALOG
from nnstudio.core.commands import AddNode, Connect, MoveNodes, SetParam
from nnstudio.core.examples import list_examples
from nnstudio.core.formatting import format_count, format_shape
from nnstudio.core.graph import Graph
from nnstudio.core.project import Project, save_project

ACTION_NAMES = ["actionNew", "actionOpen", "actionSave", "actionSaveAs", "actionUndo", "actionRedo",
                "actionExport", "actionCut", "actionCopy", "actionPaste", "actionDuplicate", "actionDelete",
                "actionSelectAll", "actionZoomIn", "actionZoomOut", "actionFitView", "actionAutoLayout"]


def _action(window, name):
    from PySide6.QtGui import QAction

    action = window.findChild(QAction, name)
    assert action is not None, name
    return action


def test_panels_and_actions_carry_object_and_accessible_names(window):
    for name in ("palette", "inspector", "problems"):
        widget = window.findChild(object, name)
        assert widget is not None and widget.accessibleName(), name
    canvas = window.findChild(QGraphicsView, "canvas")
    assert canvas is window.canvas and canvas.accessibleName()
    for name in ACTION_NAMES:
        assert _action(window, name).text()
    for name in ("actionNew", "actionOpen", "actionSave", "actionUndo", "actionRedo", "actionExport"):
        button = window.toolbar.widgetForAction(_action(window, name))
        assert button.accessibleName(), name
    docks = {d.objectName(): d for d in window.findChildren(QDockWidget)}
    assert window.dockWidgetArea(docks["paletteDock"]) == Qt.DockWidgetArea.LeftDockWidgetArea
    assert window.dockWidgetArea(docks["inspectorDock"]) == Qt.DockWidgetArea.RightDockWidgetArea
    assert window.dockWidgetArea(docks["problemsDock"]) == Qt.DockWidgetArea.BottomDockWidgetArea


def test_standard_shortcuts_are_bound(window):
    from PySide6.QtGui import QKeySequence

    assert _action(window, "actionUndo").shortcuts() == QKeySequence.keyBindings(QKeySequence.StandardKey.Undo)
    assert _action(window, "actionSave").shortcuts() == QKeySequence.keyBindings(QKeySequence.StandardKey.Save)


def test_examples_menu_lists_every_bundled_example(window):
    names = [a.text() for a in window.examples_menu.actions()]
    assert names == [info.name for info in list_examples()]


@pytest.mark.parametrize("name", [info.name for info in list_examples()])
def test_every_example_opens_and_its_analysis_reaches_every_view(window, wait_analysis, name):
    assert window.files.open_example(name)
    analysis = wait_analysis(window)
    assert set(analysis.nodes) == set(window.document.graph.node_ids())
    assert window.status_bar.params_label.text() == f"Parameters: {format_count(analysis.total_params)}"
    assert window.problems.problems == sorted(analysis.problems, key=lambda p: not p.is_error)
    assert ("error" in window.status_bar.validity_label.text()) == (not analysis.ok)
    assert name in window.windowTitle()


def test_status_bar_says_ready_and_names_the_device(example_window, qtbot):
    assert "Ready to train" in example_window.status_bar.validity_label.text()
    qtbot.waitUntil(lambda: example_window.status_bar.device_label.text() != "Device: …", timeout=30_000)
    assert "CPU" in example_window.status_bar.device_label.text() or "CUDA" in example_window.status_bar.device_label.text()


def test_editing_a_parameter_in_the_inspector_updates_downstream_shapes(example_window, wait_analysis):
    window = example_window
    window.canvas.select_nodes(["conv1"])
    assert window.inspector.node_ids == ["conv1"]
    spin = window.inspector.row("out_channels").editor.spin
    spin.setValue(16)
    analysis = wait_analysis(window)
    assert analysis.nodes["conv1"].output_shape == ("N", 16, 8, 8)
    # conv2 reads conv1's channels: its inferred in_channels follows the edit
    assert analysis.nodes["conv2"].resolved["in_channels"] == 16
    assert window.inspector.findChild(QLabel, "inspectorOutputShape").text() == format_shape(("N", 16, 8, 8))
    window.canvas.select_nodes(["conv2"])
    assert window.inspector.row("in_channels").inferred_label.text().startswith("16")


def test_a_lint_fix_is_applied_from_the_problems_list_as_one_undo_step(make_window, wait_analysis, tmp_path):
    graph = Graph()
    for command in (AddNode(graph, "input", params={"shape": (4,)}, node_id="features"),
                    AddNode(graph, "linear", params={"out_features": 8}, node_id="fc1"),
                    AddNode(graph, "linear", params={"out_features": 3}, node_id="fc2"),
                    AddNode(graph, "output", node_id="out")):
        command.redo()
    for a, b in (("features", "fc1"), ("fc1", "fc2"), ("fc2", "out")):
        Connect(graph, a, b).redo()
    save_project(Project(graph, name="two-linears"), tmp_path / "two.nns")
    window = make_window()
    assert window.files.open_path(tmp_path / "two.nns")
    wait_analysis(window)
    codes = [p.code for p in window.problems.problems]
    assert "linear-after-linear" in codes
    row = codes.index("linear-after-linear")
    button = window.problems.itemWidget(window.problems.topLevelItem(row), 3)
    assert isinstance(button, QPushButton)
    button.click()
    wait_analysis(window)
    assert "linear-after-linear" not in [p.code for p in window.problems.problems]
    assert any(n.type_id == "relu" for n in window.document.graph.nodes())
    _action(window, "actionUndo").trigger()
    wait_analysis(window)
    assert "linear-after-linear" in [p.code for p in window.problems.problems]


def test_clicking_a_problem_selects_its_layer(example_window, wait_analysis, qtbot):
    window = example_window
    window.canvas.select_nodes(["fc1"])
    window.inspector.row("in_features").pin.click()  # pin the inferred 256 ...
    spin = window.inspector.row("in_features").editor.spin
    spin.setValue(100)  # ... then make it wrong, the classic flatten-size mistake
    analysis = wait_analysis(window)
    assert not analysis.ok and "error" in window.status_bar.validity_label.text()
    window.canvas.select_nodes([])
    errors = [i for i, p in enumerate(window.problems.problems) if p.is_error and p.node_id]
    item = window.problems.topLevelItem(errors[0])
    rect = window.problems.visualItemRect(item)
    qtbot.mouseClick(window.problems.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.canvas.selected_node_ids() == [window.problems.problems[errors[0]].node_id]


def _records(window):
    return window.document.graph.to_records()


def _check_undo_redo(window, edit):
    before = _records(window)
    edit()
    after = _records(window)
    assert after != before
    _action(window, "actionUndo").trigger()
    assert _records(window) == before
    _action(window, "actionRedo").trigger()
    assert _records(window) == after


def test_every_edit_kind_undoes_and_redoes_through_the_actions(example_window, qtbot):
    window, canvas = example_window, example_window.canvas
    graph = window.document.graph
    _check_undo_redo(window, lambda: window.palette_panel.layer_activated.emit("dropout"))
    canvas.select_nodes(["conv1"])
    line = window.inspector.row("kernel_size").editor.line

    def type_kernel():
        line.selectAll()
        qtbot.keyClicks(line, "5")
    _check_undo_redo(window, type_kernel)
    assert graph.node("conv1").params["kernel_size"] == 5
    new = window.add_layer_at_centre("batch_norm2d")
    _check_undo_redo(window, lambda: canvas.edits.connect_ports("relu1", new))
    _check_undo_redo(window, lambda: window.document.push(MoveNodes(graph, {"conv1": (300.0, 40.0)})))
    canvas.select_nodes(["relu2"])
    _check_undo_redo(window, _action(window, "actionDelete").trigger)
    canvas.select_nodes(["conv2"])
    _action(window, "actionCopy").trigger()
    _check_undo_redo(window, _action(window, "actionPaste").trigger)
    canvas.select_nodes(["fc1"])
    _check_undo_redo(window, _action(window, "actionDuplicate").trigger)
    canvas.select_nodes(["fc2"])
    _check_undo_redo(window, _action(window, "actionCut").trigger)
    _check_undo_redo(window, _action(window, "actionAutoLayout").trigger)


def test_undo_action_text_names_the_edit_and_is_disabled_when_nothing_to_undo(example_window):
    window = example_window
    undo = _action(window, "actionUndo")
    assert not undo.isEnabled()
    window.add_layer_at_centre("relu")
    assert undo.isEnabled() and "Add ReLU" in undo.text()


def test_tabs_can_be_added_beside_the_editor(window):
    pages = window.tabs.count()  # the editor, and the tabs features add (Training, ...)
    index = window.add_tab(QLabel("plots"), "Extra")
    assert window.tabs.tabText(index) == "Extra" and window.tabs.count() == pages + 1
    assert not window.tabs.tabBar().isHidden()


def test_every_catalog_layer_can_be_added_from_the_window(example_window):
    for spec in CATALOG:
        node_id = example_window.add_layer_at_centre(spec.type_id)
        assert node_id in example_window.document.graph


def test_analysis_runs_off_the_gui_thread_and_the_last_edit_wins(example_window, wait_analysis, monkeypatch):
    import threading

    from nnstudio.compile.analysis import ShapeInference

    threads = []
    real_analyze = ShapeInference.analyze

    def spy(self, graph, settings=None):
        threads.append(threading.get_ident())
        return real_analyze(self, graph, settings)

    monkeypatch.setattr(ShapeInference, "analyze", spy)
    window = example_window
    graph = window.document.graph
    for width in (16, 24, 40, 8):  # a burst of edits, faster than the debounce
        window.document.push(SetParam(graph, "conv1", "out_channels", width))
    analysis = wait_analysis(window)
    assert threads and threading.main_thread().ident not in threads
    assert len(threads) < 4  # the burst was debounced, not analysed edit by edit
    assert analysis.revision == graph.revision
    assert analysis.nodes["conv1"].output_shape == ("N", 8, 8, 8)


def test_export_writes_a_standalone_model_py(example_window, monkeypatch, tmp_path):
    from PySide6.QtWidgets import QFileDialog

    target = tmp_path / "model.py"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(target), "")))
    written = []
    example_window.files.export_model(written.append)
    assert written == [True]  # the analysis was current: written at once
    source = target.read_text(encoding="utf-8")
    assert "import torch" in source and "class Model" in source
    namespace: dict = {}
    exec(compile(source, str(target), "exec"), namespace)  # runs with nothing but torch
    import torch

    assert namespace["Model"]()(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


def test_read_only_locks_every_way_of_editing_and_unlocks_again(example_window):
    window = example_window
    window.add_layer_at_centre("relu")
    window.canvas.select_nodes(["conv1"])
    window.set_read_only(True)
    for name in ("actionUndo", "actionNew", "actionOpen", "actionPaste", "actionDelete", "actionCut",
                 "actionAutoLayout"):
        assert not _action(window, name).isEnabled(), name
    assert _action(window, "actionCopy").isEnabled() and _action(window, "actionSave").isEnabled()
    assert not window.inspector.isEnabled() and not window.palette_panel.isEnabled()
    before = window.document.graph.to_records()
    window.add_layer_at_centre("relu")
    assert window.document.graph.to_records() == before
    window.set_read_only(False)
    assert _action(window, "actionUndo").isEnabled() and _action(window, "actionDelete").isEnabled()
    assert window.inspector.isEnabled()


def test_the_window_arrangement_is_restored_next_time(make_window):
    first = make_window()
    first.resize(700, 500)  # inside the offscreen screen, which restoreGeometry clamps to
    first.problems_dock.hide()
    first.shutdown()
    second = make_window()
    assert second.size().width() == 700
    assert second.problems_dock.isHidden()


def test_a_fix_that_switches_the_loss_updates_the_lints_and_undoes_whole(make_window, wait_analysis):
    window = make_window()
    window.files.open_example("logistic-moons")
    wait_analysis(window)
    problem = next(p for p in window.problems.problems if p.code == "sigmoid-before-bce")
    assert window.apply_fix(problem)
    wait_analysis(window)
    assert window.document.project.settings.loss == "bce_with_logits"
    assert "sigmoid-before-bce" not in [p.code for p in window.problems.problems]
    _action(window, "actionUndo").trigger()
    wait_analysis(window)
    assert window.document.project.settings.loss == "bce"
    assert "sigmoid-before-bce" in [p.code for p in window.problems.problems]


def test_a_settings_edit_alone_is_analysed_too(example_window, wait_analysis):
    from nnstudio.core.commands import CallbackCommand

    window = example_window
    settings = window.document.project.settings

    def use(loss):
        return lambda: setattr(settings, "loss", loss)
    window.document.push(CallbackCommand("Use MSELoss", use("mse"), use("cross_entropy")))
    wait_analysis(window)
    assert "regression-loss-on-classes" in [p.code for p in window.problems.problems]

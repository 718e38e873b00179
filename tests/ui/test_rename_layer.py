"""Renaming a layer in the window: the inspector's name field, F2 on the canvas, and the name-clash fix."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel


def _type_name(qtbot, field, text: str) -> None:
    field.selectAll()
    qtbot.keyClicks(field, text)


def test_the_name_field_renames_the_layer_with_its_wires_and_one_undo_step(example_window, qtbot,
                                                                           wait_analysis):
    window = example_window
    graph = window.document.graph
    before_in, before_out = graph.predecessors("conv2"), graph.successors("conv2")
    window.canvas.select_nodes(["conv2"])
    field = window.inspector.name_field
    _type_name(qtbot, field, "features.conv2")
    qtbot.keyClick(field, Qt.Key.Key_Return)
    assert "conv2" not in graph
    assert graph.predecessors("features.conv2") == before_in
    assert graph.successors("features.conv2") == before_out
    assert window.document.undo_stack.undo_text() == "Rename conv2 to features.conv2"
    assert window.canvas.selected_node_ids() == ["features.conv2"]  # still the selected layer
    assert window.inspector.name_field.text() == "features.conv2"
    analysis = wait_analysis(window)
    assert analysis.ok
    window.document.undo_stack.undo()
    assert graph.predecessors("conv2") == before_in


def test_a_refused_name_shows_why_and_changes_nothing(example_window, qtbot):
    window = example_window
    window.canvas.select_nodes(["conv2"])
    field = window.inspector.name_field
    before = window.document.graph.to_records()
    _type_name(qtbot, field, "train")
    error = window.inspector.findChild(QLabel, "inspectorNameError")
    assert error.isVisible()
    assert error.text() == "`train` is a method of every nn.Module; pick another name such as `train1`"
    qtbot.keyClick(field, Qt.Key.Key_Return)
    assert window.document.graph.to_records() == before
    assert error.isVisible()
    window.inspector.findChild(QLabel, "inspectorNameError").grab().save("/tmp/nnstudio-rename-refused.png")
    window.inspector.grab().save("/tmp/nnstudio-inspector-rename.png")
    qtbot.keyClick(field, Qt.Key.Key_Escape)
    assert field.text() == "conv2" and not error.isVisible()


def test_f2_on_the_canvas_puts_the_cursor_in_the_name_field(example_window, qtbot):
    window = example_window
    window.activateWindow()
    window.canvas.select_nodes(["conv1"])
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_F2)
    field = window.inspector.name_field
    qtbot.waitUntil(field.hasFocus)
    assert field.selectedText() == "conv1"
    qtbot.keyClicks(field, "stem")
    qtbot.keyClick(field, Qt.Key.Key_Return)
    assert "stem" in window.document.graph and "conv1" not in window.document.graph


def test_duplicate_is_undone_as_a_duplicate(example_window):
    window = example_window
    window.canvas.select_nodes(["conv1"])
    window.action_duplicate.trigger()
    assert window.document.undo_stack.undo_text() == "Duplicate conv1"
    assert window.action_undo.text().replace("&", "") == "Undo Duplicate conv1"


def test_an_old_file_with_a_clashing_name_opens_and_its_problem_renames_it(window, wait_analysis, tmp_path):
    nodes = [{"id": "image", "type": "input", "params": {"shape": [1, 8, 8]}}, {"id": "flat", "type": "flatten"},
             {"id": "float", "type": "linear", "params": {"out_features": 10}}, {"id": "out", "type": "output"}]
    edges = [{"source": a, "target": b} for a, b in [("image", "flat"), ("flat", "float"), ("float", "out")]]
    path = tmp_path / "old.nns"
    path.write_text(json.dumps({"format": "nnstudio-project", "version": 1, "nodes": nodes, "edges": edges}))
    assert window.files.open_path(path)
    analysis = wait_analysis(window)
    [problem] = [p for p in window.problems.problems if p.code == "name-clash"]
    assert problem.node_id == "float" and problem.is_error
    assert not analysis.ok
    assert problem.fix.description == "Rename to float1 (state-dict keys become float1.*)"
    window.apply_fix(problem)
    assert window.document.graph.predecessors("out") == ["float1"]
    assert wait_analysis(window).ok

"""The inspector: forms built from the catalog, refusals with reasons, inferred values, merged undo."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication, QLabel

from nnstudio.core.catalog import CATALOG, ParamKind
from nnstudio.ui.param_editors import (
    EDITORS,
    BoolEditor,
    ChoiceEditor,
    DataEditor,
    FloatEditor,
    IntEditor,
    IntTupleEditor,
    OptionalIntEditor,
    TextEditor,
)

EXPECTED_EDITOR = {ParamKind.INT: (IntEditor, OptionalIntEditor), ParamKind.FLOAT: (FloatEditor,),
                   ParamKind.BOOL: (BoolEditor,), ParamKind.CHOICE: (ChoiceEditor,),
                   ParamKind.INT_TUPLE: (IntTupleEditor,), ParamKind.TEXT: (TextEditor,),
                   ParamKind.DATA: (DataEditor,)}


def test_every_parameter_kind_has_an_editor_factory():
    assert set(EDITORS) == set(ParamKind)


def test_every_layer_gets_a_form_with_one_editor_of_the_right_kind_per_parameter(example_window):
    window = example_window
    for spec in CATALOG:
        node_id = window.add_layer_at_centre(spec.type_id)
        window.inspector.show_nodes([node_id])
        assert set(window.inspector.rows) == {p.name for p in spec.params}
        for param in spec.params:
            editor = window.inspector.row(param.name).editor
            assert isinstance(editor, EXPECTED_EDITOR[param.kind]), (spec.type_id, param.name)
            assert editor.input_widget.toolTip() == param.help


def test_the_form_shows_the_layer_facts_from_the_analysis(example_window):
    window = example_window
    window.canvas.select_nodes(["conv2"])
    inspector = window.inspector
    result = window.document.analysis.nodes["conv2"]
    assert inspector.findChild(object, "inspectorNodeName").text().find("conv2") >= 0
    assert inspector.findChild(QLabel, "inspectorOutputShape").text() == "[N, 64, 4, 4]"
    assert inspector.findChild(QLabel, "inspectorParams").text() == "18.5k" == f"{result.params / 1000:.3g}k"
    assert inspector.row("kernel_size").editor.line.text() == "3"
    assert inspector.row("padding_mode").editor.combo.currentText() == "zeros"


def _paste(line, text):
    QApplication.clipboard().setText(text)
    line.setFocus()
    line.selectAll()
    line.paste()


def _select(window, node_id):
    window.canvas.select_nodes([node_id])
    assert window.inspector.node_ids == [node_id]


@pytest.mark.parametrize(("node_id", "name", "text", "reason"), [
    ("conv1", "kernel_size", "3, x", "'x' is not a whole number"),
    ("conv1", "kernel_size", "0", "below the minimum"),
    ("conv1", "kernel_size", "3, 3, 3", "expected 2 numbers"),
    ("pool1", "padding", "-1", "below the minimum"),
])
def test_invalid_values_are_refused_inline_with_the_reason_and_change_nothing(
        example_window, qtbot, node_id, name, text, reason):
    window = example_window
    _select(window, node_id)
    before = window.document.graph.to_records()
    row = window.inspector.row(name)
    _paste(row.editor.line, text)  # pasted at once, so no valid prefix ("3, 3") is applied on the way
    assert reason in row.error
    assert row.error_label.isVisible()
    assert "border" in row.editor.line.styleSheet()  # the red frame
    assert window.document.graph.to_records() == before
    assert not window.document.undo_stack.can_undo()
    row.editor.line.selectAll()
    qtbot.keyClicks(row.editor.line, "2")  # a good value clears the refusal and is applied
    assert row.error == "" and row.editor.line.styleSheet() == ""
    assert window.document.graph.node(node_id).params[name] == 2


def test_floats_accept_scientific_notation_and_refuse_out_of_range(example_window, qtbot):
    window = example_window
    graph = window.document.graph
    node_id, name = window.add_layer_at_centre("batch_norm2d"), "eps"
    _select(window, node_id)
    line = window.inspector.row(name).editor.line
    line.selectAll()
    qtbot.keyClicks(line, "1e-5")
    assert graph.node(node_id).params[name] == pytest.approx(1e-5)
    assert line.text() == "1e-5"  # what the person typed stays as typed
    line.selectAll()
    qtbot.keyClicks(line, "abc")
    assert "'abc' is not a number" in window.inspector.row(name).error
    line.selectAll()
    qtbot.keyClicks(line, "5")
    assert "above the maximum 1" in window.inspector.row(name).error
    assert graph.node(node_id).params[name] == pytest.approx(1e-5)


def test_an_inferred_parameter_shows_its_value_and_can_be_pinned_and_unpinned(example_window, wait_analysis):
    window = example_window
    graph = window.document.graph
    _select(window, "fc1")
    row = window.inspector.row("in_features")
    assert graph.node("fc1").params["in_features"] is None
    assert row.inferred_label.isVisible() and row.inferred_label.text() == "256  (inferred)"
    assert not row.editor.isVisible()
    row.pin.click()
    assert graph.node("fc1").params["in_features"] == 256
    assert row.editor.isVisible() and row.editor.spin.value() == 256
    row.pin.click()
    assert graph.node("fc1").params["in_features"] is None
    wait_analysis(window)
    assert row.inferred_label.isVisible()
    window.document.undo_stack.undo()
    assert graph.node("fc1").params["in_features"] == 256
    assert row.editor.isVisible()


def test_consecutive_edits_of_one_field_are_one_undo_step_until_the_field_is_left(example_window, qtbot):
    window = example_window
    graph, stack = window.document.graph, window.document.undo_stack
    _select(window, "fc1")
    spin = window.inspector.row("out_features").editor.spin
    spin.setFocus()
    spin.selectAll()
    qtbot.keyClicks(spin, "64")  # two keystrokes: 6, then 64
    assert graph.node("fc1").params["out_features"] == 64
    spin.editingFinished.emit()  # focus leaves the field
    spin.selectAll()
    qtbot.keyClicks(spin, "32")
    assert graph.node("fc1").params["out_features"] == 32
    stack.undo()
    assert graph.node("fc1").params["out_features"] == 64
    assert spin.value() == 64  # the form follows undo
    stack.undo()
    assert graph.node("fc1").params["out_features"] == 128
    assert not stack.can_undo()


def test_bool_and_choice_edits_are_applied_and_undoable(example_window, qtbot):
    window = example_window
    graph = window.document.graph
    _select(window, "conv1")
    window.inspector.row("bias").editor.check.click()
    assert graph.node("conv1").params["bias"] is False
    combo = window.inspector.row("padding_mode").editor.combo
    combo.activated.emit(combo.findText("reflect"))
    assert graph.node("conv1").params["padding_mode"] == "reflect"
    window.document.undo_stack.undo()
    window.document.undo_stack.undo()
    assert graph.node("conv1").params["bias"] is True
    assert window.inspector.row("bias").editor.check.isChecked()


def test_with_nothing_selected_the_inspector_summarises_the_network(example_window):
    window = example_window
    window.canvas.select_nodes([])
    text = window.inspector.findChild(object, "inspectorSummary").text()
    analysis = window.document.analysis
    assert "digits-cnn" in text and "ready to train" in text
    assert f"{analysis.total_params / 1000:.3g}k" in text
    window.canvas.select_nodes(["conv1", "conv2"])
    assert "2 layers selected" in window.inspector.findChild(object, "inspectorSummary").text()


def test_deleting_the_shown_layer_returns_to_the_summary(example_window):
    window = example_window
    _select(window, "relu1")
    window.canvas.edits.delete_selection()
    assert window.inspector.node_ids == []
    assert window.inspector.rows == {}


def test_the_pin_button_says_whether_the_value_is_pinned_or_inferred(example_window, wait_analysis):
    window = example_window
    _select(window, "fc1")
    pin = window.inspector.row("in_features").pin
    assert (pin.text(), pin.isChecked()) == ("Inferred", False)
    assert "follows the input" in pin.toolTip()
    pin.click()
    assert (pin.text(), pin.isChecked()) == ("Pinned", True)
    assert "is pinned" in pin.toolTip()
    window.document.undo_stack.undo()  # the form follows the model, not just the click
    wait_analysis(window)
    assert (pin.text(), pin.isChecked()) == ("Inferred", False)


def test_dataset_field_editors_parse_what_people_type(qtbot):
    from nnstudio.core.catalog import ParamSpec
    from nnstudio.ui.param_editors import FloatListEditor, PathEditor, TextEditor, make_editor

    floats = make_editor(ParamSpec("mean", ParamKind.FLOAT_LIST, (0.5,), "per-channel mean"))
    qtbot.addWidget(floats)
    assert isinstance(floats, FloatListEditor)
    assert floats.parse("0.485, 0.456 0.406") == (0.485, 0.456, 0.406)
    with pytest.raises(ValueError, match="'x' is not a number"):
        floats.parse("0.4, x")
    path = make_editor(ParamSpec("root", ParamKind.PATH, "", "data folder", path_kind="folder"))
    qtbot.addWidget(path)
    assert isinstance(path, PathEditor) and path.browse.accessibleName() == "Choose root"
    seen = []
    path.edited.connect(seen.append)
    qtbot.keyClicks(path.input_widget, "~/data")
    assert seen[-1] == "~/data"
    text = make_editor(ParamSpec("target", ParamKind.TEXT, "", "column"))
    qtbot.addWidget(text)
    assert isinstance(text, TextEditor)

"""The inspector's Initialisation row: for layers with weights, one undoable command per choice."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel


def _select(window, node_id):
    window.canvas.select_nodes([node_id])
    return window.inspector


def test_a_layer_with_weights_offers_its_initialisation_and_a_choice_is_one_undo_step(example_window, qtbot):
    window = example_window
    graph, stack = window.document.graph, window.document.undo_stack
    inspector = _select(window, "conv1")
    row = inspector.init_row
    assert row is not None and row.isVisible()
    combo = row.editor.combo
    assert combo.currentText() == "PyTorch default"
    assert [combo.itemText(i) for i in range(combo.count())][:3] == [
        "PyTorch default", "Kaiming/He normal", "Kaiming/He uniform"]
    assert "biases to zeros" in row.editor.input_widget.toolTip()

    combo.activated.emit(combo.findText("Kaiming/He normal"))
    assert graph.node("conv1").init == "kaiming_normal"
    assert stack.undo_text() == "Initialise conv1: Kaiming/He normal"
    assert window.document.is_modified
    stack.undo()
    assert graph.node("conv1").init == "default"
    assert inspector.init_row.editor.combo.currentText() == "PyTorch default"  # the form follows the undo
    stack.redo()
    assert inspector.init_row.editor.combo.currentText() == "Kaiming/He normal"


def test_layers_without_weights_do_not_offer_an_initialisation(example_window):
    window = example_window
    inspector = _select(window, "relu1")
    assert inspector.init_row is None or not inspector.init_row.isVisible()
    inspector = _select(window, "image")
    assert inspector.init_row is None
    assert not [label for label in inspector.findChildren(QLabel) if label.text() == "initialisation"
                and label.isVisible()]

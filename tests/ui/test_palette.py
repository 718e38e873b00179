"""The layer palette: every layer listed with icon and help, search, drag payload, drop and Enter."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from nnstudio.core.catalog import CATALOG
from nnstudio.ui.canvas_interactions import MIME_LAYER
from nnstudio.ui.palette import LayerPalette


def test_every_catalog_layer_is_listed_under_its_category_with_icon_and_help(qtbot):
    palette = LayerPalette()
    qtbot.addWidget(palette)
    assert palette.visible_type_ids() == [spec.type_id for specs in CATALOG.categories().values()
                                          for spec in specs]
    tree = palette.tree
    assert [tree.topLevelItem(i).text(0) for i in range(tree.topLevelItemCount())] == list(CATALOG.categories())
    for spec in CATALOG:
        item = palette.item_for(spec.type_id)
        assert item.parent().text(0) == spec.category
        assert not item.icon(0).isNull()
        assert spec.help.split()[0] in item.toolTip(0)


def test_search_keeps_only_matching_layers_and_hides_empty_categories(qtbot):
    palette = LayerPalette()
    qtbot.addWidget(palette)
    qtbot.keyClicks(palette.search, "conv")
    assert palette.visible_type_ids() == ["conv1d", "conv2d", "conv_transpose2d"]
    hidden = [palette.tree.topLevelItem(i).text(0) for i in range(palette.tree.topLevelItemCount())
              if palette.tree.topLevelItem(i).isHidden()]
    assert "Activation" in hidden and "Convolution" not in hidden
    palette.search.setText("squashes")  # words from the help text match too
    assert palette.visible_type_ids() == ["sigmoid", "tanh"]
    palette.search.setText("no such layer")
    assert palette.visible_type_ids() == []
    palette.search.clear()
    assert len(palette.visible_type_ids()) == len(CATALOG)


def test_a_drag_carries_the_layer_type_under_the_layer_mime_type(qtbot):
    palette = LayerPalette()
    qtbot.addWidget(palette)
    mime = palette.tree.mimeData([palette.item_for("conv2d")])
    assert bytes(mime.data(MIME_LAYER).data()).decode() == "conv2d"
    assert palette.tree.mimeData([palette.tree.topLevelItem(0)]).formats() == []  # categories do not drag


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Qt 6 keeps only the QPoint drag constructors
def test_dropping_a_palette_drag_on_the_canvas_adds_the_layer_there(example_window):
    window = example_window
    mime = window.palette_panel.tree.mimeData([window.palette_panel.item_for("dropout")])
    viewport = window.canvas.viewport()
    before = set(window.document.graph.node_ids())
    point = QPoint(viewport.width() // 3, viewport.height() // 3)
    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    enter = QDragEnterEvent(point, *args)
    QApplication.sendEvent(viewport, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(viewport, QDragMoveEvent(point, *args))
    QApplication.sendEvent(viewport, QDropEvent(QPointF(point), *args))
    added = set(window.document.graph.node_ids()) - before
    assert len(added) == 1
    node = window.document.graph.node(added.pop())
    assert node.type_id == "dropout"
    expected = window.canvas.mapToScene(point)
    assert abs(node.position[0] - expected.x()) < 200 and abs(node.position[1] - expected.y()) < 200


def test_enter_in_the_search_box_adds_the_first_match_at_the_view_centre(example_window, qtbot):
    window = example_window
    panel = window.palette_panel
    qtbot.keyClicks(panel.search, "gelu")
    qtbot.keyClick(panel.search, Qt.Key.Key_Return)
    assert [n.type_id for n in window.document.graph.nodes()].count("gelu") == 1
    window.document.undo_stack.undo()
    assert not window.document.graph.nodes_of_type("gelu")


def test_enter_on_a_list_entry_adds_that_layer(example_window, qtbot):
    window = example_window
    tree = window.palette_panel.tree
    tree.setCurrentItem(window.palette_panel.item_for("layer_norm"))
    tree.setFocus()
    qtbot.keyClick(tree, Qt.Key.Key_Return)
    assert len(window.document.graph.nodes_of_type("layer_norm")) == 1

"""Finding things in a large network: the find field, going to a layer, and the overview."""

from __future__ import annotations

import pytest
from nested_graphs import residual_network
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from nnstudio.core.commands import UndoStack
from nnstudio.ui.canvas import CanvasView

LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def canvas(qtbot):
    view = CanvasView()
    qtbot.addWidget(view)
    view.resize(900, 700)
    view.show()
    qtbot.waitExposed(view)
    view.set_document(residual_network(), UndoStack())
    view.reset_zoom()
    return view


def _in_middle(view: CanvasView, key: str) -> bool:
    item = view.canvas_scene.item_for(key)
    centre = view.mapFromScene(item.sceneBoundingRect().center())
    middle = view.viewport().rect().center()
    return abs(centre.x() - middle.x()) < 30 and abs(centre.y() - middle.y()) < 30


def test_find_opens_the_blocks_on_the_way_selects_and_centres_the_layer(canvas, qtbot):
    canvas.show_search()
    search = canvas.search
    assert search.isVisible() and search.hasFocus()
    names = search.completer().model().stringList()
    assert "stage1.0.conv2" in names and "stage1.0" in names  # layers and blocks complete
    QTest.keyClicks(search, "conv2")
    QTest.keyClick(search, Qt.Key.Key_Return)
    assert canvas.blocks.expanded == {"stage1", "stage1.0"}
    assert canvas.selected_node_ids() == ["stage1.0.conv2"]
    assert _in_middle(canvas, "stage1.0.conv2")
    assert search.count_label.text() == "1 of 2"
    QTest.keyClick(search, Qt.Key.Key_Return)  # Enter again: the next match
    assert canvas.selected_node_ids() == ["stage1.1.conv2"]
    assert "stage1.1" in canvas.blocks.expanded and _in_middle(canvas, "stage1.1.conv2")
    assert search.count_label.text() == "2 of 2"
    QTest.keyClick(search, Qt.Key.Key_Escape)
    assert not search.isVisible()


def test_find_goes_to_a_block_as_a_closed_card(canvas):
    canvas.blocks.expand_all()
    assert canvas.search.go_to("stage1.1")
    assert "stage1.1" in canvas.canvas_scene.block_items and "stage1" in canvas.blocks.expanded
    assert canvas.selected_blocks() == ["stage1.1"] and _in_middle(canvas, "stage1.1")


def test_find_steps_out_of_a_block_to_reach_a_layer_outside_it(canvas):
    canvas.blocks.step_into("stage1")
    canvas.show_search()
    canvas.search.setText("head.fc")
    assert canvas.search.next_match() == "head.fc"
    assert canvas.blocks.scope == "" and canvas.selected_node_ids() == ["head.fc"]
    assert not canvas.breadcrumbs.isVisible()


def test_find_with_no_match_says_so_and_changes_nothing(canvas):
    canvas.show_search()
    canvas.search.setText("nothing like this")
    assert canvas.search.next_match() is None
    assert canvas.search.count_label.text() == "no match"
    assert canvas.blocks.expanded == set() and canvas.selected_node_ids() == []


def test_going_to_a_layer_inside_closed_blocks_opens_them(canvas):
    assert canvas.go_to("stage1.1.relu")
    assert canvas.blocks.expanded == {"stage1", "stage1.1"}
    assert canvas.selected_node_ids() == ["stage1.1.relu"] and _in_middle(canvas, "stage1.1.relu")


def test_the_overview_shows_when_the_network_does_not_fit_and_tracks_the_view(canvas, qtbot):
    overview = canvas.overview
    canvas.fit_to_view()
    assert not overview.isVisible()  # everything is in view: nothing to find
    canvas.blocks.expand_all()
    canvas.reset_zoom()
    canvas.centerOn(canvas.canvas_scene.content_rect().center().x(), canvas.canvas_scene.content_rect().top())
    assert overview.isVisible()
    top = overview.visible_rect()
    bar = canvas.verticalScrollBar()
    bar.setValue(bar.value() + 400)
    lower = overview.visible_rect()
    assert lower.top() > top.top() and abs(lower.height() - top.height()) < 1
    assert abs((lower.top() - top.top()) - 400 * overview._scale) < 2  # the rectangle moves with the view
    # A click in the overview brings that part of the network into the middle of the view.
    target = QPointF(overview.width() / 2, overview.height() - 20)
    QTest.mouseClick(overview, LEFT, Qt.KeyboardModifier.NoModifier, target.toPoint())
    wanted = overview.to_scene(target)
    shown = canvas.mapToScene(canvas.viewport().rect().center())
    assert abs(shown.y() - wanted.y()) < 3 / overview._scale
    assert overview.visible_rect().contains(QPointF(target))


def test_the_overview_redraws_the_network_when_its_items_change(canvas):
    canvas.blocks.expand_all()
    canvas.reset_zoom()
    canvas.overview.visible_rect()
    tall = canvas.overview._content
    assert tall == canvas.canvas_scene.content_rect()
    canvas.blocks.collapse_all()
    canvas.overview.visible_rect()
    short = canvas.overview._content
    assert short == canvas.canvas_scene.content_rect() and short.height() < tall.height() / 2


def test_the_search_field_and_overview_stay_at_their_corners_when_the_canvas_is_resized(canvas, qtbot):
    canvas.show_search()
    canvas.resize(700, 500)
    qtbot.wait(1)
    viewport = canvas.viewport().geometry()
    assert canvas.search.geometry().right() <= viewport.right()
    assert canvas.search.geometry().top() >= viewport.top()
    canvas.overview.place()
    assert canvas.overview.geometry().bottom() <= viewport.bottom()
    assert QPoint(canvas.overview.x(), 0).x() > viewport.width() // 2

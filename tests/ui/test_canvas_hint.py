"""The empty canvas's "Drag layers here from the palette" hint belongs to an empty canvas only."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QMimeData, QObject, QPoint, QPointF, Qt
from PySide6.QtGui import QDropEvent, QRegion

from nnstudio.core.commands import UndoStack
from nnstudio.core.graph import Graph
from nnstudio.ui.canvas import CanvasView
from nnstudio.ui.canvas_interactions import MIME_LAYER


class PaintedRegion(QObject):
    """Collects the regions of the paint events a widget receives."""

    def __init__(self) -> None:
        super().__init__()
        self.region = QRegion()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Paint:
            self.region = self.region.united(event.region())
        return False


@pytest.fixture
def empty_canvas(qtbot):
    view = CanvasView()
    qtbot.addWidget(view)
    view.resize(900, 700)
    view.set_document(Graph(), UndoStack())
    view.show()
    qtbot.waitExposed(view)
    return view


def _drop(view: CanvasView, type_id: str, at: QPoint) -> None:
    mime = QMimeData()
    mime.setData(MIME_LAYER, type_id.encode("utf-8"))
    event = QDropEvent(QPointF(at), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    view.dropEvent(event)
    assert event.isAccepted()


def _hint_area_repainted(qtbot, view: CanvasView, change) -> None:
    """Run ``change`` and wait until the viewport's centre (where the hint is drawn) is repainted."""
    painted = PaintedRegion()
    view.viewport().installEventFilter(painted)
    try:
        change()
        centre = view.viewport().rect().center()
        # A stale hint is what the person sees when the centre is not painted again after the change.
        qtbot.waitUntil(lambda: painted.region.contains(centre), timeout=2000)
    finally:
        view.viewport().removeEventFilter(painted)


def test_the_hint_is_repainted_away_when_the_first_layer_is_dropped_far_from_it(qtbot, empty_canvas):
    view = empty_canvas
    assert view.viewport().rect().width() > 600
    _hint_area_repainted(qtbot, view, lambda: _drop(view, "linear", QPoint(90, 80)))
    assert view.canvas_scene.node_items  # and drawForeground skips the hint while layers are shown


def test_the_hint_comes_back_when_the_last_layer_is_undone(qtbot, empty_canvas):
    view = empty_canvas
    _drop(view, "linear", QPoint(90, 80))
    qtbot.wait(50)
    _hint_area_repainted(qtbot, view, view.edits.undo_stack.undo)
    assert not view.canvas_scene.node_items

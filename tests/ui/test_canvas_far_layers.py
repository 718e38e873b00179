"""Layers far from the origin (as far as a project file may put them) open, scroll and paint normally."""

from __future__ import annotations

import json

from PySide6.QtCore import QRectF
from PySide6.QtGui import QImage, QPainter

from nnstudio.core.graph import POSITION_LIMIT


class _CountingPainter:
    """Forwards to a QPainter and counts the grid lines drawn."""

    def __init__(self, painter):
        self._painter = painter
        self.lines = 0

    def drawLine(self, *args):  # noqa: N802 - the QPainter method it stands for
        self.lines += 1
        self._painter.drawLine(*args)

    def __getattr__(self, name):
        return getattr(self._painter, name)


def test_layers_at_the_edge_of_the_canvas_open_and_paint(window, tmp_path):
    nodes = [{"id": "near", "type": "relu", "position": [0.0, 0.0]},
             {"id": "east", "type": "relu", "position": [POSITION_LIMIT, POSITION_LIMIT]},
             {"id": "west", "type": "relu", "position": [-POSITION_LIMIT, -POSITION_LIMIT]}]
    path = tmp_path / "far.nns"
    path.write_text(json.dumps({"format": "nnstudio-project", "version": 2, "nodes": nodes, "edges": []}))
    assert window.files.open_path(path)
    for node_id in ("east", "near", "west"):
        window.canvas.center_on_node(node_id)
        assert not window.canvas.grab().isNull()


def test_the_grid_costs_one_viewport_whatever_area_qt_asks_for(window):
    """After a long scroll Qt asks for the union of the old and new view (2e8 tall for the far layers)."""
    window.canvas.centerOn(0, 0)
    scene = window.canvas.canvas_scene
    image = QImage(64, 64, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        counting = _CountingPainter(painter)
        scene.drawBackground(counting, QRectF(-500, -1e6, 1000, 2e6))
    finally:
        painter.end()
    assert 0 < counting.lines < 1000

"""Canvas speed on a 500-layer network: open + first paint, and the frame time while panning.

The peer is the same picture built the naive way in the same run: the grid drawn line by line on
every paint, one QGraphicsRectItem per card, QGraphicsSimpleTextItems for its three lines and each
wire label, a QGraphicsPathItem per wire, no item or background caching. Every timed frame repaints
the whole viewport of either view (checked by counting paint events). Both are measured in
interleaved repeats; medians are reported with the ratio peer / nnstudio (above 1.0: canvas faster).

Run:  .venv/bin/python benchmarks/bench_canvas.py  [--repeats N]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEvent, QObject, QPointF, QRectF  # noqa: E402
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen  # noqa: E402
from PySide6.QtWidgets import (  # noqa: E402
    QApplication,
    QGraphicsPathItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
)

from nnstudio.core.commands import UndoStack  # noqa: E402
from nnstudio.core.graph import Graph  # noqa: E402
from nnstudio.core.layout import layered_layout  # noqa: E402

VIEW_SIZE = (1280, 800)
PAN_STEP = 12  # pixels per frame, a brisk drag
PAN_FRAMES = 60


def residual_network(blocks: int) -> Graph:
    """Input, ``blocks`` residual blocks of 7 layers each, then flatten, linear and output."""
    nodes = [{"id": "image", "type": "input", "params": {"shape": [16, 8, 8]}}]
    edges = []
    previous = "image"
    for b in range(blocks):
        ids = [f"conv{b}a", f"bn{b}a", f"relu{b}a", f"conv{b}b", f"bn{b}b", f"add{b}", f"relu{b}b"]
        types = ["conv2d", "batch_norm2d", "relu", "conv2d", "batch_norm2d", "add", "relu"]
        for node_id, type_id in zip(ids, types):
            params = {"out_channels": 16, "kernel_size": 3, "padding": 1} if type_id == "conv2d" else {}
            nodes.append({"id": node_id, "type": type_id, "params": params})
        chain = [previous, *ids[:5]]
        edges += [{"source": a, "target": b_, "port": "in", "index": 0} for a, b_ in zip(chain, chain[1:])]
        edges.append({"source": ids[4], "target": ids[5], "port": "in", "index": 0})
        edges.append({"source": previous, "target": ids[5], "port": "in", "index": 1})
        edges.append({"source": ids[5], "target": ids[6], "port": "in", "index": 0})
        previous = ids[6]
    nodes += [{"id": "flat", "type": "flatten"}, {"id": "head", "type": "linear", "params": {"out_features": 10}},
              {"id": "result", "type": "output"}]
    edges += [{"source": previous, "target": "flat"}, {"source": "flat", "target": "head"},
              {"source": "head", "target": "result"}]
    graph = Graph.from_records(nodes, edges)
    for node_id, position in layered_layout(graph).items():
        graph.node(node_id).position = position
    return graph


class NaiveScene(QGraphicsScene):
    """The peer's scene: the same 20/100 px grid, drawn line by line on every paint (no cache)."""

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802 - Qt override
        painter.fillRect(rect, QColor("#f3f4f6"))
        step = 20.0 if painter.worldTransform().m11() >= 0.6 else 100.0
        painter.setPen(QPen(QColor(0, 0, 0, 16), 0))
        x = math.floor(rect.left() / step) * step
        while x <= rect.right():
            painter.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
            x += step
        y = math.floor(rect.top() / step) * step
        while y <= rect.bottom():
            painter.drawLine(QPointF(rect.left(), y), QPointF(rect.right(), y))
            y += step


class NaiveCanvas(QGraphicsView):
    """The peer: the same grid, cards, texts and wires as plain items, nothing cached."""

    def __init__(self, graph: Graph, analysis: object) -> None:
        super().__init__()
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setScene(NaiveScene(self))
        self._graph, self._analysis = graph, analysis

    def build(self) -> None:
        scene = self.scene()
        card_pen = QPen(QColor("#c0c0c0"))
        for node in self._graph.nodes():
            x, y = node.position
            rect = QGraphicsRectItem(QRectF(0, 0, 150, 62))
            rect.setPos(x, y)
            rect.setPen(card_pen)
            rect.setBrush(QColor("white"))
            rect.setFlags(QGraphicsRectItem.GraphicsItemFlag.ItemIsSelectable
                          | QGraphicsRectItem.GraphicsItemFlag.ItemIsMovable)
            scene.addItem(rect)
            result = self._analysis.nodes.get(node.id)
            for row, text in enumerate((node.id, node.spec.title, str(result.output_shape if result else ""))):
                label = QGraphicsSimpleTextItem(text, rect)
                label.setPos(10, 4 + row * 18)
        for edge in self._graph.edges():
            (sx, sy), (tx, ty) = self._graph.node(edge.source).position, self._graph.node(edge.target).position
            start, end = QPointF(sx + 75, sy + 62), QPointF(tx + 75, ty)
            path = QPainterPath(start)
            pull = max(30.0, (end.y() - start.y()) / 2)
            path.cubicTo(start + QPointF(0, pull), end - QPointF(0, pull), end)
            scene.addItem(QGraphicsPathItem(path))
            label = QGraphicsSimpleTextItem(str(self._analysis.edge_shapes.get(edge, "")))
            label.setPos(path.pointAtPercent(0.5) + QPointF(6, -6))
            scene.addItem(label)


class PaintCounter(QObject):
    """Counts the viewport's paint events, to prove that every timed frame really painted."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Paint:
            self.count += 1
        return False


def open_and_paint(make_view, app: QApplication) -> tuple[float, QGraphicsView, PaintCounter]:
    """Seconds from building the view's items to the end of its first complete paint."""
    counter = PaintCounter()
    start = time.perf_counter()
    view = make_view()
    view.viewport().installEventFilter(counter)
    view.resize(*VIEW_SIZE)
    view.show()
    app.processEvents()  # the window is exposed and painted for the first time here
    if not counter.count:
        view.viewport().repaint()
    seconds = time.perf_counter() - start
    if not counter.count:
        raise RuntimeError("the view never painted: the measurement would be meaningless")
    return seconds, view, counter


def pan_frames(view: QGraphicsView, zoom: float, counter: PaintCounter) -> list[float]:
    """Milliseconds per frame while panning down: scroll one step, repaint the whole viewport."""
    view.resetTransform()
    view.scale(zoom, zoom)
    bar = view.verticalScrollBar()
    bar.setValue(bar.minimum() + (bar.maximum() - bar.minimum()) // 3)
    view.viewport().repaint()  # warm caches at this zoom, as the first frame of a real drag would
    frames = []
    painted_before = counter.count
    for _ in range(PAN_FRAMES):
        start = time.perf_counter()
        bar.setValue(bar.value() + PAN_STEP)
        view.viewport().repaint()
        frames.append((time.perf_counter() - start) * 1000)
    if counter.count < painted_before + PAN_FRAMES:
        raise RuntimeError("a pan frame did not paint: the measurement would be meaningless")
    return frames


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])

    from nnstudio.compile.analysis import analyze
    from nnstudio.ui.canvas import CanvasView

    graph = residual_network(71)
    analysis = analyze(graph)
    print(f"network: {len(graph)} layers, {len(graph.edges())} wires; view {VIEW_SIZE[0]}x{VIEW_SIZE[1]}")

    def make_canvas() -> CanvasView:
        view = CanvasView()
        view.set_document(graph, UndoStack())
        view.set_analysis(analysis)
        return view

    def make_naive() -> NaiveCanvas:
        view = NaiveCanvas(graph, analysis)
        view.build()
        return view

    results: dict[str, dict[str, list[float]]] = {"nnstudio": {}, "naive": {}}
    for _ in range(args.repeats):
        for name, make in (("nnstudio", make_canvas), ("naive", make_naive)):
            seconds, view, counter = open_and_paint(make, app)
            results[name].setdefault("open", []).append(seconds * 1000)
            for zoom in (1.0, 0.35):
                results[name].setdefault(f"pan@{zoom:g}", []).extend(pan_frames(view, zoom, counter))
            view.close()
            view.deleteLater()
            app.processEvents()

    print(f"{'measure':<28}{'nnstudio':>12}{'naive peer':>12}{'peer/nnstudio':>15}")
    for key, title in (("open", "open + first paint (ms)"), ("pan@1", "pan frame @100% (ms, median)"),
                       ("pan@0.35", "pan frame @35% (ms, median)")):
        ours, peer = statistics.median(results["nnstudio"][key]), statistics.median(results["naive"][key])
        print(f"{title:<28}{ours:>12.2f}{peer:>12.2f}{peer / ours:>14.2f}x")
    for key in ("pan@1", "pan@0.35"):
        frames = sorted(results["nnstudio"][key])
        p95 = frames[int(len(frames) * 0.95) - 1]
        print(f"nnstudio {key}: p95 {p95:.2f} ms, max {frames[-1]:.2f} ms (target: under 16 ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""An imported torchvision ResNet-152 on the canvas: open + first paint, panning closed and fully open,
opening every block, and one parameter edit until the shapes are current.

The model is imported once (``import_model("torchvision.models:resnet152")``, weights=None: trace,
graph, shape inference, layout; not timed here, see bench_import.py). Then, in interleaved repeats:

* open + first paint: ``CanvasView.set_document`` + ``set_analysis`` + show until the viewport has
  painted once, every block closed (as File > Import opens it). Peer: bench_canvas's naive canvas
  (plain, uncached items, one card per layer) drawing the same layers flat, laid out by
  ``core.layout`` beforehand (not timed): what a tool without blocks shows.
* pan frames at 100% and 35% zoom, every block closed and every block open (``expand_all``): scroll
  12 px and repaint the whole viewport, 60 frames each. Peer: the naive flat canvas panned the same way.
* open all: ``expand_all`` until the next paint (the outline, the block layout of every block, the
  new cards and frames), against the peer's open + first paint of the flat picture.
* edit -> shapes: ``SetParam`` on ``fc.out_features`` (a value never seen before each time) plus the
  editor's incremental ``ShapeInference.analyze``; peer: a from-scratch analysis of the same graph.

Run:  .venv/bin/python benchmarks/bench_big_graph.py  [--repeats N] [--model resnet152]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_canvas import PAN_FRAMES, PAN_STEP, VIEW_SIZE, NaiveCanvas, PaintCounter, open_and_paint  # noqa: E402
from PySide6.QtWidgets import QApplication, QGraphicsView  # noqa: E402

from nnstudio.core.commands import SetParam, UndoStack  # noqa: E402
from nnstudio.core.layout import layered_layout  # noqa: E402

TARGETS_MS = {"open": 1000.0, "pan": 16.0, "edit": 30.0}


def pan_frames(view: QGraphicsView, zoom: float, counter: PaintCounter) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds per frame while panning down (as bench_canvas.pan_frames): on a
    machine shared with other jobs a frame's wall time is mostly waiting for a core."""
    view.resetTransform()
    view.scale(zoom, zoom)
    bar = view.verticalScrollBar()
    bar.setValue(bar.minimum() + (bar.maximum() - bar.minimum()) // 3)
    view.viewport().repaint()  # warm caches at this zoom, as the first frame of a real drag would
    wall, cpu = [], []
    painted_before = counter.count
    for _ in range(PAN_FRAMES):
        start, start_cpu = time.perf_counter(), time.process_time()
        bar.setValue(bar.value() + PAN_STEP)
        view.viewport().repaint()
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    if counter.count < painted_before + PAN_FRAMES:
        raise RuntimeError("a pan frame did not paint: the measurement would be meaningless")
    return wall, cpu


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * share) - 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model", default="resnet152", help="a torchvision.models builder (default resnet152)")
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])

    from nnstudio.compile import ShapeInference
    from nnstudio.train.model_import import import_model
    from nnstudio.ui.canvas import CanvasView

    start = time.perf_counter()
    imported = import_model(f"torchvision.models:{args.model}")
    graph, settings, analysis = imported.project.graph, imported.project.settings, imported.analysis
    print(f"{args.model}: {len(graph)} layers, {len(graph.edges())} wires; imported in "
          f"{time.perf_counter() - start:.1f} s; view {VIEW_SIZE[0]}x{VIEW_SIZE[1]}")
    flat = graph.copy()
    for node_id, position in layered_layout(flat).items():
        flat.node(node_id).position = position

    def make_canvas() -> CanvasView:
        view = CanvasView()
        view.set_document(graph, UndoStack())
        view.set_analysis(analysis)
        return view

    def make_naive() -> NaiveCanvas:
        view = NaiveCanvas(flat, analysis)
        view.build()
        return view

    ours: dict[str, list[float]] = {}
    peer: dict[str, list[float]] = {}
    blocks = 0
    for _ in range(args.repeats):
        seconds, view, counter = open_and_paint(make_canvas, app)
        ours.setdefault("open", []).append(seconds * 1000)
        for zoom in (1.0, 0.35):
            wall, cpu = pan_frames(view, zoom, counter)
            ours.setdefault(f"closed@{zoom:g}", []).extend(wall)
            ours.setdefault(f"closed@{zoom:g} CPU", []).extend(cpu)
        view.resetTransform()
        painted = counter.count
        start = time.perf_counter()
        view.blocks.expand_all()
        app.processEvents()
        if counter.count == painted:
            view.viewport().repaint()
        ours.setdefault("expand", []).append((time.perf_counter() - start) * 1000)
        blocks = len(view.blocks.expanded)
        for zoom in (1.0, 0.35):
            wall, cpu = pan_frames(view, zoom, counter)
            ours.setdefault(f"open@{zoom:g}", []).extend(wall)
            ours.setdefault(f"open@{zoom:g} CPU", []).extend(cpu)
        view.close()
        view.deleteLater()
        app.processEvents()

        seconds, naive, counter = open_and_paint(make_naive, app)
        peer.setdefault("open", []).append(seconds * 1000)
        for zoom in (1.0, 0.35):
            wall, cpu = pan_frames(naive, zoom, counter)
            for state in ("closed", "open"):
                peer.setdefault(f"{state}@{zoom:g}", []).extend(wall)
                peer.setdefault(f"{state}@{zoom:g} CPU", []).extend(cpu)
        naive.close()
        naive.deleteLater()
        app.processEvents()
    peer["expand"] = peer["open"]

    # One parameter edit until the shapes are current, against a from-scratch analysis.
    editor = ShapeInference()
    editor.analyze(graph, settings)  # the window analysed the graph when it opened
    for i in range(max(10, 6 * args.repeats)):
        command = SetParam(graph, "fc", "out_features", 500 + i)
        start, cpu = time.perf_counter(), time.process_time()
        command.redo()
        editor.analyze(graph, settings)
        ours.setdefault("edit", []).append((time.perf_counter() - start) * 1000)
        ours.setdefault("edit CPU", []).append((time.process_time() - cpu) * 1000)
        start, cpu = time.perf_counter(), time.process_time()
        ShapeInference().analyze(graph, settings)
        peer.setdefault("edit", []).append((time.perf_counter() - start) * 1000)
        peer.setdefault("edit CPU", []).append((time.process_time() - cpu) * 1000)

    print(f"{'measure (ms, median)':<40}{'nnstudio':>10}{'peer':>10}{'peer/nnstudio':>15}")
    rows = (("open", "open + first paint, blocks closed"),
            ("closed@1", "pan frame @100%, blocks closed"), ("closed@1 CPU", "  the same, CPU time"),
            ("closed@0.35", "pan frame @35%, blocks closed"), ("closed@0.35 CPU", "  the same, CPU time"),
            ("expand", f"open all {blocks} blocks until painted"),
            ("open@1", "pan frame @100%, every block open"), ("open@1 CPU", "  the same, CPU time"),
            ("open@0.35", "pan frame @35%, every block open"), ("open@0.35 CPU", "  the same, CPU time"),
            ("edit", "fc.out_features edit -> shapes"), ("edit CPU", "  the same, this process's CPU time"))
    for key, title in rows:
        a, b = statistics.median(ours[key]), statistics.median(peer[key])
        print(f"{title:<40}{a:>10.2f}{b:>10.2f}{b / a:>14.2f}x")
    # On a machine shared with other jobs the wall time is mostly waiting for a core; the CPU time is
    # what the edit costs.
    print("peer: the flat naive canvas (open, pan; 'open all' against its open + first paint), "
          "a from-scratch analysis (edit)")
    for key in ("closed@1", "closed@0.35", "open@1", "open@0.35"):
        print(f"nnstudio {key}: p95 {percentile(ours[key], 0.95):.2f} ms, max {max(ours[key]):.2f} ms "
              f"(CPU p95 {percentile(ours[key + ' CPU'], 0.95):.2f} ms)")
    verdicts = {"open + first paint <= 1 s": statistics.median(ours["open"]) <= TARGETS_MS["open"],
                "pan frame <= 16 ms (medians, closed and open)": all(
                    statistics.median(ours[k]) <= TARGETS_MS["pan"] for k in ("closed@1", "closed@0.35",
                                                                               "open@1", "open@0.35")),
                "edit -> shapes <= 30 ms median (wall)": statistics.median(ours["edit"]) <= TARGETS_MS["edit"]}
    for target, met in verdicts.items():
        print(f"target {target}: {'met' if met else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

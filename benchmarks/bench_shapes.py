"""Edit -> shapes: one parameter change on a 200-layer network until every shape is current.

Measured: the undoable SetParam plus ``ShapeInference.analyze`` (structure checks, incremental
shape/parameter/FLOP inference on meta tensors, lints), as the editor runs after each change.
The peer, measured in the same run with interleaved repeats, is a from-scratch analysis of the
same edited graph (a fresh ShapeInference, no cache). Every edit uses a value never seen before,
so the cache cannot answer the edited node from an earlier repeat.

Two networks:
  * typical: 100 x (Linear -> ReLU); the edit changes one Linear's out_features in the middle.
    Only that Linear, its ReLU and the next Linear see new inputs; the rest reuse cached results.
  * worst case: 100 x (Conv2d 3x3 pad 1 -> ReLU); the edit changes the Input's height, which every
    layer downstream sees, so all 200 layers are inferred again.

Both wall time and this process's CPU time are printed: on a machine shared with other jobs the
wall time is mostly waiting for a core, while the CPU time is what an edit costs.

Run:  .venv/bin/python benchmarks/bench_shapes.py  [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from nnstudio.compile import ShapeInference
from nnstudio.core.commands import SetParam
from nnstudio.core.graph import Graph
from nnstudio.core.settings import DatasetSettings, TrainingSettings

TARGET_MS = 30.0
# Settings the networks fit, so the lints (data-fit rule included) run and find nothing: 64 features and
# 131 classes for the Linear chain; a CSV (shape and classes known only once read) for the conv chain.
TYPICAL_SETTINGS = TrainingSettings(dataset=DatasetSettings(kind="blobs", options={"features": 64, "classes": 131}))
WORST_SETTINGS = TrainingSettings(loss="mse", dataset=DatasetSettings(kind="csv", options={"path": "unread.csv"}))


def layer_chain(pairs: int, layer: Callable[[int], tuple[str, dict]], shape: list[int]) -> Graph:
    """Input -> ``pairs`` x (layer(i) -> ReLU) -> Output: ``2 * pairs`` layers."""
    nodes = [{"id": "x_in", "type": "input", "params": {"shape": shape}}]
    edges = []
    previous = "x_in"
    for i in range(pairs):
        type_id, params = layer(i)
        nodes += [{"id": f"layer{i}", "type": type_id, "params": params},
                  {"id": f"act{i}", "type": "relu", "params": {}}]
        edges += [{"source": previous, "target": f"layer{i}"}, {"source": f"layer{i}", "target": f"act{i}"}]
        previous = f"act{i}"
    nodes.append({"id": "out", "type": "output", "params": {}})
    edges.append({"source": previous, "target": "out"})
    return Graph.from_records(nodes, edges)


Times = dict[str, list[float]]


def measure(graph: Graph, edit: Callable[[int], SetParam], repeats: int,
            settings: TrainingSettings) -> tuple[Times, Times, int]:
    """Return incremental and from-scratch times (ms, ``wall`` and ``cpu``) over interleaved repeats,
    and the number of nodes re-inferred by an edit."""
    editor = ShapeInference()
    editor.analyze(graph, settings)  # the editor has analysed the graph before the person edits it
    incremental: Times = {"wall": [], "cpu": []}
    scratch: Times = {"wall": [], "cpu": []}
    recomputed = 0
    for i in range(repeats):
        command = edit(i)
        start, cpu = time.perf_counter(), time.process_time()
        command.redo()
        analysis = editor.analyze(graph, settings)
        incremental["wall"].append((time.perf_counter() - start) * 1e3)
        incremental["cpu"].append((time.process_time() - cpu) * 1e3)
        assert analysis.ok, analysis.errors[:1]
        recomputed = len(editor.recomputed)
        start, cpu = time.perf_counter(), time.process_time()
        ShapeInference().analyze(graph, settings)
        scratch["wall"].append((time.perf_counter() - start) * 1e3)
        scratch["cpu"].append((time.process_time() - cpu) * 1e3)
    return incremental, scratch, recomputed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()

    # Every Linear differs (out_features 32 + i), so no two layers can share a cached result.
    typical = layer_chain(100, lambda i: ("linear", {"out_features": 32 + i}), [64])
    # Every conv differs (out_channels 4 + i), so no two layers can share a cached result.
    worst = layer_chain(100, lambda i: ("conv2d", {"out_channels": 4 + i, "kernel_size": 3, "padding": 1}),
                        [8, 16, 16])
    cases = {
        "typical (Linear out_features)": (typical, lambda i: SetParam(typical, "layer50", "out_features", 200 + i),
                                          TYPICAL_SETTINGS),
        "worst case (Input height)": (worst, lambda i: SetParam(worst, "x_in", "shape", [8, 17 + i, 16]),
                                      WORST_SETTINGS),
    }
    print(f"{'case':<32} {'layers':>6} {'re-inferred':>11} {'incremental ms':>15} {'from scratch ms':>16} "
          f"{'speed-up':>8} {'incr. CPU ms':>13} {'scratch CPU ms':>15}")
    failed = False
    for name, (graph, edit, settings) in cases.items():
        incremental, scratch, recomputed = measure(graph, edit, args.repeats, settings)
        inc, full = statistics.median(incremental["wall"]), statistics.median(scratch["wall"])
        inc_cpu, full_cpu = statistics.median(incremental["cpu"]), statistics.median(scratch["cpu"])
        failed |= name.startswith("typical") and inc > TARGET_MS
        print(f"{name:<32} {len(graph) - 2:>6} {recomputed:>11} {inc:>15.2f} {full:>16.2f} {full / inc:>7.1f}x "
              f"{inc_cpu:>13.2f} {full_cpu:>15.2f}")
    print(f"target: typical edit <= {TARGET_MS:.0f} ms median -> {'MISSED' if failed else 'met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Blocks: analysing a network built from a repeated block vs the same network drawn layer by layer.

The block network is Input -> Linear(64) -> block ``Pair`` (Linear(64) -> ReLU) with repeat 100 -> Linear
(10) -> Output: 203 layers once expanded. The peer, in the same run with interleaved repeats, is the
same 203 layers drawn flat (what Ungroup gives). Each repeat makes one undoable edit and re-analyses
with the editor's incremental ShapeInference:

  * ``head``: the last Linear's out_features changes: every other layer comes from the cache;
  * ``input``: the Input's feature count changes: every layer is inferred again.

What the block costs is the expansion of its placement into dotted layers and the reading back of
the results onto the block layer, on every analysis. Wall and CPU times; medians.

Run:  .venv/bin/python benchmarks/bench_blocks.py  [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import time

from nnstudio.compile import ShapeInference
from nnstudio.core.block_edits import MakeBlock, Ungroup
from nnstudio.core.commands import SetParam
from nnstudio.core.graph import Graph

COPIES = 100


def networks() -> tuple[Graph, Graph]:
    nodes = [{"id": "x_in", "type": "input", "params": {"shape": [32]}},
             {"id": "stem", "type": "linear", "params": {"out_features": 64}},
             {"id": "fc", "type": "linear", "params": {"out_features": 64}},
             {"id": "act", "type": "relu", "params": {}},
             {"id": "head", "type": "linear", "params": {"out_features": 10}},
             {"id": "out", "type": "output", "params": {}}]
    wires = [("x_in", "stem"), ("stem", "fc"), ("fc", "act"), ("act", "head"), ("head", "out")]
    edges = [{"source": s, "target": t} for s, t in wires]
    blocks = Graph.from_records(nodes, edges)
    MakeBlock(blocks, ["fc", "act"], "Pair", node_id="stage").redo()
    SetParam(blocks, "stage", "repeat", COPIES).redo()
    flat = Graph.from_records(nodes, edges)
    MakeBlock(flat, ["fc", "act"], "Pair", node_id="stage").redo()
    SetParam(flat, "stage", "repeat", COPIES).redo()
    Ungroup(flat, "stage").redo()
    assert len(flat) == 2 * COPIES + 4
    return blocks, flat


def edit_and_analyse(graph: Graph, inference: ShapeInference, what: str, value: int) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    if what == "head":
        SetParam(graph, "head", "out_features", value).redo()
    else:
        SetParam(graph, "x_in", "shape", [value]).redo()
    analysis = inference.analyze(graph)
    assert analysis.ok, [str(p) for p in analysis.problems]
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    blocks, flat = networks()
    inferences = {"blocks": ShapeInference(), "flat": ShapeInference()}
    for name, graph in (("blocks", blocks), ("flat", flat)):
        inferences[name].analyze(graph)  # warm the caches, as an open editor has them
    print(f"{len(flat)} layers; a block repeated {COPIES} times vs the same layers drawn flat; "
          f"{args.repeats} repeats, medians")
    print(f"{'edit':<8} {'blocks wall':>12} {'flat wall':>10} {'blocks cpu':>11} {'flat cpu':>9} {'ratio (cpu)':>12}")
    for what in ("head", "input"):
        times: dict[str, list[tuple[float, float]]] = {"blocks": [], "flat": []}
        for i in range(args.repeats):
            value = 11 + i if what == "head" else 33 + i  # values never seen before: no stale cache hit
            for name, graph in (("blocks", blocks), ("flat", flat)):
                times[name].append(edit_and_analyse(graph, inferences[name], what, value))
        wall = {n: statistics.median(t[0] for t in v) for n, v in times.items()}
        cpu = {n: statistics.median(t[1] for t in v) for n, v in times.items()}
        print(f"{what:<8} {wall['blocks']:>10.1f}ms {wall['flat']:>8.1f}ms {cpu['blocks']:>9.1f}ms "
              f"{cpu['flat']:>7.1f}ms {cpu['blocks'] / cpu['flat']:>11.2f}x")


if __name__ == "__main__":
    main()

"""Import of a torchvision model: trace + graph + shape inference + layout, beside building the model itself.

Measured: ``nnstudio.compile.importer.import_module`` on torchvision's ResNet-50 (``weights=None``, eval
mode, input 3x224x224), split into its steps by the progress it reports: tracing with torch.fx (with
each submodule's leaf decision), building the graph (layers, ids, the weights handed over), the
incremental shape/parameter/FLOP analysis on meta tensors, and the nested layout. The peer, in the
same run: ``torchvision.models.resnet50(weights=None)``, the model's own construction (allocating and
initialising 25.6 M parameters), which any import of it has to run first. The first import in a
process is reported apart (it pays one-time costs: loading the rules, first use of the meta kernels);
then the median of ``--repeats`` runs, each on a freshly built model.

Run:  .venv/bin/python benchmarks/bench_import.py  [--model resnet50] [--size 224] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torchvision

from nnstudio.compile.importer import import_module

STEPS = ("trace", "graph", "shapes", "layout")
#: The progress message that starts each step.
STARTS = {"tracing": "trace", "building": "graph", "inferring": "shapes", "laying": "layout", "done": "end"}


def one_import(name: str, size: int) -> tuple[float, dict[str, float], float, int]:
    """(build seconds, seconds per import step, import seconds, layers) for one freshly built model."""
    torch.manual_seed(0)
    start = time.perf_counter()
    model = torchvision.models.get_model(name, weights=None).eval()
    build = time.perf_counter() - start
    marks: list[tuple[str, float]] = []

    def progress(_fraction: float, message: str) -> None:
        word = message.split(" ")[0]
        if word in STARTS:
            marks.append((STARTS[word], time.perf_counter()))

    start = time.perf_counter()
    result = import_module(model, input_shape=(3, size, size), progress=progress, share_weights=True)
    total = time.perf_counter() - start
    assert result.analysis.ok, [p.message for p in result.analysis.errors]
    steps = {step: 0.0 for step in STEPS}
    for (step, begin), (_, end) in zip(marks, marks[1:]):
        if step in steps:
            steps[step] += end - begin
    steps["trace"] += marks[0][1] - start
    return build, steps, total, len(result.project.graph)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    first = one_import(args.model, args.size)
    runs = [one_import(args.model, args.size) for _ in range(args.repeats)]
    build = statistics.median(r[0] for r in runs)
    total = statistics.median(r[2] for r in runs)
    print(f"{args.model} at {args.size}x{args.size}: {first[3]} layers")
    print(f"{'':24} {'first':>8} {'median':>8} {'min':>8} {'max':>8}")
    for step in STEPS:
        values = [r[1][step] for r in runs]
        print(f"{'  ' + step:24} {first[1][step]:8.3f} {statistics.median(values):8.3f} {min(values):8.3f} "
              f"{max(values):8.3f}")
    totals = [r[2] for r in runs]
    print(f"{'import (s)':24} {first[2]:8.3f} {total:8.3f} {min(totals):8.3f} {max(totals):8.3f}")
    builds = [r[0] for r in runs]
    print(f"{'build the model (s)':24} {first[0]:8.3f} {build:8.3f} {min(builds):8.3f} {max(builds):8.3f}")
    print(f"ratio import / build: {total / build:.2f}x (first import {first[2] / first[0]:.2f}x); "
          f"target: import <= 1.5 s -> {'met' if max(first[2], total) <= 1.5 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

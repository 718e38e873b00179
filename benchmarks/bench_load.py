"""Project loading: a long chain of layers listed in reverse, loaded against ``json.loads`` of the same file.

A chain Input -> ReLU x N -> Output written with its nodes and wires in reverse order (the order
that made loading quadratic: each wire was checked for a cycle by a path search over the part
already built). Measured: ``loads_project`` (parse, migrate, check numbers, validate, build the
graph) on the file's text; the peer, in the same run and interleaved, is ``json.loads`` of the same
text, the least any loader must do (both without the cyclic garbage collector, which the loader
pauses). The ratio load / parse should stay flat as N grows: loading is linear in the file.

Run:  .venv/bin/python benchmarks/bench_load.py  [--sizes 10000,40000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time

from nnstudio.core.project import VERSION, loads_project


def reversed_chain(layers: int) -> str:
    """The text of a project holding Input -> ReLU x ``layers`` -> Output, nodes and wires reversed."""
    ids = ["image", *(f"relu{i}" for i in range(1, layers + 1)), "out"]
    nodes = [{"id": "image", "type": "input", "position": [0.0, 0.0], "params": {"shape": [8]}}]
    nodes += [{"id": node_id, "type": "relu", "position": [0.0, 90.0 * i], "params": {}}
              for i, node_id in enumerate(ids[1:-1], start=1)]
    nodes.append({"id": "out", "type": "output", "position": [0.0, 90.0 * len(ids)], "params": {}})
    edges = [{"source": a, "target": b, "port": "in", "index": 0} for a, b in zip(ids, ids[1:])]
    document = {"format": "nnstudio-project", "version": VERSION, "name": f"chain-{layers}",
                "nodes": nodes[::-1], "edges": edges[::-1], "training": {}}
    return json.dumps(document)


def measure(text: str, repeats: int) -> tuple[float, float]:
    """Median seconds of ``loads_project`` and of ``json.loads`` over interleaved repeats."""
    load, parse = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        project = loads_project(text)
        load.append(time.perf_counter() - start)
        gc.disable()  # as the loader does: both sides are measured without the cyclic collector
        try:
            start = time.perf_counter()
            json.loads(text)
            parse.append(time.perf_counter() - start)
        finally:
            gc.enable()
        assert len(project.graph) > 2
    return statistics.median(load), statistics.median(parse)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,40000")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{'layers':>8} {'file':>9} {'load':>9} {'json.loads':>11} {'load/parse':>11} {'us/layer':>9}")
    for size in (int(s) for s in args.sizes.split(",")):
        text = reversed_chain(size)
        load, parse = measure(text, args.repeats)
        print(f"{size:>8} {len(text) / 2**20:>7.1f}MB {load:>8.3f}s {parse:>10.3f}s {load / parse:>10.1f}x "
              f"{load / size * 1e6:>9.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

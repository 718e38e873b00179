"""Autograd view vs torchviz + Graphviz: time of the whole drawing and edge crossings.

    .venv/bin/python benchmarks/bench_autograd.py [--repeats 3] [--skip-big]

nnstudio: one sample forward/backward walk + layered layout + SVG text (what ``nnstudio autograd``
does). Peer: the same forward pass + ``torchviz.make_dot`` + Graphviz ``dot -Tsvg``. Runs are
interleaved (ours, theirs, ours, ...) and medians compared.

Crossings are counted the same way for both on the same graph: Graphviz lays out nnstudio's own
DOT of the walked graph (``dot -Tplain``), every edge (our polyline through its dummy points,
dot's spline sampled finely) is cut at each rank line it spans, and segments between consecutive
ranks whose ends swap order are counted (``nnstudio.autograd.crossings``).

A second table measures the layered layout engine alone (``nnstudio.core.layered``, shared by the
autograd view and the editor's auto-layout): on each walked autograd graph (layout only, no forward
pass), and on the editor's own graph of a 500-layer residual network (what Auto-layout and, soon, the
importer lay out), against ``dot -Tplain`` on the same graph: time and crossings counted the same way.

Needs (benchmark only, not runtime dependencies): ``pip install torchviz graphviz`` and the
Graphviz ``dot`` program (``apt-get install graphviz``); without them it says so and exits 0.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch
from torch import nn

from nnstudio.autograd.crossings import count_polyline_crossings
from nnstudio.autograd.render import layout_graph, to_dot, to_svg
from nnstudio.autograd.walk import trace_autograd
from nnstudio.core.graph import Graph
from nnstudio.core.layered import layered_layout as engine_layout
from nnstudio.core.layout import CARD_HEIGHT, CARD_WIDTH, editor_options
from nnstudio.core.layout import layered_layout as editor_layout


def _missing_tools() -> list[str]:
    missing = []
    try:
        import torchviz  # noqa: F401
    except ImportError:
        missing.append("torchviz (pip install torchviz graphviz)")
    if shutil.which("dot") is None:
        missing.append("Graphviz 'dot' (apt-get install graphviz)")
    return missing


def nnstudio_drawing(model: nn.Module, sample: torch.Tensor) -> tuple[str, int, int]:
    """Returns (SVG, node count, crossings) the way ``nnstudio autograd --expanded`` makes them."""
    trace = trace_autograd(model, sample, compute_gradients=False)
    layout = layout_graph(trace.graph)
    return to_svg(trace.graph, layout, trace.root), trace.graph.number_of_nodes(), layout.crossings


def torchviz_drawing(model: nn.Module, sample: torch.Tensor, timeout: float) -> str:
    """Returns the SVG torchviz + Graphviz make for the same sample pass (sum of outputs)."""
    from torchviz import make_dot

    output = model(sample).sum()
    source = make_dot(output, params=dict(model.named_parameters())).source
    return subprocess.run(["dot", "-Tsvg"], input=source, capture_output=True, text=True, check=True,
                          timeout=timeout).stdout


def _bezier_points(points: list[tuple[float, float]], samples: int = 12) -> list[tuple[float, float]]:
    """Returns points along a Graphviz B-spline (cubic Bezier pieces sharing end points)."""
    out = [points[0]]
    for i in range(0, len(points) - 3, 3):
        p0, p1, p2, p3 = points[i:i + 4]
        for k in range(1, samples + 1):
            t = k / samples
            a, b, c, d = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t * t, t ** 3
            out.append((a * p0[0] + b * p1[0] + c * p2[0] + d * p3[0],
                        a * p0[1] + b * p1[1] + c * p2[1] + d * p3[1]))
    return out


def dot_crossings(dot_source: str, timeout: float) -> int:
    """Returns the crossings of Graphviz's own layout of ``dot_source``, counted between ranks."""
    plain = subprocess.run(["dot", "-Tplain"], input=dot_source, capture_output=True, text=True,
                           check=True, timeout=timeout).stdout
    centres: dict[str, tuple[float, float]] = {}
    splines: list[tuple[str, str, list[tuple[float, float]]]] = []
    for line in plain.splitlines():
        parts = shlex.split(line)
        if parts and parts[0] == "node":
            centres[parts[1]] = (float(parts[2]), float(parts[3]))
        elif parts and parts[0] == "edge":
            count = int(parts[3])
            coords = [float(v) for v in parts[4:4 + 2 * count]]
            splines.append((parts[1], parts[2], list(zip(coords[::2], coords[1::2]))))
    rank_ys = sorted({round(y, 2) for _, y in centres.values()})
    lines = [[centres[tail], *_bezier_points(points), centres[head]] for tail, head, points in splines]
    return count_polyline_crossings(lines, rank_ys, tolerance=0.05)


def _elapsed(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def measure(name: str, build: Callable[[], nn.Module], shape: tuple[int, ...], repeats: int,
            dot_timeout: float) -> dict:
    """Returns the medians of interleaved runs; the peer's entries are None where dot timed out."""
    model = build()
    sample = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    nnstudio_drawing(model, sample)  # warm-up: first-call allocations, lazy imports
    ours, theirs = [], []
    for _ in range(repeats):
        ours.append(_elapsed(lambda: nnstudio_drawing(model, sample)))
        if theirs is not None:
            try:
                theirs.append(_elapsed(lambda: torchviz_drawing(model, sample, dot_timeout)))
            except subprocess.TimeoutExpired:
                theirs = None  # one give-up is enough: dot will not get faster
    _svg, nodes, our_crossings = nnstudio_drawing(model, sample)
    trace = trace_autograd(model, sample, compute_gradients=False)
    try:
        their_crossings = dot_crossings(to_dot(trace.graph, trace.root), dot_timeout)
    except subprocess.TimeoutExpired:
        their_crossings = None
    return dict(name=name, nodes=nodes, edges=trace.graph.number_of_edges(),
                ours=statistics.median(ours), theirs=statistics.median(theirs) if theirs else None,
                our_crossings=our_crossings, their_crossings=their_crossings)


def residual_network(blocks: int) -> Graph:
    """Return an editor graph of ``blocks`` residual blocks (7 layers each: conv, bn, relu, conv, bn, add, relu)."""
    nodes = [{"id": "image", "type": "input", "params": {"shape": [8, 16, 16]}}]
    edges: list[dict] = []
    tip = "image"

    def add(node_id: str, type_id: str, *sources: str) -> str:
        nodes.append({"id": node_id, "type": type_id})
        for index, source in enumerate(sources):
            edges.append({"source": source, "target": node_id, "port": "in", "index": index})
        return node_id

    for b in range(blocks):
        a = add(f"b{b}_conv1", "conv2d", tip)
        a = add(f"b{b}_bn1", "batch_norm2d", a)
        a = add(f"b{b}_relu1", "relu", a)
        a = add(f"b{b}_conv2", "conv2d", a)
        a = add(f"b{b}_bn2", "batch_norm2d", a)
        a = add(f"b{b}_add", "add", tip, a)
        tip = add(f"b{b}_relu2", "relu", a)
    add("output", "output", tip)
    return Graph.from_records(nodes, edges)


def _plain_dot(ids: list[str], links: list[tuple[str, str]], width: float, height: float) -> str:
    lines = ["digraph g {", "  rankdir=TB;",
             f'  node [shape=box, fixedsize=true, width={width / 72:.3f}, height={height / 72:.3f}];']
    lines += [f'  "{n}";' for n in ids]
    lines += [f'  "{a}" -> "{b}";' for a, b in links]
    return "\n".join(lines + ["}"]) + "\n"


def _median_time(function: Callable[[], object], repeats: int) -> float:
    return statistics.median(_elapsed(function) for _ in range(repeats))


def measure_layouts(cases: list[tuple[str, Callable[[], nn.Module], tuple[int, ...], int]], blocks: int,
                    repeats: int, dot_timeout: float) -> list[dict]:
    """Return layout-only rows: each autograd graph, then the editor's residual network, vs dot -Tplain."""
    rows = []
    for name, build, shape, _ in cases:
        model = build()
        sample = torch.randn(shape, generator=torch.Generator().manual_seed(0))
        graph = trace_autograd(model, sample, compute_gradients=False).graph
        layout = layout_graph(graph)
        seconds = _median_time(lambda graph=graph: layout_graph(graph), repeats)
        dot_source = to_dot(graph)
        theirs, their_crossings = _time_dot(dot_source, repeats, dot_timeout)
        rows.append(dict(name=f"autograd: {name.split(' (')[0]}", nodes=graph.number_of_nodes(),
                         ours=seconds, theirs=theirs, our_crossings=layout.crossings,
                         their_crossings=their_crossings))
    network = residual_network(blocks)
    ids = network.node_ids()
    links = sorted((e.source, e.target) for e in network.edges())
    seconds = _median_time(lambda: editor_layout(network), repeats)
    routed = engine_layout(ids, links, lambda _n: (CARD_WIDTH, CARD_HEIGHT), editor_options())
    ours_crossings = routed.crossings  # counted between ranks like dot's below (as in the autograd rows)
    theirs, their_crossings = _time_dot(_plain_dot(ids, links, CARD_WIDTH, CARD_HEIGHT), repeats, dot_timeout)
    rows.append(dict(name=f"editor: {blocks}-block residual network", nodes=len(ids), ours=seconds, theirs=theirs,
                     our_crossings=ours_crossings, their_crossings=their_crossings))
    return rows


def _time_dot(source: str, repeats: int, timeout: float) -> tuple[float | None, int | None]:
    try:
        seconds = _median_time(lambda: subprocess.run(["dot", "-Tplain"], input=source, capture_output=True,
                                                      text=True, check=True, timeout=timeout), repeats)
        return seconds, dot_crossings(source, timeout)
    except subprocess.TimeoutExpired:
        return None, None


def _transformer_stack(layers: int) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        torch.manual_seed(0)
        return nn.Sequential(*[nn.TransformerEncoderLayer(64, 4, 128, batch_first=True)
                               for _ in range(layers)])
    return build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="interleaved runs on ResNet-50")
    parser.add_argument("--big-repeats", type=int, default=1, help="interleaved runs on the big graphs")
    parser.add_argument("--dot-timeout", type=float, default=180.0,
                        help="give Graphviz up after this many seconds (reported as a lower bound)")
    parser.add_argument("--skip-big", action="store_true", help="only ResNet-50")
    parser.add_argument("--blocks", type=int, default=71, help="residual blocks of the editor network (7 layers each)")
    parser.add_argument("--layout-repeats", type=int, default=3, help="runs of each layout-only measurement")
    args = parser.parse_args(argv)
    missing = _missing_tools()
    if missing:
        print("skipped: the peer is not installed: " + "; ".join(missing))
        return 0
    import torchvision

    torch.set_num_threads(1)  # the same single thread for both sides: fair, and steadier on a busy machine
    cases = [("ResNet-50 (torchvision, 1x3x224x224)", lambda: torchvision.models.resnet50(weights=None),
              (1, 3, 224, 224), args.repeats)]
    if not args.skip_big:
        cases += [
            ("GoogLeNet (2x3x64x64, 4-branch inception blocks)",
             lambda: torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True),
             (2, 3, 64, 64), args.big_repeats),
            ("40 Transformer encoder layers (2x16x64)", _transformer_stack(40), (2, 16, 64), args.big_repeats),
            ("DenseNet-121 (1x3x64x64, dense skips)", lambda: torchvision.models.densenet121(weights=None),
             (1, 3, 64, 64), args.big_repeats),
        ]
    rows = []
    for name, build, shape, repeats in cases:
        print(f"measuring {name} ...", file=sys.stderr, flush=True)
        rows.append(measure(name, build, shape, repeats, args.dot_timeout))
    print("| graph | nodes | edges | nnstudio s | torchviz+dot s | time ratio | crossings nnstudio | "
          "crossings dot | crossing ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    over = f"> {args.dot_timeout:.0f}"
    for r in rows:
        theirs = f"{r['theirs']:.3f}" if r["theirs"] is not None else over
        ratio = f"{r['ours'] / r['theirs']:.2f}x" if r["theirs"] else f"< {r['ours'] / args.dot_timeout:.2f}x"
        if r["their_crossings"] is None:
            their_crossings, crossing_ratio = f"n/a (dot {over} s)", "-"
        else:
            their_crossings = str(r["their_crossings"])
            crossing_ratio = (f"{r['our_crossings'] / r['their_crossings']:.2f}x" if r["their_crossings"]
                              else "-" if r["our_crossings"] == 0 else "inf")
        print(f"| {r['name']} | {r['nodes']} | {r['edges']} | {r['ours']:.3f} | {theirs} | {ratio} | "
              f"{r['our_crossings']} | {their_crossings} | {crossing_ratio} |")
    print("(medians of interleaved runs; time ratio = nnstudio / torchviz+dot, lower is better, "
          "target <= 1.5x on ResNet-50; crossings target <= 1.25x of dot's on the same graph)")
    print(f"\nmeasuring the layout engine alone ({args.blocks}-block editor network too) ...", file=sys.stderr)
    print("\n| layout only | nodes | nnstudio s | dot -Tplain s | time ratio | crossings nnstudio | crossings dot |")
    print("|---|---|---|---|---|---|---|")
    for r in measure_layouts(cases, args.blocks, args.layout_repeats, args.dot_timeout):
        theirs = f"{r['theirs']:.3f}" if r["theirs"] is not None else over
        ratio = f"{r['ours'] / r['theirs']:.2f}x" if r["theirs"] else "-"
        their_crossings = "n/a" if r["their_crossings"] is None else str(r["their_crossings"])
        print(f"| {r['name']} | {r['nodes']} | {r['ours']:.3f} | {theirs} | {ratio} | {r['our_crossings']} | "
              f"{their_crossings} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

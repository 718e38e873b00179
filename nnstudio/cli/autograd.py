"""``nnstudio autograd``: draw the autograd graph of a project or of any PyTorch model.

    nnstudio autograd PATH.nns|--example NAME --out graph.svg|.png|.dot [--collapsed|--expanded]
    nnstudio autograd --model torchvision.models:resnet50 --input-shape 3,224,224 --out g.svg

``--model`` takes a source as ``nnstudio import`` does (and runs its code, as that does);
``--input-shape`` is one sample's shape, the batch-first form older versions took still works.

A drop-in for torchviz that stays readable: a layered layout with few crossings, layers tied to
the parameters' names, and big graphs collapsed to one box per layer unless ``--expanded``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from nnstudio.cli import UsageError
from nnstudio.cli.model_options import SHAPE_HELP, SOURCE_HELP, parse_shape

if TYPE_CHECKING:
    from nnstudio.autograd.walk import AutogradTrace

FORMATS = (".svg", ".png", ".dot")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_argument_group("what to draw (one of)")
    source.add_argument("path", nargs="?", help="a project file (.nns)")
    source.add_argument("--example", metavar="NAME", help="a bundled example (see 'nnstudio examples')")
    source.add_argument("--model", metavar="SOURCE", help="any PyTorch model, named as for 'nnstudio import': "
                        + SOURCE_HELP)
    parser.add_argument("--input-shape", metavar="C,H,W",
                        help="with --model: " + SHAPE_HELP + " (default 3,224,224; the sample batch holds one)")
    parser.add_argument("--out", required=True, metavar="FILE",
                        help="where to write the drawing: .svg, .png or .dot")
    detail = parser.add_mutually_exclusive_group()
    detail.add_argument("--collapsed", dest="collapsed", action="store_true", default=None,
                        help="one box per layer (default for graphs over 150 nodes)")
    detail.add_argument("--expanded", dest="collapsed", action="store_false",
                        help="every autograd operation (default for smaller graphs)")
    parser.add_argument("--expand", action="append", default=[], metavar="LAYER",
                        help="with --collapsed: show this layer's operations (repeatable)")
    parser.add_argument("--eval", action="store_true",
                        help="run the sample pass in eval mode (default: train mode, as in training)")
    parser.add_argument("--gradients", action="store_true",
                        help="colour parameters and layers by the gradient norm of the sample pass")
    parser.add_argument("--theme", choices=("light", "dark"), default="light", help="colour palette")
    parser.add_argument("--scale", type=float, default=1.0, help="with .png: pixels per SVG unit")


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.suffix.lower() not in FORMATS:
        raise UsageError(f"--out must end in {', '.join(FORMATS)}, not {out.name!r}")
    sources = [s for s in (args.path, args.example, args.model) if s]
    if len(sources) != 1:
        raise UsageError("give exactly one of PATH, --example NAME or --model SOURCE")
    if args.input_shape and not args.model:
        raise UsageError("--input-shape goes with --model (projects take it from their Input node)")

    trace = _trace(args)
    text, summary = _draw(trace, args, out.suffix.lower())
    if out.suffix.lower() == ".png":
        from nnstudio.ui.autograd_view import rasterize_svg  # Qt loads only for PNG

        rasterize_svg(text, out, scale=args.scale)
    else:
        from nnstudio.autograd.render import save_drawing

        save_drawing(out, text)
    print(f"wrote {out}: {summary}")
    return 0


def _trace(args: argparse.Namespace) -> AutogradTrace:
    train_mode = not args.eval
    if args.model:
        from nnstudio.compile.model_sources import load_module

        shape = parse_shape(args.input_shape or "3,224,224")
        module = load_module(args.model)
        return _trace_model(module, shape, train_mode, args.gradients)
    from nnstudio.autograd.project_trace import trace_project
    from nnstudio.core.examples import load_example
    from nnstudio.core.project import load_project
    from nnstudio.train.recipe import make_loss

    project = load_example(args.example) if args.example else load_project(args.path)
    return trace_project(project, make_loss(project.settings), train_mode=train_mode,
                         compute_gradients=args.gradients)


def _draw(trace: AutogradTrace, args: argparse.Namespace, suffix: str) -> tuple[str, str]:
    from nnstudio.autograd.appearance import THEMES
    from nnstudio.autograd.collapse import COLLAPSE_ABOVE
    from nnstudio.autograd.gradients import node_gradient_norms
    from nnstudio.autograd.render import display_graph, layout_graph, to_dot, to_svg

    graph = trace.graph
    collapsed = args.collapsed if args.collapsed is not None else graph.number_of_nodes() > COLLAPSE_ABOVE
    display = display_graph(graph, collapsed, args.expand)
    theme = THEMES[args.theme]
    kinds = [kind for _, kind in graph.nodes(data="kind")]
    summary = (f"{graph.number_of_nodes()} nodes ({kinds.count('op')} ops, {kinds.count('param')} "
               f"parameters), {len(trace.layers())} layers")
    if collapsed:
        summary += f", drawn as {display.number_of_nodes()} boxes"
    if suffix == ".dot":
        return to_dot(display, trace.root, theme), summary
    layout = layout_graph(display)
    norms = node_gradient_norms(display, trace.gradient_norms) if args.gradients else None
    svg = to_svg(display, layout, trace.root, theme, norms)
    return svg, summary + f", {layout.crossings} edge crossings"


def _trace_model(module, shape: tuple[int, ...], train_mode: bool, gradients: bool) -> AutogradTrace:
    """Trace a sample batch of one ``shape`` sample; a shape that only works batch-first is read so (older form)."""
    import torch

    from nnstudio.autograd.walk import WalkError, trace_autograd

    def sample(batched: tuple[int, ...]) -> torch.Tensor:
        return torch.randn(batched, generator=torch.Generator().manual_seed(0))

    try:
        return trace_autograd(module, sample((1, *shape)), train_mode=train_mode, compute_gradients=gradients)
    except WalkError as exc:  # the model's own code refused the sample
        if exc.stage != "forward pass" or len(shape) < 2:
            raise
        try:
            trace = trace_autograd(module, sample(shape), train_mode=train_mode, compute_gradients=gradients)
        except WalkError:
            raise exc from None  # the one-sample reading's error is the one to report
        print(f"note: --input-shape {','.join(map(str, shape))} read as a batch of {shape[0]} (the older form); "
              f"write {','.join(map(str, shape[1:]))}")
        return trace

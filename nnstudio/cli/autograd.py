"""``nnstudio autograd``: draw the autograd graph of a project or of any PyTorch model.

    nnstudio autograd PATH.nns|--example NAME --out graph.svg|.png|.dot [--collapsed|--expanded]
    nnstudio autograd --model torchvision.models:resnet50 --input-shape 1,3,224,224 --out g.svg

A drop-in for torchviz that stays readable: a layered layout with few crossings, layers tied to
the parameters' names, and big graphs collapsed to one box per layer unless ``--expanded``.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import TYPE_CHECKING

from nnstudio.cli import UsageError
from nnstudio.core.errors import NnstudioError

if TYPE_CHECKING:
    from nnstudio.autograd.walk import AutogradTrace

FORMATS = (".svg", ".png", ".dot")


class ModelSpecError(NnstudioError):
    """``--model package.module:callable`` could not be imported or called; ``spec`` names it."""

    def __init__(self, spec: str, message: str) -> None:
        self.spec = spec
        super().__init__(f"--model {spec}: {message}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_argument_group("what to draw (one of)")
    source.add_argument("path", nargs="?", help="a project file (.nns)")
    source.add_argument("--example", metavar="NAME", help="a bundled example (see 'nnstudio examples')")
    source.add_argument("--model", metavar="MODULE:CALLABLE",
                        help="any PyTorch model: a callable returning an nn.Module, e.g. "
                             "torchvision.models:resnet50 (called with no arguments)")
    parser.add_argument("--input-shape", metavar="N,C,H,W",
                        help="with --model: the shape of the random sample batch, e.g. 1,3,224,224")
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
        raise UsageError("give exactly one of PATH, --example NAME or --model MODULE:CALLABLE")
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
        import torch

        from nnstudio.autograd.walk import trace_autograd

        shape = parse_shape(args.input_shape or "1,3,224,224")
        module = load_model(args.model)
        sample = torch.randn(shape, generator=torch.Generator().manual_seed(0))
        return trace_autograd(module, sample, train_mode=train_mode, compute_gradients=args.gradients)
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


def parse_shape(text: str) -> tuple[int, ...]:
    """Returns ``(1, 3, 224, 224)`` for ``"1,3,224,224"``; refuses empty, zero or negative sizes."""
    try:
        shape = tuple(int(part) for part in text.replace("x", ",").split(","))
    except ValueError:
        raise UsageError(f"--input-shape {text!r}: write whole numbers separated by commas, "
                         f"e.g. 1,3,224,224") from None
    if not shape or any(size < 1 for size in shape):
        raise UsageError(f"--input-shape {text!r}: every size must be at least 1")
    return shape


def load_model(spec: str):
    """Returns the nn.Module that ``package.module:callable`` builds when called with no arguments."""
    import torch

    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ModelSpecError(spec, "write it as package.module:callable, e.g. torchvision.models:resnet50")
    try:
        target = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelSpecError(spec, f"cannot import {module_name!r}: {exc}") from None
    factory = target
    for part in attribute.split("."):
        factory = getattr(factory, part, None)
        if factory is None:
            raise ModelSpecError(spec, f"{module_name!r} has no attribute {attribute!r}")
    try:
        model = factory()
    except Exception as exc:  # the user's code: report whatever it raised, with the culprit named
        raise ModelSpecError(spec, f"calling it failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(model, torch.nn.Module):
        raise ModelSpecError(spec, f"it returned a {type(model).__name__}, not a torch.nn.Module")
    return model

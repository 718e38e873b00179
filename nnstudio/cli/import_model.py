"""``nnstudio import``: turn a PyTorch model into a project (and its weights file) the editor opens.

    nnstudio import torchvision.models:resnet18 -o resnet18.nns
    nnstudio import "torchvision.models:resnet18(num_classes=10)" --weights finetuned.pth -o r18.nns
    nnstudio import path/to/net.py:Net --input-shape 1,28,28 -o net.nns

Importing runs the model's code (see ``--help``). The project and its ``.safetensors`` weights file
are written atomically; ``check``, ``train``, ``export`` and ``autograd`` then take it like any project.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from nnstudio.cli import UsageError
from nnstudio.cli.model_options import SHAPE_HELP, SOURCE_HELP, parse_shape

#: Problems listed after an import (the editor and ``nnstudio check`` show them all).
PROBLEMS_SHOWN = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Import a PyTorch model as a project: every layer, its weights and its nesting. "
                          "Importing RUNS THE MODEL'S CODE (its module is imported and the callable called), "
                          "as running it in Python would: import only models you trust.")
    parser.add_argument("source", metavar="SOURCE", help=SOURCE_HELP)
    parser.add_argument("--weights", metavar="FILE",
                        help="a state dict to load strictly: .pth/.pt (read with weights_only=True) or "
                             ".safetensors; default: the weights the model is built with")
    parser.add_argument("--input-shape", metavar="C,H,W", help=SHAPE_HELP)
    parser.add_argument("-o", "--out", dest="out", required=True, metavar="OUT.nns",
                        help="the project to write (its weights go to OUT.safetensors beside it)")
    parser.add_argument("--progress", action="store_true",
                        help='print progress as JSON lines ({"progress": 0.35, "message": "..."}) for a program '
                             "running the import in a process of its own, as the window does")


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.suffix != ".nns":
        raise UsageError(f"-o must name a project file ending in .nns, not {out.name!r}")
    if out.is_dir():
        raise UsageError(f"-o {out} is a folder; name the project file to write, e.g. {out / 'model.nns'}")
    shape = parse_shape(args.input_shape) if args.input_shape else None

    from nnstudio.core.formatting import format_count
    from nnstudio.core.project import save_project
    from nnstudio.train.model_import import import_model

    progress = _print_progress if args.progress else None
    result = import_model(args.source, weights=args.weights, input_shape=shape, progress=progress)
    project = result.project
    save_project(project, out)
    analysis = result.analysis
    graph = project.graph
    blocks = {".".join(n.id.split(".")[:1]) for n in graph.nodes() if "." in n.id}
    written = [out.name] + ([project.weights_name] if project.weights_name else [])
    print(f"imported {args.source}: {len(graph)} layers in {len(blocks)} top-level blocks, "
          f"{format_count(analysis.total_params)} parameters, {format_count(analysis.total_flops)} FLOPs per sample; "
          f"wrote {' and '.join(written)}")
    for note in result.notes:
        print(f"note: {note}")
    errors = analysis.errors
    if errors:
        print(f"the imported network has {len(errors)} errors (the editor and 'nnstudio check' show them all):")
        for problem in errors[:PROBLEMS_SHOWN]:
            print(f"  {problem.node_id or 'network'}: {problem.message}")
    return 0


def _print_progress(fraction: float, message: str) -> None:
    print(json.dumps({"progress": round(fraction, 3), "message": message}), flush=True)

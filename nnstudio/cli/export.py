"""``nnstudio export PATH --format py|pth|safetensors|pt2|onnx -o FILE [--weights model.pth]``.

Without ``--weights`` the network is exported with its initial (seeded) weights. Weights files are
read with ``torch.load(weights_only=True)`` only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from nnstudio.cli import UsageError
from nnstudio.core.examples import load_example
from nnstudio.core.project import load_project

FORMATS = ("py", "pth", "safetensors", "pt2", "onnx")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", help="a project file (.nns), e.g. the project.nns of a run")
    parser.add_argument("--example", metavar="NAME", help="export a bundled example")
    parser.add_argument("--weights", metavar="FILE", help="trained weights: a model.pth or checkpoint.pth")
    parser.add_argument("--format", choices=FORMATS, help="what to write (default: from the -o suffix)")
    parser.add_argument("-o", "--output", required=True, metavar="FILE", help="the file to write")


def run(args: argparse.Namespace) -> int:
    if bool(args.path) == bool(args.example):
        raise UsageError("give a project file or --example NAME (one of the two)")
    output = Path(args.output)
    fmt = args.format or output.suffix.lstrip(".")
    if fmt not in FORMATS:
        raise UsageError(f"cannot tell the format from {output.name!r}; pass --format ({', '.join(FORMATS)})")
    project = load_example(args.example) if args.example else load_project(args.path)
    from nnstudio.train.export import export_model
    from nnstudio.train.outputs import load_state_dict_file

    weights = load_state_dict_file(args.weights) if args.weights else None
    if weights is None and fmt in ("pth", "safetensors", "pt2", "onnx"):
        print("note: no --weights given; exporting the untrained network")
    export_model(project, fmt, output, weights)
    print(f"wrote {output}")
    return 0

"""``nnstudio export PATH --format py|pth|safetensors|pt2|onnx -o FILE [--weights model.pth]``.

Without ``--weights`` the network is exported with its initial (seeded) weights. Weights files are
read with ``torch.load(weights_only=True)`` only, after their declared sizes are checked; weights that
do not fit the network are refused (every mismatch listed) for every format, model.py included. The
file is written through the atomic writer: a failed export leaves the previous file as it was.
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
    from nnstudio.train.export import build_model, export_model
    from nnstudio.train.weights_files import load_state_dict_file, plausible_file_bytes

    weights = None
    if args.weights:
        # the network's size bounds what its weights file may declare: anything far larger is refused
        # from the file's declared sizes, before a byte of it is inflated
        weights = load_state_dict_file(args.weights, plausible_file_bytes(build_model(project)))
    if weights is None and fmt in ("pth", "safetensors", "pt2", "onnx"):
        stored = any(node.weights for node in project.graph.nodes())
        print("note: no --weights given; exporting the weights the project holds" if stored
              else "note: no --weights given; exporting the untrained network")
    export_model(project, fmt, output, weights)
    print(f"wrote {output}")
    return 0

"""``nnstudio lr-find PATH|--example NAME``: the learning-rate range test, headless.

Trains a copy of the project's network for a few dozen steps with an exponentially rising learning
rate (the project and its weights are not changed) and prints the curve's summary and, last, a line
``suggested lr: VALUE`` (scripts read it). ``-o FILE.csv`` also writes every step (lr, loss,
smoothed). Exit status 1 when the loss never falls over the range (no suggestion) or the project
cannot train.
"""

from __future__ import annotations

import argparse
import sys

from nnstudio.cli import UsageError
from nnstudio.cli.train import load_for_training
from nnstudio.core.errors import NnstudioError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", help="a project file (.nns)")
    parser.add_argument("--example", metavar="NAME", help="use a bundled example (see 'nnstudio examples')")
    parser.add_argument("--start", type=float, default=1e-7, metavar="LR", help="first learning rate (1e-7)")
    parser.add_argument("--end", type=float, default=10.0, metavar="LR", help="last learning rate (10)")
    parser.add_argument("--steps", type=int, default=100, metavar="N", help="training steps of the sweep (100)")
    parser.add_argument("--batch-size", type=int, metavar="B", help="samples per step (default: the project's)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), help="where to run (default: the project's)")
    parser.add_argument("--seed", type=int, metavar="S", help="random seed")
    parser.add_argument("-o", "--output", metavar="FILE.csv", help="also write the whole curve as CSV")
    parser.set_defaults(epochs=None, lr=None)


def run(args: argparse.Namespace) -> int:
    project, _ = load_for_training(args)
    from nnstudio.train.lr_finder import LrFinderOptions, find_lr_for_project

    options = LrFinderOptions(start_lr=args.start, end_lr=args.end, steps=args.steps)
    try:
        options.check()
    except NnstudioError as exc:
        raise UsageError(str(exc)) from None
    print(f"lr-find {project.name}: {options.steps} steps, learning rate {options.start_lr:g} to "
          f"{options.end_lr:g}, {project.settings.optimizer}, batch {project.settings.batch_size}", file=sys.stderr)
    result = find_lr_for_project(project, options)
    if args.output:
        _write_curve(result, args.output)
    ended = {"end": "reached the last rate", "diverged": "stopped: the loss diverged",
             "stopped": "stopped early"}[result.stop_reason]
    last = f" at {result.lrs[-1]:.3g}" if result.lrs and result.stop_reason == "diverged" else ""
    print(f"{len(result.lrs)} steps; {ended}{last}")
    print(f"{'lr':>10}  {'loss':>9}  {'smoothed':>9}")
    for lr, loss, smoothed in result.summary():
        print(f"{lr:>10.3g}  {loss:>9.4f}  {smoothed:>9.4f}")
    if result.min_loss_lr is not None:
        print(f"lowest smoothed loss at lr {result.min_loss_lr:.3g}")
    if result.suggested_lr is None or result.falling_range is None:
        print("error: the loss did not fall anywhere in this range; widen it (--start, --end) or check the "
              "network and data", file=sys.stderr)
        return 1
    lo, hi = result.falling_range
    print(f"the loss falls fastest between lr {lo:.3g} and {hi:.3g} (steepest at {result.suggested_lr:.3g})")
    print(f"suggested lr: {result.suggested_lr:.3g}")
    return 0


def _write_curve(result: object, path: str) -> None:
    from pathlib import Path

    from nnstudio.core.files import write_text_atomic

    lines = ["lr,loss,smoothed"]
    lines += [f"{lr!r},{loss!r},{smoothed!r}" for lr, loss, smoothed in
              zip(result.lrs, result.losses, result.smoothed)]  # type: ignore[attr-defined]
    write_text_atomic(Path(path), "\n".join(lines) + "\n")
    print(f"wrote {path}", file=sys.stderr)

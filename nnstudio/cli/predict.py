"""``nnstudio predict RUN_DIR FILE...``: the most likely classes of pictures or CSV rows, by a trained run.

RUN_DIR is the folder ``nnstudio train`` (or the window's Save outputs) wrote: project.nns, model.pth
and preprocessing.json. Each picture is prepared as the validation pictures were (resize, centre crop,
normalisation); each CSV row as the training rows were (its feature columns by name, standardised).
One line per input: ``cat.png: cats 91.2%, dogs 8.8%`` (a regression prints the predicted values).
"""

from __future__ import annotations

import argparse

#: More classes than any classifier has: past it, --top is a typing mistake (and would print millions).
MAX_TOP = 100_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run's output folder (project.nns, model.pth, "
                        "preprocessing.json)")
    parser.add_argument("files", nargs="+", metavar="FILE", help="pictures, or CSV files with the feature columns")
    parser.add_argument("--top", type=int, default=3, metavar="K", help="how many classes to print (default 3)")


def run(args: argparse.Namespace) -> int:
    from nnstudio.cli import UsageError, one_line, say
    from nnstudio.train.predict import Predictor

    if not 1 <= args.top <= MAX_TOP:
        raise UsageError(f"--top must be from 1 to {MAX_TOP:,}, not {one_line(args.top)}")
    predictor = Predictor.from_run(args.run_dir)
    for prediction in predictor.predict_files(list(args.files), args.top):
        say(prediction.text())
    return 0

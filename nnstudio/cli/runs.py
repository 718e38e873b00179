"""``nnstudio runs PATH|--example NAME|--out DIR``: list a project's recorded runs, or compare two.

The list shows each run's name, when it started, how it ended, its best validation metrics, how
long it took and what changed from the run before it. ``--compare A B`` prints every difference of
settings and network between two runs; ``--json`` prints the records' summaries for scripts.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from nnstudio.cli import UsageError
from nnstudio.core.formatting import format_duration


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", help="a project file (.nns), or its runs folder")
    parser.add_argument("--example", metavar="NAME", help="the runs of a bundled example")
    parser.add_argument("--out", metavar="DIR", help="a runs folder given to train or sweep with --out")
    parser.add_argument("--compare", nargs=2, metavar=("A", "B"), help="print what changed from run A to run B")
    parser.add_argument("--json", action="store_true", help="print the runs as JSON")


def runs_folder(args: argparse.Namespace) -> Path:
    """Return the runs folder the arguments name; UsageError unless exactly one is given."""
    given = [x for x in (args.path, args.example, args.out) if x]
    if len(given) != 1:
        raise UsageError("give a project file, --example NAME or --out DIR (one of them)")
    from nnstudio.experiments.folders import runs_folder_for

    if args.out:
        return Path(args.out)
    if args.example:
        return runs_folder_for(example=args.example)
    path = Path(args.path)
    return path if path.is_dir() else runs_folder_for(path)


def _percent(value: object) -> str:
    return f"{value:.1%}" if isinstance(value, (int, float)) else "-"


def _number(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) else "-"


def run(args: argparse.Namespace) -> int:
    from nnstudio.experiments.compare import compare_runs
    from nnstudio.experiments.store import RunStore

    folder = runs_folder(args)
    store = RunStore(folder)
    if args.compare:
        a, b = store.get(args.compare[0]), store.get(args.compare[1])
        print(f"from {a.title} to {b.title}:")
        for line in compare_runs(a, b).lines():
            print(f"  {line}")
        return 0
    records = store.runs()
    if args.json:
        print(json.dumps([{"id": r.run_id, "name": r.title, "status": r.status, "reason": r.reason,
                           "created": r.created, "best": r.best, "final": r.final, "duration_s": r.duration_s,
                           "device": r.device, "settings": r.settings, "fingerprint": r.fingerprint,
                           "sweep": r.sweep, "notes": r.notes} for r in records], indent=2))
        return 0
    if not records:
        print(f"no runs in {folder}", file=sys.stderr)
        return 0
    rows = [("run", "started", "status", "best val acc", "best val loss", "time", "changes")]
    previous = None
    for record in records:
        changes = compare_runs(previous, record).summary() if previous is not None else "first run"
        rows.append((record.title, record.created[:16].replace("T", " "), record.status,
                     _percent(record.best.get("val_acc")), _number(record.best.get("val_loss")),
                     format_duration(record.duration_s) if record.duration_s else "-", changes))
        if record.status != "damaged":
            previous = record
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])
    print(f"{len(records)} run(s) in {folder}", file=sys.stderr)
    return 0

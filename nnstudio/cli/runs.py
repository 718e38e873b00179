"""``nnstudio runs PATH|--example NAME|--out DIR``: list a project's recorded runs, or compare two.

The list shows each run's name, when it started, how it ended, its best validation metrics, how
long it took and what changed from the run before it. ``--compare A B`` prints every difference of
settings and network between two runs; ``--json`` prints the records' summaries for scripts.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from nnstudio.cli import UsageError, say
from nnstudio.core.errors import NnstudioError
from nnstudio.core.formatting import format_duration, printable


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
        return _a_folder_or_nothing(Path(args.out), "--out")
    if args.example:
        from nnstudio.core.examples import example_path

        example_path(args.example)  # an unknown name is refused, naming the examples there are
        return runs_folder_for(example=args.example)
    path = Path(args.path)
    return path if path.is_dir() else _a_folder_or_nothing(runs_folder_for(path), "the runs folder")


def _a_folder_or_nothing(folder: Path, what: str) -> Path:
    """Return ``folder``; refuse it when something other than a folder is in its place (a file, a FIFO, a link
    to nothing), so a mistyped path is not reported as "no runs"."""
    if folder.is_symlink() and not folder.exists():
        raise NnstudioError(f"{what} {folder} is a link to nothing, not a runs folder")
    if folder.exists() and not folder.is_dir():
        raise NnstudioError(f"{what} {folder} is not a folder; give the runs folder that train or sweep wrote "
                            "into")
    return folder


def _finite(value: object) -> bool:
    """A number a record may show (a damaged record can hold text, NaN or infinities anywhere)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _percent(value: object) -> str:
    return f"{value:.1%}" if _finite(value) else "-"


def _number(value: object) -> str:
    return f"{value:.4g}" if _finite(value) else "-"


def _duration(value: object) -> str:
    return format_duration(value) if _finite(value) and value > 0 else "-"  # type: ignore[arg-type, operator]


def run(args: argparse.Namespace) -> int:
    from nnstudio.experiments.compare import compare_runs
    from nnstudio.experiments.store import RunStore

    folder = runs_folder(args)
    store = RunStore(folder)
    if args.compare:
        a, b = store.get(args.compare[0]), store.get(args.compare[1])
        say(f"from {a.title} to {b.title}:")
        for line in compare_runs(a, b).lines():
            say(f"  {line}")
        return 0
    records = store.runs()
    if args.json:
        say(json.dumps(_json_safe([{"id": r.run_id, "name": r.title, "status": r.status, "reason": r.reason,
                                    "created": r.created, "best": r.best, "final": r.final,
                                    "duration_s": r.duration_s, "device": r.device, "settings": r.settings,
                                    "fingerprint": r.fingerprint, "sweep": r.sweep, "notes": r.notes}
                                   for r in records]), indent=2))
        return 0
    if not records:
        say(f"no runs in {folder}", err=True)
        return 0
    rows: list[tuple[str, ...]] = [("run", "started", "status", "best val acc", "best val loss", "time", "changes")]
    previous = None
    for record in records:
        changes = compare_runs(previous, record).summary() if previous is not None else "first run"
        rows.append((record.title, record.created[:16].replace("T", " "), record.status,
                     _percent(record.best.get("val_acc")), _number(record.best.get("val_loss")),
                     _duration(record.duration_s), changes))
        if record.status != "damaged":
            previous = record
    # Escaped before measuring: names and reasons come from files and may hold control characters.
    rows = [tuple(printable(str(cell), keep_lines=False) for cell in row) for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        say("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])
    say(f"{len(records)} run(s) in {folder}", err=True)
    return 0


def _json_safe(value: object) -> object:
    """``value`` with NaN and infinities (a damaged record's) as null, so the output stays valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value

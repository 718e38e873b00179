"""``nnstudio sweep PATH|--example NAME --param ... --trials N``: a hyperparameter sweep with Optuna.

Every check (each ``--param`` against the project, the options, the study storage) runs before the
first trial; a problem is one line on stderr and exit status 1. The study is stored in the runs
folder (or ``--storage``), so running the same command again resumes it: finished trials are kept
and only the missing ones run. On a terminal a live table shows the trials, best first; otherwise
one line is printed per trial as it ends. Ctrl+C ends the trials in progress (marked interrupted,
run again on resume) and exits with status 130; a second Ctrl+C kills the workers at once.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nnstudio.cli import UsageError
from nnstudio.core.formatting import format_duration

EXIT_INTERRUPTED = 130
POLL_S = 0.5
TABLE_ROWS = 12


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", help="a project file (.nns)")
    parser.add_argument("--example", metavar="NAME", help="sweep a bundled example (see 'nnstudio examples')")
    parser.add_argument("--param", action="append", default=[], metavar="PATH=RANGE",
                        help="a parameter to search, repeatable: lr=1e-4:1e-1:log, fc1.out_features=32:256:int, "
                             "dropout1.p=0:0.5, optimizer=adam,sgd,adamw, batch_size=32,64,128 "
                             "(flags :log, :int, :step=S)")
    parser.add_argument("--trials", type=int, default=20, metavar="N",
                        help="finished trials the study should have (default 20; a resumed study runs the rest)")
    parser.add_argument("--sampler", choices=("tpe", "random", "grid"), default="tpe",
                        help="how values are chosen (default tpe)")
    parser.add_argument("--grid-points", type=int, default=5, metavar="K",
                        help="values a grid takes from a real-valued range without :step= (default 5)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="the sampler's seed (default 0)")
    parser.add_argument("--objective", choices=("val_loss", "val_acc", "val_mae"), default="val_loss",
                        help="what a trial is judged by: its best epoch's value (default val_loss)")
    parser.add_argument("--pruner", choices=("median", "none"), default="median",
                        help="stop trials whose validation loss is worse than the median of earlier trials "
                             "at the same epoch (default median)")
    parser.add_argument("--prune-warmup", type=int, default=1, metavar="E",
                        help="epochs every trial runs before it may be pruned (default 1)")
    parser.add_argument("--epochs", type=int, metavar="N", help="epochs per trial (default: the project's)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), help="where trials train")
    parser.add_argument("--workers", type=int, default=1, metavar="W",
                        help="worker processes training trials at once (default 1)")
    parser.add_argument("--storage", metavar="URL",
                        help="the study storage: sqlite:///FILE.db, journal:FILE, postgresql://..., "
                             "mysql+pymysql://... (default: in the runs folder)")
    parser.add_argument("--study", metavar="NAME", help="the study's name (default: derived from the sweep)")
    parser.add_argument("--out", metavar="DIR",
                        help="the runs folder: trial runs and the study (default NAME.runs beside the project)")
    parser.add_argument("-o", "--output", metavar="FILE.nns",
                        help="write the project with the best trial's values to FILE.nns")
    parser.add_argument("--save-weights", action="store_true",
                        help="write each trial's model.pth, model.py, ... into its run folder")


def load_sweep_project(args: argparse.Namespace) -> Any:
    """Return the project to sweep; UsageError unless exactly one of PATH / --example is given."""
    if bool(args.path) == bool(args.example):
        raise UsageError("give a project file or --example NAME (one of the two)")
    from nnstudio.core.examples import load_example
    from nnstudio.core.project import load_project

    return load_example(args.example) if args.example else load_project(args.path)


def run(args: argparse.Namespace) -> int:
    project = load_sweep_project(args)
    if not args.param:
        raise UsageError("give at least one --param to search, e.g. --param lr=1e-4:1e-1:log")
    from nnstudio.core.project import project_to_dict, save_project
    from nnstudio.experiments.folders import runs_folder_for
    from nnstudio.experiments.runner import SweepRunner
    from nnstudio.experiments.sweep import SweepSpec, best_project, prepare_sweep

    runs = Path(args.out) if args.out else runs_folder_for(args.path, example=args.example)
    spec = SweepSpec(document=project_to_dict(project), params=list(args.param), trials=args.trials,
                     runs_folder=str(runs), project_path=str(Path(args.path).resolve()) if args.path else None,
                     project_folder=str(Path(args.path).resolve().parent) if args.path else None,
                     example=args.example, sampler=args.sampler, seed=args.seed, pruner=args.pruner,
                     prune_warmup=args.prune_warmup, objective=args.objective, epochs=args.epochs,
                     device=args.device, storage=args.storage, study_name=args.study,
                     grid_points=args.grid_points, workers=args.workers, save_weights=args.save_weights)
    sweep = prepare_sweep(spec)
    study = sweep.load_study()
    done = sweep.finished(study)
    already = f", {done} finished already" if done else ""
    print(f"sweep {sweep.study_name}: {sweep.budget} trials of {project.name}{already}; "
          f"{spec.sampler} sampler, {spec.objective}, {spec.workers} worker(s)", file=sys.stderr)
    print(f"study: {_shown(sweep.storage_url)}   runs: {runs}", file=sys.stderr)
    runner = SweepRunner(sweep)
    display = RichDisplay(sweep) if sys.stdout.isatty() else LineDisplay(sweep)
    interrupted = False
    if done < sweep.budget:
        runner.start()
        with display, interrupt_stops(runner) as was_interrupted:
            while runner.running:
                display.update(sweep.trial_rows(study))
                time.sleep(POLL_S)
            runner.wait()
            display.update(sweep.trial_rows(study))
        interrupted = was_interrupted()
    for error in runner.errors:
        print(f"error: {error}", file=sys.stderr)
    best = sweep.best(study)
    if best is not None:
        print(f"best: trial {best.number}  {spec.objective} {best.value:.4g}  {_params_text(best.params)}  "
              f"(run {best.run})")
        if args.output:
            improved, _row = best_project(sweep)
            save_project(improved, args.output)
            print(f"wrote {args.output} with the best trial's values")
    elif args.output:
        print(f"error: no trial completed, so {args.output} was not written", file=sys.stderr)
    print(f"see the curves: tensorboard --logdir {runs}", file=sys.stderr)
    if interrupted:
        print(f"stopped by Ctrl+C with {sweep.finished(study)}/{sweep.budget} trials finished; run the same "
              "command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 1 if runner.errors or (args.output and best is None) else 0


def _shown(url: str) -> str:
    from nnstudio.experiments.storage import redact

    return redact(url)


def _value_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _params_text(params: dict[str, Any]) -> str:
    return "  ".join(f"{k}={_value_text(v)}" for k, v in params.items())


@contextmanager
def interrupt_stops(runner: Any) -> Iterator[Any]:
    """Turn the first Ctrl+C into ``runner.stop()``; a second one kills the workers and raises."""
    hits: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        hits.append(signum)
        if len(hits) > 1:
            runner.kill()
            raise KeyboardInterrupt
        runner.stop()

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread
        yield lambda: False
        return
    try:
        yield lambda: bool(hits)
    finally:
        signal.signal(signal.SIGINT, previous)


class LineDisplay:
    """One line per trial as it ends (for logs and pipes)."""

    def __init__(self, sweep: Any) -> None:
        self.sweep = sweep
        self.shown: set[int] = set()

    def __enter__(self) -> LineDisplay:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def update(self, rows: list[Any]) -> None:
        for row in rows:
            if row.state in ("running", "waiting") or row.number in self.shown:
                continue
            self.shown.add(row.number)
            print(trial_line(row, self.sweep.spec.objective), flush=True)


def trial_line(row: Any, objective: str) -> str:
    """Return one finished trial as a line: number, state, value, parameters, time, and why it ended."""
    value = f"{objective} {row.value:.4g}" if row.value is not None else row.state
    took = f"  {format_duration(row.duration_s)}" if row.duration_s is not None else ""
    why = f"  ({row.reason})" if row.reason and row.state != "complete" else ""
    return f"trial {row.number:>3}  {row.state:<11} {value:<20} {_params_text(row.params)}{took}{why}"


class RichDisplay:
    """A live progress bar and a table of the trials, best first, with the running ones."""

    def __init__(self, sweep: Any) -> None:
        from rich.console import Console

        self.sweep = sweep
        self.console = Console()
        self.live: Any = None
        self.started = time.monotonic()

    def __enter__(self) -> RichDisplay:
        from rich.live import Live

        self.live = Live(console=self.console, refresh_per_second=4, transient=False)
        self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.stop()

    def update(self, rows: list[Any]) -> None:
        self.live.update(self.render(rows))

    def render(self, rows: list[Any]) -> Any:
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        from nnstudio.experiments.sweep import sorted_rows

        sweep = self.sweep
        finished = sum(1 for r in rows if r.state in ("complete", "pruned", "failed"))
        bar = ProgressBar(total=sweep.budget, completed=min(finished, sweep.budget), width=40)
        elapsed = format_duration(time.monotonic() - self.started)
        head = Text(f"{finished}/{sweep.budget} trials  ·  {elapsed}  ·  study {sweep.study_name}")
        table = Table(show_edge=False, pad_edge=False, header_style="bold")
        table.add_column("trial", justify="right")
        table.add_column("state")
        table.add_column(sweep.spec.objective, justify="right")
        for param in sweep.space.params:
            table.add_column(param.path, justify="right")
        table.add_column("epochs", justify="right")
        table.add_column("time", justify="right")
        for row in sorted_rows(rows, sweep.direction)[:TABLE_ROWS]:
            value = row.value if row.value is not None else (list(row.values.values())[-1] if row.values else None)
            style = {"complete": "", "running": "cyan", "pruned": "dim", "failed": "red",
                     "interrupted": "yellow"}.get(row.state, "")
            table.add_row(str(row.number), row.state, "-" if value is None else f"{value:.4g}",
                          *[_value_text(row.params.get(p.path, "")) for p in sweep.space.params],
                          str(row.epochs), format_duration(row.duration_s) if row.duration_s is not None else "",
                          style=style)
        return Group(head, bar, table)

"""``nnstudio train PATH|--example NAME``: train headless and write the run's output folder.

On a terminal a progress bar shows loss, accuracy, samples/s and the time left; otherwise one line is
printed per epoch. ``--nproc-per-node N`` trains data-parallel in N torchrun workers, and a process
that torchrun started runs as one worker (:mod:`nnstudio.cli.train_parallel`). Ctrl+C stops after the current step and still writes the outputs of the last good
epoch (exit status 130); a second Ctrl+C aborts at once. Exit status 1 when training fails.

The output folder is checked before the first epoch (a file in the way, no permission, too little free
space: exit 1 at once). If writing still fails at the end, the outputs go to a rescue folder that the
message names (exit status 1), so trained epochs are never lost.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nnstudio.cli import UsageError, finite_number, say
from nnstudio.core.examples import load_example
from nnstudio.core.files import check_output_folder
from nnstudio.core.project import Project, load_project

if TYPE_CHECKING:
    from nnstudio.train.trainer import EpochMetrics, TrainingRun

EXIT_INTERRUPTED = 130


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", help="a project file (.nns)")
    parser.add_argument("--example", metavar="NAME", help="train a bundled example (see 'nnstudio examples')")
    parser.add_argument("--epochs", type=int, metavar="N", help="number of epochs (default: the project's)")
    parser.add_argument("--batch-size", type=int, metavar="B", help="samples per step")
    parser.add_argument("--lr", type=finite_number, metavar="LR", help="learning rate")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"),
                        help="where to train (default: the project's, usually auto = CUDA, MPS, then CPU)")
    parser.add_argument("--seed", type=int, metavar="S", help="random seed (same seed, same run on the CPU)")
    parser.add_argument("--out", metavar="DIR",
                        help="output folder (default: a new folder in the project's runs folder, NAME.runs/ "
                             "beside it; the user data folder for examples)")
    parser.add_argument("--resume", metavar="CKPT", help="continue from a checkpoint.pth of an earlier run")
    parser.add_argument("--telemetry", action="store_true",
                        help="sample per-layer statistics while training: telemetry.csv in the output folder, "
                             "problems (dead units, exploding gradients...) printed as they appear")
    parser.add_argument("--nproc-per-node", type=int, metavar="N",
                        help="train data-parallel in N worker processes on this machine, started by torchrun "
                             "(one per GPU with --device cuda; gloo workers with --device cpu); --batch-size "
                             "stays the global batch, split across the workers")
    # The window's multi-GPU runs: rank 0 streams its events to this loopback address (JSON lines).
    parser.add_argument("--report-to", metavar="HOST:PORT", help=argparse.SUPPRESS)
    # ... and rank 0 records the run as the window's, for the project the window has open.
    parser.add_argument("--record-source", choices=("cli", "window"), help=argparse.SUPPRESS)
    parser.add_argument("--project-path", metavar="PATH", help=argparse.SUPPRESS)


def load_for_training(args: argparse.Namespace) -> tuple[Project, Path]:
    """Return the project with the command-line overrides applied, and its default output folder."""
    if bool(args.path) == bool(args.example):
        raise UsageError("give a project file or --example NAME (one of the two)")
    project = load_example(args.example) if args.example else load_project(args.path)
    from pydantic import ValidationError

    overrides = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "device": args.device,
                 "seed": args.seed}
    for field, value in overrides.items():
        if value is None:
            continue
        try:
            setattr(project.settings, field, value)
        except ValidationError as exc:
            reason = exc.errors()[0]["msg"]
            raise UsageError(f"--{field.replace('_', '-')} {value}: {reason}") from None
    from nnstudio.experiments.folders import runs_folder_for

    runs = runs_folder_for(args.path, example=args.example)
    return project, runs / time.strftime("%Y%m%d-%H%M%S")


def run(args: argparse.Namespace) -> int:
    from nnstudio.train.distributed import launched_by_torchrun

    if launched_by_torchrun():  # a worker of torchrun (ours from --nproc-per-node, or a multi-node one)
        from nnstudio.cli.train_parallel import run_worker

        return run_worker(args)
    if args.nproc_per_node is not None:
        from nnstudio.cli.train_parallel import launch

        return launch(args)
    project, default_out = load_for_training(args)
    from nnstudio.compile import analyze
    from nnstudio.experiments import RunRecorder, ensure_folder, new_run_folder
    from nnstudio.train.checkpoints import read_checkpoint_file
    from nnstudio.train.outputs import expected_output_bytes, write_outputs_or_rescue
    from nnstudio.train.project_run import build_training_run
    from nnstudio.train.weights_files import plausible_file_bytes

    analysis = analyze(project.graph, project.settings)  # the one analysis: training and model.py use it
    training = build_training_run(project, analysis=analysis, on_warning=print_warning)
    checkpoint = read_checkpoint_file(args.resume, plausible_file_bytes(training.model)) if args.resume else None
    # before any epoch: a place that cannot keep the outputs is an error now, not after hours of training
    check_output_folder(Path(args.out) if args.out else default_out, expected_output_bytes(training))
    if checkpoint is not None:
        training.load_checkpoint(checkpoint)
        if training.epochs_done >= project.settings.epochs:
            raise UsageError(f"the checkpoint has already trained {training.epochs_done} epochs; "
                             f"pass --epochs with more than {training.epochs_done} to continue")
    say(f"training {project.name} on {training.device.type}: {training.data.description}", err=True)
    out_dir = ensure_folder(args.out) if args.out else new_run_folder(default_out.parent, default_out.name)
    # The run's record and TensorBoard events go beside its outputs (docs/experiments.md).
    recorder = RunRecorder(training, project, out_dir, source="cli", project_path=args.path, example=args.example,
                           resumed_from=args.resume)
    telemetry = _watch_layers(training) if args.telemetry else None
    reporter = RichReporter(training) if sys.stdout.isatty() else LineReporter(training)
    with recorder, reporter, stop_on_interrupt(training) as interrupted:
        result = training.run()
    for note in result.notes + recorder.problems:
        say(f"note: {note}", err=True)
    rescued = False
    if result.history or checkpoint is not None:
        written = write_outputs_or_rescue(training, out_dir, project, analysis=analysis)
        if telemetry is not None:
            telemetry.write(written.folder)
        say(written.message(out_dir), err=written.rescued)
        rescued = written.rescued
    if result.failure is not None:
        from nnstudio.train.faults import TrainingError

        raise TrainingError(result.failure)  # printed by the command dispatcher, exit status 1
    last = result.last
    if last is not None:
        say(f"final: {_metrics_text(last)}")
    kept = next((m for m in result.history if m.epoch == training.weights_epoch), last)
    if kept is not None and kept is not last:
        say(f"weights written: epoch {kept.epoch} of {last.epoch if last else '?'}, the best validation loss "
            f"(early stopping): {_metrics_text(kept)}")
    if interrupted():
        say(f"stopped by Ctrl+C after epoch {training.epochs_done}", err=True)
        return EXIT_INTERRUPTED
    return 1 if rescued else 0


def _watch_layers(training: TrainingRun) -> Any:
    """Turns on telemetry; returns the log that collects it and prints each new problem once."""
    from nnstudio.train.telemetry_log import TelemetryLog

    log = TelemetryLog()

    def on_sample(sample: Any) -> None:
        for problem in log.add(sample):
            say(f"telemetry: epoch {sample.epoch} step {sample.step}: {problem}", err=True)

    training.enable_telemetry()
    training.events.telemetry.connect(on_sample)
    return log


def print_warning(problem: Any) -> None:
    """Print a lint warning the run trains through, as ``nnstudio check`` words it."""
    say(problem, err=True)
    if problem.fix is not None:
        say(f"    fix (in the window): {problem.fix.description}", err=True)


@contextmanager
def stop_on_interrupt(training: TrainingRun) -> Iterator[Any]:
    """Turn the first Ctrl+C into ``training.stop()``; a second one raises KeyboardInterrupt."""
    hits: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        hits.append(signum)
        if len(hits) > 1:
            raise KeyboardInterrupt
        training.stop()

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: no signal handling, the caller stops the run
        yield lambda: False
        return
    try:
        yield lambda: bool(hits)
    finally:
        signal.signal(signal.SIGINT, previous)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _metrics_text(m: EpochMetrics) -> str:
    if m.train_acc is None:
        quality = f"train_mae {m.train_mae:.4g}  val_mae {m.val_mae:.4g}"
    else:
        quality = f"train_acc {_percent(m.train_acc)}  val_acc {_percent(m.val_acc)}"
    return (f"train_loss {m.train_loss:.4f}  val_loss {m.val_loss:.4f}  {quality}  lr {m.lr:.3g}  "
            f"{m.epoch_time_s:.2f}s  {m.samples_per_s:,.0f} samples/s")


class LineReporter:
    """One line per epoch on stdout (for logs and pipes)."""

    def __init__(self, training: TrainingRun) -> None:
        self.training = training
        self.width = len(str(training.settings.epochs))

    def __enter__(self) -> LineReporter:
        self.training.events.epoch_end.connect(self.on_epoch)
        return self

    def __exit__(self, *exc: object) -> None:
        self.training.events.epoch_end.disconnect(self.on_epoch)

    def on_epoch(self, m: EpochMetrics) -> None:
        total = self.training.settings.epochs
        say(f"epoch {m.epoch:>{self.width}}/{total}  {_metrics_text(m)}", flush=True)


class RichReporter:
    """A live progress bar: epoch, loss, accuracy, samples/s and the time left."""

    def __init__(self, training: TrainingRun) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.training = training
        self.progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}/{task.fields[epochs]}"), BarColumn(),
            TextColumn("loss {task.fields[loss]}"), TextColumn("acc {task.fields[acc]}"),
            TextColumn("{task.fields[speed]} samples/s"), TimeRemainingColumn(), transient=False)
        steps = training.steps_per_epoch
        done = training.epochs_done
        self.task = self.progress.add_task(
            "train", total=steps * training.settings.epochs, completed=steps * done, epoch=done + 1,
            epochs=training.settings.epochs, loss="-", acc="-", speed="-")
        self.last_update = 0.0

    def __enter__(self) -> RichReporter:
        self.progress.start()
        self.training.events.batch_end.connect(self.on_batch)
        self.training.events.epoch_end.connect(self.on_epoch)
        return self

    def __exit__(self, *exc: object) -> None:
        self.training.events.batch_end.disconnect(self.on_batch)
        self.training.events.epoch_end.disconnect(self.on_epoch)
        self.progress.stop()

    def on_batch(self, epoch: int, step: int, steps: int, loss: float | None, lr: float, speed: float) -> None:
        now = time.perf_counter()
        if now - self.last_update < 0.1 and step != steps:
            return  # rich redraws ~10 times a second anyway; skip the bookkeeping in between
        self.last_update = now
        fields: dict[str, Any] = {"epoch": epoch, "speed": f"{speed:,.0f}"}
        if loss is not None:
            fields["loss"] = f"{loss:.4f}"
        self.progress.update(self.task, completed=(epoch - 1) * steps + step, **fields)

    def on_epoch(self, m: EpochMetrics) -> None:
        acc = _percent(m.val_acc) if m.val_acc is not None else f"mae {m.val_mae:.3g}"
        self.progress.update(self.task, acc=acc, loss=f"{m.val_loss:.4f}")
        self.progress.console.print(f"epoch {m.epoch}  {_metrics_text(m)}", highlight=False)

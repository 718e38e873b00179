"""``nnstudio train ... --nproc-per-node N`` and the worker side of ``torchrun -m nnstudio train``.

:func:`launch` (N given, not inside a worker) checks the project, then runs torchrun's launcher,
which starts N copies of ``python -m nnstudio train`` with the same arguments as workers.
:func:`run_worker` is what each of those (and each worker of a multi-machine ``torchrun``) runs:
join the process group, train this worker's share, and on rank 0 print progress and write the
outputs after every epoch (so the last epoch's checkpoint survives any fault) and at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nnstudio.cli import UsageError

EXIT_INTERRUPTED = 130


def worker_arguments(args: argparse.Namespace, out_dir: Path) -> list[str]:
    """Return the ``nnstudio train`` arguments each worker gets (the options given, the folder fixed)."""
    words = [args.path] if args.path else ["--example", args.example]
    for option in ("epochs", "batch_size", "lr", "device", "seed", "resume", "report_to"):
        value = getattr(args, option, None)
        if value is not None:
            words += [f"--{option.replace('_', '-')}", str(value)]
    return [*words, "--out", str(out_dir.resolve())]


def launch(args: argparse.Namespace) -> int:
    """Start ``args.nproc_per_node`` workers on this machine and wait for them; return the exit status."""
    from nnstudio.cli.train import load_for_training

    count = args.nproc_per_node
    if count < 1:
        raise UsageError(f"--nproc-per-node {count}: give 1 or more workers")
    project, default_out = load_for_training(args)
    out_dir = Path(args.out) if args.out else default_out
    from nnstudio.compile import analyze
    from nnstudio.compile.compiler import require_valid
    from nnstudio.train.distributed import worker_device
    from nnstudio.train.launch import LaunchInterrupted, launch_workers

    require_valid(analyze(project.graph, project.settings))  # network errors before N processes start
    device, backend = worker_device(project.settings.device, count - 1)
    threads = max(1, (os.cpu_count() or 1) // count) if device.type == "cpu" else None
    print(f"starting {count} data-parallel worker{'s' if count != 1 else ''} with torchrun "
          f"({device.type}, {backend})", file=sys.stderr, flush=True)
    try:
        launch_workers(worker_arguments(args, out_dir), count, cpu_threads=threads)
    except LaunchInterrupted as stopped:
        print(f"{stopped}; the workers stopped after their current step", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


@contextmanager
def _recorded() -> Iterator[None]:
    """Write any exception to torchrun's error file, so the launcher can say what this worker hit."""
    try:
        yield
    except BaseException as exc:
        if not isinstance(exc, (KeyboardInterrupt, SystemExit)):
            from torch.distributed.elastic.multiprocessing.errors import ErrorHandler

            ErrorHandler().record_exception(exc)
        raise


def run_worker(args: argparse.Namespace) -> int:
    """Train as one worker of a torchrun group (RANK, WORLD_SIZE, LOCAL_RANK in the environment)."""
    from nnstudio.core.errors import NnstudioError
    from nnstudio.train.distributed import end_worker, start_worker

    try:
        with _recorded():
            from nnstudio.cli.train import load_for_training

            project, default_out = load_for_training(args)
            context = start_worker(project.settings.device)
            try:
                return _train_worker(args, project, Path(args.out) if args.out else default_out, context)
            finally:
                end_worker()
    except NnstudioError:
        if "TORCHELASTIC_ERROR_FILE" in os.environ:
            return 1  # torchrun reads the recorded error and the launcher says it once, for all workers
        raise


def _train_worker(args: argparse.Namespace, project, out_dir: Path, context) -> int:  # noqa: ANN001
    from nnstudio.cli.train import LineReporter, RichReporter, _metrics_text, stop_on_interrupt
    from nnstudio.core.files import FileWriteError, check_output_folder
    from nnstudio.train.checkpoints import read_checkpoint_file
    from nnstudio.train.distributed import termination_held
    from nnstudio.train.faults import TrainingError
    from nnstudio.train.outputs import expected_output_bytes, write_outputs, write_outputs_or_rescue
    from nnstudio.train.project_run import build_training_run
    from nnstudio.train.weights_files import plausible_file_bytes

    training = build_training_run(project, distributed=context)
    checkpoint = read_checkpoint_file(args.resume, plausible_file_bytes(training.model)) if args.resume else None
    main = context.is_main
    if main:  # before any epoch: a place that cannot keep the outputs is an error now, not after hours
        check_output_folder(out_dir, expected_output_bytes(training))
    if checkpoint is not None:
        training.load_checkpoint(checkpoint)
        if training.epochs_done >= project.settings.epochs:
            raise UsageError(f"the checkpoint has already trained {training.epochs_done} epochs; "
                             f"pass --epochs with more than {training.epochs_done} to continue")
    stream = None
    if main:
        failed_writes: list[str] = []

        def write_epoch(_metrics: object) -> None:
            # Every epoch's outputs, so that a fault (a worker killed) still leaves the last epoch
            # resumable. A folder that stops taking them is said once; the end of the run rescues them.
            try:
                with termination_held():
                    write_outputs(training, out_dir, project)
            except FileWriteError as exc:
                if not failed_writes:
                    failed_writes.append(str(exc))
                    training.events.note.emit(f"could not write this epoch's outputs: {exc}")

        training.events.epoch_end.connect(write_epoch)
        print(f"training {project.name} with {context.describe()}: {training.data.description}",
              file=sys.stderr, flush=True)
        if getattr(args, "report_to", None):
            from nnstudio.train.run_stream import RunStreamWriter

            stream = RunStreamWriter.connect(args.report_to, training, context)
    reporter = (RichReporter(training) if sys.stdout.isatty() else LineReporter(training)) \
        if main and stream is None else None
    rescued: str | None = None
    try:
        with stop_on_interrupt(training) as interrupted:
            if reporter is not None:
                with reporter:
                    result = training.run()
            else:
                result = training.run()
        if main:
            for note in result.notes:
                print(f"note: {note}", file=sys.stderr)
            if result.history or checkpoint is not None:
                with termination_held():
                    written = write_outputs_or_rescue(training, out_dir, project)
                if not written.rescued:
                    print(written.message(out_dir), flush=True)
                rescued = written.message(out_dir) if written.rescued else None
        if stream is not None:
            stream.ended(result, training)
    finally:
        if stream is not None:
            stream.close()
    if result.failure is not None:
        raise TrainingError(result.failure)
    if main and result.last is not None:
        print(f"final: {_metrics_text(result.last)}", flush=True)
    if main and interrupted():
        print(f"stopped after epoch {training.epochs_done}", file=sys.stderr)
    if rescued:
        from nnstudio.core.errors import NnstudioError

        raise NnstudioError(rescued)  # the launcher says it, with the rank, and exits 1
    return 0

"""``nnstudio train ... --nproc-per-node N`` and the worker side of ``torchrun -m nnstudio train``.

:func:`launch` (N given, not inside a worker) checks the project, then runs torchrun's launcher,
which starts N copies of ``python -m nnstudio train`` with the same arguments as workers.
:func:`run_worker` is what each of those (and each worker of a multi-machine ``torchrun``) runs:
join the process group, train this worker's share, and on rank 0 print progress and write the
outputs after every epoch (so the last epoch's checkpoint survives any fault) and at the end.
"""

from __future__ import annotations

import argparse
import contextlib
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
    for option in ("epochs", "batch_size", "lr", "device", "seed", "resume", "report_to", "record_source",
                   "project_path"):
        value = getattr(args, option, None)
        if value is not None:
            words += [f"--{option.replace('_', '-')}", str(value)]
    if getattr(args, "telemetry", False):
        words.append("--telemetry")
    return [*words, "--out", str(out_dir.resolve())]


def launch(args: argparse.Namespace) -> int:
    """Start ``args.nproc_per_node`` workers on this machine and wait for them; return the exit status."""
    from nnstudio.cli.train import load_for_training

    count = args.nproc_per_node
    if count < 1:
        raise UsageError(f"--nproc-per-node {count}: give 1 or more workers")
    project, default_out = load_for_training(args)
    from nnstudio.compile import analyze
    from nnstudio.compile.compiler import require_valid
    from nnstudio.experiments import ensure_folder, new_run_folder
    from nnstudio.train.distributed import worker_device
    from nnstudio.train.launch import DistributedRunError, LaunchInterrupted, launch_workers

    require_valid(analyze(project.graph, project.settings))  # network errors before N processes start
    device, backend = worker_device(project.settings.device, count - 1)
    # The run's folder (outputs, record, TensorBoard events), as a single-device run makes it.
    out_dir = ensure_folder(args.out) if args.out else new_run_folder(default_out.parent, default_out.name)
    threads = max(1, (os.cpu_count() or 1) // count) if device.type == "cpu" else None
    print(f"starting {count} data-parallel worker{'s' if count != 1 else ''} with torchrun "
          f"({device.type}, {backend})", file=sys.stderr, flush=True)
    try:
        launch_workers(worker_arguments(args, out_dir), count, cpu_threads=threads)
    except LaunchInterrupted as stopped:
        close_record(out_dir, "stopped", f"{stopped}")
        print(f"{stopped}; the workers stopped after their current step", file=sys.stderr)
        return EXIT_INTERRUPTED
    except DistributedRunError as failed:
        close_record(out_dir, "failed", str(failed), failed.rank)
        raise
    return 0


def close_record(folder: Path, status: str, reason: str, rank: int | None = None) -> None:
    """End the run record rank 0 left open in ``folder`` (it was killed, or stopped by torchrun).

    A worker that dies takes rank 0 down with it (torchrun stops the others), usually before rank 0
    could close its record: the launcher, which outlives them all, says how the run ended. A record
    rank 0 closed itself keeps its words, unless another rank failed first (rank 0's account is then
    only the knock-on of that failure).
    """
    from nnstudio.experiments.records import RECORD_FILE, read_run, write_record

    if not (folder / RECORD_FILE).is_file():
        return
    record = read_run(folder)
    if record.status in ("damaged", "finished") or (record.ended and (rank in (None, 0) or status != "failed")):
        return
    record.status, record.reason = status, reason
    record.final = dict(record.epochs[-1]) if record.epochs else {}
    try:
        write_record(record)
    except (OSError, ValueError) as exc:
        print(f"note: the run record in {folder} could not be closed: {exc}", file=sys.stderr)


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
    from nnstudio.cli.train import LineReporter, RichReporter, _metrics_text, print_warning, stop_on_interrupt
    from nnstudio.core.files import FileWriteError, check_output_folder
    from nnstudio.train.checkpoints import read_checkpoint_file
    from nnstudio.train.distributed import termination_held
    from nnstudio.train.faults import TrainingError
    from nnstudio.train.outputs import expected_output_bytes, write_outputs, write_outputs_or_rescue
    from nnstudio.train.project_run import build_training_run
    from nnstudio.train.weights_files import plausible_file_bytes

    main = context.is_main
    # The warnings the run trains through, said once (by rank 0) as a single-device run says them.
    training = build_training_run(project, distributed=context, on_warning=print_warning if main else None)
    checkpoint = read_checkpoint_file(args.resume, plausible_file_bytes(training.model)) if args.resume else None
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
    # Rank 0 records the run in its folder as a single-device run does (run.json, project.nns,
    # TensorBoard events; docs/experiments.md): its epochs are every worker's, all-reduced.
    recorder = _recorder(args, training, project, out_dir, context) if main else contextlib.nullcontext()
    telemetry = _telemetry(args, training, stream) if main else None
    reporter = (RichReporter(training) if sys.stdout.isatty() else LineReporter(training)) \
        if main and stream is None else contextlib.nullcontext()
    rescued: str | None = None
    try:
        with recorder, reporter, stop_on_interrupt(training) as interrupted:
            result = training.run()
        if main:
            for note in result.notes + getattr(recorder, "problems", []):
                print(f"note: {note}", file=sys.stderr)
                if stream is not None and note not in result.notes:
                    stream.note(f"recording the run: {note}")
            if result.history or checkpoint is not None:
                with termination_held():
                    written = write_outputs_or_rescue(training, out_dir, project)
                    if telemetry is not None:
                        telemetry.write(written.folder)
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


def _recorder(args: argparse.Namespace, training, project, out_dir: Path, context):  # noqa: ANN001, ANN202
    """Return rank 0's RunRecorder of the run, keeping its record in ``out_dir`` beside the outputs."""
    from nnstudio.experiments import RunRecorder

    source = getattr(args, "record_source", None) or "cli"
    project_path = getattr(args, "project_path", None) or args.path
    # The window resumes from a private copy of the checkpoint, gone after the run: not worth naming.
    resumed_from = args.resume if source != "window" else None
    recorder = RunRecorder(training, project, out_dir, source=source, project_path=project_path,
                           example=args.example, resumed_from=resumed_from)
    # One device does not say where a data-parallel run trained: "2 workers on cuda (nccl)" does.
    recorder.record.device = context.describe()
    return recorder


def _telemetry(args: argparse.Namespace, training, stream):  # noqa: ANN001, ANN202
    """Turn on rank 0's per-layer telemetry when asked; return the log that writes telemetry.csv.

    ``--telemetry`` prints problems and keeps telemetry.csv as a single-device run does; a run the
    window started (``stream``) samples at the window's budget and streams each sample back.
    Only rank 0 watches its steps: its activations are those of its share of each batch, and the
    gradients it reads are already every worker's (DDP averages them in backward).
    """
    log = None
    if args.telemetry:
        from nnstudio.cli.train import _watch_layers

        log = _watch_layers(training)
    if stream is not None:
        stream.stream_telemetry(log is None)
    return log

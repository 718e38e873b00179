"""Starting data-parallel workers with torchrun's own launcher, and saying why a run of them failed.

``nnstudio train PROJECT --nproc-per-node N`` calls :func:`launch_workers`, which runs
``torch.distributed.run`` (what the ``torchrun`` command runs) in standalone mode: a rendezvous on
this machine, N copies of ``python -m nnstudio train PROJECT ...`` as workers, each with RANK,
WORLD_SIZE and LOCAL_RANK set. Several machines use ``torchrun`` itself with the same module, so
both paths run the very same worker code.

torchrun watches the workers: when one dies (an exception, a kill, the out-of-memory killer) it stops
the others and raises ``ChildFailedError``, which :func:`describe_failure` turns into one sentence
naming the rank and the cause (workers record their exception in torchrun's error file). A Ctrl+C
reaches the launcher, which forwards it once to every worker; they stop together after the current
step and rank 0 writes the outputs of the last complete epoch. Whatever happens, no worker outlives
the launcher (:func:`reap_children`, and each worker asks to die with its parent).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator, Sequence
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from typing import Any

from nnstudio.core.errors import NnstudioError

#: Seconds torchrun gives workers to finish after a Ctrl+C or a failure before it kills them.
SHUTDOWN_TIMEOUT_S = 30


class DistributedRunError(NnstudioError):
    """A data-parallel run failed; ``rank`` names the first worker that failed (None: the launcher)."""

    def __init__(self, message: str, rank: int | None = None) -> None:
        self.rank = rank
        super().__init__(message)


class LaunchInterrupted(NnstudioError):  # noqa: N818 - an outcome, not a fault
    """The launcher was interrupted (Ctrl+C, SIGTERM); the workers were told to stop."""


def describe_failure(failures: dict[int, Any]) -> tuple[int, str]:
    """Return (rank, sentence) for the worker that failed first, from torchrun's failure records.

    A worker that raised says its exception (recorded in torchrun's error file); one that was killed
    says by which signal, with a hint for SIGKILL (often the out-of-memory killer).
    """
    rank, failure = min(failures.items(), key=lambda item: (_is_knock_on(item[1]),
                                                           getattr(item[1], "timestamp", 0), item[0]))
    message = _message_of(failure)
    exitcode = int(getattr(failure, "exitcode", 1))
    pid = getattr(failure, "pid", "?")
    if exitcode < 0:
        name = failure.signal_name()
        hint = " (killed from outside, or by the system when memory ran out)" if name == "SIGKILL" else ""
        return rank, f"worker rank {rank} (pid {pid}) was killed by {name}{hint}; the run was stopped"
    if not message or message.startswith("To enable traceback"):
        return rank, f"worker rank {rank} (pid {pid}) exited with status {exitcode}; the run was stopped"
    kind, _, rest = message.partition(": ")
    if rest and kind in _nnstudio_error_names():  # our errors are sentences already; Python's keep their type
        message = rest
    return rank, f"worker rank {rank} failed: {message}"


#: Words of the errors a worker gets when a peer has gone: a consequence, not the cause.
_KNOCK_ON = ("connection closed by peer", "connection reset", "broken pipe", "remote process exited",
             "nccl communicator was aborted", "socket timeout", "timed out")


def _nnstudio_error_names() -> set[str]:
    names, todo = set(), [NnstudioError]
    while todo:
        kind = todo.pop()
        names.add(kind.__name__)
        todo.extend(kind.__subclasses__())
    return names


def _message_of(failure: Any) -> str:
    message = getattr(failure, "message", "")
    if isinstance(message, dict):
        message = message.get("message", "")
    return str(message or "").strip()


def _is_knock_on(failure: Any) -> bool:
    """Return True for a failure that followed another worker's: torchrun's SIGTERM to the others
    once one had failed, or a collective's error when its peer went away."""
    if int(getattr(failure, "exitcode", 1)) == -signal.SIGTERM:
        return True
    lowered = _message_of(failure).lower()
    return any(words in lowered for words in _KNOCK_ON)


def launch_workers(worker_args: Sequence[str], nproc_per_node: int, *, cpu_threads: int | None = None,
                   environment: dict[str, str] | None = None) -> None:
    """Run ``python -m nnstudio train <worker_args>`` in ``nproc_per_node`` workers on this machine.

    Returns when every worker has finished. Raises DistributedRunError naming the failed rank and
    its cause, or LaunchInterrupted when a signal stopped the run. ``cpu_threads`` sets each
    worker's intra-op threads (OMP_NUM_THREADS) unless the environment already does.
    """
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    if nproc_per_node < 1:
        raise DistributedRunError(f"--nproc-per-node {nproc_per_node}: give 1 or more workers")
    extra = dict(environment or {})
    if cpu_threads is not None and "OMP_NUM_THREADS" not in os.environ:
        extra["OMP_NUM_THREADS"] = str(max(1, cpu_threads))
    extra.setdefault("TORCH_ELASTIC_SHUTDOWN_TIMEOUT", str(SHUTDOWN_TIMEOUT_S))
    options = parse_args(["--standalone", f"--nproc-per-node={nproc_per_node}", "--max-restarts=0",
                          "--monitor-interval=0.1", "--module", "nnstudio", "train", *worker_args])
    before = _child_pids()
    try:
        with _environment(extra), _quiet_launcher_logs():
            run(options)
    except ChildFailedError as exc:
        rank, sentence = describe_failure(exc.failures)
        raise DistributedRunError(sentence, rank) from None
    except SignalException as exc:
        raise LaunchInterrupted(f"stopped by {signal.Signals(exc.sigval).name}") from None
    except KeyboardInterrupt:
        raise LaunchInterrupted("stopped by Ctrl+C") from None
    finally:
        reap_children(exclude=before)


def _child_pids() -> set[int]:
    import psutil

    return {child.pid for child in psutil.Process().children(recursive=True)}


def reap_children(exclude: AbstractSet[int] = frozenset(), timeout_s: float = 5.0) -> list[int]:
    """Kill the processes this one started (but those in ``exclude``) that still run; return their pids.

    torchrun stops its workers itself; this is the guarantee for the cases it cannot handle (a
    second Ctrl+C while it was stopping them).
    """
    import psutil

    children = [child for child in psutil.Process().children(recursive=True) if child.pid not in exclude]
    alive = []
    for child in children:
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                alive.append(child)
        except psutil.Error:
            pass
    for child in alive:
        try:
            child.terminate()
        except psutil.Error:
            pass
    _gone, still = psutil.wait_procs(alive, timeout=timeout_s)
    for child in still:
        try:
            child.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(still, timeout=timeout_s)
    return [child.pid for child in alive]


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables (inherited by the workers) for the launch only."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _quiet_launcher_logs() -> Iterator[None]:
    """Keep torchrun's own warnings (restarts, rendezvous details) off a person's terminal.

    Failures are said once, by :func:`describe_failure`; torchrun would print them as a table too.
    """
    import logging

    names = ("torch.distributed.run", "torch.distributed.elastic", "torch.distributed.launcher.api")
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)

"""Data-parallel training on ``torch.distributed``: the worker side of a run launched by torchrun.

Every worker is one process with one device (``cuda:LOCAL_RANK`` with NCCL, or the CPU with gloo),
started by torchrun (``nnstudio train --nproc-per-node N`` runs torchrun's own launcher; several
machines run ``torchrun ... -m nnstudio train``), which sets RANK, WORLD_SIZE and LOCAL_RANK.

How a run means the same whatever the worker count: every worker draws the same permutation of the
training set from the run's seed each epoch (as a single-device run does), cuts it into the same
global batches of ``batch_size``, and trains on its contiguous share of each batch. Each worker's loss
is weighted by its share of the batch, so the gradient DistributedDataParallel averages is exactly
the single-device gradient of the whole batch, the ragged last batch included. A worker whose share
of a short last batch is empty runs one sample with weight 0, keeping the collective calls in step.
So every sample is seen once per epoch, and the weights follow a single-device run up to float
summation order (BatchNorm excepted: each worker normalises over its own share, as with DDP).

Metrics (loss, accuracy, MAE, confusion) are sums all-reduced at the end of each epoch, and the
validation set is split the same way. Stop and pause are agreed by all workers: every
``check_every`` steps (rank 0 picks the count so that checks happen about 10 times a second) the
workers all-reduce their stop/pause flags, so they stop at the same step and never wait on a
collective that another worker skipped. Only rank 0 writes files.
"""

from __future__ import annotations

import ctypes
import gc
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from nnstudio.core.errors import NnstudioError

#: The environment torchrun gives each worker.
TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
#: Workers agree on stop/pause about this often (seconds); each agreement is one small all-reduce.
CONTROL_INTERVAL_S = 0.1
#: While paused, the workers re-check the flags this often (the collectives stay alive, far below
#: any collective time-out).
PAUSE_POLL_S = 0.1


class DistributedSetupError(NnstudioError):
    """A data-parallel run cannot start here (no such devices, no backend); the message says why."""


@dataclass(frozen=True)
class WorkerContext:
    """Who this worker is in the group and what it trains on."""

    rank: int
    world_size: int
    local_rank: int
    backend: str
    device: torch.device

    @property
    def is_main(self) -> bool:
        """True on rank 0, the one worker that reports and writes files."""
        return self.rank == 0

    def describe(self) -> str:
        """Return e.g. ``2 workers on cuda (nccl)``."""
        return f"{self.world_size} worker{'s' if self.world_size != 1 else ''} on {self.device.type} ({self.backend})"


def launched_by_torchrun(environ: dict[str, str] | None = None) -> bool:
    """Return True in a process that torchrun (or ``--nproc-per-node``) started as a worker."""
    env = os.environ if environ is None else environ
    return all(name in env for name in TORCHRUN_VARIABLES)


def worker_device(requested: str, local_rank: int) -> tuple[torch.device, str]:
    """Return (device, backend) for the worker with ``local_rank``: NCCL on CUDA, gloo on the CPU.

    Raises DistributedSetupError for MPS (torch.distributed has no backend for it) or a machine with
    fewer CUDA devices than local workers.
    """
    name = (requested or "auto").lower()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu"), "gloo"
    if name == "mps":
        raise DistributedSetupError("data-parallel training runs on CUDA GPUs (NCCL) or CPUs (gloo); "
                                    "torch.distributed has no backend for Apple MPS: use --device cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise DistributedSetupError("--device cuda: no CUDA GPU was found on this machine; use --device cpu")
        count = torch.cuda.device_count()
        if local_rank >= count:
            raise DistributedSetupError(f"worker {local_rank} needs a GPU of its own but this machine has "
                                        f"{count}; use --nproc-per-node {count} or fewer")
        return torch.device("cuda", local_rank), "nccl" if dist.is_nccl_available() else "gloo"
    raise DistributedSetupError(f"unknown device {requested!r}; choose auto, cpu or cuda")


def start_worker(requested_device: str) -> WorkerContext:
    """Join the process group torchrun set up (from the environment); return this worker's context.

    Also makes sure this worker dies with its launcher, so a launcher killed outright leaves no
    worker behind.
    """
    _die_with_parent()
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ["LOCAL_RANK"])
    device, backend = worker_device(requested_device, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        options: dict[str, Any] = {"device_id": device} if backend == "nccl" else {}
        dist.init_process_group(backend, **options)
    return WorkerContext(rank, world, local_rank, backend, device)


def end_worker() -> None:
    """Leave the process group (every exit path of a worker calls this; a second call does nothing).

    Unreferenced runs are collected first: a DDP wrapper kept alive by a reference cycle (event
    connections make them) would otherwise outlive the group until interpreter exit, where tearing
    down gloo's threads can abort the process.
    """
    gc.collect()
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


@contextmanager
def termination_held() -> Iterator[None]:
    """Hold off SIGTERM (torchrun's stop after another worker failed) while the block runs.

    Rank 0 writes an epoch's files inside it, so a stop that lands mid-write ends the process right
    after the last file, never between two (the checkpoint and metrics.csv always agree). Outside
    such blocks SIGTERM keeps its default action: it ends a worker at once, even one waiting inside
    a collective for a peer that is gone. Main thread and POSIX only; elsewhere the block just runs.
    """
    if not hasattr(signal, "SIGTERM") or threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: arrived.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        if arrived:
            os.kill(os.getpid(), signal.SIGTERM)  # now, with the files whole


def _die_with_parent() -> None:
    """Have the kernel (Linux) or a watchdog thread (elsewhere) end this process when its parent ends."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            pr_set_pdeathsig = 1
            if libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0) == 0:
                if os.getppid() != parent:  # the parent went before the request took effect
                    os._exit(1)
                return
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="nnstudio-parent-watch", daemon=True).start()


def shard_bounds(count: int, world_size: int, rank: int) -> tuple[int, int]:
    """Return ``(start, stop)`` of worker ``rank``'s contiguous share of ``count`` items.

    Shares differ by at most one item; the first ``count % world_size`` workers get the extra one.
    """
    base, extra = divmod(count, world_size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


class DataParallel:
    """The data-parallel part of a training run: wrapping, batch shares, agreed control, sums.

    :class:`nnstudio.train.trainer.TrainingRun` holds one when it runs in a worker group.
    """

    def __init__(self, context: WorkerContext) -> None:
        self.context = context
        self.rank, self.world = context.rank, context.world_size
        self.device = context.device
        self._next_check = 1
        self._steps_seen = 0
        self._last_check_time = time.perf_counter()

    def wrap(self, model: nn.Module) -> nn.Module:
        """Return ``model`` wrapped in DistributedDataParallel (the trainer keeps the plain module).

        Gradients are views into DDP's communication buckets (no second copy of them).
        """
        from torch.nn.parallel import DistributedDataParallel

        if not any(p.requires_grad for p in model.parameters()):
            return model  # nothing to synchronise: DDP refuses a network without trainable weights
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids, gradient_as_bucket_view=True)

    # --- batches --------------------------------------------------------------------------------

    def share(self, global_index: torch.Tensor) -> tuple[torch.Tensor, float]:
        """Return this worker's indices of one global batch and its loss weight.

        The weight makes DDP's average of the workers' weighted mean losses equal the mean loss of
        the whole batch; a worker with no share trains one sample with weight 0.
        """
        size = int(global_index.shape[0])
        start, stop = shard_bounds(size, self.world, self.rank)
        if stop == start:
            return global_index[:1], 0.0
        return global_index[start:stop], (stop - start) * self.world / size

    def batch_weight(self, step: int, n: int, batch_size: int) -> float:
        """Return the loss weight of this worker's share of global batch ``step`` (1-based) of ``n`` samples."""
        size = min(batch_size, n - (step - 1) * batch_size)
        start, stop = shard_bounds(size, self.world, self.rank)
        return (stop - start) * self.world / size if stop > start else 0.0

    def validation_bounds(self, n: int) -> tuple[int, int]:
        """Return this worker's contiguous share of a validation set of ``n`` samples."""
        return shard_bounds(n, self.world, self.rank)

    # --- agreement between workers -----------------------------------------------------------------

    def control_due(self) -> bool:
        """Count one step; return True when the workers agree on stop/pause before this step."""
        self._steps_seen += 1
        return self._steps_seen >= self._next_check

    def agree(self, stop: bool, paused: bool) -> tuple[bool, bool]:
        """All-reduce the stop/pause flags; return what the group decided (any worker's flag counts).

        Rank 0 also sends how many steps to run until the next agreement, from its recent step rate.
        """
        now = time.perf_counter()
        every = 0.0
        if self.rank == 0:
            rate = self._steps_seen / max(now - self._last_check_time, 1e-6)
            every = float(max(1, min(10_000, int(rate * CONTROL_INTERVAL_S))))
        flags = torch.tensor([float(stop), float(paused), every], device=self.device)
        dist.all_reduce(flags)
        self._steps_seen = 0
        self._next_check = max(1, int(flags[2].item()))
        self._last_check_time = time.perf_counter()
        return bool(flags[0].item() > 0), bool(flags[1].item() > 0)

    def hold_while_paused(self, is_stopped: Any, is_paused: Any) -> bool:
        """Wait, agreeing every ``PAUSE_POLL_S``, until no worker is paused; return True to stop."""
        while True:
            time.sleep(PAUSE_POLL_S)
            stop, paused = self.agree(is_stopped(), is_paused())
            if stop:
                return True
            if not paused:
                self._next_check = 1  # agree again at the next step: rates are stale after a pause
                return False

    def sum(self, values: list[Any]) -> list[float]:
        """Return the element-wise sums of ``values`` (numbers or 0-d tensors) over all workers."""
        packed = torch.tensor([float(v) for v in values], dtype=torch.float64, device=self.device)
        dist.all_reduce(packed)
        return packed.tolist()

    def sum_tensor_(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum ``tensor`` over all workers in place; return it."""
        dist.all_reduce(tensor)
        return tensor


class ShardedBatches:
    """A batch sampler: one worker's contiguous share of each global batch of a shared permutation.

    Every worker draws the same permutation of ``n`` samples from ``generator`` (seeded alike), so
    the shares cover each sample once per epoch. An empty share yields the batch's first sample
    (the trainer weights it 0).
    """

    def __init__(self, n: int, batch_size: int, rank: int, world: int, generator: torch.Generator) -> None:
        self.n, self.batch_size, self.rank, self.world = n, batch_size, rank, world
        self.generator = generator

    def __len__(self) -> int:
        return max(1, math.ceil(self.n / self.batch_size))

    def __iter__(self) -> Any:
        order = torch.randperm(self.n, generator=self.generator).tolist()
        for start in range(0, self.n, self.batch_size):
            batch = order[start:start + self.batch_size]
            begin, stop = shard_bounds(len(batch), self.world, self.rank)
            yield batch[begin:stop] if stop > begin else batch[:1]

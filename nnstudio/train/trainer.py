"""``TrainingRun``: trains any ``nn.Module`` on a :class:`DatasetBundle` and reports through events.

Usage (the GUI runs ``run()`` in a worker thread; the CLI in the main thread)::

    run = TrainingRun(model, bundle, settings)          # device from settings.device ("auto": best)
    run.events.epoch_end.connect(lambda m: print(m.epoch, m.val_acc))
    result = run.run()                                 # blocks; returns a RunResult
    run.stop(); run.pause(); run.resume()              # thread-safe, honoured between steps

Events (psygnal signals, payloads are plain numbers or frozen dataclasses of plain numbers):

- ``batch_end(epoch, step, steps_per_epoch, loss, lr, samples_per_s)``: after every step. ``loss`` is
  a float on the steps where it was read from the device -- every step on the CPU, at most ~30 times a
  second (and at the last step of an epoch) on a GPU, where reading it forces a host sync -- else None.
- ``epoch_end(EpochMetrics)``; ``note(str)`` (e.g. torch.compile fell back to eager);
- ``telemetry(TelemetrySample)``: every layer's statistics at a sampled step, with the problems they
  show, when the run was made with ``telemetry`` (see :mod:`nnstudio.train.telemetry`);
- ``changed(SettingsChange)``: a change made with ``change_settings()`` took effect (see
  :mod:`nnstudio.train.changes`);
- ``gradients(dict[str, float])``: every parameter's gradient L2 norm by name, measured after backward
  (before clipping) at most once every ``GRADIENT_REPORT_INTERVAL_S``, and only while something is
  connected, so a run nobody watches pays nothing. The norms are computed on the device in one
  batched op and read with a single host sync;
- exactly one of ``finished(RunResult)``, ``stopped(RunResult)``, ``failed(TrainingFailure)`` per run().

Faults never escape ``run()``: a NaN/Inf loss, out of memory, or an exception in a layer end the run
with a :class:`TrainingFailure` (the layer's node id when known), and the model is put back to the
weights of the last good epoch. The run object stays usable: ``run()`` again continues after that epoch.
For a NaN the culprit is the first layer whose output, or whose gradient, turned non-finite: when the
weights are already broken, the epoch is replayed from its start to the step that broke them.

Data-parallel runs: in a torchrun worker, ``TrainingRun(..., distributed=start_worker(device))``
wraps the network in DistributedDataParallel and trains this worker's share of every global batch
(see :mod:`nnstudio.train.distributed`); ``model``, ``weights()`` and ``checkpoint()`` stay the plain
network's, and epoch metrics are all workers' sums, so every worker reports the same numbers.
Settings are not changed mid-run there (each worker would apply the change at another step).
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import torch
from psygnal import Signal, SignalGroup
from torch import nn

from nnstudio.core.errors import NnstudioError
from nnstudio.core.project import Project
from nnstudio.core.settings import TrainingSettings
from nnstudio.train.changes import ChangeableRun, SettingsChange
from nnstudio.train.data import DatasetBundle, TensorData
from nnstudio.train.devices import pick_device
from nnstudio.train.distributed import DataParallel, ShardedBatches, WorkerContext
from nnstudio.train.faults import (
    CulpritSide,
    TrainingFailure,
    blame_layer,
    gradients_are_finite,
    is_out_of_memory,
    release_memory,
    replay_to_failing_node,
)
from nnstudio.train.nan_culprit import NanCulprit, NonFiniteGradient, NonFiniteLoss, culprit_text
from nnstudio.train.recipe import Schedule, make_loss, make_optimizer
from nnstudio.train.state_dicts import WeightsMismatchError, load_state_dict_checked, state_dict_mismatches
from nnstudio.train.telemetry import Telemetry, TelemetryOptions, TelemetrySample

#: On accelerators the running loss is read (a host sync) at most this often.
READS_PER_SECOND = 30
#: The ``gradients`` event fires at most this often (seconds); views refresh no faster anyway.
GRADIENT_REPORT_INTERVAL_S = 1.0
CHECKPOINT_FORMAT = "nnstudio-checkpoint"
CHECKPOINT_VERSION = 1
#: Where the culprit of a NaN sits, by the side the replay found it on (validation runs the forward).
_FAILURE_SIDES: dict[str, CulpritSide] = {"forward": "forward", "validation": "forward", "gradient": "gradient"}


@dataclass(frozen=True)
class EpochMetrics:
    """One epoch's numbers; accuracies are None for regression, MAEs None for classification."""

    epoch: int
    train_loss: float
    train_acc: float | None
    val_loss: float
    val_acc: float | None
    lr: float
    epoch_time_s: float
    samples_per_s: float
    train_mae: float | None = None
    val_mae: float | None = None
    #: Classification: confusion[true][predicted] counts on the validation set.
    confusion: list[list[int]] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunResult:
    """How ``run()`` ended and every epoch's metrics so far."""

    status: Literal["finished", "stopped", "failed"]
    history: list[EpochMetrics]
    failure: TrainingFailure | None = None
    notes: list[str] = field(default_factory=list)
    #: Settings changed while the run trained, in order.
    changes: list[SettingsChange] = field(default_factory=list)

    @property
    def last(self) -> EpochMetrics | None:
        return self.history[-1] if self.history else None


class TrainingEvents(SignalGroup):
    """What a run tells its listeners, from the thread that trains (the types are what each carries)."""

    #: epoch, step, steps per epoch, the loss shown (a float, or None between reads), lr, samples/s
    batch_end = Signal(int, int, int, object, float, float)
    epoch_end = Signal(EpochMetrics)
    note = Signal(str)
    #: parameter name -> gradient norm
    gradients = Signal(dict)
    telemetry = Signal(TelemetrySample)
    changed = Signal(SettingsChange)
    finished = Signal(RunResult)
    stopped = Signal(RunResult)
    failed = Signal(TrainingFailure)


class CheckpointError(NnstudioError):
    """A checkpoint does not fit this run (another network, another format); ``field`` names the part,
    ``path`` the file when it was read from one."""

    def __init__(self, message: str, field: str | None = None, path: str | os.PathLike[str] | None = None) -> None:
        self.field = field
        self.reason = message
        self.path = None if path is None else str(path)
        text = f"checkpoint {field}: {message}" if field else f"checkpoint: {message}"
        super().__init__(f"{path}: {text}" if path is not None else text)


class _StopRequested(Exception):
    pass


class TrainingRun(ChangeableRun, NanCulprit):
    """Trains ``model`` on ``data`` as ``settings`` say; see the module docstring for the protocol."""

    def __init__(self, model: nn.Module, data: DatasetBundle, settings: TrainingSettings, *,
                 device: torch.device | str | None = None, num_workers: int | None = None,
                 project: Project | None = None, read_loss_every_step: bool | None = None,
                 telemetry: TelemetryOptions | bool = False, distributed: WorkerContext | None = None) -> None:
        #: The project trained (graph + settings), when the run was built from one; outputs need it.
        self.project = project
        self.settings = settings
        self.data = data
        #: The worker group's part of the run (None: a single-device run).
        self.parallel = DataParallel(distributed) if distributed is not None else None
        if distributed is not None:
            device = distributed.device
        self.device = device if isinstance(device, torch.device) else pick_device(device or settings.device)
        self.events = TrainingEvents()
        self.history: list[EpochMetrics] = []
        self.notes: list[str] = []
        self.failure: TrainingFailure | None = None
        self.failure_details = ""
        self._stop = threading.Event()
        self._resumed = threading.Event()
        self._resumed.set()
        self._running = threading.Lock()
        self._num_workers = num_workers
        # Reading the loss costs nothing on the CPU but stalls a GPU's queue (a host sync).
        self._read_every_step = (self.device.type == "cpu") if read_loss_every_step is None \
            else read_loss_every_step
        # Seeding before anything random (dropout masks, permutations) makes CPU runs repeatable.
        torch.manual_seed(settings.seed)
        self._order = torch.Generator().manual_seed(settings.seed)
        self.model = model.to(self.device)
        #: What a step calls: the model, or its DistributedDataParallel wrapper (same weights).
        self._eager = self.model if self.parallel is None else self.parallel.wrap(self.model)
        self._forward = self._eager
        #: A worker's loss weight for the batch ``_batches()`` yielded last (None on a single device).
        self._share: float | None = None
        self.loss_fn = make_loss(settings)
        self._train_data, self._val_data = self._place(data)
        self.steps_per_epoch = self._count_steps()
        self.optimizer = make_optimizer(settings, self._trained_parameters(), self.device)
        self.schedule = Schedule(settings, self.optimizer, self.steps_per_epoch)
        self._autocast, self._scaler = self._mixed_precision()
        self._compile_pending = settings.compile
        self._best_val = math.inf
        self._bad_epochs = 0
        #: Early stopping: the best epoch by validation loss and its weights (its snapshot's, no copy).
        self._best_epoch: int | None = None
        self._best_weights: dict[str, torch.Tensor] | None = None
        #: The epoch whose weights the model holds when it is not the last one (early stopping kept the best).
        self._kept_epoch: int | None = None
        #: The step of the current epoch (1-based) being run; failures report it. None: validation.
        self._step_index: int | None = None
        #: The batch of the current step, kept to locate a failing node after a fault.
        self._inputs: torch.Tensor | None = None
        self._next_gradient_report = 0.0
        self._snapshot = self._take_snapshot()
        self._init_changes()
        self._paused_s = 0.0
        self._epoch_number = 0
        #: Training steps taken by this run object (all epochs, all calls of run()).
        self.global_step = 0
        self._check_gradients = False
        self.telemetry: Telemetry | None = None
        if telemetry:
            self.enable_telemetry(None if telemetry is True else telemetry)

    def _trained_parameters(self) -> Any:
        """The optimizer's parameters: the project's frozen layers left out, its multipliers as groups."""
        if self.project is None:
            return self.model.parameters()
        from nnstudio.train.freezing import apply_freezing, parameter_groups

        frozen = apply_freezing(self.model, self.project.graph, self.settings.update_frozen_norms)
        groups = parameter_groups(self.model, self.project.graph)
        if frozen and not groups:
            raise NnstudioError("every layer with weights is frozen, so training would change nothing; switch "
                                "Trainable on for the layers to train (at least the head)")
        return groups

    # --- control (any thread) ------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the run to stop after the current step (also ends a pause)."""
        self._stop.set()
        self._resumed.set()

    def pause(self) -> None:
        """Hold the run before its next step until ``resume()`` or ``stop()``."""
        self._resumed.clear()

    def resume(self) -> None:
        """Continue a paused run."""
        self._resumed.set()

    @property
    def paused(self) -> bool:
        return not self._resumed.is_set()

    def enable_telemetry(self, options: TelemetryOptions | None = None) -> None:
        """Start sampling per-layer statistics (the ``telemetry`` event). In a data-parallel run only
        rank 0 collects. Safe between steps from another thread."""
        if _is_rank_zero():
            self.telemetry = Telemetry(self.model, options)

    def disable_telemetry(self) -> None:
        self.telemetry = None

    @property
    def epochs_done(self) -> int:
        return len(self.history)

    @property
    def weights_epoch(self) -> int:
        """Returns the epoch whose weights the run holds (and writes): the last good one, or the best
        by validation loss when early stopping kept that one (0: no epoch yet)."""
        return self._kept_epoch if self._kept_epoch is not None else self.epochs_done

    # --- setup ---------------------------------------------------------------------------------
    def _place(self, data: DatasetBundle) -> tuple[Any, Any]:
        """Return the splits ready to batch: tensors moved to the device once, or DataLoaders."""
        train_split, val_split = data.train, data.val
        if isinstance(train_split, TensorData) and isinstance(val_split, TensorData):
            return train_split.to(self.device), val_split.to(self.device)
        from torch.utils.data import DataLoader

        # a bundle's splits are both tensors or both datasets
        assert not isinstance(train_split, TensorData) and not isinstance(val_split, TensorData)
        workers = self._num_workers
        if workers is None:
            import os
            workers = 0 if data.train_size < 2048 else min(4, max(1, (os.cpu_count() or 2) - 1))
        common: dict[str, Any] = {"num_workers": workers, "pin_memory": self.device.type == "cuda",
                                  "persistent_workers": workers > 0}
        size = self.settings.batch_size
        # One batch sampler for a single device and for a worker's share (with one worker it gives
        # plain shuffled batches), so a data-parallel run sees exactly a single device's batches,
        # whatever torch's own RandomSampler draws from the generator (it draws an extra permutation
        # at the end of every epoch). The DataLoader draws its base seed from the same generator.
        rank, world = (0, 1) if self.parallel is None else (self.parallel.rank, self.parallel.world)
        sampler = ShardedBatches(data.train_size, size, rank, world, self._order)
        val: Any = val_split
        if self.parallel is not None:
            from torch.utils.data import Subset

            start, stop = self.parallel.validation_bounds(data.val_size)
            val = Subset(val_split, range(start, stop))
        return (DataLoader(train_split, batch_sampler=sampler, generator=self._order, **common),
                DataLoader(val, batch_size=size, shuffle=False, **common))

    def _count_steps(self) -> int:
        if isinstance(self._train_data, TensorData):
            return max(1, math.ceil(len(self._train_data) / self.settings.batch_size))
        return max(1, len(self._train_data))

    def _mixed_precision(self) -> tuple[Any, Any]:
        amp = self.settings.amp
        if amp == "off":
            return None, None
        if self.device.type != "cuda":
            self._note(f"mixed precision ({amp}) runs only on CUDA; training in float32 on {self.device.type}")
            return None, None
        dtype = torch.bfloat16 if amp == "bf16" else torch.float16
        scaler = torch.amp.GradScaler("cuda") if amp == "fp16" else None
        return dtype, scaler

    def _note(self, text: str) -> None:
        self.notes.append(text)
        self.events.note.emit(text)

    # --- snapshots and checkpoints ------------------------------------------------------------
    def _take_snapshot(self) -> dict[str, Any]:
        """Return a copy of the weights, optimizer and schedule (taken after every good epoch)."""
        return {
            "model": {k: v.detach().clone() for k, v in self.model.state_dict().items()},
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "scheduler": copy.deepcopy(self.schedule.state_dict()),
            "rng": torch.get_rng_state(),
            "order": self._order.get_state(),
        }

    def _restore_snapshot(self) -> None:
        snap = self._snapshot
        self.model.load_state_dict(snap["model"])
        self.optimizer.load_state_dict(copy.deepcopy(snap["optimizer"]))
        self.schedule.load_state_dict(copy.deepcopy(snap["scheduler"]))
        torch.set_rng_state(snap["rng"])
        self._order.set_state(snap["order"])

    def weights(self) -> dict[str, torch.Tensor]:
        """Return the state dict of the last good epoch, on the CPU."""
        return {k: v.detach().to("cpu", copy=True) for k, v in self._snapshot["model"].items()}

    @property
    def input_scaling(self) -> Any:
        """Returns the data's :class:`~nnstudio.core.input_scaling.InputScaling` (None: the data is fed as is)."""
        return getattr(self.data, "input_scaling", None)

    def checkpoint(self) -> dict[str, Any]:
        """Return everything needed to resume after the last good epoch (plain tensors, lists, dicts)."""
        snap = self._snapshot
        return {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "epoch": self.epochs_done,
            "model": self.weights(),
            "optimizer": _to_cpu(snap["optimizer"]),
            "scheduler": _to_cpu(snap["scheduler"]),
            "history": [m.as_dict() for m in self.history],
            "settings": self.settings.model_dump(mode="json"),
            "rng": {"torch": snap["rng"], "order": snap["order"]},
            "early_stopping": {"best_val": self._best_val, "bad_epochs": self._bad_epochs,
                               "best_epoch": self._best_epoch, "weights_epoch": self.weights_epoch},
            # What the inputs were standardised with: the run's model takes standardised rows.
            **({"input_scaling": self.input_scaling.as_dict()} if self.input_scaling is not None else {}),
        }

    def load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Continue from ``checkpoint`` (made by ``checkpoint()``): weights, optimizer, epoch, history.

        Raises CheckpointError naming the part that does not fit; the run is then left exactly as it
        was (a half-applied checkpoint would train a mix of two networks).
        """
        from nnstudio.train.checkpoints import validate_checkpoint

        # Every part typed before anything changes (no failure at epoch 3). The weights are held
        # against the network before the optimizer state is: a checkpoint of another network is
        # best explained by its layers ("fc1.weight: shape ..."), not by its optimizer's group sizes.
        validate_checkpoint(checkpoint)
        if isinstance(checkpoint.get("model"), dict):
            mismatches = state_dict_mismatches(self.model, checkpoint["model"])
            if mismatches:
                raise CheckpointError(str(WeightsMismatchError(mismatches)), "model")
        validate_checkpoint(checkpoint, self.optimizer)
        before = (self.history, self._best_val, self._bad_epochs)
        try:
            load_state_dict_checked(self.model, checkpoint.get("model"))
        except WeightsMismatchError as exc:
            raise CheckpointError(str(exc), "model") from None
        part = "optimizer"
        try:
            self.optimizer.load_state_dict(checkpoint["optimizer"])
            part = "scheduler"
            self.schedule.load_state_dict(checkpoint.get("scheduler", {}))
            part = "history"
            self.history = [EpochMetrics(**row) for row in checkpoint.get("history", [])]
            part = "rng"
            rng = checkpoint.get("rng", {})
            if "torch" in rng:
                torch.set_rng_state(rng["torch"])
            if "order" in rng:
                self._order.set_state(rng["order"])
            part = "early_stopping"
            early = checkpoint.get("early_stopping", {})
            self._best_val = float(early.get("best_val", math.inf))
            self._bad_epochs = int(early.get("bad_epochs", 0))
            # The checkpoint holds one set of weights: the best epoch's when early stopping kept them.
            self._best_epoch = _epoch_of(early.get("best_epoch"), len(self.history))
            kept = _epoch_of(early.get("weights_epoch"), len(self.history))
            self._kept_epoch = kept if kept != len(self.history) else None
            self._best_weights = None
        except (ValueError, KeyError, TypeError, AttributeError, RuntimeError, IndexError) as exc:
            self.history, self._best_val, self._bad_epochs = before
            self._restore_snapshot()
            hint = "; was the optimizer changed?" if part == "optimizer" else ""
            raise CheckpointError(f"does not fit or is damaged ({type(exc).__name__}: {exc}){hint}", part) from None
        self._snapshot = self._take_snapshot()

    # --- the loop ------------------------------------------------------------------------------
    def run(self) -> RunResult:
        """Train until ``settings.epochs`` are done, a stop, early stopping or a fault; return the result."""
        if not self._running.acquire(blocking=False):
            raise NnstudioError("this training run is already running")
        self.failure = None
        try:
            return self._run_epochs()
        finally:
            # Cleared at the end, not the start: a stop() that races ahead of run() is still honoured.
            self._stop.clear()
            self._running.release()

    def _run_epochs(self) -> RunResult:
        epoch = self.epochs_done
        try:
            while epoch < self.settings.epochs:
                epoch += 1
                metrics = self._epoch(epoch)
                self.history.append(metrics)
                self._snapshot = self._take_snapshot()
                self.events.epoch_end.emit(metrics)
                if self._early_stop(metrics):
                    break
        except _StopRequested:
            self._restore_snapshot()
            result = RunResult("stopped", list(self.history), notes=list(self.notes), changes=list(self.changes))
            self.events.stopped.emit(result)
            return result
        except NonFiniteLoss as fault:
            step = self._step_index
            node, side = self._nan_culprit(fault)
            where = culprit_text(node, side)
            good = f"epoch {self.epochs_done}" if self.epochs_done else "the start"
            return self._fail(TrainingFailure(
                f"the {'validation ' if fault.validation else ''}loss became {fault.value} in epoch {epoch}{where}. The weights were put back to those "
                f"of {good}. Try a lower learning rate, gradient clipping, or check the data.",
                "nan", node, epoch, step, _FAILURE_SIDES.get(side or "") if node else None))
        except Exception as exc:  # noqa: BLE001 - every fault ends the run cleanly, never the process
            self.failure_details = "".join(traceback.format_exception(exc))
            return self._fail(self._diagnose(exc, epoch))
        result = RunResult("finished", list(self.history), notes=list(self.notes), changes=list(self.changes))
        self.events.finished.emit(result)
        return result

    def _diagnose(self, exc: BaseException, epoch: int) -> TrainingFailure:
        if is_out_of_memory(exc):
            release_memory(self.device)
            smaller = max(1, self.settings.batch_size // 2)
            return TrainingFailure(
                f"out of memory on {self.device.type} in epoch {epoch} with batch size "
                f"{self.settings.batch_size}; try a smaller batch (e.g. {smaller}) or a smaller network.",
                "oom", None, epoch, self._step_index)
        node = blame_layer(self.model, exc)
        if node is None and self._inputs is not None:
            node = replay_to_failing_node(self.model, self._inputs)
        step = self._step_index
        if node is not None:
            return TrainingFailure(f"layer {node} failed in epoch {epoch}: {type(exc).__name__}: {exc}",
                                   "layer_error", node, epoch, step)
        return TrainingFailure(f"training failed in epoch {epoch}: {type(exc).__name__}: {exc}",
                               "error", None, epoch, step)

    def _fail(self, failure: TrainingFailure) -> RunResult:
        self.failure = failure
        with contextlib.suppress(Exception):  # the snapshot is on the device; never mask the failure
            self._restore_snapshot()
        result = RunResult("failed", list(self.history), failure, list(self.notes), list(self.changes))
        self.events.failed.emit(failure)
        return result

    def _early_stop(self, metrics: EpochMetrics) -> bool:
        """Returns True when early stopping ends the run after ``metrics``' epoch.

        With early stopping on, a run that ends (stopped early, or at its last epoch) keeps the
        weights of its best epoch by validation loss, not those of its last.
        """
        patience = self.settings.early_stopping
        self._kept_epoch = None
        if metrics.val_loss < self._best_val:
            self._best_val, self._bad_epochs = metrics.val_loss, 0
            self._best_epoch = metrics.epoch
            if patience is not None:
                self._best_weights = self._snapshot["model"]
            return False
        self._bad_epochs += 1
        stop = patience is not None and self._bad_epochs >= patience
        if stop:
            self._note(f"early stopping: validation loss has not improved for {patience} epoch(s)")
        if patience is not None and (stop or metrics.epoch >= self.settings.epochs):
            self._keep_best_epoch(metrics.epoch)
        return stop

    def _keep_best_epoch(self, last: int) -> None:
        """Puts the best epoch's weights back into the model and the snapshot (what is written)."""
        best = self._best_epoch
        if best is None or best == last:
            return
        if self._best_weights is None:  # resumed from a checkpoint saved after the best epoch
            self._note(f"the best epoch by validation loss was epoch {best}, but its weights were not in "
                       f"the checkpoint this run resumed from; the weights are those of epoch {last}")
            return
        self.model.load_state_dict(self._best_weights)
        self._snapshot["model"] = self._best_weights
        self._kept_epoch = best
        self._note(f"the weights kept are those of epoch {best}, the best validation loss "
                   f"({self._best_val:.4g}); the {last - best} epoch(s) after it did not improve on it")

    def _batches(self) -> Any:
        """Yield (inputs, targets) of one training epoch on the device.

        In a worker group each is this worker's share of a global batch, and ``_share`` is set to its
        loss weight before it is yielded (0 for a stand-in sample when the share is empty).
        """
        data = self._train_data
        parallel = self.parallel
        if isinstance(data, TensorData):
            n = len(data)
            order = torch.randperm(n, generator=self._order).to(self.device, non_blocking=True)
            self._drawn = 0
            while self._drawn < n:
                size = self.settings.batch_size  # read per batch: a mid-run change applies at once
                start, self._drawn = self._drawn, self._drawn + size
                if parallel is None:
                    yield data.batch(order[start:start + size])
                else:
                    index, self._share = parallel.share(order[start:start + size])
                    yield data.batch(index)
        else:
            n, size = len(self.data.train), self.settings.batch_size
            for step, (x, y) in enumerate(data, start=1):
                if parallel is not None:
                    self._share = parallel.batch_weight(step, n, size)
                yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def _epoch(self, epoch: int) -> EpochMetrics:
        self.model.train()
        sync_each_step = self._read_every_step
        score = _Score(self.data.task, self.settings.loss, self.device)
        steps = self.steps_per_epoch
        lr = self.schedule.lr()
        seen = 0
        loss_sum = 0.0 if sync_each_step else torch.zeros((), device=self.device)
        started = time.perf_counter()
        next_read = started
        paused_before = self._paused_s
        self._epoch_number = epoch
        if self.parallel is None and not self.data.in_memory and self._train_data.batch_size != self.settings.batch_size:
            self._train_data, self._val_data = self._place(self.data)  # a batch size changed mid-run
        self.steps_per_epoch = self._count_steps()
        if self.telemetry is not None:
            self.telemetry.restart_clock()  # validation is not a step
        for step, (x, y) in enumerate(self._held(self._batches()), start=1):
            self._step_index, self._inputs = step, x
            self.global_step += 1
            steps = self.steps_per_epoch  # a mid-run batch size change moves it
            weight = self._share
            output, loss, value = self._step(x, y, sync_each_step, weight)
            batch = x.shape[0] if weight != 0.0 else 0  # a worker's stand-in sample counts for nothing
            seen += batch
            if batch:
                score.add(output, y)
            if value is not None:
                loss_sum += value * batch
                shown: float | None = value
            else:
                loss_sum += loss.detach() * batch
                shown = None
                now = time.perf_counter()
                if now >= next_read or step == steps:
                    next_read = now + 1.0 / READS_PER_SECOND
                    shown = loss.item()
                    if not math.isfinite(shown) or not math.isfinite(float(loss_sum)):
                        raise NonFiniteLoss(shown, x)
            if self.schedule.per_step:
                self.schedule.after_step()
            lr = self.schedule.lr()
            # A pause is not training time.
            busy = time.perf_counter() - started - (self._paused_s - paused_before)
            self.events.batch_end.emit(epoch, step, steps, shown, lr, seen / max(busy, 1e-9))
        self._step_index = self._inputs = None
        if self.parallel is not None:  # every worker's sums, so each one reports the whole epoch
            loss_total, seen_total = self.parallel.sum([loss_sum, seen])
            loss_sum, seen = loss_total, int(seen_total)
            score.total = self.parallel.sum_tensor_(score.total)
        train_loss = float(loss_sum) / max(seen, 1)
        epoch_time = time.perf_counter() - started - (self._paused_s - paused_before)
        if not math.isfinite(train_loss):
            raise NonFiniteLoss(train_loss, None)
        train_acc, train_mae, _ = score.result(seen)
        val_loss, val_acc, val_mae, confusion = self._validate()
        if not math.isfinite(val_loss):
            raise NonFiniteLoss(val_loss, None, validation=True)
        metrics = EpochMetrics(epoch, train_loss, train_acc, val_loss, val_acc, lr, epoch_time,
                               seen / max(epoch_time, 1e-9), train_mae, val_mae, confusion)
        self.schedule.after_epoch(val_loss)
        return metrics

    def _held(self, batches: Any) -> Any:
        """Yields ``batches``, holding before drawing each while paused and applying changes made
        meanwhile, so a new batch size already shapes the next batch."""
        batches = iter(batches)
        parallel = self.parallel
        while True:
            if parallel is not None:
                # All workers agree on stop and pause, at the same step (none waits on a collective
                # another one skipped); a pause holds every worker.
                if parallel.control_due():
                    paused_at = time.perf_counter()
                    stop, paused = parallel.agree(self._stop.is_set(), self.paused)
                    if stop or (paused and parallel.hold_while_paused(self._stop.is_set, lambda: self.paused)):
                        raise _StopRequested
                    if paused:
                        self._paused_s += time.perf_counter() - paused_at
                try:
                    yield next(batches)
                except StopIteration:
                    return
                continue
            if self._stop.is_set():
                raise _StopRequested
            if not self._resumed.is_set():
                paused_at = time.perf_counter()
                self._resumed.wait()
                self._paused_s += time.perf_counter() - paused_at
                if self.telemetry is not None:
                    self.telemetry.restart_clock()
                if self._stop.is_set():
                    raise _StopRequested
            if self._pending:
                self._apply_pending()
            try:
                yield next(batches)
            except StopIteration:
                return

    def _step(self, x: torch.Tensor, y: torch.Tensor, read_loss: bool,
              weight: float | None = None) -> tuple[torch.Tensor, torch.Tensor, float | None]:
        """Run one optimisation step; return the (detached) output, the loss, and its value if read.

        With ``read_loss`` (free on the CPU) a NaN/Inf loss is caught before it reaches the weights,
        so the diagnosis can still find the layer that made it. ``weight`` scales the loss that is
        back-propagated (a worker's share of the global batch); the loss returned is unscaled.
        """
        if self._compile_pending:
            return self._first_compiled_step(x, y, read_loss, weight)
        # A sampled step (telemetry) runs with every layer watched; the others pay one counter.
        telemetry = self.telemetry
        watched = telemetry.watch(self._forward) if telemetry is not None and telemetry.due(
            self._epoch_number == self.settings.epochs and self._step_index == self.steps_per_epoch) else None
        self.optimizer.zero_grad(set_to_none=True)
        if watched is None:
            output, loss = self._forward_loss(self._forward, x, y)
        else:
            with watched.watching():
                output, loss = self._forward_loss(watched.forward, x, y)
        value = loss.item() if read_loss else None
        if value is not None and not math.isfinite(value):
            raise NonFiniteLoss(value, x)
        objective = loss if weight is None or weight == 1.0 else loss * weight
        if self._scaler is not None:
            self._scaler.scale(objective).backward()
            report = self._gradient_report_due()
            if self.settings.grad_clip is not None or report or watched is not None:
                self._scaler.unscale_(self.optimizer)
            if report:
                self._report_gradients(overflow_is_expected=True)
            if watched is not None:
                watched.overflow_possible, watched.grad_scale = True, float(self._scaler.get_scale())
                watched.after_backward()
            if self.settings.grad_clip is not None:
                nn.utils.clip_grad_norm_(self.model.parameters(), self.settings.grad_clip)
            if watched is not None:
                watched.before_update()
            self._scaler.step(self.optimizer)
            self._scaler.update()
        else:
            objective.backward()
            if self._gradient_report_due():
                self._report_gradients()
            if watched is not None:
                watched.after_backward()
            if self._check_gradients and not gradients_are_finite(self.model):
                raise NonFiniteGradient
            if self.settings.grad_clip is not None:
                nn.utils.clip_grad_norm_(self.model.parameters(), self.settings.grad_clip)
            if watched is not None:
                watched.before_update()
            self.optimizer.step()
        if watched is not None:
            watched.after_update()
            sample = watched.sample(self._epoch_number, self._step_index or 0, self.steps_per_epoch)
            if sample is not None:
                self.events.telemetry.emit(sample)
        return output.detach(), loss, value

    def _forward_loss(self, forward: Any, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self._autocast is not None:
            with torch.autocast(self.device.type, dtype=self._autocast):
                output = forward(x)
                return output, self.loss_fn(output.float(), y)
        output = forward(x)
        return output, self.loss_fn(output, y)

    def _gradient_report_due(self) -> bool:
        """Returns True when someone listens to ``gradients`` and the last report is old enough."""
        if len(self.events.gradients) == 0:
            return False
        now = time.monotonic()
        if now < self._next_gradient_report:
            return False
        self._next_gradient_report = now + GRADIENT_REPORT_INTERVAL_S
        return True

    def _report_gradients(self, overflow_is_expected: bool = False) -> None:
        """Emits ``gradients`` with the norms of the gradients just computed.

        With fp16 loss scaling an overflow (inf gradients) is routine: the scaler skips that step and
        lowers its scale, so such a step is not reported as a NaN gradient.
        """
        norms = gradient_norms(self.model)
        if overflow_is_expected and not all(math.isfinite(v) for v in norms.values()):
            return
        self.events.gradients.emit(norms)

    def _first_compiled_step(self, x: torch.Tensor, y: torch.Tensor, read_loss: bool,
                             weight: float | None) -> tuple[torch.Tensor, torch.Tensor, float | None]:
        """Compile the model on its first step; when compiling fails, note it and train eagerly."""
        self._compile_pending = False
        try:
            self._forward = torch.compile(self._eager)
            return self._step(x, y, read_loss, weight)
        except Exception as exc:  # noqa: BLE001 - any compiler failure means "use eager"
            if is_out_of_memory(exc) or isinstance(exc, NonFiniteLoss):
                raise
            self._forward = self._eager
            self._note(f"torch.compile failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
                       "training without it")
            return self._step(x, y, read_loss, weight)

    def _validation_batches(self) -> Any:
        """Yield (inputs, targets) of the validation split on the device."""
        data = self._val_data
        if isinstance(data, TensorData):
            size = max(self.settings.batch_size, 1024)
            # A worker validates its contiguous share; the sums are all-reduced in _validate.
            first, last = (0, len(data)) if self.parallel is None else self.parallel.validation_bounds(len(data))
            yield from (data.span(s, min(s + size, last)) for s in range(first, last, size))
        else:
            yield from ((x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)) for x, y in data)

    @torch.no_grad()
    def _validate(self) -> tuple[float, float | None, float | None, list[list[int]] | None]:
        """Return validation loss, accuracy, MAE and confusion matrix."""
        self.model.eval()
        score = _Score(self.data.task, self.settings.loss, self.device, self.data.num_classes)
        loss_sum = torch.zeros((), device=self.device, dtype=torch.float64)
        seen = 0
        for x, y in self._validation_batches():
            if self._autocast is not None:
                with torch.autocast(self.device.type, dtype=self._autocast):
                    output = self.model(x).float()
            else:
                output = self.model(x)
            loss_sum += self.loss_fn(output, y).double() * x.shape[0]
            score.add(output, y)
            seen += x.shape[0]
        if self.parallel is not None:
            loss_total, seen_total = self.parallel.sum([loss_sum, seen])
            loss_sum.fill_(loss_total)
            seen = int(seen_total)
            score.total = self.parallel.sum_tensor_(score.total)
            if score.confusion is not None:
                score.confusion = self.parallel.sum_tensor_(score.confusion)
        accuracy, mae, confusion = score.result(seen)
        return float(loss_sum) / max(seen, 1), accuracy, mae, confusion


class _Score:
    """Accumulates accuracy / MAE (and a confusion matrix) on the device, read once per epoch."""

    def __init__(self, task: str, loss: str, device: torch.device, confusion_classes: int | None = None) -> None:
        self.task = task
        # BCELoss takes probabilities (decide at 0.5); BCEWithLogitsLoss takes logits (decide at 0).
        self.threshold = 0.0 if loss == "bce_with_logits" else 0.5
        self.total = torch.zeros((), device=device, dtype=torch.float64)
        self.classes = (2 if task == "binary" else confusion_classes) if confusion_classes else None
        self.confusion = (torch.zeros(self.classes * self.classes, device=device, dtype=torch.long)
                          if self.classes and task != "regression" else None)

    def add(self, output: torch.Tensor, target: torch.Tensor) -> None:
        output = output.detach()
        if self.task == "regression":
            self.total += (output - target).abs().sum(dtype=torch.float64) / max(1, output[0].numel())
            return
        if self.task == "binary":
            predicted = (output > self.threshold).long().reshape(-1)
            truth = (target > 0.5).long().reshape(-1)
        else:
            predicted = output.argmax(1)
            truth = target
        self.total += (predicted == truth).sum()
        if self.confusion is not None and self.classes is not None:
            self.confusion += torch.bincount(truth * self.classes + predicted,
                                             minlength=self.classes * self.classes)

    def result(self, seen: int) -> tuple[float | None, float | None, list[list[int]] | None]:
        """Return (accuracy, mae, confusion) over ``seen`` samples."""
        mean = float(self.total) / max(seen, 1)
        if self.task == "regression":
            return None, mean, None
        confusion = None
        if self.confusion is not None and self.classes is not None:
            confusion = self.confusion.view(self.classes, self.classes).tolist()
        return mean, None, confusion


def _is_rank_zero() -> bool:
    """Returns True unless this process is a data-parallel worker other than rank 0."""
    return not (torch.distributed.is_available() and torch.distributed.is_initialized()) \
        or torch.distributed.get_rank() == 0


def gradient_norms(model: nn.Module) -> dict[str, float]:
    """Returns the L2 norm of every parameter's ``.grad`` by parameter name (NaN and inf kept).

    One multi-tensor norm and one copy to the host, so a GPU is synchronised once, not per parameter.
    """
    named = [(name, p.grad.detach()) for name, p in model.named_parameters() if p.grad is not None]
    if not named:
        return {}
    grads = [g.coalesce().values() if g.is_sparse else g for _, g in named]
    with torch.no_grad():
        norms = torch.stack(torch._foreach_norm(grads, 2, dtype=torch.float32)).cpu().tolist()
    return {name: value for (name, _), value in zip(named, norms)}


def _epoch_of(value: Any, epochs: int) -> int | None:
    """Returns ``value`` when it names one of ``epochs`` epochs (1-based), else None."""
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= epochs:
        return value
    return None


def _to_cpu(value: Any) -> Any:
    """Return ``value`` with every tensor inside moved to the CPU (for files readable anywhere)."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu")
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(v) for v in value)
    return value

"""The peak memory of one training step, estimated without allocating it (the GPU memory pre-flight).

The network is built on the ``meta`` device and moved into torch's ``FakeTensorMode``, where every
tensor has a shape, a dtype and a device but no data. One training step exactly as the trainer runs
it (zero_grad, forward, loss, backward, clipping, optimizer step) then goes through a
``TorchDispatchMode`` that follows every storage from its creation until it is freed, by category:

- parameters and buffers, the input batch and its targets;
- activations: what the forward pass created and still holds (mostly what autograd saved for
  backward);
- gradients: storages that became a parameter's ``.grad``;
- temporaries: what backward and the optimizer create on the way (gradients of activations);
- optimizer state: what the optimizer keeps between steps (Adam's two moments).

The step after the first also carries the optimizer state through its forward and backward, so the
peak is ``max(forward/backward peak + optimizer state, optimizer-step peak)``. CUDA's caching
allocator hands out blocks in multiples of 512 bytes, so storages on CUDA are rounded up the same way.
Library workspaces (cuBLAS, cuDNN) and the CUDA context are not tensors and are left out: the
pre-flight adds :data:`CUDA_RUNTIME_ALLOWANCE` for them when it compares with a GPU's free memory.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from nnstudio.core.errors import NnstudioError
from nnstudio.core.formatting import format_bytes
from nnstudio.core.settings import CLASSIFICATION_LOSSES, TrainingSettings
from nnstudio.train.recipe import make_loss, make_optimizer

#: Bytes a CUDA process needs beyond its tensors: the context (kernels, cuBLAS/cuDNN handles) and
#: the libraries' workspaces. Measured on recent data-centre GPUs at 0.3-0.6 GiB; the larger is used.
CUDA_RUNTIME_ALLOWANCE = 600 * 2**20
#: The CUDA caching allocator rounds every block up to a multiple of this.
CUDA_BLOCK = 512
CATEGORIES = ("parameters", "buffers", "gradients", "optimizer_state", "activations", "inputs", "temporaries")
_TITLES = {"parameters": "parameters", "buffers": "buffers", "gradients": "gradients",
           "optimizer_state": "optimizer state", "activations": "activations", "inputs": "batch",
           "temporaries": "temporaries"}


class MemoryEstimateError(NnstudioError):
    """The estimate could not be made (a layer that cannot run on fake tensors, say)."""


@dataclass(frozen=True)
class MemoryEstimate:
    """The peak memory of one training step on one device, split by what holds it (bytes)."""

    device: str
    #: Samples per device in the step (the global batch split over ``workers``).
    batch_size: int
    workers: int
    #: Bytes held at the peak, by category (see :data:`CATEGORIES`); they add up to ``peak``.
    split: dict[str, int] = field(default_factory=dict)
    #: What the forward pass leaves for backward (activations at the end of the forward).
    saved_activations: int = 0

    @property
    def peak(self) -> int:
        return sum(self.split.values())

    @property
    def runtime_allowance(self) -> int:
        """Bytes needed beyond the tensors: the CUDA context and library workspaces (0 elsewhere)."""
        return CUDA_RUNTIME_ALLOWANCE if self.device.startswith("cuda") else 0

    @property
    def needed(self) -> int:
        """What must be free on the device for the run: the peak plus the runtime allowance."""
        return self.peak + self.runtime_allowance

    def fits(self, free_bytes: int | None) -> bool:
        """Return True when ``free_bytes`` holds the step (True when the free memory is unknown)."""
        return free_bytes is None or self.needed <= free_bytes

    def breakdown(self) -> str:
        """Return the split as ``parameters 1.2 MB, gradients 1.2 MB, ...`` (empty parts left out)."""
        parts = [(self.split.get(name, 0), _TITLES[name]) for name in CATEGORIES]
        return ", ".join(f"{title} {format_bytes(size)}" for size, title in parts if size > 0)

    def summary(self) -> str:
        """Return one line: the peak, the batch it is for, and the split."""
        per = f" per worker (batch {self.batch_size} of {self.batch_size * self.workers})" \
            if self.workers > 1 else f" at batch {self.batch_size}"
        extra = f", plus ~{format_bytes(self.runtime_allowance)} for the CUDA context and workspaces" \
            if self.runtime_allowance else ""
        return f"{format_bytes(self.peak)} per training step{per} on {self.device}{extra}: {self.breakdown()}"

    def as_dict(self) -> dict[str, Any]:
        return {"device": self.device, "batch_size": self.batch_size, "workers": self.workers,
                "peak_bytes": self.peak, "needed_bytes": self.needed, "split": dict(self.split),
                "saved_activations_bytes": self.saved_activations}


class _LiveStorages(TorchDispatchMode):
    """Follows every storage created under it (and those added by hand) and keeps the peak total.

    A storage is counted once however many views share it, from the op that created it until its
    last reference goes (a weak reference's callback). ``phase`` names the category of new storages.
    """

    def __init__(self, rounding: int = 1) -> None:
        super().__init__()
        self.rounding = rounding
        self.phase = "inputs"
        self.live = dict.fromkeys(CATEGORIES, 0)
        self.total = 0
        self.peak = 0
        self.peak_split = dict(self.live)
        # storage id -> [category, bytes, weak reference]; the reference's callback uncounts it.
        self._records: dict[int, list[Any]] = {}

    def _size(self, storage: torch.UntypedStorage) -> int:
        size = storage.nbytes()
        return size if self.rounding == 1 else math.ceil(size / self.rounding) * self.rounding

    def add(self, tensor: torch.Tensor, category: str | None = None) -> None:
        """Count ``tensor``'s storage under ``category`` (the current phase by default), once."""
        storage = tensor.untyped_storage()
        key = id(storage)
        if key in self._records:
            return
        size = self._size(storage)
        category = category or self.phase
        record = [category, size, None]
        def forget(_ref: object, key: int = key) -> None:
            self._forget(key)

        record[2] = weakref.ref(storage, forget)
        self._records[key] = record
        self.live[category] += size
        self.total += size
        if self.total > self.peak:
            self.peak = self.total
            self.peak_split = dict(self.live)

    def reclassify(self, tensor: torch.Tensor, category: str) -> None:
        """Move ``tensor``'s storage to ``category`` (a gradient, optimizer state)."""
        record = self._records.get(id(tensor.untyped_storage()))
        if record is None:
            self.add(tensor, category)
            return
        self.live[record[0]] -= record[1]
        self.live[category] += record[1]
        record[0] = category

    def _forget(self, key: int) -> None:
        record = self._records.pop(key, None)
        if record is not None:
            self.live[record[0]] -= record[1]
            self.total -= record[1]

    def reset_peak(self) -> None:
        self.peak = self.total
        self.peak_split = dict(self.live)

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        result = func(*args, **(kwargs or {}))
        for value in tree_flatten(result)[0]:
            if isinstance(value, torch.Tensor):
                self.add(value)
        return result


def _make_fake(model: nn.Module, mode: Any, device: torch.device) -> None:
    """Turn ``model``'s meta parameters and buffers into fake tensors on ``device``, in place.

    The fake tensors are made straight from the meta ones (shared parameters stay shared);
    ``to_empty`` does the same through one dispatched op per tensor, ten times slower on ResNet-50,
    and is the fall-back should torch's converter change.
    """
    converter = getattr(mode, "fake_tensor_converter", None)
    make = getattr(converter, "from_meta_and_device", None)
    if make is None:
        model.to_empty(device=device)
        return
    made: dict[int, nn.Parameter] = {}
    for module in model.modules():
        for name, parameter in list(module._parameters.items()):
            if parameter is not None:
                if id(parameter) not in made:
                    made[id(parameter)] = nn.Parameter(make(mode, parameter.data, device),
                                                       requires_grad=parameter.requires_grad)
                module._parameters[name] = made[id(parameter)]
        for name, buffer in list(module._buffers.items()):
            if buffer is not None:
                if id(buffer) not in made:
                    made[id(buffer)] = make(mode, buffer, device)
                module._buffers[name] = made[id(buffer)]


def _fake_batch(shape: Sequence[int], dtype: torch.dtype, device: torch.device, high: int = 2) -> torch.Tensor:
    if dtype.is_floating_point:
        return torch.empty(tuple(shape), dtype=dtype, device=device)
    return torch.randint(0, max(1, high), tuple(shape), dtype=dtype, device=device)


def estimate_step_memory(build_model: Callable[[], nn.Module], input_shape: Sequence[int],
                         target_shape: Sequence[int], settings: TrainingSettings, *,
                         device: torch.device | str = "cpu", input_dtype: torch.dtype = torch.float32,
                         target_dtype: torch.dtype | None = None, classes: int = 2,
                         workers: int = 1) -> MemoryEstimate:
    """Return the peak memory of one training step of the network ``build_model()`` builds.

    ``input_shape`` and ``target_shape`` include the batch dimension (the samples on one device).
    ``build_model`` runs on the meta device: no weights are allocated or initialised. The step is
    the trainer's: ``settings`` choose the loss, optimizer, gradient clipping and mixed precision.
    With ``workers`` > 1 the step is a DistributedDataParallel worker's, whose gradients live in
    communication buckets for the whole step. Raises MemoryEstimateError when the network cannot
    run on fake tensors.
    """
    from torch._subclasses.fake_tensor import FakeTensorMode

    device = torch.device(device)
    # Autograd's engine needs a real CUDA device even for fake CUDA tensors. Without one the step runs
    # on fake CPU tensors (the same storages) and is rounded as CUDA's allocator would round it.
    compute = device if device.type != "cuda" or torch.cuda.is_available() else torch.device("cpu")
    if target_dtype is None:
        target_dtype = torch.long if settings.loss in CLASSIFICATION_LOSSES else torch.float32
    try:
        with torch.device("meta"):
            model = build_model()
        with FakeTensorMode(allow_non_fake_inputs=True) as mode:
            _make_fake(model, mode, compute)
            model.train()
            optimizer = make_optimizer(settings, model.parameters(), compute)
            loss_fn = make_loss(settings)
            tracker = _LiveStorages(CUDA_BLOCK if device.type == "cuda" else 1)
            for parameter in model.parameters():
                tracker.add(parameter, "parameters")
            for buffer in model.buffers():
                tracker.add(buffer, "buffers")
            trainable = [p for p in model.parameters() if p.requires_grad]
            hooks = [p.register_post_accumulate_grad_hook(
                lambda p: tracker.reclassify(p.grad, "gradients")) for p in trainable]
            autocast: Any = nullcontext()
            if settings.amp != "off" and device.type == "cuda":
                autocast = torch.autocast(compute.type, dtype=torch.bfloat16 if settings.amp == "bf16" else torch.float16)
            try:
                with tracker:
                    x = _fake_batch(input_shape, input_dtype, compute)
                    y = _fake_batch(target_shape, target_dtype, compute, classes)
                    optimizer.zero_grad(set_to_none=True)
                    tracker.phase = "activations"
                    with autocast:
                        output = model(x)
                        loss = loss_fn(output.float() if settings.amp != "off" and device.type == "cuda" else output, y)
                    saved = tracker.live["activations"]
                    tracker.phase = "temporaries"
                    loss.backward()
                    if settings.grad_clip is not None:
                        nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
                    backward_peak, backward_split = tracker.peak, dict(tracker.peak_split)
                    tracker.reset_peak()
                    tracker.phase = "optimizer_state"
                    optimizer.step()
                    state = [t for s in optimizer.state.values() for t in s.values() if isinstance(t, torch.Tensor)]
                    for tensor in state:
                        tracker.reclassify(tensor, "optimizer_state")
                    state_bytes = sum(tracker._size(s) for s in {id(t.untyped_storage()): t.untyped_storage()
                                                                    for t in state}.values())
                    step_peak, step_split = tracker.peak, dict(tracker.peak_split)
                    gradient_bytes = sum(tracker._size(p.untyped_storage()) for p in trainable)
                    del x, y, output, loss
            finally:
                for hook in hooks:
                    hook.remove()
    except NnstudioError:
        raise
    except Exception as exc:  # noqa: BLE001 - any layer may fail on fake tensors; say which way
        raise MemoryEstimateError(f"the memory estimate could not run the network on fake tensors: "
                                  f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    # The next step runs its forward and backward with the optimizer state already held.
    backward_split["optimizer_state"] += state_bytes
    if workers > 1:
        # DDP's communication buckets hold every gradient for the whole step (the gradients are views
        # into them); backward still makes each incoming gradient before copying it in.
        backward_split["gradients"] = gradient_bytes
    split = backward_split if backward_peak + state_bytes >= step_peak else step_split
    return MemoryEstimate(str(device), int(input_shape[0]), workers,
                          {k: max(0, int(v)) for k, v in split.items()}, int(saved))


def measure_step_memory(build_model: Callable[[], nn.Module], input_shape: Sequence[int],
                        target_shape: Sequence[int], settings: TrainingSettings, *,
                        input_dtype: torch.dtype = torch.float32, target_dtype: torch.dtype | None = None,
                        classes: int = 2, steps: int = 2) -> int:
    """Return the peak bytes that ``steps`` real training steps allocate on the CPU (for checking estimates).

    Runs the same step as :func:`estimate_step_memory` on real tensors, under ``torch.profiler`` with
    ``profile_memory=True``: the peak is the weights and buffers held before the steps plus the
    highest running sum of the profiler's allocation events (each free is a negative event).
    Allocates everything for real.
    """
    from torch._C._profiler import _EventType
    from torch.profiler import ProfilerActivity, profile

    if target_dtype is None:
        target_dtype = torch.long if settings.loss in CLASSIFICATION_LOSSES else torch.float32
    device = torch.device("cpu")
    torch.manual_seed(settings.seed)
    model = build_model().to(device).train()
    optimizer = make_optimizer(settings, model.parameters(), device)
    loss_fn = make_loss(settings)
    held = {id(t.untyped_storage()): t.untyped_storage().nbytes() for t in (*model.parameters(), *model.buffers())}
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as profiler:
        for _ in range(steps):
            if input_dtype.is_floating_point:
                x = torch.randn(tuple(input_shape), dtype=input_dtype)
            else:
                x = torch.randint(0, 2, tuple(input_shape), dtype=input_dtype)
            if target_dtype.is_floating_point:
                y = torch.rand(tuple(target_shape), dtype=target_dtype)
            else:
                y = torch.randint(0, max(1, classes), tuple(target_shape), dtype=target_dtype)
            optimizer.zero_grad(set_to_none=True)
            output = model(x)
            loss = loss_fn(output, y)
            loss.backward()
            if settings.grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
            optimizer.step()
            del x, y, output, loss
    events = []
    pending = list(profiler.profiler.kineto_results.experimental_event_tree())
    while pending:
        event = pending.pop()
        if event.tag == _EventType.Allocation:
            events.append((event.start_time_ns, event.extra_fields.alloc_size))
        pending.extend(event.children)
    events.sort()
    running = peak = 0
    for _time, size in events:
        running += size
        peak = max(peak, running)
    return sum(held.values()) + peak

"""Whether a project's training step fits its device: the memory estimate of its network, the device's
free memory, and the largest batch size that fits.

Used by ``nnstudio check`` (the ``memory:`` line), the Inspector's network summary and the Training
tab (beside the chosen device's free memory, and before a run that will not fit). The estimate
itself is :func:`nnstudio.train.memory.estimate_step_memory`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from nnstudio.core.catalog import LayerKind
from nnstudio.core.formatting import format_bytes
from nnstudio.core.settings import BINARY_LOSSES, CLASSIFICATION_LOSSES
from nnstudio.train.memory import MemoryEstimate, MemoryEstimateError, estimate_step_memory

if TYPE_CHECKING:
    from nnstudio.compile.results import Analysis
    from nnstudio.core.project import Project


def project_step_shapes(project: Project, analysis: Analysis) -> tuple[tuple[int, ...], torch.dtype, tuple[int, ...],
                                                                    torch.dtype, int]:
    """Return (sample shape, input dtype, target shape per sample, target dtype, classes) of a project."""
    graph = project.graph
    inputs = [n for n in graph.nodes() if n.spec.kind is LayerKind.INPUT]
    if len(inputs) != 1:
        raise MemoryEstimateError(f"the estimate needs exactly one Input layer (the network has {len(inputs)})")
    node = inputs[0]
    sample = tuple(int(d) for d in node.params.get("shape", ()))
    input_dtype = torch.long if node.params.get("dtype") == "int64" else torch.float32
    shape = analysis.output_shape
    if shape is None or any(not isinstance(d, int) for d in shape[1:]):
        raise MemoryEstimateError("the estimate needs the network's output shape (fix its errors first)")
    out = tuple(int(d) for d in shape[1:])
    loss = project.settings.loss
    if loss in CLASSIFICATION_LOSSES:
        return sample, input_dtype, out[1:], torch.long, (out[0] if out else 2)
    if loss in BINARY_LOSSES:
        return sample, input_dtype, out, torch.float32, 2
    return sample, input_dtype, out, torch.float32, 2


def estimate_project_memory(project: Project, analysis: Analysis | None = None, *, batch_size: int | None = None,
                            device: torch.device | str | None = None, workers: int = 1) -> MemoryEstimate:
    """Return the peak memory of one training step of ``project`` at ``batch_size`` (default: its own).

    ``device`` defaults to where the project would train (``settings.device``; "auto" picks the best
    present); it need not exist here, since nothing is allocated. With ``workers`` the global batch
    is split over that many data-parallel workers and the estimate is per worker.
    """
    from nnstudio.compile import compile_graph
    from nnstudio.compile.compiler import current_analysis, require_valid

    settings = project.settings
    analysis = current_analysis(project.graph, analysis)
    require_valid(analysis)
    if device is None:
        from nnstudio.train.devices import pick_device

        device = pick_device(settings.device)
    batch = batch_size or settings.batch_size
    per_worker = max(1, math.ceil(batch / max(1, workers)))
    sample, input_dtype, target, target_dtype, classes = project_step_shapes(project, analysis)
    return estimate_step_memory(lambda: compile_graph(project.graph, analysis), (per_worker, *sample),
                                (per_worker, *target), settings, device=device, input_dtype=input_dtype,
                                target_dtype=target_dtype, classes=classes, workers=workers)


def largest_fitting_batch(estimate_at: Callable[[int], MemoryEstimate], free_bytes: int,
                          limit: int = 1_000_000) -> int | None:
    """Return about the largest batch size whose step fits in ``free_bytes`` (None: not even 1 fits).

    Memory grows about linearly with the batch, so two estimates give a first guess; a bracket
    around it is then narrowed until it is within 1/64 of the answer (about ten fake steps in all).
    The answer returned always fits.
    """
    def fits(batch: int) -> bool:
        return estimate_at(batch).fits(free_bytes)

    one = estimate_at(1)
    if not one.fits(free_bytes):
        return None
    probe = min(limit, 64)
    per_sample = max(1.0, (estimate_at(probe).needed - one.needed) / max(1, probe - 1))
    guess = max(1, min(limit, int(1 + (free_bytes - one.needed) / per_sample)))
    low, high = 1, None
    if fits(guess):
        low = guess
        while high is None and low < limit:
            step = min(limit, max(low + 1, int(low * 1.05)))
            if fits(step):
                low = step
            else:
                high = step
    else:
        high = guess
    while high is not None and high - low > max(1, low // 64):
        middle = (low + high) // 2
        if fits(middle):
            low = middle
        else:
            high = middle
    return low


def free_memory(device: torch.device | str) -> int | None:
    """Return the bytes free for training on ``device`` now (None when the platform does not say)."""
    device = torch.device(device)
    try:
        if device.type == "cuda":
            if not torch.cuda.is_available():
                return None
            free, _total = torch.cuda.mem_get_info(device.index or 0)
            return int(free)
        if device.type == "mps":
            return int(torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory())
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # noqa: BLE001 - a query that fails means "unknown", never a failed check
        return None


@dataclass(frozen=True)
class Preflight:
    """Whether a run's training step fits its device: the estimate, the free memory, a batch that fits."""

    estimate: MemoryEstimate
    #: Bytes free on the device now (the least free of a data-parallel run's GPUs); None: unknown.
    free: int | None
    #: When the step does not fit: the largest global batch size that does (None: not even 1, or it fits).
    largest_batch: int | None = None

    @property
    def fits(self) -> bool:
        return self.estimate.fits(self.free)

    def text(self) -> str:
        """Return one line: the estimate and the device's free memory."""
        free = f"; {format_bytes(self.free)} free on {self.estimate.device}" if self.free is not None else ""
        return f"{self.estimate.summary()}{free}"

    def warning(self) -> str | None:
        """Return a sentence for a step that will not fit (None when it fits)."""
        if self.fits:
            return None
        estimate = self.estimate
        batch = estimate.batch_size * estimate.workers
        advice = (f"the largest batch size that fits is {self.largest_batch}" if self.largest_batch
                  else "not even a batch of 1 fits: use a smaller network or another device")
        return (f"at batch size {batch} a training step needs about {format_bytes(estimate.needed)} but "
                f"{estimate.device} has {format_bytes(self.free)} free; {advice}")

    def as_dict(self) -> dict[str, Any]:
        return {**self.estimate.as_dict(), "free_bytes": self.free, "fits": self.fits,
                "largest_batch": self.largest_batch}


def preflight(project: Project, analysis: Analysis | None = None, *, batch_size: int | None = None,
              device: torch.device | str | None = None, workers: int = 1,
              free: int | None = None) -> Preflight:
    """Return the pre-flight of training ``project``: its step's memory against the device's free memory.

    ``free`` overrides the free memory measured now (for a device elsewhere, and for tests). When the
    step does not fit, the largest batch size that does is found (a few more fake steps).
    """
    from nnstudio.compile.compiler import current_analysis

    analysis = current_analysis(project.graph, analysis)
    if device is None:
        from nnstudio.train.devices import DeviceUnavailableError, pick_device

        try:
            device = pick_device(project.settings.device)
        except DeviceUnavailableError:  # estimated all the same (nothing is allocated); free memory unknown
            device = torch.device(project.settings.device.split(":")[0])
    device = torch.device(device)
    estimate = estimate_project_memory(project, analysis, batch_size=batch_size, device=device, workers=workers)
    if free is None:
        if device.type == "cuda" and workers > 1:
            frees = [free_memory(torch.device("cuda", i)) for i in range(workers)]
            free = min((f for f in frees if f is not None), default=None)
        else:
            free = free_memory(device)
    result = Preflight(estimate, free)
    if result.fits or free is None:
        return result

    def at(batch: int) -> MemoryEstimate:
        return estimate_project_memory(project, analysis, batch_size=batch, device=device, workers=workers)

    try:
        largest = largest_fitting_batch(at, free, limit=max(1, batch_size or project.settings.batch_size))
    except MemoryEstimateError:
        largest = None
    return Preflight(estimate, free, largest)

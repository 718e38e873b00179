"""Per-layer telemetry while a run trains: what each layer outputs, how its gradients and updates look.

Every K steps one training step is watched (:mod:`nnstudio.train.probes`): each layer's output gives
its mean and standard deviation, the share of zeros and of dead units after ReLU-like layers, the
share saturated after Sigmoid/Tanh and a histogram; a hook on the output gives the gradient flowing
back into the layer; the layer's parameters give their gradient norm and the size of the optimizer's
update against the weights. Everything is reduced on the device while the step runs and copied to the
host once, at the end of that step; the other K-1 steps run untouched (no hooks, no host sync).

K adapts so that the watched steps cost about ``budget`` (2%) of the run: after each sample the extra
time it took over an ordinary step sets the distance to the next. Samples also come no more often
than ``max_per_second``: views cannot show more. The first sample is taken at the run's third step
(dead units show from the start) and the last at its final step, whatever the budget says.

A :class:`TelemetrySample` holds one step's :class:`LayerStats` by node id and the problems read from
them (:func:`find_problems`): dead units, vanishing or exploding gradients, update ratios far from
1e-4..1e-2, each tied to its layer with what to try.
"""

from __future__ import annotations

import contextlib
import functools
import math
import statistics
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from nnstudio.core.gradient_scale import EXPLODING_ABOVE, VANISHING_BELOW
from nnstudio.core.problems import Problem
from nnstudio.train.layer_stats import (
    GRADIENT_FIELDS,
    OUTPUT_FIELDS,
    gradient_summary,
    gradient_summary_host,
    output_summary,
    output_summary_host,
)
from nnstudio.train.probes import LayerMap, eager, run_watched, unwrap, watching_layers

#: More than this share of dead units is a problem.
DEAD_ABOVE = 0.9
#: The healthy update / weight norm ratio per step; a problem only when it is 10x outside.
HEALTHY_UPDATE_RATIO = (1e-4, 1e-2)
FAR_OUTSIDE = 10.0

#: Steps between the first sample (which pays one-time costs) and the second.
CALIBRATION_STEPS = 10


@dataclass(frozen=True)
class TelemetryOptions:
    """How often telemetry looks: ``budget`` share of the run time, at most ``max_per_second`` samples."""

    budget: float = 0.02
    max_per_second: float = 4.0
    #: The first sample is taken at this step of the run (the ones before time an ordinary step).
    first_step: int = 3
    #: Never more often than every this many steps (with one ordinary step between samples, the measure
    #: of an ordinary step stays current; 1: the budget alone decides).
    min_interval_steps: int = 2


@dataclass(frozen=True)
class Histogram:
    """Counts of values in ``len(counts)`` equal bins spanning ``lo``..``hi``."""

    lo: float
    hi: float
    counts: tuple[int, ...]


@dataclass(frozen=True)
class LayerStats:
    """One layer at one step; a field is None where it does not apply (no parameters, not a ReLU...)."""

    node_id: str
    #: Output mean and standard deviation over the batch.
    mean: float | None = None
    std: float | None = None
    #: ReLU-like layers: share of zero outputs, and share of units (output positions) zero for the
    #: whole batch -- dead units.
    zeros: float | None = None
    dead: float | None = None
    #: Sigmoid / Tanh: share of outputs within 1% of the ends of their range.
    saturated: float | None = None
    #: L2 norm of the gradient of the loss with respect to the layer's output.
    output_grad_norm: float | None = None
    #: L2 norm of the gradients of the layer's parameters (all of them together).
    grad_norm: float | None = None
    #: ||weights after - weights before|| / ||weights after|| for this step's optimizer update.
    update_ratio: float | None = None
    #: The output's values (bins over mean +- 4 std, within its range).
    activations: Histogram | None = None
    #: log10 |gradient at the output| (bins over the gradient colour scale, -8..4; zeros not counted).
    gradients: Histogram | None = None


@dataclass(frozen=True)
class TelemetrySample:
    """Every layer's statistics at one step of a run, and the problems they show."""

    #: Steps since the run (re)started, counting from 1; ``epoch`` and ``step`` within it.
    global_step: int
    epoch: int
    step: int
    steps_per_epoch: int
    layers: dict[str, LayerStats]
    problems: tuple[Problem, ...] = ()
    #: Seconds the last watched step took beyond an ordinary step, and the steps it set between samples.
    cost_s: float = 0.0
    interval_steps: int = 0

    @property
    def position(self) -> float:
        """Where the step lies on an epoch axis (epoch 1, step 5 of 10 -> 0.5), as the curves use."""
        return float(self.epoch - 1) + self.step / max(self.steps_per_epoch, 1)

    def as_dict(self) -> dict[str, Any]:
        """Returns the sample as plain JSON-able values (for a worker process streaming it to a window);
        :meth:`from_dict` reads it back."""
        return {"global_step": self.global_step, "epoch": self.epoch, "step": self.step,
                "steps_per_epoch": self.steps_per_epoch, "cost_s": self.cost_s,
                "interval_steps": self.interval_steps,
                "layers": {name: asdict(stats) for name, stats in self.layers.items()},
                "problems": [{"severity": p.severity, "code": p.code, "message": p.message, "node_id": p.node_id}
                             for p in self.problems]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TelemetrySample:
        layers = {}
        for name, stats in data["layers"].items():
            fields = dict(stats)
            for kind in ("activations", "gradients"):
                if fields.get(kind) is not None:
                    fields[kind] = Histogram(fields[kind]["lo"], fields[kind]["hi"], tuple(fields[kind]["counts"]))
            layers[name] = LayerStats(**fields)
        problems = tuple(Problem(p["severity"], p["code"], p["message"], p.get("node_id")) for p in data["problems"])
        return cls(data["global_step"], data["epoch"], data["step"], data["steps_per_epoch"], layers, problems,
                   data.get("cost_s", 0.0), data.get("interval_steps", 0))


class Telemetry:
    """Decides which steps to watch and turns a watched step into a :class:`TelemetrySample`.

    The trainer calls :meth:`due` before every step; for a watched step it gets a :class:`WatchedStep`
    and calls its methods around forward, backward and the optimizer step.
    """

    def __init__(self, model: nn.Module, options: TelemetryOptions | None = None) -> None:
        self.options = options or TelemetryOptions()
        self.layers = LayerMap(unwrap(model))
        self.global_step = 0
        self._next_step = max(1, self.options.first_step)
        self._not_before = 0.0
        self._last_tick: float | None = None
        #: Durations of the latest ordinary steps; their median is what a step costs.
        self._periods: deque[float] = deque(maxlen=15)
        self._skip_period = True
        self._watched = 0
        self._watched_at: float | None = None  # when the watched step began (its tick)
        #: What the last watched step cost beyond an ordinary one (s), and the steps it set until the next.
        self.last_cost = 0.0
        self.interval = 0

    def due(self, final: bool = False) -> bool:
        """Counts one step; returns True when this step is to be watched. Costs a clock read.

        The ``final`` step of a run is always watched, so even a run too short for the budget to
        allow more than its first sample ends with a picture of the trained network.
        """
        self.global_step += 1
        now = time.perf_counter()
        previous, self._last_tick = self._last_tick, now
        if previous is not None:
            period = now - previous
            if self._watched_at is not None:
                self._schedule_after(period)
            elif self._skip_period:
                self._skip_period = False  # the first step after a (re)start warms caches up
            else:
                self._periods.append(period)
        if (self.global_step < self._next_step or now < self._not_before) and not final:
            return False
        self._watched_at = now
        return True

    def restart_clock(self) -> None:
        """Forget the time since the last step (after a pause or validation, which are not steps)."""
        self._last_tick = None
        self._skip_period = True
        if self._watched_at is not None:  # its duration is lost: keep the last distance between samples
            self._watched_at = None
            self._next_step = self.global_step + max(self.interval, self.options.min_interval_steps, 1)

    def _schedule_after(self, watched_period: float) -> None:
        """Sets the next watched step from what the last one cost beyond an ordinary step."""
        self._watched_at = None
        ordinary = statistics.median(self._periods) if self._periods else watched_period
        self.last_cost = max(0.0, watched_period - ordinary)
        steps = math.ceil(self.last_cost / max(self.options.budget * ordinary, 1e-9) - 1e-6)
        self.interval = max(self.options.min_interval_steps, steps, 1)
        self._watched += 1
        if self._watched == 1:
            # The first watched step also pays one-time costs (first calls of every statistic): measure
            # again soon rather than wait as if each sample cost that much.
            self.interval = min(self.interval, CALIBRATION_STEPS)
        self._next_step = self.global_step + self.interval - 1
        self._not_before = self._last_tick + 1.0 / self.options.max_per_second  # type: ignore[operator]

    def watch(self, forward: nn.Module) -> WatchedStep:
        """Returns the recorder of the step :meth:`due` chose; ``forward`` is the trainer's callable."""
        return WatchedStep(self, eager(forward))


class WatchedStep:
    """One watched step: ``forward`` inside ``with step.watching()``, then ``after_backward()``,
    ``before_update()``, ``after_update()``, and ``sample(epoch, step)`` gives the result."""

    def __init__(self, telemetry: Telemetry, forward: nn.Module) -> None:
        self.telemetry = telemetry
        self.layers = telemetry.layers
        # A compiled network called directly runs node by node without touching the module; inside a
        # wrapper (DistributedDataParallel) the wrapper must run, so the module's forward is swapped.
        self._direct = self.layers.is_fx and forward is self.layers.model
        #: Call this instead of the trainer's (possibly compiled) forward on this step.
        self.forward: Any = functools.partial(run_watched, self.layers, self._on_output) if self._direct \
            else forward
        self._outputs: dict[str, torch.Tensor] = {}
        self._output_grads: dict[str, torch.Tensor] = {}
        self._params: list[nn.Parameter] = []
        self._owners: list[int] = []  # index into layer order, per entry of _params
        self._grad_norms: torch.Tensor | None = None
        self._before: list[torch.Tensor] = []
        self._ratios: torch.Tensor | None = None
        self.grad_scale = 1.0
        self.overflow_possible = False

    def watching(self) -> Any:
        """A context in which the forward of the network reports every layer's output."""
        return contextlib.nullcontext() if self._direct else watching_layers(self.layers, self._on_output)

    def _on_output(self, node_id: str, tensor: torch.Tensor) -> None:
        layer = self.layers.layers[node_id]
        with torch.no_grad():
            if tensor.device.type == "cpu":
                self._outputs[node_id] = output_summary_host(tensor, layer.family)
            else:
                self._outputs[node_id] = output_summary(tensor, layer.family)
        if tensor.requires_grad:
            tensor.register_hook(lambda grad, name=node_id: self._on_output_grad(name, grad))

    def _on_output_grad(self, node_id: str, grad: torch.Tensor) -> None:
        with torch.no_grad():
            self._output_grads[node_id] = gradient_summary_host(grad) if grad.device.type == "cpu" \
                else gradient_summary(grad)

    def after_backward(self) -> None:
        """Reads the parameters' gradients (call once they are final: after unscaling, before clipping)."""
        names = list(self.layers.layers)
        seen: set[int] = set()
        grads = []
        for index, name in enumerate(names):
            for _, param in self.layers.layers[name].params:
                if param.grad is None or id(param) in seen:
                    continue
                seen.add(id(param))
                grad = param.grad.detach()
                grads.append(grad.coalesce().values() if grad.is_sparse else grad)
                self._params.append(param)
                self._owners.append(index)
        if grads:
            with torch.no_grad():
                self._grad_norms = torch.stack(torch._foreach_norm(grads, 2, dtype=torch.float32))

    def before_update(self) -> None:
        """Keeps a copy of the weights the optimizer is about to change."""
        with torch.no_grad():
            self._before = [p.detach().clone() for p in self._params]

    def after_update(self) -> None:
        """Measures the update each layer's weights just took."""
        if not self._before:
            return
        with torch.no_grad():
            now = [p.detach() for p in self._params]
            delta = torch._foreach_sub(now, self._before)
            self._ratios = torch.stack([torch.stack(torch._foreach_norm(delta, 2, dtype=torch.float32)),
                                        torch.stack(torch._foreach_norm(now, 2, dtype=torch.float32))])
        self._before = []

    def sample(self, epoch: int, step: int, steps_per_epoch: int = 0) -> TelemetrySample | None:
        """Copies everything to the host at once and returns the sample (None: an fp16 overflow step,
        which the gradient scaler skips, not worth reporting)."""
        names = list(self.layers.layers)
        parts: list[torch.Tensor | np.ndarray] = []
        layout: list[tuple[str, str, int]] = []  # (what, node id, length)
        for name, summary in self._outputs.items():
            parts.append(summary)
            layout.append(("out", name, int(summary.shape[0])))
        for name, summary in self._output_grads.items():
            parts.append(summary)
            layout.append(("grad", name, int(summary.shape[0])))
        per_layer = None
        if self._grad_norms is not None:
            index = torch.tensor(self._owners, device=self._grad_norms.device)
            per_layer = [_sum_squares(self._grad_norms, index, len(names))]
            if self._ratios is not None:
                per_layer.append(_sum_squares(self._ratios[0], index, len(names)))
                per_layer.append(_sum_squares(self._ratios[1], index, len(names)))
            parts.extend(per_layer)
            layout.extend(("params", str(k), len(names)) for k in range(len(per_layer)))
        if not parts:
            return None
        return self._decode(_to_host(parts), layout, names, epoch, step, steps_per_epoch)

    def _decode(self, values: list[float], layout: Sequence[tuple[str, str, int]], names: list[str],
                epoch: int, step: int, steps_per_epoch: int) -> TelemetrySample | None:
        outputs: dict[str, dict[str, Any]] = {}
        fields: dict[str, dict[str, Any]] = {name: {} for name in names}
        position = 0
        squares: list[list[float]] = []
        scale = self.grad_scale or 1.0
        for what, name, length in layout:
            chunk = values[position:position + length]
            position += length
            if what == "out":
                outputs[name] = _decode_output(chunk)
            elif what == "grad":
                norm, lo, hi = chunk[0] / scale, chunk[1], chunk[2]
                fields[name]["output_grad_norm"] = norm
                fields[name]["gradients"] = _histogram(lo, hi, chunk[GRADIENT_FIELDS:])
            else:
                squares.append(chunk)
        has_params = {names[index] for index in self._owners}
        if squares:
            if self.overflow_possible and not all(math.isfinite(v) for v in squares[0]):
                return None
            for index, name in enumerate(names):
                if name not in has_params:
                    continue
                fields[name]["grad_norm"] = math.sqrt(squares[0][index])
                if len(squares) == 3:
                    weight = math.sqrt(squares[2][index])
                    fields[name]["update_ratio"] = math.sqrt(squares[1][index]) / weight if weight > 0 else None
        layers = {}
        for name in names:
            known = outputs.get(name, {}) | fields[name]
            if known:
                layers[name] = LayerStats(name, **known)
        telemetry = self.telemetry
        return TelemetrySample(telemetry.global_step, epoch, step, steps_per_epoch, layers,
                               tuple(find_problems(layers, self.layers)), telemetry.last_cost, telemetry.interval)


def _to_host(parts: Sequence[torch.Tensor | np.ndarray]) -> list[float]:
    """Returns every value of ``parts`` in order as Python floats, copying device tensors in one go."""
    tensors = [p for p in parts if isinstance(p, torch.Tensor)]
    copied: list[float] = []
    if tensors:
        device = tensors[0].device
        copied = torch.cat([t.reshape(-1).float().to(device) for t in tensors]).cpu().tolist()
    values: list[float] = []
    at = 0
    for part in parts:
        if isinstance(part, torch.Tensor):
            values.extend(copied[at:at + part.numel()])
            at += part.numel()
        else:
            values.extend(part.tolist())
    return values


def _sum_squares(norms: torch.Tensor, owners: torch.Tensor, count: int) -> torch.Tensor:
    """Returns, per layer, the sum of its parameters' squared norms (the square of their joint norm)."""
    return torch.zeros(count, device=norms.device, dtype=torch.float32).index_add_(0, owners, norms.float() ** 2)


def _number(value: float) -> float | None:
    return None if math.isnan(value) else value


def _histogram(lo: float, hi: float, counts: Sequence[float]) -> Histogram | None:
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    return Histogram(lo, hi, tuple(int(c) for c in counts))


def _decode_output(chunk: Sequence[float]) -> dict[str, Any]:
    mean, std, zeros, dead, saturated, lo, hi = chunk[:OUTPUT_FIELDS]
    return {"mean": mean, "std": std, "zeros": _number(zeros), "dead": _number(dead),
            "saturated": _number(saturated), "activations": _histogram(lo, hi, chunk[OUTPUT_FIELDS:])}


# --- problems -----------------------------------------------------------------------------------

def find_problems(layers: Mapping[str, LayerStats], layer_map: LayerMap | None = None) -> Iterable[Problem]:
    """Yields the problems of one sample's statistics, each tied to its layer and saying what to try."""
    for name, stats in layers.items():
        inputs = layer_map.layers[name].inputs if layer_map is not None and name in layer_map.layers else []
        yield from _layer_problems(name, stats, inputs)


def _layer_problems(name: str, stats: LayerStats, inputs: Sequence[str]) -> Iterable[Problem]:
    if stats.dead is not None and stats.dead > DEAD_ABOVE:
        fed = f" (fed by {', '.join(inputs)}, whose outputs are below zero for every sample)" if inputs else ""
        yield Problem("warning", "dead-units",
                      f"{stats.dead:.0%} of its units output zero for every sample of the batch{fed}: dead "
                      "units pass no gradient and stop learning. Try a lower learning rate, He (Kaiming) "
                      "initialisation or BatchNorm before it, or LeakyReLU / GELU instead", name)
    norm = stats.grad_norm
    if norm is not None:
        if not math.isfinite(norm):
            yield Problem("warning", "nan-gradient",
                          "its parameters' gradient is NaN or infinite: the next update will break the "
                          "weights. Try a lower learning rate or gradient clipping", name)
        elif norm > EXPLODING_ABOVE:
            yield Problem("warning", "exploding-gradient",
                          f"exploding gradient: norm {norm:.1e} (above {EXPLODING_ABOVE:.0e}); the updates are "
                          "too big and training may diverge. Try a lower learning rate, gradient clipping "
                          "(Clip gradients in the training settings) or BatchNorm / LayerNorm", name)
        elif norm < VANISHING_BELOW:
            yield Problem("warning", "vanishing-gradient",
                          f"vanishing gradient: norm {norm:.1e} (below {VANISHING_BELOW:.0e}); this layer "
                          "barely learns. Try ReLU / GELU instead of Sigmoid / Tanh, BatchNorm, residual "
                          "connections or He initialisation; check for dead units after it", name)
    ratio = stats.update_ratio
    low, high = HEALTHY_UPDATE_RATIO
    if ratio is not None and math.isfinite(ratio) and stats.grad_norm:
        if ratio > high * FAR_OUTSIDE:
            yield Problem("warning", "update-ratio-high",
                          f"each step changes its weights by {ratio:.1e} of their size (healthy: {low:.0e} to "
                          f"{high:.0e}); training will be unstable. Try a lower learning rate", name)
        elif 0 < ratio < low / FAR_OUTSIDE:
            yield Problem("warning", "update-ratio-low",
                          f"each step changes its weights by only {ratio:.1e} of their size (healthy: "
                          f"{low:.0e} to {high:.0e}); it learns very slowly. Try a higher learning rate "
                          "or less weight decay", name)

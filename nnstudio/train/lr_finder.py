"""The learning-rate range test (Leslie Smith, "Cyclical Learning Rates for Training Neural Networks",
2017): train a copy of the network for a short while with a learning rate rising exponentially from
tiny to huge and watch the loss.

The loss first barely moves (the rate is too small), then falls, then blows up (too large). The
suggested rate is where the smoothed loss falls fastest against log10(lr) -- the steepest descent of
the curve -- which sits inside the range where learning is quickest and well below where it diverges.
The test stops early once the running (exponentially averaged) loss is four times its lowest. The
curve the suggestion reads is smoothed forwards and backwards, so it lags neither way: a one-sided
average would place the steepest point up to a decade too high.

The network trained is a deep copy: the caller's weights, and the project's, are never touched. The
copy trains with the project's optimizer, loss, batch size and data (training split), in float32.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from nnstudio.core.errors import NnstudioError
from nnstudio.core.settings import TrainingSettings
from nnstudio.train.data import DatasetBundle, TensorData
from nnstudio.train.devices import pick_device
from nnstudio.train.recipe import make_loss, make_optimizer

StopReason = Literal["end", "diverged", "stopped"]


@dataclass(frozen=True)
class LrFinderOptions:
    """The range test's sweep: ``steps`` rates from ``start_lr`` to ``end_lr`` (exponential)."""

    start_lr: float = 1e-7
    end_lr: float = 10.0
    steps: int = 100
    #: Exponential moving average weight of the previous smoothed loss (bias-corrected).
    smoothing: float = 0.8
    #: Stop once the smoothed loss exceeds this many times its lowest value.
    diverge_factor: float = 4.0
    #: The first share of the steps is never suggested (the average is still settling there).
    skip_start: float = 0.1

    def check(self) -> None:
        """Raises NnstudioError naming the first option that cannot work."""
        if not (0 < self.start_lr < self.end_lr) or not math.isfinite(self.end_lr):
            raise NnstudioError(f"the learning rates must rise: start {self.start_lr:g} < end {self.end_lr:g}, "
                                "both above 0")
        if self.steps < 10:
            raise NnstudioError(f"the range test needs at least 10 steps (got {self.steps})")
        if not 0 <= self.smoothing < 1:
            raise NnstudioError(f"smoothing must be in [0, 1) (got {self.smoothing:g})")


@dataclass(frozen=True)
class LrFinderResult:
    """The curve (one entry per step taken) and what it suggests."""

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    stop_reason: StopReason
    #: Where the smoothed loss falls fastest (None when it never falls).
    suggested_lr: float | None
    #: The rates around the suggestion where the loss falls at least half as fast as at its steepest.
    falling_range: tuple[float, float] | None
    #: The rate with the lowest smoothed loss (``smoothed``: averaged forwards and backwards).
    min_loss_lr: float | None

    def summary(self, rows: int = 12) -> list[tuple[float, float, float]]:
        """Returns about ``rows`` (lr, loss, smoothed) points spread evenly over the curve."""
        if not self.lrs:
            return []
        picks = sorted({round(i) for i in np.linspace(0, len(self.lrs) - 1, min(rows, len(self.lrs)))})
        return [(self.lrs[i], self.losses[i], self.smoothed[i]) for i in picks]


def learning_rates(options: LrFinderOptions) -> np.ndarray:
    """Returns the exponentially rising rates of the sweep."""
    return np.geomspace(options.start_lr, options.end_lr, options.steps)


def smooth(losses: list[float], beta: float) -> list[float]:
    """Returns the bias-corrected exponential moving average of ``losses``."""
    average, out = 0.0, []
    for i, loss in enumerate(losses, start=1):
        average = beta * average + (1 - beta) * loss
        out.append(average / (1 - beta ** i))
    return out


def smooth_both_ways(losses: list[float], beta: float) -> list[float]:
    """Returns ``losses`` averaged forwards, then backwards: smooth, and without the one-way lag."""
    return smooth(smooth(losses, beta)[::-1], beta)[::-1]


def suggest(lrs: list[float], smoothed: list[float], options: LrFinderOptions
            ) -> tuple[float | None, tuple[float, float] | None]:
    """Returns the steepest-descent rate of the smoothed curve and the range falling at least half as
    fast around it; (None, None) when the loss never falls."""
    start = max(1, int(len(lrs) * options.skip_start))
    if len(lrs) - start < 3:
        return None, None
    x = np.log10(np.asarray(lrs))
    slopes = np.gradient(np.asarray(smoothed), x)
    # The last steps before a divergence stop rise steeply; the steepest fall lies before them.
    window = slopes[start:]
    best = start + int(np.argmin(window))
    if not slopes[best] < 0:
        return None, None
    lo = hi = best
    while lo - 1 >= start and slopes[lo - 1] <= slopes[best] / 2:
        lo -= 1
    while hi + 1 < len(slopes) and slopes[hi + 1] <= slopes[best] / 2:
        hi += 1
    return float(lrs[best]), (float(lrs[lo]), float(lrs[hi]))


def find_lr(model: nn.Module, data: DatasetBundle, settings: TrainingSettings,
            options: LrFinderOptions | None = None, *, device: torch.device | str | None = None,
            on_step: Callable[[int, float, float], None] | None = None,
            should_stop: Callable[[], bool] | None = None) -> LrFinderResult:
    """Runs the range test on a copy of ``model``; returns the curve and the suggestion.

    ``on_step(index, lr, loss)`` is called after every step (from this thread); ``should_stop()`` is
    asked before each and ends the test early with what was measured.
    """
    options = options or LrFinderOptions()
    options.check()
    device = device if isinstance(device, torch.device) else pick_device(device or settings.device)
    torch.manual_seed(settings.seed)
    network = copy.deepcopy(model).to(device)
    network.train()
    loss_fn = make_loss(settings)
    optimizer = make_optimizer(settings, network.parameters(), device)
    batches = _endless_batches(data, settings, device)
    lrs: list[float] = []
    losses: list[float] = []
    beta, average, best = options.smoothing, 0.0, math.inf
    reason: StopReason = "end"
    for index, lr in enumerate(learning_rates(options)):
        if should_stop is not None and should_stop():
            reason = "stopped"
            break
        for group in optimizer.param_groups:
            group["lr"] = float(lr)
        x, y = next(batches)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(network(x), y)
        loss.backward()
        optimizer.step()
        value = float(loss.item())
        if not math.isfinite(value):
            reason = "diverged"
            break
        average = beta * average + (1 - beta) * value
        current = average / (1 - beta ** (index + 1))
        lrs.append(float(lr))
        losses.append(value)
        if on_step is not None:
            on_step(index, float(lr), value)
        best = min(best, current)
        if index > options.steps * options.skip_start and current > options.diverge_factor * best:
            reason = "diverged"
            break
    smoothed = smooth_both_ways(losses, beta)
    suggested, falling = suggest(lrs, smoothed, options)
    lowest = lrs[int(np.argmin(smoothed))] if smoothed else None
    return LrFinderResult(lrs, losses, smoothed, reason, suggested, falling, lowest)


def _endless_batches(data: DatasetBundle, settings: TrainingSettings, device: torch.device) -> Any:
    """Yields training batches on ``device`` forever, reshuffling after each pass (seeded)."""
    order = torch.Generator().manual_seed(settings.seed)
    train = data.train
    size = settings.batch_size
    if isinstance(train, TensorData):
        train = train.to(device)
        while True:
            permutation = torch.randperm(len(train), generator=order).to(device)
            for start in range(0, len(train), size):
                yield train.batch(permutation[start:start + size])
    from torch.utils.data import DataLoader

    loader = DataLoader(train, batch_size=size, shuffle=True, generator=order)
    while True:
        for x, y in loader:
            yield x.to(device), y.to(device)


def find_lr_for_project(project: Any, options: LrFinderOptions | None = None, *,
                        device: torch.device | str | None = None, **callbacks: Any) -> LrFinderResult:
    """Runs the range test on ``project``'s network (built and checked as for training) and data."""
    from nnstudio.train.project_run import build_training_run

    run = build_training_run(project, device="cpu", num_workers=0)
    return find_lr(run.model, run.data, project.settings, options,
                   device=device or project.settings.device, **callbacks)

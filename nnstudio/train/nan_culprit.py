"""Where a run's first NaN was made: the mixin of :class:`~nnstudio.train.trainer.TrainingRun` that
names the culprit layer after a non-finite loss (see :meth:`NanCulprit._nan_culprit`).

It reads the run's ``model``, ``_forward``, ``loss_fn``, ``schedule``, ``telemetry`` and
``_step_index`` and calls its ``_restore_snapshot()``, ``_batches()``, ``_validation_batches()`` and
``_step()``; the trainer
raises :class:`NonFiniteLoss` when a loss it read is NaN or infinite, and :class:`NonFiniteGradient`
while ``_check_gradients`` is set and a backward made a non-finite gradient.
"""

from __future__ import annotations

import functools
import time
from typing import Any

import torch

from nnstudio.train.faults import (
    first_nonfinite_gradient,
    first_nonfinite_layer,
    weights_are_finite,
)
from nnstudio.train.probes import unwrap

#: Locating a NaN's origin by replaying the epoch gives up after this many seconds.
REPLAY_LIMIT_S = 120.0


class NonFiniteLoss(Exception):
    """A loss the trainer read was NaN or infinite; ``inputs`` is the batch (None: an epoch's sum)."""

    def __init__(self, value: float, inputs: torch.Tensor | None, validation: bool = False) -> None:
        self.value = value
        self.inputs = inputs
        #: The validation loss, not a training one, was non-finite.
        self.validation = validation


class NonFiniteGradient(Exception):
    """A backward made a non-finite gradient (raised only while the trainer checks gradients)."""


#: How each side of a culprit reads in a failure message.
WHERE = {
    "forward": "; the first non-finite values come from layer {node}",
    "validation": "; in validation (layers in evaluation mode) the first non-finite values come from layer {node}",
    "gradient": "; the first non-finite gradient comes from layer {node} (in its backward)",
    "data": "; the input batch itself holds NaN or infinite values",
    "loss": "; every layer's output is finite: the loss itself overflowed (very large outputs)",
}


def culprit_text(node: str | None, side: str | None) -> str:
    """Returns the part of a NaN failure message that says where the NaN was made ("" if unknown)."""
    if side in ("data", "loss") or (node and side in WHERE):
        return WHERE[side].format(node=node)  # type: ignore[index]
    return ""


class NanCulprit:
    """Finds the layer that made a run's first non-finite value (mixed into TrainingRun)."""

    model: Any
    _forward: Any
    _validation_batches: Any
    loss_fn: Any
    schedule: Any
    telemetry: Any
    _step_index: int | None
    _check_gradients: bool

    def _nan_culprit(self, fault: NonFiniteLoss) -> tuple[str | None, str | None]:
        """Returns the layer where the first NaN/Inf was made and how: ``forward``, ``gradient`` or
        ``data`` (the batch itself). With finite weights the failing batch shows it at once. Broken
        weights mean an earlier step broke them: the epoch is replayed from its start, checking every
        loss and gradient, up to the step that did (at most REPLAY_LIMIT_S seconds); when the replay
        does not break (the cause came from outside the network), the first layer whose output is
        non-finite with the broken weights is named."""
        x = fault.inputs
        try:
            if fault.validation and weights_are_finite(self.model):
                return self._validation_culprit()
            if x is not None and not bool(torch.isfinite(x).all()):
                return None, "data"
            seen = first_nonfinite_layer(unwrap(self._forward), x) if x is not None else None
            if x is not None and weights_are_finite(self.model):
                return (seen, "forward") if seen else (None, "loss")
            node, side = self._replay_to_nonfinite(self._step_index)
            return (node, side) if node or side else (seen, "forward")
        except Exception:  # noqa: BLE001 - a diagnosis never hides the failure it explains
            return None, None

    def _validation_culprit(self) -> tuple[str | None, str | None]:
        """Returns the first layer making non-finite values on a validation batch, the network in
        evaluation mode (BatchNorm's running statistics, no dropout), as validation ran it."""
        deadline = time.monotonic() + REPLAY_LIMIT_S
        model = unwrap(self._forward)
        was_training = model.training
        model.eval()
        try:
            for x, _y in self._validation_batches():
                if not bool(torch.isfinite(x).all()):
                    return None, "data"
                node = first_nonfinite_layer(model, x)
                if node is not None:
                    return node, "validation"
                if time.monotonic() > deadline:
                    break
        finally:
            model.train(was_training)
        return None, None

    def _replay_to_nonfinite(self, until_step: int | None) -> tuple[str | None, str | None]:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return None, None  # the other processes are not replaying with this one
        deadline = time.monotonic() + REPLAY_LIMIT_S
        telemetry, self.telemetry = self.telemetry, None
        self._restore_snapshot()
        self.model.train()
        self._check_gradients = True
        try:
            for step, (x, y) in enumerate(self._batches(), start=1):
                if (until_step is not None and step > until_step) or time.monotonic() > deadline:
                    break
                try:
                    self._step(x, y, read_loss=True)
                except NonFiniteLoss:
                    if not bool(torch.isfinite(x).all()):
                        return None, "data"
                    return first_nonfinite_layer(unwrap(self._forward), x), "forward"
                except NonFiniteGradient:
                    model = unwrap(self._forward)
                    return first_nonfinite_gradient(model, model, functools.partial(self._loss_against, y), x), "gradient"
                if self.schedule.per_step:
                    self.schedule.after_step()
        finally:
            self._check_gradients = False
            self.telemetry = telemetry
        return None, None

    def _loss_against(self, y: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        return self.loss_fn(output, y)

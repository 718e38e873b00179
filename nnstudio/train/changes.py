"""Changes to a run's learning rate, momentum, weight decay or batch size while it is paused.

:meth:`TrainingRun.change_settings` checks a change at once (:func:`check_change`, a
:class:`ChangeError` naming the field) and the run applies it before its next batch
(:func:`apply_change`), so the step after a resume already uses the new values. Each applied change
is a :class:`SettingsChange`: emitted as the run's ``changed`` event, kept in ``run.changes`` and in
the ``RunResult``, with the epoch position curves mark it at.

A schedule stays consistent with a new learning rate by taking it as its new starting point: the
rate is the new value from the next step on, and every rate the schedule gives later is scaled by
the same factor (new / old), so a StepLR still divides it at the same epochs and OneCycle's peak
moves with it. ``settings.lr`` (the schedule's base rate, saved with the run) is scaled alike.
OneCycle also cycles the momentum; a new momentum shifts that cycle. A new batch size applies from
the next batch of in-memory data (a DataLoader's from the next epoch) and OneCycle is stretched to
end at the run's new last step.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

import torch
from pydantic import ValidationError

from nnstudio.core.errors import NnstudioError
from nnstudio.core.settings import TrainingSettings
from nnstudio.train.data import TensorData

#: What can change mid-run, in the order messages list them.
CHANGEABLE = ("lr", "momentum", "weight_decay", "batch_size")
TITLES = {"lr": "learning rate", "momentum": "momentum", "weight_decay": "weight decay",
          "batch_size": "batch size"}


class ChangeError(NnstudioError):
    """A mid-run change that cannot be made; ``field`` names the setting."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{TITLES.get(field, field)}: {message}")


@dataclass(frozen=True)
class SettingsChange:
    """One applied change: ``values`` maps each setting to (old, new); the step it applies before."""

    epoch: int
    #: Steps of ``epoch`` done before the change (0: before its first step).
    step: int
    #: Steps since the run object started, before the change.
    global_step: int
    #: The epoch axis position of the change (epoch 2 after 5 of 10 steps -> 1.5), as curves use.
    position: float
    values: dict[str, tuple[float, float]]

    def describe(self) -> str:
        """Returns ``learning rate 0.001 -> 0.01, batch size 64 -> 32``."""
        return ", ".join(f"{TITLES[k]} {_number(old)} -> {_number(new)}" for k, (old, new) in self.values.items())

    def as_dict(self) -> dict[str, Any]:
        """Returns the change as plain JSON-able values (a run record, a worker's stream)."""
        return {"epoch": self.epoch, "step": self.step, "global_step": self.global_step,
                "position": self.position, "values": {k: list(v) for k, v in self.values.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SettingsChange:
        return cls(int(data["epoch"]), int(data["step"]), int(data["global_step"]), float(data["position"]),
                   {k: (v[0], v[1]) for k, v in data["values"].items()})


def _number(value: float) -> str:
    return f"{value:g}"


def current_values(settings: TrainingSettings, optimizer: torch.optim.Optimizer) -> dict[str, float]:
    """Returns the values in force now: the optimizer's rate, momentum and decay, the batch size."""
    group = optimizer.param_groups[0]
    values: dict[str, float] = {"lr": float(group["lr"]) / float(group.get("lr_scale", 1.0)), "weight_decay": float(group.get("weight_decay", 0.0)),
                                "batch_size": settings.batch_size}
    momentum = _momentum_of(group)
    if momentum is not None:
        values["momentum"] = momentum
    return values


def _momentum_of(group: dict[str, Any]) -> float | None:
    if "momentum" in group:
        return float(group["momentum"])
    if "betas" in group:
        return float(group["betas"][0])
    return None


def check_change(settings: TrainingSettings, optimizer: torch.optim.Optimizer,
                 values: dict[str, Any]) -> dict[str, float]:
    """Returns the change with each value checked; raises ChangeError naming the first bad field."""
    checked: dict[str, float] = {}
    for name, value in values.items():
        if name not in CHANGEABLE:
            raise ChangeError(name, f"cannot change while a run trains (only {', '.join(CHANGEABLE)})")
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ChangeError(name, f"{value!r} is not a number")
        if name == "batch_size" and int(value) != value:
            raise ChangeError(name, f"{value!r} is not a whole number")
        probe = settings.model_copy()
        try:
            # Validation only; the settings object is changed when the change is applied.
            TrainingSettings.model_validate(probe.model_dump() | {name: int(value) if name == "batch_size" else value})
        except ValidationError as exc:
            raise ChangeError(name, exc.errors()[0]["msg"]) from None
        if name == "momentum":
            group = optimizer.param_groups[0]
            if _momentum_of(group) is None:
                raise ChangeError(name, f"{type(optimizer).__name__} has no momentum")
            if value == 0 and group.get("nesterov"):
                raise ChangeError(name, "Nesterov momentum needs a momentum above 0")
        checked[name] = int(value) if name == "batch_size" else float(value)
    return checked


def apply_change(settings: TrainingSettings, optimizer: torch.optim.Optimizer, scheduler: Any,
                 values: dict[str, float]) -> dict[str, tuple[float, float]]:
    """Puts checked ``values`` into the optimizer, its scheduler and ``settings``; returns (old, new) of
    each value that differs from the one in force."""
    before = current_values(settings, optimizer)
    applied: dict[str, tuple[float, float]] = {}
    for name, new in values.items():
        old = before.get(name)
        if old is None or old == new:
            continue
        if name == "lr":
            _rescale_rate(settings, optimizer, scheduler, new / old)
        elif name == "momentum":
            _set_momentum(optimizer, new)
            if "momentum" in optimizer.param_groups[0]:  # SGD, RMSprop; Adam's beta1 has no setting
                settings.momentum = new
        elif name == "weight_decay":
            for group in optimizer.param_groups:
                group["weight_decay"] = new
            settings.weight_decay = new
        else:
            settings.batch_size = int(new)
        applied[name] = (old, new)
    return applied


def _rescale_rate(settings: TrainingSettings, optimizer: torch.optim.Optimizer, scheduler: Any,
                  factor: float) -> None:
    """Scales the learning rate now and every rate the schedule gives later by ``factor``."""
    for group in optimizer.param_groups:
        group["lr"] *= factor
        for key in ("initial_lr", "max_lr", "min_lr"):  # OneCycle computes each step from these
            if key in group:
                group[key] *= factor
    if scheduler is not None:
        if hasattr(scheduler, "base_lrs"):
            scheduler.base_lrs = [rate * factor for rate in scheduler.base_lrs]
        if hasattr(scheduler, "_last_lr"):
            scheduler._last_lr = [group["lr"] for group in optimizer.param_groups]
    settings.lr = min(settings.lr * factor, 100.0)


def _set_momentum(optimizer: torch.optim.Optimizer, new: float) -> None:
    for group in optimizer.param_groups:
        old = _momentum_of(group) or 0.0
        if "momentum" in group:
            group["momentum"] = new
        else:
            group["betas"] = (new, *tuple(group["betas"])[1:])
        if "max_momentum" in group:  # OneCycle cycles the momentum: shift its cycle with the change
            shift = new - old
            group["max_momentum"] = min(max(group["max_momentum"] + shift, 0.0), 0.999)
            group["base_momentum"] = min(max(group["base_momentum"] + shift, 0.0), 0.999)


def stretch_one_cycle(scheduler: Any, remaining_before: int, remaining_after: int) -> None:
    """Fits a OneCycleLR to a new number of remaining steps, keeping its shape: the position and the
    phase boundaries are scaled so the cycle still ends at the run's last step."""
    if remaining_before <= 0 or remaining_after <= 0 or remaining_before == remaining_after:
        return
    ratio = remaining_after / remaining_before
    done = round(scheduler.last_epoch * ratio)
    total = done + remaining_after
    scale = total / scheduler.total_steps
    for phase in scheduler._schedule_phases:
        phase["end_step"] = phase["end_step"] * scale
    scheduler._schedule_phases[-1]["end_step"] = total - 1
    scheduler.total_steps = total
    scheduler.last_epoch = done


class ChangeableRun:
    """The mid-run changes of :class:`~nnstudio.train.trainer.TrainingRun` (mixed into it).

    ``change_settings`` (any thread) checks and queues a change; the trainer calls ``_apply_pending``
    before drawing each batch while something is queued. It reads the run's ``settings``,
    ``optimizer``, ``schedule``, ``data``, ``_train_data``, ``steps_per_epoch``, ``_step_index``,
    ``_epoch_number``, ``global_step`` and ``_drawn`` (samples of the epoch drawn so far).
    """

    settings: TrainingSettings
    optimizer: torch.optim.Optimizer
    schedule: Any
    data: Any
    _train_data: Any
    steps_per_epoch: int
    _step_index: int | None
    _epoch_number: int
    global_step: int
    events: Any

    def _init_changes(self) -> None:
        #: Settings changed mid-run (``change_settings``), applied before the next batch.
        self.changes: list[SettingsChange] = []
        self._pending: dict[str, float] = {}
        self._pending_lock = threading.Lock()

    def change_settings(self, **values: float) -> None:
        """Change ``lr``, ``momentum``, ``weight_decay`` or ``batch_size`` from the next batch on (meant
        for a paused run). Checked now: raises ChangeError naming the field; nothing changes then."""
        checked = check_change(self.settings, self.optimizer, values)
        with self._pending_lock:
            self._pending.update(checked)

    def _apply_pending(self) -> None:
        with self._pending_lock:
            pending, self._pending = self._pending, {}
        old_steps = self.steps_per_epoch
        done = self._step_index or 0
        applied = apply_change(self.settings, self.optimizer, self.schedule.scheduler, pending)
        if not applied:
            return
        if "batch_size" in applied:
            remaining_before = self.schedule.scheduler.total_steps - self.schedule.scheduler.last_epoch \
                if self.schedule.name == "onecycle" else 0
            # Later epochs batch the new size (a DataLoader's from the next epoch on, this one keeps its own).
            future = math.ceil(len(self.data.train) / self.settings.batch_size) * (self.settings.epochs
                                                                                   - self._epoch_number)
            if isinstance(self._train_data, TensorData):
                left = max(0, len(self._train_data) - getattr(self, "_drawn", 0))
                self.steps_per_epoch = done + math.ceil(left / self.settings.batch_size)
            if remaining_before:
                stretch_one_cycle(self.schedule.scheduler, remaining_before,
                                  self.steps_per_epoch - done + future)
        change = SettingsChange(self._epoch_number, done, self.global_step,
                                self._epoch_number - 1 + done / max(old_steps, 1), applied)
        self.changes.append(change)
        self._note(f"changed at epoch {change.epoch}, step {done}: {change.describe()}")
        self.events.changed.emit(change)

"""The training recipe from settings: loss function, optimizer and learning-rate scheduler."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from nnstudio.core.settings import TrainingSettings

_LOSSES: dict[str, type[nn.Module]] = {
    "cross_entropy": nn.CrossEntropyLoss, "nll": nn.NLLLoss, "mse": nn.MSELoss, "l1": nn.L1Loss,
    "smooth_l1": nn.SmoothL1Loss, "bce": nn.BCELoss, "bce_with_logits": nn.BCEWithLogitsLoss,
}


def make_loss(settings: TrainingSettings) -> nn.Module:
    """Return the loss module named by ``settings.loss`` (mean over the batch)."""
    return _LOSSES[settings.loss]()


def make_optimizer(settings: TrainingSettings, parameters: Any, device: torch.device) -> torch.optim.Optimizer:
    """Return the optimizer named by ``settings.optimizer`` over ``parameters``.

    ``parameters``: tensors (those with ``requires_grad`` are trained), or groups as
    :func:`nnstudio.train.freezing.parameter_groups` gives them, each with its ``lr_scale``.
    """
    given = list(parameters)
    params: list[Any]
    if given and isinstance(given[0], dict):
        params = [{**group, "lr": settings.lr * group.get("lr_scale", 1.0)} for group in given if group["params"]]
        has_any = bool(params)
    else:
        params = [p for p in given if p.requires_grad]
        has_any = bool(params)
    lr, wd = settings.lr, settings.weight_decay
    # Fused kernels update every parameter in one pass; they exist for Adam/AdamW/SGD on CPU and CUDA.
    fused = {"fused": True} if device.type in ("cpu", "cuda") and has_any else {}
    name = settings.optimizer
    if name == "sgd":
        nesterov = settings.nesterov and settings.momentum > 0
        return torch.optim.SGD(params, lr=lr, momentum=settings.momentum, nesterov=nesterov,
                               weight_decay=wd, **fused)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd, **fused)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd, **fused)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=settings.momentum, weight_decay=wd)
    return torch.optim.Adagrad(params, lr=lr, weight_decay=wd)


class Schedule:
    """A learning-rate scheduler with one interface: ``after_step()`` and ``after_epoch(val_loss)``.

    OneCycle changes the rate every step; the others once per epoch (ReduceLROnPlateau from the
    validation loss).
    """

    def __init__(self, settings: TrainingSettings, optimizer: torch.optim.Optimizer, steps_per_epoch: int) -> None:
        self.name = settings.scheduler
        self.optimizer = optimizer
        sched = torch.optim.lr_scheduler
        self.scheduler: Any
        if self.name == "step":
            self.scheduler = sched.StepLR(optimizer, step_size=settings.step_size, gamma=settings.gamma)
        elif self.name == "cosine":
            self.scheduler = sched.CosineAnnealingLR(optimizer, T_max=settings.epochs)
        elif self.name == "onecycle":
            scales = [group.get("lr_scale", 1.0) for group in optimizer.param_groups]
            self.scheduler = sched.OneCycleLR(optimizer, max_lr=[settings.lr * s for s in scales],
                                              total_steps=max(1, settings.epochs * steps_per_epoch))
        elif self.name == "plateau":
            self.scheduler = sched.ReduceLROnPlateau(optimizer, factor=settings.gamma,
                                                     patience=settings.step_size)
        else:
            self.scheduler = None

    @property
    def per_step(self) -> bool:
        return self.name == "onecycle"

    def after_step(self) -> None:
        if self.name == "onecycle":
            self.scheduler.step()

    def after_epoch(self, val_loss: float) -> None:
        if self.name == "plateau":
            self.scheduler.step(val_loss)
        elif self.scheduler is not None and self.name != "onecycle":
            self.scheduler.step()

    def lr(self) -> float:
        """Return the run's learning rate now (the first group's, without its layers' multiplier)."""
        group = self.optimizer.param_groups[0]
        return float(group["lr"]) / float(group.get("lr_scale", 1.0))

    def state_dict(self) -> dict[str, Any]:
        return {} if self.scheduler is None else self.scheduler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.scheduler is not None and state:
            self.scheduler.load_state_dict(state)

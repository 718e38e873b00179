"""Checkpoint files: saved atomically, and read back only when every part has the right type.

A checkpoint (``TrainingRun.checkpoint()``) is a dict of plain tensors, numbers, lists and dicts.
:func:`validate_checkpoint` checks each part before anything is applied to a run, so a malformed
history or a learning rate that is not a number is refused at load with the part named
(``CheckpointError``, e.g. "checkpoint optimizer.param_groups[0].lr: ..."), never at epoch 3 and never
as a traceback out of a window's slot.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from nnstudio.core.input_scaling import InputScaling
from nnstudio.core.settings import TrainingSettings
from nnstudio.train.outputs import save_torch_file
from nnstudio.train.trainer import CHECKPOINT_FORMAT, CHECKPOINT_VERSION, CheckpointError
from nnstudio.train.weights_files import load_weights_file

#: Optimizer hyperparameters that must be finite real numbers when a checkpoint names them.
_NUMERIC_GROUP_KEYS = ("lr", "initial_lr", "momentum", "dampening", "weight_decay", "eps", "alpha",
                       "lr_decay", "initial_accumulator_value", "rho", "max_lr", "min_lr")


class _HistoryRow(BaseModel):
    """One epoch of ``history`` (the fields of ``EpochMetrics``)."""

    model_config = ConfigDict(extra="forbid", strict=True)

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
    confusion: list[list[int]] | None = None

    @field_validator("epoch")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be 1 or more")
        return value


def _is_number(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return value.numel() == 1 and not value.is_complex() and value.dtype != torch.bool and \
            math.isfinite(float(value))
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _location(loc: tuple[Any, ...]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)


def validate_checkpoint(checkpoint: Any, optimizer: torch.optim.Optimizer | None = None) -> dict[str, Any]:
    """Return ``checkpoint`` once every part has the type a run needs; raises CheckpointError naming the part.

    With the run's ``optimizer``, its saved state is also held against it: every hyperparameter the
    optimizer uses present with a value of the same kind, and every per-parameter state tensor
    shaped like its parameter (torch would otherwise accept them and fail at the next step).
    """
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"the file holds a {type(checkpoint).__name__}, not an nnstudio checkpoint",
                              "format")
    if checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"not an nnstudio checkpoint (format {checkpoint.get('format')!r})", "format")
    version = checkpoint.get("version", 0)
    if not isinstance(version, int) or isinstance(version, bool) or version > CHECKPOINT_VERSION:
        raise CheckpointError(f"written by a newer nnstudio (version {version!r})", "version")
    epoch = checkpoint.get("epoch", 0)
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
        raise CheckpointError(f"must be a whole number >= 0, not {epoch!r}", "epoch")
    model = checkpoint.get("model")
    if not isinstance(model, Mapping) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                 for k, v in model.items()):
        raise CheckpointError("must be a state dict (a mapping of names to tensors)", "model")
    _validate_optimizer(checkpoint.get("optimizer"))
    if optimizer is not None:
        _validate_against(checkpoint["optimizer"], optimizer)
    scheduler = checkpoint.get("scheduler", {})
    if not isinstance(scheduler, dict):
        raise CheckpointError(f"must be a mapping (found {type(scheduler).__name__})", "scheduler")
    _validate_history(checkpoint.get("history", []))
    settings = checkpoint.get("settings")
    if settings is not None:
        try:
            TrainingSettings.model_validate(settings)
        except ValidationError as exc:
            error = exc.errors()[0]
            raise CheckpointError(error["msg"], "settings" + _location(error["loc"])) from None
    if checkpoint.get("input_scaling") is not None:
        try:
            InputScaling.from_dict(checkpoint["input_scaling"])
        except ValueError as exc:
            raise CheckpointError(str(exc).removeprefix("input scaling: "), "input_scaling") from None
    rng = checkpoint.get("rng", {})
    if not isinstance(rng, dict):
        raise CheckpointError(f"must be a mapping (found {type(rng).__name__})", "rng")
    for key in ("torch", "order"):
        state = rng.get(key)
        if state is not None and not (isinstance(state, torch.Tensor) and state.dtype == torch.uint8
                                      and state.dim() == 1):
            raise CheckpointError("must be a random-number state (a 1-D uint8 tensor)", f"rng.{key}")
    early = checkpoint.get("early_stopping", {})
    if not isinstance(early, dict):
        raise CheckpointError(f"must be a mapping (found {type(early).__name__})", "early_stopping")
    best = early.get("best_val", math.inf)
    if not isinstance(best, (int, float)) or isinstance(best, bool) or math.isnan(best):
        raise CheckpointError(f"must be a number, not {best!r}", "early_stopping.best_val")
    bad = early.get("bad_epochs", 0)
    if not isinstance(bad, int) or isinstance(bad, bool) or bad < 0:
        raise CheckpointError(f"must be a whole number >= 0, not {bad!r}", "early_stopping.bad_epochs")
    return checkpoint


def _validate_optimizer(optimizer: Any) -> None:
    if not isinstance(optimizer, dict):
        raise CheckpointError(f"must be an optimizer state (a mapping) (found {type(optimizer).__name__})",
                              "optimizer")
    if not isinstance(optimizer.get("state", {}), dict):
        raise CheckpointError("must be a mapping", "optimizer.state")
    groups = optimizer.get("param_groups")
    if not isinstance(groups, list) or not groups:
        raise CheckpointError("must be a non-empty list", "optimizer.param_groups")
    for i, group in enumerate(groups):
        where = f"optimizer.param_groups[{i}]"
        if not isinstance(group, dict):
            raise CheckpointError(f"must be a mapping (found {type(group).__name__})", where)
        params = group.get("params")
        if not isinstance(params, list) or not all(isinstance(p, int) and not isinstance(p, bool) for p in params):
            raise CheckpointError("must be a list of parameter indices", f"{where}.params")
        for key in _NUMERIC_GROUP_KEYS:
            if key in group and not _is_number(group[key]):
                raise CheckpointError(f"must be a finite number, not {group[key]!r}", f"{where}.{key}")
        betas = group.get("betas")
        if betas is not None and not (isinstance(betas, (list, tuple)) and len(betas) == 2
                                      and all(_is_number(b) for b in betas)):
            raise CheckpointError(f"must be two finite numbers, not {betas!r}", f"{where}.betas")


def _same_kind(live: Any, saved: Any) -> bool:
    if isinstance(live, bool):
        return isinstance(saved, bool)
    if live is None:
        return saved is None or isinstance(saved, bool)
    if isinstance(live, (int, float, torch.Tensor)) and (not isinstance(live, torch.Tensor) or live.numel() == 1):
        return _is_number(saved)
    if isinstance(live, (tuple, list)):
        return isinstance(saved, (tuple, list)) and len(saved) == len(live) and \
            all(_same_kind(a, b) for a, b in zip(live, saved))
    if isinstance(live, str):
        return isinstance(saved, str)
    return True


def _validate_against(saved: dict[str, Any], optimizer: torch.optim.Optimizer) -> None:
    live_groups = optimizer.param_groups
    if len(saved["param_groups"]) != len(live_groups):
        raise CheckpointError(f"has {len(saved['param_groups'])} parameter groups; this run's optimizer has "
                              f"{len(live_groups)} (was the optimizer changed?)", "optimizer.param_groups")
    shapes: dict[int, tuple[int, ...]] = {}
    for i, (group, live) in enumerate(zip(saved["param_groups"], live_groups)):
        where = f"optimizer.param_groups[{i}]"
        if len(group["params"]) != len(live["params"]):
            raise CheckpointError(f"holds {len(group['params'])} parameters; this network's group holds "
                                  f"{len(live['params'])}", f"{where}.params")
        for index, param in zip(group["params"], live["params"]):
            shapes[index] = tuple(param.shape)
        for key, value in live.items():
            if key in ("params", "param_names"):
                continue
            if key not in group:
                raise CheckpointError(f"is missing (this run's {type(optimizer).__name__} needs it)", f"{where}.{key}")
            if not _same_kind(value, group[key]):
                raise CheckpointError(f"must be like {value!r}, not {group[key]!r}", f"{where}.{key}")
    for index, state in saved.get("state", {}).items():
        if not isinstance(state, dict):
            raise CheckpointError(f"must be a mapping (found {type(state).__name__})", f"optimizer.state.{index}")
        for key, value in state.items():
            if isinstance(value, torch.Tensor) and value.dim() > 0 and index in shapes and \
                    tuple(value.shape) != shapes[index]:
                raise CheckpointError(f"has shape {list(value.shape)}; its parameter has {list(shapes[index])}",
                                      f"optimizer.state.{index}.{key}")


def _validate_history(history: Any) -> None:
    if not isinstance(history, list):
        raise CheckpointError(f"must be a list of epochs (found {type(history).__name__})", "history")
    for i, row in enumerate(history):
        if not isinstance(row, dict):
            raise CheckpointError(f"must be a mapping of an epoch's numbers (found {type(row).__name__})",
                                  f"history[{i}]")
        try:
            _HistoryRow.model_validate(row)
        except ValidationError as exc:
            error = exc.errors()[0]
            raise CheckpointError(error["msg"], f"history[{i}]" + _location(error["loc"])) from None


def save_checkpoint(checkpoint: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``checkpoint`` atomically (checked by reading it back); raises FileWriteError, old file kept."""
    return save_torch_file(checkpoint, path)


def read_checkpoint_file(path: str | os.PathLike[str], expected_bytes: int | None = None) -> dict[str, Any]:
    """Return a checkpoint read with ``weights_only=True`` whose parts all have the right types.

    Raises WeightsFileError (unreadable, unsafe, too large) or CheckpointError naming the part.
    """
    return validate_checkpoint(load_weights_file(path, expected_bytes))

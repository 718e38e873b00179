"""The data a run trains on: :class:`DatasetBundle`, in-memory :class:`TensorData`, splits and targets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch.utils.data import Dataset

from nnstudio.core.errors import NnstudioError
from nnstudio.core.settings import BINARY_LOSSES, CLASSIFICATION_LOSSES

Task = Literal["classification", "binary", "regression"]


class DatasetError(NnstudioError):
    """A dataset could not be loaded or its options are wrong; ``option`` names the culprit when known."""

    def __init__(self, message: str, option: str | None = None, dataset: str | None = None) -> None:
        self.option = option
        self.dataset = dataset
        self.reason = message
        where = ".".join(p for p in (dataset, option) if p)
        super().__init__(f"dataset {where}: {message}" if where else message)


@dataclass
class TensorData:
    """A split held as tensors: ``x[i]``/``y[i]`` is one sample; ``transform`` runs on each batch.

    Keeping pixels as uint8 and converting per batch (``transform``) stores image sets in a quarter of
    the memory, which is what lets MNIST or CIFAR-10 live on the GPU next to the model.
    """

    x: torch.Tensor
    y: torch.Tensor
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def to(self, device: torch.device) -> TensorData:
        """Return this split with both tensors on ``device`` (moved once, before training)."""
        return TensorData(self.x.to(device), self.y.to(device), self.transform)

    def span(self, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the inputs and targets of samples ``start:stop`` (views, no gather), transformed."""
        x = self.x[start:stop]
        if self.transform is not None:
            x = self.transform(x)
        return x, self.y[start:stop]

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the inputs and targets at ``index``, transformed."""
        x = self.x[index]
        if self.transform is not None:
            x = self.transform(x)
        return x, self.y[index]


@dataclass
class DatasetBundle:
    """Training and validation data plus the facts the graph must agree with."""

    train: TensorData | Dataset
    val: TensorData | Dataset
    input_shape: tuple[int, ...]
    task: Task
    num_classes: int | None
    class_names: list[str] = field(default_factory=list)
    description: str = ""
    #: Regression: the number of values predicted per sample.
    target_width: int = 1

    @property
    def in_memory(self) -> bool:
        """Return True when both splits are tensors (the fast path: indexing on the device)."""
        return isinstance(self.train, TensorData) and isinstance(self.val, TensorData)

    @property
    def train_size(self) -> int:
        return len(self.train)

    @property
    def val_size(self) -> int:
        return len(self.val)


def task_for(natural: Task, num_classes: int | None, loss: str | None) -> Task:
    """Return the task a dataset serves under ``loss`` (two classes + a BCE loss -> "binary")."""
    if loss in BINARY_LOSSES and natural == "classification":
        return "binary"
    if loss in CLASSIFICATION_LOSSES:
        return natural if natural != "binary" else "classification"
    return natural


def targets_for_loss(y: torch.Tensor, task: Task) -> torch.Tensor:
    """Return ``y`` in the form the loss wants: class indices, ``[N, 1]`` 0/1 floats, or float values."""
    if task == "classification":
        return y.long()
    if task == "binary":
        return y.float().reshape(-1, 1)
    y = y.float()
    return y.reshape(-1, 1) if y.dim() == 1 else y


def stratified_split(labels: torch.Tensor, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (train indices, val indices): ``val_fraction`` of every class, shuffled with ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    train_parts, val_parts = [], []
    for label in torch.unique(labels):
        members = torch.nonzero(labels == label).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        n_val = max(1, round(len(members) * val_fraction)) if len(members) > 1 else 0
        val_parts.append(members[:n_val])
        train_parts.append(members[n_val:])
    train = torch.cat(train_parts)
    val = torch.cat(val_parts)
    return train[torch.randperm(len(train), generator=generator)], val.sort().values


def random_split(n: int, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (train indices, val indices) of a seeded random split of ``n`` samples."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val = min(n - 1, max(1, round(n * val_fraction)))
    return order[n_val:], order[:n_val].sort().values

"""The data a run trains on: :class:`DatasetBundle`, in-memory :class:`TensorData`, splits and targets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import Dataset

from nnstudio.core.datasets import DatasetError, DatasetFacts, Task
from nnstudio.core.input_scaling import InputScaling
from nnstudio.core.settings import task_for

__all__ = ["DatasetBundle", "DatasetError", "TensorData", "Task", "random_split", "stratified_split",
           "targets_for_loss", "task_for", "tensor_bundle"]


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
    #: What one sample holds once transformed: float32 values, or int64 token ids.
    dtype: str = "float32"
    #: Token data: id -> token (id 0 padding, 1 unknown for text); every id is below its length.
    tokens: list[str] | None = None
    #: Token data: every id is below this.
    vocabulary: int | None = None
    #: Raw rows were standardised with these training-row statistics (a CSV's ``standardize``); the
    #: run keeps them so its exported model can take raw rows.
    input_scaling: InputScaling | None = None
    #: How one raw sample becomes the network's input (plain JSON: what exports and ``nnstudio predict``
    #: repeat), e.g. ``{"kind": "image", "size": [32, 32], "crop": None, "channels": 3, "mean": ..., "std": ...}``
    #: or ``{"kind": "table", "columns": [...], "mean": [...], "std": [...]}``; None: nothing to repeat.
    preprocessing: dict[str, Any] | None = None

    @property
    def facts(self) -> DatasetFacts:
        """Return what the loaded data says, in the registry's terms (the natural task, before the loss)."""
        natural = "classification" if self.task == "binary" else self.task
        return DatasetFacts(natural, tuple(self.input_shape), self.dtype,  # type: ignore[arg-type]
                            classes=self.num_classes if natural == "classification" else None,
                            target_width=self.target_width if natural == "regression" else None,
                            vocabulary=self.vocabulary)

    @property
    def in_memory(self) -> bool:
        """Return True when both splits are tensors (the fast path: indexing on the device)."""
        return isinstance(self.train, TensorData) and isinstance(self.val, TensorData)

    @property
    def train_size(self) -> int:
        return len(self.train)  # type: ignore[arg-type]  # every split here has a length

    @property
    def val_size(self) -> int:
        return len(self.val)  # type: ignore[arg-type]


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


def split_indices(y: torch.Tensor, classification: bool, val_fraction: float,
                  seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (train, val) indices: stratified by class for classification (when every class can give
    a sample to each side), otherwise a plain seeded random split."""
    if classification:
        train, val = stratified_split(y, val_fraction, seed)
        if len(val) and len(train):
            return train, val
    return random_split(len(y), val_fraction, seed)


def tensor_bundle(x: torch.Tensor, y: torch.Tensor, *, natural: Task, num_classes: int | None,
                  loss: str | None, val_fraction: float, split_seed: int, description: str,
                  class_names: list[str] | None = None, dataset: str | None = None,
                  tokens: list[str] | None = None, vocabulary: int | None = None,
                  split: tuple[torch.Tensor, torch.Tensor] | None = None,
                  input_scaling: InputScaling | None = None) -> DatasetBundle:
    """Return a bundle of in-memory splits of ``x``/``y`` (stratified for classification).

    ``split`` gives the (train, val) indices when the caller already split (a text vocabulary is
    built on the training rows only, so the split comes first). Refuses data too small to give
    both a training and a validation sample, naming ``dataset``.
    """
    if len(x) < 2:
        raise DatasetError(f"has {len(x)} sample(s); it needs at least 2 (one to train on, one to validate)",
                           dataset=dataset)
    task = task_for(natural, loss)
    train_idx, val_idx = split if split is not None else split_indices(
        y, natural == "classification", val_fraction, split_seed)
    targets = targets_for_loss(y, task)
    names = class_names if class_names is not None else (
        [str(i) for i in range(num_classes)] if num_classes else [])
    return DatasetBundle(
        train=TensorData(x[train_idx], targets[train_idx]),
        val=TensorData(x[val_idx], targets[val_idx]),
        input_shape=tuple(x.shape[1:]), task=task, num_classes=num_classes, class_names=names,
        description=description, target_width=1 if targets.dim() == 1 else int(targets.shape[1]),
        dtype="int64" if x.dtype == torch.int64 else "float32", tokens=tokens, vocabulary=vocabulary,
        input_scaling=input_scaling,
    )

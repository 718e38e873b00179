"""``load_dataset(settings, seed)``: the bundled digits, synthetic sets, torchvision sets, folders and CSVs.

Each kind reads its options from ``DatasetSettings.options``; an unknown option or a bad value is a
:class:`DatasetError` naming it. Synthetic sets are generated from their own ``seed`` option (default:
the run's seed), so a given project always trains on the same points.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from nnstudio.core.resources import resource_path
from nnstudio.core.settings import DatasetSettings
from nnstudio.train.data import (
    DatasetBundle,
    DatasetError,
    TensorData,
    random_split,
    stratified_split,
    targets_for_loss,
    task_for,
)


class Options:
    """Typed reads of a dataset's options that name the offending option on a bad value."""

    def __init__(self, kind: str, options: dict[str, Any], known: set[str]) -> None:
        unknown = sorted(set(options) - known)
        if unknown:
            raise DatasetError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}",
                               option=unknown[0], dataset=kind)
        self.kind = kind
        self.options = options

    def number(self, name: str, default: float, minimum: float | None = None,
               maximum: float | None = None, integer: bool = False) -> Any:
        value = self.options.get(name, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and value != int(value)):
            kind = "an integer" if integer else "a number"
            raise DatasetError(f"must be {kind}, got {value!r}", option=name, dataset=self.kind)
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise DatasetError(f"must be between {minimum} and {maximum}, got {value}", option=name,
                               dataset=self.kind)
        return int(value) if integer else float(value)

    def text(self, name: str, default: str | None, choices: tuple[str, ...] | None = None) -> Any:
        value = self.options.get(name, default)
        if value is None and default is None and choices is None:
            return None
        if not isinstance(value, str) or (choices is not None and value not in choices):
            allowed = f" (one of {', '.join(choices)})" if choices else ""
            raise DatasetError(f"must be a string{allowed}, got {value!r}", option=name, dataset=self.kind)
        return value

    def flag(self, name: str, default: bool) -> bool:
        value = self.options.get(name, default)
        if not isinstance(value, bool):
            raise DatasetError(f"must be true or false, got {value!r}", option=name, dataset=self.kind)
        return value


_COMMON = {"n_samples", "noise", "seed"}


def _tensor_bundle(x: torch.Tensor, y: torch.Tensor, *, natural: str, num_classes: int | None,
                   loss: str | None, val_fraction: float, split_seed: int, description: str,
                   class_names: list[str] | None = None) -> DatasetBundle:
    """Return a bundle of in-memory splits of ``x``/``y`` (stratified for classification)."""
    task = task_for(natural, num_classes, loss)  # type: ignore[arg-type]
    if natural == "classification":
        train_idx, val_idx = stratified_split(y, val_fraction, split_seed)
    else:
        train_idx, val_idx = random_split(len(x), val_fraction, split_seed)
    targets = targets_for_loss(y, task)
    names = class_names if class_names is not None else (
        [str(i) for i in range(num_classes)] if num_classes else [])
    return DatasetBundle(
        train=TensorData(x[train_idx], targets[train_idx]),
        val=TensorData(x[val_idx], targets[val_idx]),
        input_shape=tuple(x.shape[1:]), task=task, num_classes=num_classes, class_names=names,
        description=description, target_width=1 if targets.dim() == 1 else int(targets.shape[1]),
    )


def digits(options: Options, seed: int, loss: str | None, val_fraction: float) -> DatasetBundle:
    """The bundled 8x8 handwritten digits, pixels / 16, with a fixed stratified split."""
    with np.load(resource_path("data", "digits.npz")) as archive:
        images = torch.from_numpy(archive["images"].astype(np.float32) / 16.0).unsqueeze(1)
        labels = torch.from_numpy(archive["labels"].astype(np.int64))
    # The split seed is fixed (not the run's seed) so every run validates on the same images.
    return _tensor_bundle(images, labels, natural="classification", num_classes=10, loss=loss,
                          val_fraction=val_fraction, split_seed=0,
                          description=f"digits: {len(labels)} 8x8 handwritten digits (UCI), 10 classes")


def moons(options: Options, seed: int, loss: str | None, val_fraction: float) -> DatasetBundle:
    """Two interleaving half circles, two classes."""
    n = options.number("n_samples", 1000, 4, 10_000_000, integer=True)
    noise = options.number("noise", 0.1, 0, 100)
    g = torch.Generator().manual_seed(options.number("seed", seed, 0, 2**63 - 1, integer=True))
    n_outer = n // 2
    outer = torch.linspace(0, math.pi, n_outer)
    inner = torch.linspace(0, math.pi, n - n_outer)
    x = torch.cat([torch.stack([outer.cos(), outer.sin()], 1),
                   torch.stack([1 - inner.cos(), 0.5 - inner.sin()], 1)])
    x = x + noise * torch.randn(x.shape, generator=g)
    y = torch.cat([torch.zeros(n_outer, dtype=torch.long), torch.ones(n - n_outer, dtype=torch.long)])
    return _tensor_bundle(x, y, natural="classification", num_classes=2, loss=loss,
                          val_fraction=val_fraction, split_seed=int(g.initial_seed()),
                          description=f"two moons: {n} points, noise {noise}")


def spirals(options: Options, seed: int, loss: str | None, val_fraction: float) -> DatasetBundle:
    """Interleaved spiral arms in the plane, one class per arm."""
    n = options.number("n_samples", 1000, 4, 10_000_000, integer=True)
    noise = options.number("noise", 0.1, 0, 100)
    arms = options.number("classes", 3, 2, 100, integer=True)
    turns = options.number("turns", 1.0, 0.1, 20)
    g = torch.Generator().manual_seed(options.number("seed", seed, 0, 2**63 - 1, integer=True))
    y = torch.arange(n) % arms
    radius = torch.rand(n, generator=g)
    angle = radius * turns * 2 * math.pi + y * (2 * math.pi / arms)
    x = torch.stack([radius * angle.cos(), radius * angle.sin()], 1) + noise * torch.randn(n, 2, generator=g)
    return _tensor_bundle(x, y, natural="classification", num_classes=arms, loss=loss,
                          val_fraction=val_fraction, split_seed=int(g.initial_seed()),
                          description=f"spirals: {n} points, {arms} arms, noise {noise}")


def blobs(options: Options, seed: int, loss: str | None, val_fraction: float) -> DatasetBundle:
    """Gaussian clusters around random centres, one class per cluster."""
    n = options.number("n_samples", 1000, 4, 10_000_000, integer=True)
    noise = options.number("noise", 1.0, 0, 100)
    classes = options.number("classes", 3, 2, 1000, integer=True)
    features = options.number("features", 2, 1, 10_000, integer=True)
    g = torch.Generator().manual_seed(options.number("seed", seed, 0, 2**63 - 1, integer=True))
    centres = (torch.rand(classes, features, generator=g) * 2 - 1) * 10
    y = torch.arange(n) % classes
    x = centres[y] + noise * torch.randn(n, features, generator=g)
    return _tensor_bundle(x, y, natural="classification", num_classes=classes, loss=loss,
                          val_fraction=val_fraction, split_seed=int(g.initial_seed()),
                          description=f"blobs: {n} points, {classes} clusters in {features}-D, spread {noise}")


def linear(options: Options, seed: int, loss: str | None, val_fraction: float) -> DatasetBundle:
    """``y = slope * x + intercept + noise`` with x uniform in [-x_range, x_range]."""
    n = options.number("n_samples", 256, 2, 10_000_000, integer=True)
    noise = options.number("noise", 0.05, 0, 1000)
    slope = options.number("slope", 2.0)
    intercept = options.number("intercept", 0.0)
    x_range = options.number("x_range", 2.0, 1e-6, 1e6)
    g = torch.Generator().manual_seed(options.number("seed", seed, 0, 2**63 - 1, integer=True))
    x = (torch.rand(n, 1, generator=g) * 2 - 1) * x_range
    y = slope * x + intercept + noise * torch.randn(n, 1, generator=g)
    return _tensor_bundle(x, y, natural="regression", num_classes=None, loss=loss,
                          val_fraction=val_fraction, split_seed=int(g.initial_seed()),
                          description=f"linear: y = {slope}x + {intercept} + noise {noise}, {n} points")


def sine(options: Options, seed: int, loss: str | None, val_fraction: float) -> DatasetBundle:
    """``y = sin(frequency * x) + noise`` with x uniform in [-pi, pi]."""
    n = options.number("n_samples", 1000, 2, 10_000_000, integer=True)
    noise = options.number("noise", 0.05, 0, 1000)
    frequency = options.number("frequency", 1.0, -1e6, 1e6)
    g = torch.Generator().manual_seed(options.number("seed", seed, 0, 2**63 - 1, integer=True))
    x = (torch.rand(n, 1, generator=g) * 2 - 1) * math.pi
    y = torch.sin(frequency * x) + noise * torch.randn(n, 1, generator=g)
    return _tensor_bundle(x, y, natural="regression", num_classes=None, loss=loss,
                          val_fraction=val_fraction, split_seed=int(g.initial_seed()),
                          description=f"sine: y = sin({frequency}x) + noise {noise}, {n} points")


Loader = Callable[[Options, int, "str | None", float], DatasetBundle]


def _loaders() -> dict[str, tuple[Loader, set[str]]]:
    from nnstudio.train import table_data, vision_data  # heavier imports, only when used

    return {
        "digits": (digits, set()),
        "moons": (moons, _COMMON),
        "spirals": (spirals, _COMMON | {"classes", "turns"}),
        "blobs": (blobs, _COMMON | {"classes", "features"}),
        "linear": (linear, _COMMON | {"slope", "intercept", "x_range"}),
        "sine": (sine, _COMMON | {"frequency"}),
        "mnist": (vision_data.mnist, vision_data.TORCHVISION_OPTIONS),
        "fashion_mnist": (vision_data.fashion_mnist, vision_data.TORCHVISION_OPTIONS),
        "cifar10": (vision_data.cifar10, vision_data.TORCHVISION_OPTIONS),
        "image_folder": (vision_data.image_folder, vision_data.IMAGE_FOLDER_OPTIONS),
        "csv": (table_data.csv_table, table_data.CSV_OPTIONS),
    }


def load_dataset(settings: DatasetSettings, seed: int = 0, *, loss: str | None = None,
                 val_fraction: float = 0.2) -> DatasetBundle:
    """Return the train/validation bundle ``settings`` describes, targets shaped for ``loss``."""
    loaders = _loaders()
    if settings.kind not in loaders:
        raise DatasetError(f"unknown dataset kind {settings.kind!r}; known: {', '.join(loaders)}")
    loader, known = loaders[settings.kind]
    return loader(Options(settings.kind, dict(settings.options), known), seed, loss, val_fraction)

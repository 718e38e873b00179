"""Loaders of the bundled digits and of the synthetic points in the plane (moons, spirals, blobs, lines).

Synthetic sets are generated from their own ``seed`` option (default: the run's seed), so a given
project always trains on the same points.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from nnstudio.core.resources import resource_path
from nnstudio.train.data import DatasetBundle, tensor_bundle
from nnstudio.train.loaders import LoadRequest, register_loader


def _generator(options: dict[str, Any], request: LoadRequest) -> torch.Generator:
    return torch.Generator().manual_seed(request.seed_of(options))


@register_loader("digits")
def digits(options: dict[str, Any], request: LoadRequest) -> DatasetBundle:
    """The bundled 8x8 handwritten digits, pixels / 16, with a fixed stratified split."""
    with np.load(resource_path("data", "digits.npz")) as archive:
        images = torch.from_numpy(archive["images"].astype(np.float32) / 16.0).unsqueeze(1)
        labels = torch.from_numpy(archive["labels"].astype(np.int64))
    # The split seed is fixed (not the run's seed) so every run validates on the same images.
    return tensor_bundle(images, labels, natural="classification", num_classes=10, loss=request.loss,
                         val_fraction=request.val_fraction, split_seed=0, dataset=request.kind,
                         description=f"digits: {len(labels)} 8x8 handwritten digits (UCI), 10 classes")


@register_loader("moons")
def moons(options: dict[str, Any], request: LoadRequest) -> DatasetBundle:
    """Two interleaving half circles, two classes."""
    n, noise = options["n_samples"], options["noise"]
    g = _generator(options, request)
    n_outer = n // 2
    outer = torch.linspace(0, math.pi, n_outer)
    inner = torch.linspace(0, math.pi, n - n_outer)
    x = torch.cat([torch.stack([outer.cos(), outer.sin()], 1),
                   torch.stack([1 - inner.cos(), 0.5 - inner.sin()], 1)])
    x = x + noise * torch.randn(x.shape, generator=g)
    y = torch.cat([torch.zeros(n_outer, dtype=torch.long), torch.ones(n - n_outer, dtype=torch.long)])
    return tensor_bundle(x, y, natural="classification", num_classes=2, loss=request.loss,
                         val_fraction=request.val_fraction, split_seed=int(g.initial_seed()),
                         dataset=request.kind, description=f"two moons: {n} points, noise {noise}")


@register_loader("spirals")
def spirals(options: dict[str, Any], request: LoadRequest) -> DatasetBundle:
    """Interleaved spiral arms in the plane, one class per arm."""
    n, noise, arms, turns = options["n_samples"], options["noise"], options["classes"], options["turns"]
    g = _generator(options, request)
    y = torch.arange(n) % arms
    radius = torch.rand(n, generator=g)
    angle = radius * turns * 2 * math.pi + y * (2 * math.pi / arms)
    x = torch.stack([radius * angle.cos(), radius * angle.sin()], 1) + noise * torch.randn(n, 2, generator=g)
    return tensor_bundle(x, y, natural="classification", num_classes=arms, loss=request.loss,
                         val_fraction=request.val_fraction, split_seed=int(g.initial_seed()),
                         dataset=request.kind, description=f"spirals: {n} points, {arms} arms, noise {noise}")


@register_loader("blobs")
def blobs(options: dict[str, Any], request: LoadRequest) -> DatasetBundle:
    """Gaussian clusters around random centres, one class per cluster."""
    n, noise, classes, features = options["n_samples"], options["noise"], options["classes"], options["features"]
    g = _generator(options, request)
    centres = (torch.rand(classes, features, generator=g) * 2 - 1) * 10
    y = torch.arange(n) % classes
    x = centres[y] + noise * torch.randn(n, features, generator=g)
    return tensor_bundle(x, y, natural="classification", num_classes=classes, loss=request.loss,
                         val_fraction=request.val_fraction, split_seed=int(g.initial_seed()),
                         dataset=request.kind,
                         description=f"blobs: {n} points, {classes} clusters in {features}-D, spread {noise}")


@register_loader("linear")
def linear(options: dict[str, Any], request: LoadRequest) -> DatasetBundle:
    """``y = slope * x + intercept + noise`` with x uniform in [-x_range, x_range]."""
    n, noise, slope, intercept = options["n_samples"], options["noise"], options["slope"], options["intercept"]
    g = _generator(options, request)
    x = (torch.rand(n, 1, generator=g) * 2 - 1) * options["x_range"]
    y = slope * x + intercept + noise * torch.randn(n, 1, generator=g)
    return tensor_bundle(x, y, natural="regression", num_classes=None, loss=request.loss,
                         val_fraction=request.val_fraction, split_seed=int(g.initial_seed()), dataset=request.kind,
                         description=f"linear: y = {slope:g}x + {intercept:g} + noise {noise:g}, {n} points")


@register_loader("sine")
def sine(options: dict[str, Any], request: LoadRequest) -> DatasetBundle:
    """``y = sin(frequency * x) + noise`` with x uniform in [-pi, pi]."""
    n, noise, frequency = options["n_samples"], options["noise"], options["frequency"]
    g = _generator(options, request)
    x = (torch.rand(n, 1, generator=g) * 2 - 1) * math.pi
    y = torch.sin(frequency * x) + noise * torch.randn(n, 1, generator=g)
    return tensor_bundle(x, y, natural="regression", num_classes=None, loss=request.loss,
                         val_fraction=request.val_fraction, split_seed=int(g.initial_seed()), dataset=request.kind,
                         description=f"sine: y = sin({frequency:g}x) + noise {noise:g}, {n} points")

"""Loaders of the synthetic sequence tasks: parity and most-frequent symbol (token ids), sine forecasting.

Token tasks give int64 samples ``[length]`` for an Embedding; the forecasting windows give float
samples ``[length, 1]`` (one feature per time step) for a recurrent or attention layer.
"""

from __future__ import annotations

import math
import string
from typing import Any

import numpy as np
import torch

from nnstudio.train.data import DatasetBundle, tensor_bundle
from nnstudio.train.loaders import LoadRequest, register_loader


def _symbols(count: int) -> list[str]:
    """Return printable names of ``count`` symbols: a, b, c, ... (numbers past z)."""
    letters = string.ascii_lowercase
    return [letters[i] if i < len(letters) else str(i) for i in range(count)]


@register_loader("parity")
def parity(options: dict[str, Any], request: LoadRequest) -> DatasetBundle:
    """Random bit strings; class 1 ("odd") when the number of 1s is odd."""
    n, length = options["n_samples"], options["length"]
    seed = request.seed_of(options)
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 2, (n, length), generator=g)
    y = x.sum(1) % 2
    return tensor_bundle(x, y, natural="classification", num_classes=2, loss=request.loss,
                         val_fraction=request.val_fraction, split_seed=seed, dataset=request.kind,
                         class_names=["even", "odd"], tokens=["0", "1"], vocabulary=2,
                         description=f"parity: {n} strings of {length} bits; is the count of 1s odd?")


@register_loader("most_frequent")
def most_frequent(options: dict[str, Any], request: LoadRequest) -> DatasetBundle:
    """Random strings over ``symbols`` symbols; the class is the symbol that occurs most often.

    Every string has exactly one most frequent symbol: a tie is broken by turning one occurrence of
    another tied symbol into a randomly chosen one of them.
    """
    n, length, symbols = options["n_samples"], options["length"], options["symbols"]
    seed = request.seed_of(options)
    rng = np.random.default_rng(seed)
    x = rng.integers(0, symbols, (n, length))
    counts = np.zeros((n, symbols), dtype=np.int64)
    np.add.at(counts, (np.arange(n)[:, None], x), 1)
    top = counts.max(1, keepdims=True)
    for row in np.nonzero((counts == top).sum(1) > 1)[0]:
        tied = np.nonzero(counts[row] == top[row, 0])[0]
        winner = rng.choice(tied)
        loser = rng.choice(tied[tied != winner])
        position = rng.choice(np.nonzero(x[row] == loser)[0])
        x[row, position] = winner
        counts[row, winner] += 1
        counts[row, loser] -= 1
    y = counts.argmax(1)
    names = _symbols(symbols)
    return tensor_bundle(torch.from_numpy(x).long(), torch.from_numpy(y).long(), natural="classification",
                         num_classes=symbols, loss=request.loss, val_fraction=request.val_fraction,
                         split_seed=seed, dataset=request.kind, class_names=names, tokens=names,
                         vocabulary=symbols,
                         description=f"most frequent symbol: {n} strings of {length} symbols over {symbols}")


@register_loader("sine_forecast")
def sine_forecast(options: dict[str, Any], request: LoadRequest) -> DatasetBundle:
    """Windows of sine waves with random frequency and phase; the targets are the next ``horizon`` values."""
    n, length, horizon, noise = options["n_samples"], options["length"], options["horizon"], options["noise"]
    seed = request.seed_of(options)
    g = torch.Generator().manual_seed(seed)
    step = 0.1 + 0.5 * torch.rand(n, 1, generator=g)  # radians per time step: 10 to 60 steps a period
    phase = 2 * math.pi * torch.rand(n, 1, generator=g)
    t = torch.arange(length + horizon, dtype=torch.float32)
    wave = torch.sin(step * t + phase)
    x = (wave[:, :length] + noise * torch.randn(n, length, generator=g)).unsqueeze(-1)
    y = wave[:, length:]
    return tensor_bundle(x, y, natural="regression", num_classes=None, loss=request.loss,
                         val_fraction=request.val_fraction, split_seed=seed, dataset=request.kind,
                         description=f"sine forecasting: {n} windows of {length} steps, predict the next "
                                     f"{horizon}, noise {noise:g}")

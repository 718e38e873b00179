"""The statistics telemetry reads from one layer's output and from the gradient arriving at it.

Each function returns a flat vector of numbers (NaN where a statistic does not apply): on an
accelerator a tensor on the device, computed with no host sync, so that a watched step copies every
layer's statistics to the host in one go; on the CPU a numpy array, as a host sync costs nothing
there and a numpy call on a small array costs a fraction of a torch operator's dispatch.

Output vector: ``[mean, std, zeros, dead, saturated, lo, hi, *counts]`` (``OUTPUT_FIELDS`` numbers,
then ``HISTOGRAM_BINS`` counts over lo..hi). Gradient vector: ``[norm, lo, hi, *counts]``
(``GRADIENT_FIELDS`` numbers, then counts of log10 |gradient| over lo..hi).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from nnstudio.core.gradient_scale import SCALE_LOG10
from nnstudio.train.probes import RELU, SIGMOID, TANH

#: Bins of each activation / gradient histogram.
HISTOGRAM_BINS = 32
#: Mean, std and shares read at most this many values of an output (evenly strided), histograms this
#: many; norms and dead units read every value.
STATS_SAMPLE = 1 << 16
HISTOGRAM_SAMPLE = 1 << 13
#: A Sigmoid output below 1% or above 99% (|x| > 4.6), a Tanh output beyond +-0.99, is saturated.
SATURATED_WITHIN = 0.01
OUTPUT_FIELDS = 7  # mean, std, zeros, dead, saturated, lo, hi (then the histogram)
GRADIENT_FIELDS = 3  # norm, lo, hi (then the histogram)


def _counts(bins: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Returns how many of ``bins`` (bin indices, already clamped) fall in each bin, as float32.

    ``bincount`` is fastest on the CPU but reads its largest index back on a GPU (a host sync), so
    accelerators add ones into the bins with ``index_add_`` instead.
    """
    if bins.device.type == "cpu":
        return torch.bincount(bins, weights, minlength=HISTOGRAM_BINS).float()
    counts = torch.zeros(HISTOGRAM_BINS, device=bins.device, dtype=torch.float32)
    return counts.index_add_(0, bins, torch.ones_like(bins, dtype=torch.float32) if weights is None else weights)


def _strided(flat: torch.Tensor, limit: int) -> torch.Tensor:
    """Returns at most about ``limit`` evenly strided values of ``flat`` (a view, no copy)."""
    return flat[::max(1, flat.numel() // limit)]


def _histogram_of(values: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Returns [lo, hi, counts...] of ``values`` (finite) on their device, with no host sync. The bins
    span mean +- 4 standard deviations (within the values' range), so a few outliers do not squeeze the
    rest into one bin; values beyond fall into the end bins."""
    low, high = torch.aminmax(values)
    lo, hi = torch.maximum(low, mean - 4 * std), torch.minimum(high, mean + 4 * std)
    width = (hi - lo).clamp_min(1e-30)
    bins = ((values - lo) / width * HISTOGRAM_BINS).long().clamp_(0, HISTOGRAM_BINS - 1)
    return torch.cat([torch.stack([lo, hi]), _counts(bins)])


def _mean_std(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns the mean and (population) standard deviation of 1-D ``values``; NaN/inf propagate.

    From a sum and a dot product around the first value: torch's ``std`` takes ~30x as long on the
    CPU, and shifting by a value from the data keeps float32 from cancelling when the mean is large.
    """
    count = values.numel()
    shifted = values - values[0]
    shift_mean = shifted.sum() / count
    variance = (torch.dot(shifted, shifted) / count - shift_mean * shift_mean).clamp_min(0.0)
    return shift_mean + values[0], variance.sqrt()


def output_summary(tensor: torch.Tensor, family: str | None) -> torch.Tensor:
    """Returns [mean, std, zeros, dead, saturated, lo, hi, counts...] of a layer output (NaN: n/a).

    Mean, std and shares are read from up to STATS_SAMPLE evenly strided values (plenty for three
    digits), the histogram from HISTOGRAM_SAMPLE of those; dead units look at every value.
    """
    x = tensor.detach()
    if x.numel() == 0:
        return torch.full((OUTPUT_FIELDS + HISTOGRAM_BINS,), math.nan, device=x.device)
    sample = _strided(x.reshape(-1), STATS_SAMPLE).float()
    mean, std = _mean_std(sample)
    nan = torch.full((), math.nan, device=x.device)
    zeros = dead = saturated = nan
    if family == RELU:
        zeros = (sample <= 0).float().mean()
        # A unit is one output position; it is dead when it is zero for every sample of the batch.
        dead = (x <= 0).all(dim=0).float().mean() if x.dim() > 1 else (x <= 0).all().float()
    elif family == SIGMOID:
        saturated = ((sample < SATURATED_WITHIN) | (sample > 1 - SATURATED_WITHIN)).float().mean()
    elif family == TANH:
        saturated = (sample.abs() > 1 - SATURATED_WITHIN).float().mean()
    histogram = _histogram_of(_strided(sample, HISTOGRAM_SAMPLE), mean, std)
    return torch.cat([torch.stack([mean, std, zeros, dead, saturated]), histogram])


def gradient_summary(grad: torch.Tensor) -> torch.Tensor:
    """Returns [norm, lo, hi, counts...] of the gradient arriving at a layer's output; the histogram is
    of log10 |gradient| over the gradient colour scale's fixed range (exact zeros not counted), so
    every sample of every layer shares one axis, on which vanishing and exploding read at a glance."""
    flat = grad.detach().reshape(-1)
    if flat.numel() == 0:
        return torch.full((GRADIENT_FIELDS + HISTOGRAM_BINS,), math.nan, device=grad.device)
    lo, hi = SCALE_LOG10
    magnitude = torch.nan_to_num(_strided(flat, HISTOGRAM_SAMPLE).float().abs(), nan=10.0 ** hi, posinf=10.0 ** hi)
    bins = ((magnitude.clamp_min(10.0 ** lo).log10() - lo) / (hi - lo) * HISTOGRAM_BINS).long()
    # Exact zeros (units a ReLU or a max-pool shut) say nothing about the size of the gradient.
    counts = _counts(bins.clamp_(0, HISTOGRAM_BINS - 1), (magnitude > 0).float())
    bounds = torch.tensor([lo, hi], device=flat.device, dtype=torch.float32)
    norm = torch.linalg.vector_norm(flat, dtype=torch.float32).reshape(1)
    return torch.cat([norm, bounds, counts])


# On the CPU the same statistics are read with numpy: a host sync costs nothing there, and a numpy
# call on a small array costs a fraction of a torch operator's dispatch, of which a summary needs ~25.

def output_summary_host(tensor: torch.Tensor, family: str | None) -> np.ndarray:
    """Returns what :func:`output_summary` does, for a tensor on the CPU."""
    x = tensor.detach()
    if x.dtype != torch.float32:
        x = x.float()
    values = x.numpy()
    out = np.full(OUTPUT_FIELDS + HISTOGRAM_BINS, math.nan)
    if values.size == 0:
        return out
    flat = values.reshape(-1)
    sample = flat[::max(1, flat.size // STATS_SAMPLE)]
    with np.errstate(all="ignore"):
        mean, std = float(sample.mean(dtype=np.float64)), float(sample.std(dtype=np.float64))
        out[0], out[1] = mean, std
        if family == RELU:
            zero = values <= 0
            out[2] = float((sample <= 0).mean())
            out[3] = float(zero.all(axis=0).mean()) if values.ndim > 1 else float(zero.all())
        elif family == SIGMOID:
            out[4] = float(((sample < SATURATED_WITHIN) | (sample > 1 - SATURATED_WITHIN)).mean())
        elif family == TANH:
            out[4] = float((np.abs(sample) > 1 - SATURATED_WITHIN).mean())
        if math.isfinite(mean) and math.isfinite(std):
            part = sample[::max(1, sample.size // HISTOGRAM_SAMPLE)]
            lo, hi = max(float(part.min()), mean - 4 * std), min(float(part.max()), mean + 4 * std)
            bins = ((part - lo) / max(hi - lo, 1e-30) * HISTOGRAM_BINS).astype(np.int64)
            out[5], out[6] = lo, hi
            out[OUTPUT_FIELDS:] = np.bincount(np.clip(bins, 0, HISTOGRAM_BINS - 1), minlength=HISTOGRAM_BINS)
    return out


def gradient_summary_host(grad: torch.Tensor) -> np.ndarray:
    """Returns what :func:`gradient_summary` does, for a gradient on the CPU."""
    g = grad.detach()
    if g.dtype != torch.float32:
        g = g.float()
    flat = g.numpy().reshape(-1)
    out = np.full(GRADIENT_FIELDS + HISTOGRAM_BINS, math.nan)
    if flat.size == 0:
        return out
    lo, hi = SCALE_LOG10
    with np.errstate(all="ignore"):
        # Not np.dot: that calls BLAS, whose own threads fight torch's for the cores. numpy sums pairwise,
        # so float32 keeps the norm accurate.
        out[0] = float(np.sqrt(np.square(flat).sum(dtype=np.float64)))
        magnitude = np.abs(flat[::max(1, flat.size // HISTOGRAM_SAMPLE)])
        magnitude = np.nan_to_num(magnitude, nan=10.0 ** hi, posinf=10.0 ** hi)
        kept = magnitude[magnitude > 0]  # exact zeros say nothing about the size of the gradient
        bins = ((np.log10(np.maximum(kept, 10.0 ** lo)) - lo) / (hi - lo) * HISTOGRAM_BINS).astype(np.int64)
    out[1], out[2] = lo, hi
    out[GRADIENT_FIELDS:] = np.bincount(np.clip(bins, 0, HISTOGRAM_BINS - 1), minlength=HISTOGRAM_BINS)
    return out

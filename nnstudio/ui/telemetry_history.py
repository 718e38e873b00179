"""Returns the telemetry of the current run kept for the views: per layer, every sample's numbers.

Plain Python and numpy (no Qt), filled on the GUI thread from the trainer's ``telemetry`` samples.
The cards read each layer's latest values and a short history; the inspector reads a layer's whole
history and its histograms over time as an image (:meth:`TelemetryHistory.histogram_image`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

#: The statistics kept per layer and sample, as LayerStats names them.
STATS = ("mean", "std", "zeros", "dead", "saturated", "output_grad_norm", "grad_norm", "update_ratio")
#: Rows of a histogram-over-time image (bins on the common value axis), and its columns (an even grid
#: over the run so far).
IMAGE_ROWS = 48
IMAGE_COLUMNS = 240


@dataclass
class LayerHistory:
    """One layer's samples: positions on the epoch axis, each statistic, each histogram."""

    positions: list[float] = field(default_factory=list)
    values: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name in STATS})
    activations: list[object | None] = field(default_factory=list)
    gradients: list[object | None] = field(default_factory=list)

    def series(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Returns (positions, values) of one statistic; NaN where it was not measured."""
        return np.asarray(self.positions, dtype=np.float64), np.asarray(self.values[name], dtype=np.float64)

    def latest(self, name: str) -> float | None:
        """Returns the last measured value of ``name`` (None when never measured)."""
        for value in reversed(self.values[name]):
            if not math.isnan(value):
                return value
        return None

    def recent(self, name: str, count: int) -> list[float]:
        """Returns up to ``count`` last measured values of ``name``, oldest first."""
        found = [v for v in self.values[name][-4 * count:] if not math.isnan(v)]
        return found[-count:]


class TelemetryHistory:
    """Every layer's history in the current run; ``clear()`` starts a new one."""

    def __init__(self) -> None:
        self.layers: dict[str, LayerHistory] = {}
        self.samples = 0
        #: Problems of the latest sample, as the trainer found them.
        self.problems: tuple[object, ...] = ()

    def clear(self) -> None:
        self.layers.clear()
        self.samples = 0
        self.problems = ()

    def add(self, sample: object) -> None:
        """Appends one TelemetrySample (see nnstudio.train.telemetry)."""
        self.samples += 1
        position = sample.position  # type: ignore[attr-defined]
        for name, stats in sample.layers.items():  # type: ignore[attr-defined]
            history = self.layers.setdefault(name, LayerHistory())
            history.positions.append(position)
            for stat in STATS:
                value = getattr(stats, stat)
                history.values[stat].append(math.nan if value is None else float(value))
            history.activations.append(stats.activations)
            history.gradients.append(stats.gradients)
        self.problems = tuple(sample.problems)  # type: ignore[attr-defined]

    def histogram_image(self, node_id: str, kind: str = "activations",
                        rows: int = IMAGE_ROWS) -> tuple[np.ndarray, tuple[float, float], tuple[float, float]] | None:
        """Returns a layer's histograms over time as an image: ``(image[columns, rows], (x0, x1), (lo,
        hi))``: columns evenly spaced from the first sample's position x0 to the last one's x1, each
        showing the latest sample at or before it, re-binned onto the common value range ``lo..hi`` and
        scaled to its largest bin (1.0); None without histograms."""
        history = self.layers.get(node_id)
        if history is None:
            return None
        columns = [(x, h) for x, h in zip(history.positions, getattr(history, kind)) if h is not None]
        if not columns:
            return None
        lo = min(h.lo for _, h in columns)
        hi = max(h.hi for _, h in columns)
        if not hi > lo:
            hi = lo + 1.0
        samples = np.zeros((len(columns), rows), dtype=np.float32)
        for column, (_, h) in enumerate(columns):
            samples[column] = rebin(h.lo, h.hi, h.counts, lo, hi, rows)
            peak = samples[column].max()
            if peak > 0:
                samples[column] /= peak
        # Samples are not evenly spaced (the first ones come quickly): on an even grid of columns, each
        # sample holds until the next, so every column sits where its step lies on the epoch axis.
        xs = np.asarray([x for x, _ in columns])
        x0, x1 = float(xs[0]), float(xs[-1]) if xs[-1] > xs[0] else float(xs[0]) + 1e-3
        grid = np.linspace(x0, x1, IMAGE_COLUMNS, endpoint=False) if len(columns) > 1 else np.asarray([x0])
        index = np.clip(np.searchsorted(xs, grid, side="right") - 1, 0, len(columns) - 1)
        return samples[index], (x0, x1), (lo, hi)


def rebin(lo: float, hi: float, counts: Iterable[int], new_lo: float, new_hi: float, rows: int) -> np.ndarray:
    """Returns ``counts`` (equal bins over lo..hi) moved onto ``rows`` equal bins over new_lo..new_hi,
    each count at its bin's centre."""
    counts = np.asarray(list(counts), dtype=np.float32)
    out = np.zeros(rows, dtype=np.float32)
    if len(counts) == 0:
        return out
    width = (hi - lo) / len(counts)
    centres = lo + (np.arange(len(counts)) + 0.5) * width
    index = np.clip(((centres - new_lo) / (new_hi - new_lo) * rows).astype(int), 0, rows - 1)
    np.add.at(out, index, counts)
    return out

"""Growable numpy series for live plots: ``SeriesBuffer`` and its level-of-detail ``PeakEnvelope``.

``SeriesBuffer`` stores (x, y) in preallocated float64 arrays that double when full; ``x``/``y`` are
views, cheap to hand to pyqtgraph. ``PeakEnvelope`` keeps, while points arrive, the minimum and
maximum of fixed-size blocks of y (at most ``max_blocks`` blocks; the block size doubles when they
would be more). A plot drawing a million-point history hands pyqtgraph the envelope, a few
thousand points, instead of the history: every peak stays visible and a redraw costs the same at
1,000,000 points as at 10,000. ``visible_points(series, envelope, x0, x1, pixels)`` picks, for the
visible x range, the raw points, a fresh peak reduction of them, or the envelope.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Up to this many visible raw points are drawn as they are.
RAW_LIMIT = 8192
#: Up to this many visible raw points are peak-reduced on the fly; beyond, the envelope is used.
REDUCE_LIMIT = 1 << 18


class SeriesBuffer:
    """A growable (x, y) float64 series: preallocated arrays that double when full.

    ``x``/``y`` are views of the filled part, cheap to hand to ``PlotDataItem.setData``.
    """

    def __init__(self, capacity: int = 1024) -> None:
        self._x = np.empty(max(1, capacity), dtype=np.float64)
        self._y = np.empty(max(1, capacity), dtype=np.float64)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    @property
    def capacity(self) -> int:
        """Return how many points fit before the next reallocation."""
        return len(self._x)

    @property
    def x(self) -> np.ndarray:
        """Return a view of the stored x values."""
        return self._x[: self._size]

    @property
    def y(self) -> np.ndarray:
        """Return a view of the stored y values."""
        return self._y[: self._size]

    def append(self, x: float, y: float) -> None:
        """Store one point, growing the arrays if needed."""
        self._reserve(self._size + 1)
        self._x[self._size] = x
        self._y[self._size] = y
        self._size += 1

    def extend(self, xs: Sequence[float] | np.ndarray, ys: Sequence[float] | np.ndarray) -> None:
        """Store many points at once; ``xs`` and ``ys`` must have the same length."""
        xs = np.asarray(xs, dtype=np.float64).ravel()
        ys = np.asarray(ys, dtype=np.float64).ravel()
        if len(xs) != len(ys):
            raise ValueError(f"x and y lengths differ: {len(xs)} x values, {len(ys)} y values")
        end = self._size + len(xs)
        self._reserve(end)
        self._x[self._size : end] = xs
        self._y[self._size : end] = ys
        self._size = end

    def clear(self) -> None:
        """Forget all points but keep the allocated memory for the next run."""
        self._size = 0

    def _reserve(self, needed: int) -> None:
        if needed <= len(self._x):
            return
        capacity = len(self._x)
        while capacity < needed:
            capacity *= 2
        for name in ("_x", "_y"):
            grown = np.empty(capacity, dtype=np.float64)
            grown[: self._size] = getattr(self, name)[: self._size]
            setattr(self, name, grown)


class PeakEnvelope:
    """Per-block minimum and maximum of a growing series, updated incrementally as points arrive."""

    def __init__(self, max_blocks: int = 4096) -> None:
        if max_blocks < 2:
            raise ValueError(f"max_blocks must be at least 2, got {max_blocks}")
        self.max_blocks = max_blocks
        self.block = 1
        self._x = np.empty(0)  # first x of each full block
        self._low = np.empty(0)
        self._high = np.empty(0)
        self._tail: list[float] | None = None  # [first x, low, high] of the block being filled
        self._tail_count = 0

    def __len__(self) -> int:
        """Return the number of blocks, the partly filled one included."""
        return len(self._x) + (1 if self._tail_count else 0)

    def clear(self) -> None:
        """Forget every point."""
        self.__init__(self.max_blocks)

    def extend(self, xs: np.ndarray, ys: np.ndarray) -> None:
        """Fold new points (x increasing) into the envelope."""
        i, n = 0, len(ys)
        while i < n:
            if self._tail_count:
                take = min(self.block - self._tail_count, n - i)
                chunk = ys[i : i + take]
                self._tail[1] = min(self._tail[1], float(chunk.min()))
                self._tail[2] = max(self._tail[2], float(chunk.max()))
                self._tail_count += take
                i += take
                if self._tail_count == self.block:
                    tail, self._tail, self._tail_count = self._tail, None, 0
                    self._push(np.array([tail[0]]), np.array([tail[1]]), np.array([tail[2]]))
                continue
            full = (n - i) // self.block
            if full:
                end = i + full * self.block
                blocks = ys[i:end].reshape(full, self.block)
                self._push(xs[i:end:self.block], blocks.min(axis=1), blocks.max(axis=1))
                i = end
                continue
            self._tail = [float(xs[i]), float(ys[i:].min()), float(ys[i:].max())]
            self._tail_count = n - i
            i = n

    def _push(self, xs: np.ndarray, lows: np.ndarray, highs: np.ndarray) -> None:
        self._x = np.concatenate([self._x, xs])
        self._low = np.concatenate([self._low, lows])
        self._high = np.concatenate([self._high, highs])
        while len(self._x) > self.max_blocks:
            self._coarsen()

    def _coarsen(self) -> None:
        """Double the block size by merging neighbouring blocks; an odd last block becomes the tail."""
        pairs = len(self._x) // 2
        if len(self._x) % 2:
            # The odd block joins the tail (left by an earlier halving of this same push, if any).
            tail = [float(self._x[-1]), float(self._low[-1]), float(self._high[-1])]
            if self._tail_count:
                tail[1], tail[2] = min(tail[1], self._tail[1]), max(tail[2], self._tail[2])
            self._tail = tail
            self._tail_count += self.block
        self._x = self._x[: 2 * pairs : 2].copy()
        self._low = np.minimum(self._low[: 2 * pairs : 2], self._low[1 : 2 * pairs : 2])
        self._high = np.maximum(self._high[: 2 * pairs : 2], self._high[1 : 2 * pairs : 2])
        self.block *= 2

    def points(self, x0: float = -np.inf, x1: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
        """Return drawable (x, y) for the blocks overlapping [x0, x1]: each block's low then high at its x."""
        xs, lows, highs = self._x, self._low, self._high
        if self._tail_count:
            xs = np.append(xs, self._tail[0])
            lows = np.append(lows, self._tail[1])
            highs = np.append(highs, self._tail[2])
        start = max(0, int(np.searchsorted(xs, x0, side="right")) - 1)
        stop = int(np.searchsorted(xs, x1, side="right"))
        return _interleave(xs[start:stop], lows[start:stop], highs[start:stop])


def _interleave(xs: np.ndarray, lows: np.ndarray, highs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (x, y) with each x twice, first with its low then with its high value."""
    out_x = np.repeat(xs, 2)
    out_y = np.empty(2 * len(xs))
    out_y[0::2] = lows
    out_y[1::2] = highs
    return out_x, out_y


def visible_points(series: SeriesBuffer, envelope: PeakEnvelope, x0: float, x1: float,
                   pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """Return what to draw of ``series`` for the x range [x0, x1] on a plot ``pixels`` wide.

    Few visible points: the raw views (one point beyond each edge so lines reach the border).
    Up to ``REDUCE_LIMIT``: a min/max reduction to about two points per pixel. More: the envelope.
    """
    x = series.x
    start = max(0, int(np.searchsorted(x, x0)) - 1)
    stop = min(len(x), int(np.searchsorted(x, x1, side="right")) + 1)
    count = stop - start
    if count <= RAW_LIMIT:
        return x[start:stop], series.y[start:stop]
    if count <= REDUCE_LIMIT:
        block = max(1, count // max(1, pixels))
        blocks = count // block
        end = start + blocks * block
        ys = series.y[start:end].reshape(blocks, block)
        return _interleave(x[start:end:block], ys.min(axis=1), ys.max(axis=1))
    return envelope.points(x0, x1)

"""Benchmark: one redraw of the loss plot with a 1,000,000-point batch history vs a 5,000-point one.

A redraw is what happens each time the training panel's redraw cadence comes round during a live
run: a new batch is stored, ``flush()`` hands the curves fresh views of their buffers (setData), and
the plot's graphics view paints (``grab()`` on it forces a full paint offscreen; the small read-out
label above it is not included). Both plots live in the same process and are measured in interleaved repeats;
medians are reported. Targets (DESIGN.md): each <= 16 ms, ratio <= 2x.

For context it also times the plain pyqtgraph recipe on the same 1,000,000 points: one
PlotDataItem per series with peak downsampling, clip-to-view and skipFiniteCheck, fed the whole
buffer on each redraw (no level-of-detail envelope), in a GraphicsLayoutWidget of the same size.

Run: .venv/bin/python benchmarks/bench_plots.py [--repeats N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pyqtgraph as pg  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from nnstudio.ui.plot_series import SeriesBuffer  # noqa: E402
from nnstudio.ui.plots import LossPlot  # noqa: E402

STEPS_PER_EPOCH = 1000


def filled_plot(points: int) -> LossPlot:
    """Return a shown LossPlot holding ``points`` batches of a noisy decaying loss."""
    rng = np.random.default_rng(0)
    x = np.arange(1, points + 1) / STEPS_PER_EPOCH
    loss = 2.3 * np.exp(-x / (points / STEPS_PER_EPOCH / 4)) + 0.1 + 0.2 * rng.random(points)
    lr = np.full(points, 1e-3)
    plot = LossPlot()
    plot.resize(900, 500)
    plot.show()
    plot.add_batches(x, loss, lr)
    for epoch in range(1, points // STEPS_PER_EPOCH + 1):
        plot.add_epoch(epoch, train_loss=float(loss[epoch * STEPS_PER_EPOCH - 1]),
                       val_loss=float(loss[epoch * STEPS_PER_EPOCH - 1]) * 1.1)
    plot.flush()
    plot.grab()  # first paint settles the auto-range and downsampling factor
    # What a live redraw repaints: the graphics view (the read-out label above is ~0.05 ms).
    plot.grab_view = plot._graphics.grab
    return plot


class PlainRecipePlot:
    """The peer: pyqtgraph's scrolling-plot recipe without nnstudio's envelope, same series and size."""

    def __init__(self, points: int) -> None:
        rng = np.random.default_rng(0)
        x = np.arange(1, points + 1) / STEPS_PER_EPOCH
        loss = 2.3 * np.exp(-x / (points / STEPS_PER_EPOCH / 4)) + 0.1 + 0.2 * rng.random(points)
        self.widget = pg.GraphicsLayoutWidget()
        self.widget.resize(900, 500)
        main = self.widget.addPlot(row=0, col=0)
        lr_plot = self.widget.addPlot(row=1, col=0)
        self.buffers = [SeriesBuffer(), SeriesBuffer(), SeriesBuffer()]
        self.items = []
        for buffer, plot, y in zip(self.buffers, (main, main, lr_plot), (loss, loss * 0.9, np.full(points, 1e-3))):
            buffer.extend(x, y)
            item = pg.PlotDataItem(skipFiniteCheck=True)
            plot.addItem(item)
            item.setDownsampling(auto=True, method="peak")
            item.setClipToView(True)
            item.setData(buffer.x, buffer.y)
            self.items.append(item)
        self.widget.show()
        self.widget.grab()

    def add_batch(self, x: float, loss: float, lr: float) -> None:
        for buffer, y in zip(self.buffers, (loss, loss, lr)):
            buffer.append(x, y)

    def flush(self) -> None:
        for buffer, item in zip(self.buffers, self.items):
            item.setData(buffer.x, buffer.y, skipFiniteCheck=True)

    def grab_view(self) -> None:
        self.widget.grab()

    def close(self) -> None:
        self.widget.close()


def redraw_seconds(plot: LossPlot | PlainRecipePlot, next_x: list[float]) -> tuple[float, float]:
    """Return (wall, process CPU) seconds of one live redraw: store a batch, push it, paint."""
    next_x[0] += 1.0 / STEPS_PER_EPOCH
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    plot.add_batch(next_x[0], 0.2, 1e-3)
    plot.flush()
    plot.grab_view()
    return time.perf_counter() - start_wall, time.process_time() - start_cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=60)
    args = parser.parse_args(argv)
    app = QApplication.instance() or QApplication(sys.argv)
    sizes = {"5k": 5_000, "1M": 1_000_000}
    plots: dict[str, LossPlot | PlainRecipePlot] = {name: filled_plot(points) for name, points in sizes.items()}
    plots["1M plain recipe"] = PlainRecipePlot(sizes["1M"])
    sizes["1M plain recipe"] = sizes["1M"]
    cursors = {name: [points / STEPS_PER_EPOCH] for name, points in sizes.items()}
    times: dict[str, list[float]] = {name: [] for name in sizes}
    cpu_times: dict[str, list[float]] = {name: [] for name in sizes}
    for _ in range(5):  # warm-up
        for name, plot in plots.items():
            redraw_seconds(plot, cursors[name])
    for _ in range(args.repeats):
        for name, plot in plots.items():  # interleaved so drifts of the machine hit both alike
            wall, cpu = redraw_seconds(plot, cursors[name])
            times[name].append(wall)
            cpu_times[name].append(cpu)
            app.processEvents()
    medians = {name: statistics.median(values) * 1000 for name, values in times.items()}
    p90 = {name: float(np.percentile(values, 90)) * 1000 for name, values in times.items()}
    cpu = {name: statistics.median(values) * 1000 for name, values in cpu_times.items()}
    plain = "1M plain recipe"
    # Wall time on a shared, oversubscribed machine mostly measures the scheduler; the process's
    # CPU time (Qt's raster engine may use helper threads) is what the redraw itself costs.
    # Both are printed, with the load.
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for label, name in (("5,000-point history", "5k"), ("1,000,000-point history", "1M"),
                        ("1,000,000 points, plain pyqtgraph recipe (peer)", plain)):
        print(f"redraw, {label}: wall median {medians[name]:.2f} ms  p90 {p90[name]:.2f} ms  "
              f"| process CPU median {cpu[name]:.2f} ms")
    ratio, cpu_ratio = medians["1M"] / medians["5k"], cpu["1M"] / cpu["5k"]
    print(f"ratio 1M / 5k: wall {ratio:.2f}x, CPU {cpu_ratio:.2f}x  (target <= 2x, each <= 16 ms)")
    print(f"plain recipe / nnstudio at 1M: wall {medians[plain] / medians['1M']:.2f}x, "
          f"CPU {cpu[plain] / cpu['1M']:.2f}x")
    wall_ok = ratio <= 2.0 and max(medians["5k"], medians["1M"]) <= 16.0
    cpu_ok = cpu_ratio <= 2.0 and max(cpu["5k"], cpu["1M"]) <= 16.0
    print(f"wall time: {'within' if wall_ok else 'OUTSIDE'} target; CPU time: {'within' if cpu_ok else 'OUTSIDE'} target")
    for plot in plots.values():
        plot.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

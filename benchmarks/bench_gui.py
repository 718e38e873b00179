"""GUI tax and responsiveness of training in the window, measured side by side in one process.

- GUI tax: training steps per second of the same run trained headless (``build_training_run(...).run()``
  in a plain thread, no event loop) and from the Training tab of a shown main window with the curves
  live. The rate is the trainer's own (training samples / epoch time, validation excluded), median
  over epochs; runs alternate between the two ways, and the ratio is GUI / headless (target >= 0.95x).
  ``--workload tiny-steps`` (default) is digits-mlp's network on 20,000 synthetic 64-feature samples,
  batch 32: 625 steps of ~0.5 ms an epoch, Python-bound, so every millisecond the GUI thread holds the
  GIL shows. ``--workload digits-cnn`` (or another example) trains a bundled example as it ships.
- Responsiveness: during separate GUI runs, a 10 ms precise QTimer on the GUI thread records how late each
  tick fires (target: p99 <= 16 ms, one 60 Hz frame; max <= 100 ms).
- Garbage collection: how many cyclic collections ran during the window runs and how long the longest
  took (nnstudio collects only from a GUI-thread timer, never inside a Qt call; see nnstudio.ui.garbage).

Run with ``.venv/bin/python benchmarks/bench_gui.py [--repeats N] [--epochs N] [--workload W]``; exits 0.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

TIMER_MS = 10
#: CPU time of the GUI thread per second of wall time, one entry per window run.
busy: list[float] = []
#: Duration (ms) of every garbage collection during the measured window runs.
collections: list[float] = []


class CollectionTimer:
    """A gc callback timing each collection (start to stop) while ``active``."""

    def __init__(self) -> None:
        self.active = False
        self._started = 0.0

    def __call__(self, phase: str, _info: dict) -> None:
        if not self.active:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            collections.append((time.perf_counter() - self._started) * 1000.0)


BATCH = 32


#: Which run is measured: ``tiny-steps`` (the worst case, default) or a bundled example as it ships.
WORKLOAD = "tiny-steps"


def _project(epochs: int):
    """Return the measured run: by default digits-mlp's network on 20,000 synthetic 64-feature samples
    (625 steps of ~0.5 ms an epoch, Python-bound: the GUI's share of the GIL shows most there)."""
    from nnstudio.core.commands import SetParam
    from nnstudio.core.examples import load_example
    from nnstudio.core.settings import DatasetSettings

    if WORKLOAD != "tiny-steps":
        project = load_example(WORKLOAD)
        project.settings.epochs, project.settings.device = epochs, "cpu"
        return project
    project = load_example("digits-mlp")
    SetParam(project.graph, "image", "shape", (64,)).redo()
    settings = project.settings
    settings.dataset = DatasetSettings(kind="blobs", options={"n_samples": 20_000, "features": 64, "classes": 10})
    settings.epochs, settings.batch_size, settings.device = epochs, BATCH, "cpu"
    return project


@functools.cache
def _batch_size() -> int:
    return BATCH if WORKLOAD == "tiny-steps" else _project(1).settings.batch_size


def _rate(history) -> float:
    batch = _batch_size()
    return statistics.median(m.samples_per_s for m in history) / batch  # steps per second


def headless_steps_per_s(epochs: int) -> float:
    """Return the steps/s of one run trained without any GUI, in a plain thread.

    A thread, like the window's worker: on a busy 2-core machine torch's intra-op threads make tiny
    steps several times slower on the main thread than on a fresh one, which would flatter the GUI.
    """
    import threading

    from nnstudio.train.project_run import build_training_run

    results = []
    worker = threading.Thread(target=lambda: results.append(build_training_run(_project(epochs)).run()))
    worker.start()
    worker.join()
    assert results and results[0].status == "finished", results
    return _rate(results[0].history)


def idle_lateness(app, seconds: float) -> list[float]:
    """Return the lateness (ms) of a 10 ms timer on the GUI thread with nothing training: the floor."""
    from PySide6.QtCore import QEventLoop, Qt, QTimer

    late: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        late.append(max(0.0, (now - last[0]) * 1000.0 - TIMER_MS))
        last[0] = now

    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(TIMER_MS)
    timer.timeout.connect(tick)
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    timer.start()
    loop.exec()
    timer.stop()
    return late


def gui_steps_per_s(window, epochs: int, probe: bool = False) -> tuple[float, list[float]]:
    """Return the steps/s of one run from the window, and with ``probe`` the lateness (ms) of every 10 ms tick.

    The probe timer wakes the GUI thread 100 times a second, which itself costs the trainer (GIL), so
    the GUI tax is measured in runs without it.
    """
    from PySide6.QtCore import QEventLoop, Qt, QTimer

    window.document.replace(_project(epochs), None)
    panel = window.training_panel.presenter
    window.tabs.setCurrentWidget(window.training_panel)
    late: list[float] = []
    last = [0.0]

    def tick() -> None:
        now = time.perf_counter()
        late.append(max(0.0, (now - last[0]) * 1000.0 - TIMER_MS))
        last[0] = now

    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(TIMER_MS)
    timer.timeout.connect(tick)
    loop = QEventLoop()
    outcome = []
    panel.run_ended.connect(loop.quit)
    panel.run_ended.connect(outcome.append)
    prepared = []
    panel.session.prepared.connect(lambda _info: (prepared.append(1), last.__setitem__(0, time.perf_counter()),
                                                  probe and timer.start()))
    assert panel.start(), "the window refused to train"
    cpu, wall = time.thread_time(), time.perf_counter()
    loop.exec()
    timer.stop()
    if not probe:
        busy.append((time.thread_time() - cpu) / (time.perf_counter() - wall))
    panel.run_ended.disconnect(loop.quit)
    assert outcome and outcome[0].status == "finished", outcome
    return _rate(panel.session.last_run.history), late


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100.0 * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--workload", default="tiny-steps",
                        help="tiny-steps (synthetic, ~0.5 ms steps: the worst case) or a bundled example "
                             "trained as it ships, e.g. digits-cnn")
    args = parser.parse_args()
    global WORKLOAD
    WORKLOAD = args.workload

    import torch
    from PySide6.QtCore import QEventLoop

    # One intra-op thread for both ways: on a shared 2-core machine, two OpenMP threads turn these
    # tiny steps into scheduling noise (5-20x swings between identical runs).
    torch.set_num_threads(1)

    from nnstudio.ui import MainWindow
    from nnstudio.ui.app import application

    app = application()  # the application object nnstudio runs in, styled as the app is
    window = MainWindow(remember_layout=False)
    window.show()
    # Let the window finish its start (analysis thread, device probe) before measuring.
    deadline = time.perf_counter() + 60
    while not window.document.analysis_is_current and time.perf_counter() < deadline:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)

    headless_steps_per_s(1)  # warm-up: imports, first allocations
    gui_steps_per_s(window, 1)
    idle = idle_lateness(app, 3.0)
    import gc

    timer = CollectionTimer()
    gc.callbacks.append(timer)
    headless, gui, lateness = [], [], []
    for repeat in range(args.repeats):
        headless.append(headless_steps_per_s(args.epochs))
        timer.active = True
        gui.append(gui_steps_per_s(window, args.epochs)[0])
        timer.active = False
        _, late = gui_steps_per_s(window, args.epochs, probe=True)
        lateness.extend(late)
        print(f"repeat {repeat + 1}: headless {headless[-1]:.0f} steps/s, window {gui[-1]:.0f} steps/s, "
              f"{len(late)} timer ticks in a separate window run")
    window.shutdown()
    window.close()

    h, g = statistics.median(headless), statistics.median(gui)
    p50, p99, worst = percentile(lateness, 50), percentile(lateness, 99), max(lateness)
    print()
    print(f"headless trainer:            median {h:.0f} steps/s (min {min(headless):.0f}, max {max(headless):.0f})")
    print(f"window open, curves live:    median {g:.0f} steps/s (min {min(gui):.0f}, max {max(gui):.0f})")
    print(f"GUI tax ratio window / headless: {g / h:.3f}x (target >= 0.95x: {'met' if g / h >= 0.95 else 'NOT met'})")
    print(f"10 ms timer lateness on the GUI thread while training ({len(lateness)} ticks): "
          f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {worst:.2f} ms "
          f"(targets p99 <= 16 ms: {'met' if p99 <= 16 else 'NOT met'}, max <= 100 ms: "
          f"{'met' if worst <= 100 else 'NOT met'})")
    print(f"GUI thread CPU while training: median {statistics.median(busy):.0%} of one core")
    if collections:
        print(f"garbage collections during the window runs: {len(collections)}, longest "
              f"{max(collections):.2f} ms, median {statistics.median(collections):.3f} ms")
    print(f"the same timer with the window idle ({len(idle)} ticks): p50 {percentile(idle, 50):.2f} ms, "
          f"p99 {percentile(idle, 99):.2f} ms, max {max(idle):.2f} ms (the machine's own noise)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

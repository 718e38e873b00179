"""Pressing Train in the first seconds after start, while torch still loads: how long the window stalls.

Each measurement is a fresh ``nnstudio`` window process (torch not loaded: the analysis worker
starts importing it once the window is shown). The window opens ``digits-mlp`` and, ``--delay`` ms
after its first show, Train is pressed (the action a person clicks). From the press until the run's
first batch is drawn, a 10 ms precise QTimer on the GUI thread records how late each tick fires: a
late tick is a window that does not repaint or answer the mouse. The peer is the same press in the
same process once torch is loaded and the first run has ended (a second run), so the ratio shows
what starting early costs on top of starting a run at all.

Also printed: which of the window's own steps held the GUI thread longest (``--trace``: the
presenter's and the session's steps timed on the GUI thread), and how long the press waited for
PyTorch (the "Loading PyTorch…" state).

    .venv/bin/python benchmarks/bench_train_at_start.py [--repeats N] [--delay MS] [--trace]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

TIMER_MS = 10


def _child(delay_ms: int, trace: bool) -> None:
    """Runs in the measured process: one window, an early press, then a second press once warm."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt, QTimer

    from nnstudio.ui.application import Application

    app = Application(["bench"])
    from nnstudio.ui import MainWindow

    window = MainWindow(autosave_folder=tempfile.mkdtemp())
    window.resize(1280, 800)
    window.files.open_example("digits-mlp")
    window.document.project.settings.epochs = 1
    window.document.project.settings.device = "cpu"
    panel = window.training_panel  # the Network tab stays in front: Train is pressed from the toolbar (F5)
    results: dict[str, object] = {"pressed_at": []}
    ticks: list[float] = []
    #: (when, how late in ms) of the ticks later than 50 ms (for tracing what held the GUI thread).
    late: list[tuple[float, float]] = results.setdefault("late", [])  # type: ignore[assignment]
    state = {"measuring": False, "last": 0.0, "pressed": 0.0, "phase": "early"}
    steps: dict[str, float] = {}

    if trace:
        _trace_gui_steps(panel, steps)

    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(TIMER_MS)

    def tick() -> None:
        now = time.perf_counter()
        if state["measuring"]:
            ticks.append(max(0.0, (now - state["last"]) * 1000.0 - TIMER_MS))
            if ticks[-1] > 50:
                late.append((now, ticks[-1]))
        state["last"] = now

    timer.timeout.connect(tick)

    def press() -> None:
        ticks.clear()
        state["measuring"] = True
        state["last"] = state["pressed"] = time.perf_counter()
        results["pressed_at"].append(state["pressed"])  # type: ignore[union-attr]
        results[f"{state['phase']}_torch_loaded"] = _torch_loaded()
        started = time.perf_counter()
        window.findChild(type(panel.action_train), "actionTrain").trigger()
        steps["press"] = (time.perf_counter() - started) * 1000.0  # what the click itself held

    def first_batch(_update: object) -> None:
        if not state["measuring"]:
            return
        state["measuring"] = False
        phase = state["phase"]
        results[phase] = {"max_ms": max(ticks, default=0.0), "p99_ms": _percentile(ticks, 99),
                          "ticks": len(ticks), "until_first_batch_s": time.perf_counter() - state["pressed"],
                          "steps_ms": dict(steps)}
        steps.clear()

    def ended(_outcome: object) -> None:
        if state["phase"] == "early":
            state["phase"] = "warm"
            QTimer.singleShot(300, press)
        else:
            timer.stop()
            window.shutdown()
            app.quit()

    panel.presenter.session.batches.connect(first_batch)
    panel.presenter.run_ended.connect(ended)
    original_show = window.showEvent

    def on_show(event):  # the press comes ``delay_ms`` after the window is first on screen
        original_show(event)
        if "shown" not in results:
            results["shown"] = True
            timer.start()
            QTimer.singleShot(delay_ms, press)

    window.showEvent = on_show
    window.show()
    QTimer.singleShot(180_000, app.quit)
    app.exec()
    print("bench-result " + json.dumps(results), flush=True)


def _torch_loaded() -> bool:
    """True once ``import torch`` has finished (its module is in sys.modules while it still runs)."""
    module = sys.modules.get("torch")
    return module is not None and not getattr(getattr(module, "__spec__", None), "_initializing", False)


def _trace_gui_steps(panel, steps: dict[str, float]) -> None:
    """Times the presenter's and the session's steps that run on the GUI thread."""
    presenter = panel.presenter

    def timed(owner, name: str) -> None:
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                steps[name] = steps.get(name, 0.0) + (time.perf_counter() - started) * 1000.0
        setattr(owner, name, wrapper)

    for name in ("_launch", "_on_prepared", "_on_batches"):
        timed(presenter, name)
    timed(panel, "ensure_plots")


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def _measure(delay_ms: int, trace: bool) -> dict:
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    with tempfile.TemporaryDirectory() as home:
        env.update(HOME=home, XDG_DATA_HOME=os.path.join(home, "data"), XDG_CONFIG_HOME=os.path.join(home, "cfg"))
        args = [sys.executable, __file__, "--child", "--delay", str(delay_ms)] + (["--trace"] if trace else [])
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300, check=True)
    line = next(line for line in done.stdout.splitlines() if line.startswith("bench-result "))
    return json.loads(line.removeprefix("bench-result "))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--delay", type=int, default=50, help="ms after the first show when Train is pressed")
    parser.add_argument("--trace", action="store_true", help="time the window's own steps on the GUI thread")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.delay, args.trace)
        return 0
    _measure(args.delay, False)  # warm the disk cache: the first process pays the cold read alone
    runs = [_measure(args.delay, args.trace) for _ in range(args.repeats)]
    for phase, title in (("early", "pressed while torch loads"), ("warm", "pressed with torch loaded")):
        got = [r[phase] for r in runs if phase in r]
        loaded = [r.get(f"{phase}_torch_loaded") for r in runs]
        print(f"{title} (torch loaded at the press: {sum(bool(v) for v in loaded)}/{len(loaded)}):")
        print(f"  10 ms timer lateness until the first batch: max {statistics.median(g['max_ms'] for g in got):.0f} ms "
              f"(median of {len(got)} runs; worst {max(g['max_ms'] for g in got):.0f} ms), "
              f"p99 {statistics.median(g['p99_ms'] for g in got):.0f} ms")
        print(f"  press -> first batch: {statistics.median(g['until_first_batch_s'] for g in got):.2f} s")
        if args.trace:
            names = sorted({n for g in got for n in g["steps_ms"]})
            print("  GUI-thread steps (median ms): " + ", ".join(
                f"{n} {statistics.median(g['steps_ms'].get(n, 0.0) for g in got):.0f}" for n in names))
    early = statistics.median(r["early"]["max_ms"] for r in runs)
    warm = statistics.median(r["warm"]["max_ms"] for r in runs)
    print(f"ratio early / warm (max lateness): {early / max(warm, 1e-9):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

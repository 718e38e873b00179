"""Sweep overhead: N trials as one ``nnstudio sweep`` against ``nnstudio train`` run N times in a loop.

Both sides train the same digits-mlp trials (the same learning rates, the same epochs, CPU): the
loop starts a fresh ``nnstudio train --lr X`` process per trial (each imports torch, loads the data,
writes its outputs and run record), while the sweep starts one process that imports torch and loads
the data once, then runs every trial as a recorded run (run.json and TensorBoard events) with its
study in SQLite. The learning rates are the sweep's own (a seeded random sampler), read back from its
study and given to the loop, so both do exactly the same training. Wall time end to end, launch to
exit, including Python start-up. Target: the sweep >= 2x faster.

Also measured: what recording costs a run. The same digits-mlp run (30 short epochs, where the
per-epoch work weighs most) trains in this process with and without a RunRecorder (run.json at most
once a second, TensorBoard scalars every epoch), alternating; the ratio of their epochs per second.

    .venv/bin/python benchmarks/bench_sweep.py [--trials N] [--epochs E] [--repeats R]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _nnstudio() -> list[str]:
    script = Path(sys.executable).with_name("nnstudio")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "nnstudio"]


def _env(home: str) -> dict[str, str]:
    # A private home: runs of the example go to its data folder, never the person's. One thread for
    # both sides: the machine's cores are shared, and tiny networks train fastest on one.
    return {**os.environ, "HOME": home, "XDG_DATA_HOME": os.path.join(home, "data"), "OMP_NUM_THREADS": "1"}


def run_sweep(home: str, out: Path, trials: int, epochs: int) -> tuple[float, list[float]]:
    """Return (seconds, the learning rates tried) of one ``nnstudio sweep`` of ``trials`` trials."""
    command = [*_nnstudio(), "sweep", "--example", "digits-mlp", "--param", "lr=1e-4:1e-1:log", "--sampler",
               "random", "--pruner", "none", "--trials", str(trials), "--epochs", str(epochs), "--device", "cpu",
               "--out", str(out)]
    start = time.perf_counter()
    subprocess.run(command, env=_env(home), check=True, capture_output=True, timeout=1800)
    seconds = time.perf_counter() - start
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{out}/sweeps.db"
    name = optuna.get_all_study_names(storage)[0]
    rates = [t.params["lr"] for t in optuna.load_study(study_name=name, storage=storage).trials]
    return seconds, rates


def run_loop(home: str, out: Path, rates: list[float], epochs: int) -> float:
    """Return the seconds ``nnstudio train`` takes run once per learning rate, one after the other."""
    start = time.perf_counter()
    for index, lr in enumerate(rates):
        command = [*_nnstudio(), "train", "--example", "digits-mlp", "--lr", repr(lr), "--epochs", str(epochs),
                   "--device", "cpu", "--out", str(out / f"trial-{index}")]
        subprocess.run(command, env=_env(home), check=True, capture_output=True, timeout=600)
    return time.perf_counter() - start


def recording_overhead(repeats: int, epochs: int = 30) -> dict[str, tuple[float, float]]:
    """Return {measure: (without, with)} a RunRecorder for one digits-mlp run, medians of ``repeats``.

    Measures: training samples/s inside the epochs (what the recorder's thread may slow), and the
    whole run's wall time (which also pays the recorder's start and its last writes).
    """
    import torch

    from nnstudio.core.examples import load_example
    from nnstudio.experiments import RunRecorder
    from nnstudio.train.project_run import build_training_run

    torch.set_num_threads(1)
    project = load_example("digits-mlp")
    project.settings.epochs = epochs
    project.settings.device = "cpu"
    bundle = build_training_run(project).data
    speed: dict[bool, list[float]] = {False: [], True: []}
    wall: dict[bool, list[float]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as folder:
        for repeat in range(repeats * 2 + 2):
            recorded = bool(repeat % 2)
            run = build_training_run(project, bundle=bundle)
            start = time.perf_counter()
            if recorded:
                with RunRecorder(run, project, Path(folder) / f"run-{repeat}", source="cli"):
                    run.run()
            else:
                run.run()
            if repeat < 2:  # the first pair warms the caches (and imports TensorBoard)
                continue
            wall[recorded].append(time.perf_counter() - start)
            speed[recorded].append(statistics.mean(m.samples_per_s for m in run.history))
    return {"samples/s in the epochs": (statistics.median(speed[False]), statistics.median(speed[True])),
            "seconds per run": (statistics.median(wall[False]), statistics.median(wall[True]))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sweeps, loops = [], []
    with tempfile.TemporaryDirectory() as home:
        for repeat in range(args.repeats):
            seconds, rates = run_sweep(home, Path(home) / f"sweep-{repeat}", args.trials, args.epochs)
            sweeps.append(seconds)
            loops.append(run_loop(home, Path(home) / f"loop-{repeat}", rates, args.epochs))
            print(f"repeat {repeat + 1}: sweep {seconds:.2f} s, train loop {loops[-1]:.2f} s", flush=True)
    sweep, loop = statistics.median(sweeps), statistics.median(loops)
    n = args.trials
    print(f"{n} trials of digits-mlp, {args.epochs} epochs each, CPU, {args.repeats} repeats (medians):")
    print(f"  nnstudio sweep (one process)      {sweep:7.2f} s  = {sweep / n:.2f} s per trial")
    print(f"  nnstudio train x {n} (a loop)       {loop:7.2f} s  = {loop / n:.2f} s per trial")
    print(f"  speed-up of the sweep: {loop / sweep:.2f}x (target >= 2x: {'met' if loop / sweep >= 2 else 'NOT met'})")
    print("one digits-mlp run of 30 epochs, without / with a RunRecorder (run.json + TensorBoard):")
    for measure, (plain, recorded) in recording_overhead(args.repeats + 4).items():
        ratio = recorded / plain if measure.startswith("samples") else plain / recorded
        print(f"  {measure:<24} {plain:10.3f} / {recorded:10.3f}  = {ratio:.3f}x of the unrecorded speed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

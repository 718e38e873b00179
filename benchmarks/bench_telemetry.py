"""Telemetry overhead: training steps per second with per-layer telemetry on vs off, in the same run.

One :class:`TrainingRun` trains many epochs; telemetry is switched on and off between epochs in
blocks of four, off-on-on-off (so a slow drift of the machine's speed weighs on both sides alike),
keeping one ``Telemetry`` object so its adaptive interval carries over. The rate is the trainer's own
(training samples / epoch time, validation excluded); each block gives a ratio on / off, and the
result is the median block (target >= 0.95x). The same ratio is also given from the training thread's
CPU time per step (torch runs on that one thread here), which other processes on a shared machine
disturb much less than the wall clock. A second run switches telemetry on without letting it sample:
its ratios show how much of the spread is the machine's noise.

Workloads: ``tiny-steps`` (digits-mlp's network on 20,000 synthetic 64-feature samples, batch 32:
~0.5 ms Python-bound steps, where a watched step costs the most relative to an ordinary one) and
``digits-cnn`` as it ships (batch 64, ~4 ms steps).

Run with ``.venv/bin/python benchmarks/bench_telemetry.py [--epochs N] [--workload W ...]``; exits 0.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time


def _project(workload: str, epochs: int):
    from nnstudio.core.commands import SetParam
    from nnstudio.core.examples import load_example
    from nnstudio.core.settings import DatasetSettings

    if workload != "tiny-steps":
        project = load_example(workload)
        project.settings.epochs, project.settings.device = epochs, "cpu"
        return project
    project = load_example("digits-mlp")
    SetParam(project.graph, "image", "shape", (64,)).redo()
    settings = project.settings
    settings.dataset = DatasetSettings(kind="blobs", options={"n_samples": 20_000, "features": 64, "classes": 10})
    settings.epochs, settings.batch_size, settings.device = epochs, 32, "cpu"
    return project


def measure(workload: str, epochs: int, sampling: bool = True) -> dict[str, float]:
    """Returns steps/s with telemetry off and on, their ratio, the samples taken and their mean cost.

    Epochs come in blocks of four, off-on-on-off; each block gives one ratio (its two "on" epochs
    against its two "off" ones, so a drift of the machine's speed weighs on both alike) and the
    result is the median block. ``sampling=False`` switches telemetry "on" without it ever sampling:
    the same comparison with nothing to measure shows the noise of the machine.
    """
    from nnstudio.train.project_run import build_training_run
    from nnstudio.train.telemetry import TelemetryOptions

    project = _project(workload, epochs)
    run = build_training_run(project)
    run.enable_telemetry(None if sampling else TelemetryOptions(first_step=10**12))
    telemetry = run.telemetry
    pattern = [False, True, True, False]
    rates: list[tuple[bool, float]] = []
    cpu_rates: list[tuple[bool, float]] = []
    samples = []
    run.events.telemetry.connect(samples.append)
    run.telemetry = None
    first = [0.0]

    def on_batch(epoch, step, steps, loss, lr, rate) -> None:
        # The training thread's CPU time from the end of step 1 to the end of the epoch's last step:
        # other processes on a shared machine take wall-clock time from a run, much less CPU time.
        if step == 1:
            first[0] = time.thread_time()
        elif step == steps:
            cpu_rates.append((run.telemetry is not None, (steps - 1) / max(time.thread_time() - first[0], 1e-9)))

    def on_epoch(metrics) -> None:
        rates.append((run.telemetry is not None, metrics.samples_per_s / project.settings.batch_size))
        run.telemetry = telemetry if pattern[metrics.epoch % len(pattern)] else None

    run.events.batch_end.connect(on_batch)
    run.events.epoch_end.connect(on_epoch)
    results = []
    # A thread, as the window's worker trains (see bench_gui: the main thread is slower on a busy machine).
    worker = threading.Thread(target=lambda: results.append(run.run()))
    worker.start()
    worker.join()
    assert results and results[0].status == "finished", results
    blocks, cpu_blocks = _block_ratios(rates), _block_ratios(cpu_rates)
    costs = [s.cost_s for s in samples if s.cost_s > 0]
    on_steps = sum(1 for is_on, _ in rates if is_on) * run.steps_per_epoch
    on_time = sum(run.steps_per_epoch / rate for is_on, rate in rates if is_on)
    extra = sum(s.cost_s for s in samples[1:])  # each sample reports the previous watched step's cost
    return {"off": statistics.median(r for is_on, r in rates[4:] if not is_on),
            "on": statistics.median(r for is_on, r in rates[4:] if is_on),
            "ratio": statistics.median(blocks), "low": min(blocks), "high": max(blocks),
            "cpu_ratio": statistics.median(cpu_blocks), "cpu_low": min(cpu_blocks), "cpu_high": max(cpu_blocks),
            "samples": len(samples), "share": extra / on_time, "cost_ms": 1000 * statistics.median(costs) if costs else 0.0,
            "every": on_steps / max(len(samples), 1), "layers": len(samples[-1].layers) if samples else 0}


def _block_ratios(rates: list[tuple[bool, float]]) -> list[float]:
    """Returns, per block of four epochs (off-on-on-off), the "on" rates' sum over the "off" ones'."""
    blocks = []
    for start in range(4, len(rates) - 3, 4):  # the first block warms up
        block = rates[start:start + 4]
        on = [r for is_on, r in block if is_on]
        off = [r for is_on, r in block if not is_on]
        blocks.append(sum(on) / sum(off))
    return blocks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=0, help="epochs per workload (default: 24 tiny, 80 cnn)")
    parser.add_argument("--workload", nargs="*", default=["tiny-steps", "digits-cnn"])
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)  # as bench_gui: one intra-op thread, steadier on a shared 2-core machine
    measure("tiny-steps", 8)  # warm-up: imports, first allocations
    for workload in args.workload:
        epochs = args.epochs or (40 if workload == "tiny-steps" else 80)
        r = measure(workload, epochs)
        null = measure(workload, epochs, sampling=False)
        print(f"{workload} ({epochs} epochs, {r['layers']} layers): off {r['off']:.0f} steps/s, on {r['on']:.0f} "
              f"steps/s; ratio on / off {r['ratio']:.3f}x wall clock (blocks {r['low']:.3f}-{r['high']:.3f}), "
              f"{r['cpu_ratio']:.3f}x training-thread CPU time (blocks {r['cpu_low']:.3f}-{r['cpu_high']:.3f}); "
              f"target >= 0.95. {r['samples']} samples, one every {r['every']:.0f} steps, a watched step "
              f"costs {r['cost_ms']:.1f} ms extra: {r['share']:.1%} of the telemetry epochs' time. Control, telemetry on but never sampling: "
              f"{null['ratio']:.3f}x wall clock (blocks {null['low']:.3f}-{null['high']:.3f}), "
              f"{null['cpu_ratio']:.3f}x CPU time (blocks {null['cpu_low']:.3f}-{null['cpu_high']:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

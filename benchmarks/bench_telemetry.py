"""Telemetry overhead: training steps per second with per-layer telemetry on vs off, in the same run.

One :class:`TrainingRun` trains many epochs; telemetry is switched on and off between epochs in an
off-on-on-off pattern (so a slow drift of the machine's speed weighs on both sides alike), keeping one
``Telemetry`` object so its adaptive interval carries over. The rate is the trainer's own (training
samples / epoch time, validation excluded); medians over the epochs of each side; the ratio is
on / off (target >= 0.95x).

Workloads: ``tiny-steps`` (digits-mlp's network on 20,000 synthetic 64-feature samples, batch 32:
~0.5 ms Python-bound steps, where a watched step costs the most relative to an ordinary one) and
``digits-cnn`` as it ships (batch 64, ~4 ms steps).

Run with ``.venv/bin/python benchmarks/bench_telemetry.py [--epochs N] [--workload W ...]``; exits 0.
"""

from __future__ import annotations

import argparse
import statistics
import threading


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


def measure(workload: str, epochs: int) -> dict[str, float]:
    """Returns steps/s with telemetry off and on (medians), the samples taken and their mean cost."""
    from nnstudio.train.project_run import build_training_run

    project = _project(workload, epochs)
    run = build_training_run(project)
    run.enable_telemetry()
    telemetry = run.telemetry
    pattern = [False, True, True, False]  # off-on-on-off, repeated
    sides: dict[bool, list[float]] = {False: [], True: []}
    samples = []
    run.events.telemetry.connect(samples.append)
    run.telemetry = telemetry if pattern[0] else None

    def on_epoch(metrics) -> None:
        on = run.telemetry is not None
        sides[on].append(metrics.samples_per_s / project.settings.batch_size)
        run.telemetry = telemetry if pattern[metrics.epoch % len(pattern)] else None

    run.events.epoch_end.connect(on_epoch)
    results = []
    # A thread, as the window's worker trains (see bench_gui: the main thread is slower on a busy machine).
    worker = threading.Thread(target=lambda: results.append(run.run()))
    worker.start()
    worker.join()
    assert results and results[0].status == "finished", results
    off, on = statistics.median(sides[False][1:]), statistics.median(sides[True])  # epoch 1 warms up
    costs = [s.cost_s for s in samples if s.cost_s > 0]
    on_steps = len(sides[True]) * run.steps_per_epoch
    return {"off": off, "on": on, "ratio": on / off, "samples": len(samples),
            "cost_ms": 1000 * statistics.median(costs) if costs else 0.0,
            "every": on_steps / max(len(samples), 1), "layers": len(samples[-1].layers) if samples else 0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=0, help="epochs per workload (default: 24 tiny, 80 cnn)")
    parser.add_argument("--workload", nargs="*", default=["tiny-steps", "digits-cnn"])
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)  # as bench_gui: one intra-op thread, steadier on a shared 2-core machine
    measure("tiny-steps", 4)  # warm-up: imports, first allocations
    for workload in args.workload:
        epochs = args.epochs or (24 if workload == "tiny-steps" else 80)
        r = measure(workload, epochs)
        print(f"{workload} ({epochs} epochs, {r['layers']} layers): off {r['off']:.0f} steps/s, "
              f"on {r['on']:.0f} steps/s, ratio {r['ratio']:.3f}x (target >= 0.95); "
              f"{r['samples']} samples, one every {r['every']:.0f} steps, a watched step costs "
              f"{r['cost_ms']:.1f} ms extra")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

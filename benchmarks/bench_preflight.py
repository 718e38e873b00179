"""Memory pre-flight: how long an estimate takes, and how close it lands to a real step.

1. Cost: ``estimate_step_memory`` for torchvision's ResNet-50 at batch 64 (Adam), the first call in
   the process (dispatch caches cold) and the median of warm repeats, in wall time and in this
   process's CPU time (the estimate is single-threaded: on a shared machine wall time also counts
   the neighbours). The peer, in the same run on
   the same fake step, is torch's own ``torch.distributed._tools.mem_tracker.MemTracker`` (module
   hooks and a full snapshot per op); both peaks are printed, they should agree.
2. Accuracy: the estimate (fake tensors, nothing allocated) against two real training steps on the
   CPU measured with the profiler's memory events (``measure_step_memory``), for digits-cnn (the
   editor's example), ResNet-18 at batch 32 and a two-layer Transformer encoder. Target: within 10%.

Target for 1: <= 1 s. One intra-op thread (the estimate is single-threaded Python anyway).

Run:  .venv/bin/python benchmarks/bench_preflight.py [--repeats 5] [--skip-measure]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from nnstudio.core.settings import TrainingSettings
from nnstudio.train.memory import estimate_step_memory, measure_step_memory

TARGET_SECONDS = 1.0
TARGET_ACCURACY = 0.10
ADAM = TrainingSettings(optimizer="adam", lr=1e-3)


def resnet(depth: int):
    import torchvision

    return getattr(torchvision.models, f"resnet{depth}")(weights=None)


def transformer_encoder() -> nn.Module:
    layer = nn.TransformerEncoderLayer(128, 4, 512, batch_first=True)
    return nn.Sequential(nn.TransformerEncoder(layer, 2), nn.Flatten(), nn.Linear(128 * 32, 10))


def mem_tracker_peak(build, input_shape, classes: int = 10) -> int:
    """The peer: torch's MemTracker over the same fake training step (meta build, fake tensors)."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.distributed._tools.mem_tracker import MemTracker

    with torch.device("meta"):
        model = build()
    with FakeTensorMode(allow_non_fake_inputs=True):
        model.to_empty(device="cpu")
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
        tracker = MemTracker()
        tracker.track_external(model, optimizer)
        with tracker:
            for _ in range(2):
                x = torch.randn(*input_shape)
                y = torch.randint(0, classes, (input_shape[0],))
                optimizer.zero_grad(set_to_none=True)
                nn.functional.cross_entropy(model(x), y).backward()
                optimizer.step()
                tracker.reset_mod_stats()
        snapshot = tracker.get_tracker_snapshot("peak")
    return int(next(iter(snapshot.values()))["Total"])


def timed(function) -> tuple[float, float, object]:
    """Return (wall seconds, CPU seconds of this process, value) of ``function()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    value = function()
    return time.perf_counter() - wall, time.process_time() - cpu, value


def cost(repeats: int) -> None:
    def ours():
        return estimate_step_memory(lambda: resnet(50), (64, 3, 224, 224), (64,), ADAM, classes=10)

    first, first_cpu, estimate = timed(ours)
    warm, warm_cpu, peer, peer_cpu = [], [], [], []
    for _ in range(repeats):
        wall, cpu, _ = timed(ours)
        warm.append(wall)
        warm_cpu.append(cpu)
        wall, cpu, peer_peak = timed(lambda: mem_tracker_peak(lambda: resnet(50), (64, 3, 224, 224)))
        peer.append(wall)
        peer_cpu.append(cpu)
    median = statistics.median(warm)
    print("ResNet-50, batch 64, Adam: estimate of one training step's peak")
    print(f"  nnstudio estimate   {estimate.peak / 2**30:.2f} GiB   first call {first:.2f} s ({first_cpu:.2f} s CPU), "
          f"warm median {median:.2f} s (min {min(warm):.2f}, max {max(warm):.2f}), "
          f"CPU {statistics.median(warm_cpu):.2f} s")
    print(f"  peer MemTracker     {peer_peak / 2**30:.2f} GiB   warm median {statistics.median(peer):.2f} s, "
          f"CPU {statistics.median(peer_cpu):.2f} s")
    print(f"  peer / nnstudio time: {statistics.median(peer) / median:.1f}x; "
          f"target <= {TARGET_SECONDS:.1f} s: {'met' if median <= TARGET_SECONDS else 'MISSED'} "
          f"(wall); {'met' if statistics.median(warm_cpu) <= TARGET_SECONDS else 'MISSED'} (CPU)")


def accuracy() -> None:
    from nnstudio.compile import analyze, compile_graph
    from nnstudio.core.examples import load_example
    from nnstudio.train.preflight import project_step_shapes

    project = load_example("digits-cnn")
    analysis = analyze(project.graph, project.settings)
    sample, _, target, _, classes = project_step_shapes(project, analysis)
    batch = project.settings.batch_size
    cases = [
        ("digits-cnn (editor), batch 64", lambda: compile_graph(project.graph, analysis), (batch, *sample),
         (batch, *target), project.settings, classes),
        ("ResNet-18, batch 32, 224x224", lambda: resnet(18), (32, 3, 224, 224), (32,), ADAM, 10),
        ("Transformer encoder (2 layers, d 128), batch 32 x 32 tokens", transformer_encoder, (32, 32, 128),
         (32,), ADAM, 10),
    ]
    print("\n| network | estimate (fake) | measured (profiler) | estimate / measured | estimate time |")
    print("|---|---|---|---|---|")
    for name, build, input_shape, target_shape, settings, count in cases:
        started = time.perf_counter()
        estimate = estimate_step_memory(build, input_shape, target_shape, settings, classes=count)
        seconds = time.perf_counter() - started
        measured = measure_step_memory(build, input_shape, target_shape, settings, classes=count)
        ratio = estimate.peak / measured
        flag = "" if abs(ratio - 1) <= TARGET_ACCURACY else " (outside 10%)"
        print(f"| {name} | {estimate.peak / 2**20:.1f} MiB | {measured / 2**20:.1f} MiB | {ratio:.3f}{flag} | "
              f"{seconds:.2f} s |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-measure", action="store_true", help="only time the estimate")
    options = parser.parse_args()
    torch.set_num_threads(1)
    cost(options.repeats)
    if not options.skip_measure:
        accuracy()


if __name__ == "__main__":
    main()

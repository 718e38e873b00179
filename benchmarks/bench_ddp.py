"""Data-parallel training: the cost of DDP itself, and (on a multi-GPU machine) how it scales.

Overhead (default): the same example, epochs and batch trained by ``nnstudio train`` as a plain
single-process run and as ONE torchrun worker under DistributedDataParallel
(``--nproc-per-node 1``: gloo on the CPU, NCCL on CUDA), each in a fresh process with the same
thread count. Samples/s come from each run's metrics.csv (the training pass of each epoch; the first
epoch is left out as warm-up), so process start, rendezvous and output writing are not counted; what
remains is DDP's reducer, its all-reduce, and the workers' stop/pause agreement. Runs alternate,
medians are compared. Target: DDP / plain >= 0.95x.

Scaling (``--scaling``, needs CUDA): a compute-bound network (torchvision ResNet-50 on synthetic
224x224 images held on the GPUs) trained by nnstudio's trainer in N NCCL workers (torchrun's
launcher, global batch N x 64) against 1 worker (batch 64): samples/s of N over N x samples/s of 1.
Target >= 0.9.

Run:  .venv/bin/python benchmarks/bench_ddp.py [--example digits-cnn] [--epochs 4] [--repeats 5]
      [--device cpu|cuda] [--threads 1]
      .venv/bin/python benchmarks/bench_ddp.py --scaling [--gpus N] [--steps 30]
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

TARGET_OVERHEAD = 0.95
TARGET_SCALING = 0.9


def run_once(example: str, epochs: int, device: str, threads: int, workers: int | None) -> float:
    """Train once in a fresh process; return the median samples/s of its epochs after the first."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "run"
        words = [sys.executable, "-m", "nnstudio", "train", "--example", example, "--epochs", str(epochs),
                 "--device", device, "--out", str(out)]
        if workers is not None:
            words += ["--nproc-per-node", str(workers)]
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        completed = subprocess.run(words, capture_output=True, text=True, env=env, check=False)
        if completed.returncode != 0:
            raise SystemExit(f"{' '.join(words)} failed:\n{completed.stderr[-2000:]}")
        with (out / "metrics.csv").open() as handle:
            rates = [float(row["samples_per_s"]) for row in csv.DictReader(handle)]
    return statistics.median(rates[1:] or rates)


def overhead(options: argparse.Namespace) -> None:
    plain, ddp = [], []
    for repeat in range(options.repeats):
        order = [("plain", None), ("ddp", 1)] if repeat % 2 == 0 else [("ddp", 1), ("plain", None)]
        for name, workers in order:
            rate = run_once(options.example, options.epochs, options.device, options.threads, workers)
            (plain if name == "plain" else ddp).append(rate)
            print(f"  repeat {repeat + 1}: {name:5} {rate:,.0f} samples/s", flush=True)
    ratio = statistics.median(ddp) / statistics.median(plain)
    print(f"\n{options.example} on {options.device}, {options.epochs} epochs x {options.repeats} repeats, "
          f"{options.threads} thread(s)")
    print("| run | samples/s (median) | min | max |\n|---|---|---|---|")
    print(f"| plain single process | {statistics.median(plain):,.0f} | {min(plain):,.0f} | {max(plain):,.0f} |")
    print(f"| 1 worker under DDP | {statistics.median(ddp):,.0f} | {min(ddp):,.0f} | {max(ddp):,.0f} |")
    print(f"DDP / plain: {ratio:.3f}x (target >= {TARGET_OVERHEAD}: "
          f"{'met' if ratio >= TARGET_OVERHEAD else 'missed'})")


# --- scaling on GPUs ----------------------------------------------------------------------------------

def scaling_worker(steps: int, per_gpu_batch: int) -> float:
    """One NCCL worker: train ResNet-50 on synthetic images resident on its GPU; return samples/s."""
    import torch
    import torchvision

    from nnstudio.core.settings import TrainingSettings
    from nnstudio.train.data import DatasetBundle, TensorData
    from nnstudio.train.distributed import end_worker, start_worker
    from nnstudio.train.trainer import TrainingRun

    context = start_worker("cuda")
    try:
        world = context.world_size
        samples = steps * per_gpu_batch * world
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(samples, 3, 224, 224, generator=generator)
        y = torch.randint(0, 1000, (samples,), generator=generator)
        val = TensorData(x[:per_gpu_batch * world], y[:per_gpu_batch * world])
        bundle = DatasetBundle(TensorData(x, y), val, (3, 224, 224), "classification", 1000)
        settings = TrainingSettings(optimizer="sgd", lr=0.01, momentum=0.9, batch_size=per_gpu_batch * world,
                                    epochs=2, device="cuda", amp="bf16")
        run = TrainingRun(torchvision.models.resnet50(weights=None), bundle, settings, distributed=context)
        result = run.run()
        return result.history[-1].samples_per_s  # the second epoch: warm
    finally:
        end_worker()


def scaling(options: argparse.Namespace) -> None:
    import torch
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    if not torch.cuda.is_available():
        raise SystemExit("--scaling needs CUDA GPUs")
    gpus = options.gpus or torch.cuda.device_count()
    rates = {}
    for count in sorted({1, gpus}):
        config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=count, run_id=uuid.uuid4().hex,
                              rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0,
                              monitor_interval=0.1, start_method="spawn")
        started = time.perf_counter()
        rates[count] = elastic_launch(config, scaling_worker)(options.steps, 64)[0]
        print(f"  {count} GPU(s): {rates[count]:,.0f} samples/s ({time.perf_counter() - started:.0f} s)", flush=True)
    efficiency = rates[gpus] / (gpus * rates[1])
    print(f"\nResNet-50 bf16, batch 64 per GPU: {gpus} GPUs {rates[gpus]:,.0f} samples/s, 1 GPU {rates[1]:,.0f}")
    print(f"scaling efficiency {efficiency:.3f} of {gpus}x (target >= {TARGET_SCALING}: "
          f"{'met' if efficiency >= TARGET_SCALING else 'missed'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--example", default="digits-cnn")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--scaling", action="store_true", help="N GPUs against 1 (needs CUDA)")
    parser.add_argument("--gpus", type=int, default=0, help="GPUs for --scaling (default: all)")
    parser.add_argument("--steps", type=int, default=30, help="steps per epoch for --scaling")
    options = parser.parse_args()
    if options.scaling:
        scaling(options)
    else:
        overhead(options)


if __name__ == "__main__":
    main()

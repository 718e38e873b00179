"""Data-parallel training: the cost of DDP itself, and (on a multi-GPU machine) how it scales.

Overhead (default): the same example, epochs and batch trained in one process by nnstudio's
trainer as a plain single-device run and as ONE data-parallel worker (a process group of one, as
``--nproc-per-node 1`` makes: gloo on the CPU, NCCL on CUDA; the network wrapped in
DistributedDataParallel, batches taken as a worker's share, stop/pause agreed with the group, epoch
metrics all-reduced). Samples/s come from the runs' epochs (the training pass; the first epoch is
left out as warm-up). Runs alternate; the median of adjacent pairs' ratios is reported, so load
drift on a shared machine cancels. The process CPU time of each whole run (every thread, gloo's
included) is compared too: on a loaded machine wall time measures the neighbours as much as the
code. Target: DDP / plain >= 0.95x.

Scaling (``--scaling``, needs CUDA): a compute-bound network (torchvision ResNet-50 on synthetic
224x224 images held on the GPUs) trained by nnstudio's trainer in N NCCL workers (torchrun's
launcher, global batch N x 64) against 1 worker (batch 64): samples/s of N over N x samples/s of 1.
Target >= 0.9.

Run:  .venv/bin/python benchmarks/bench_ddp.py [--example digits-cnn] [--epochs 4] [--repeats 5]
      [--device cpu|cuda] [--threads 1] [--batch-size B]
      .venv/bin/python benchmarks/bench_ddp.py --scaling [--gpus N] [--steps 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid

TARGET_OVERHEAD = 0.95
TARGET_SCALING = 0.9


def _group() -> object:
    """Join a one-process group as torchrun would set it up; return the worker context."""
    import socket

    from nnstudio.train.distributed import start_worker

    with socket.socket() as probe:  # a free port for the one-process rendezvous
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    return start_worker(os.environ.get("NNSTUDIO_BENCH_DEVICE", "cpu"))


def overhead(options: argparse.Namespace) -> None:
    import torch

    from nnstudio.core.examples import load_example
    from nnstudio.train.distributed import end_worker
    from nnstudio.train.project_run import build_training_run

    torch.set_num_threads(options.threads)
    os.environ["NNSTUDIO_BENCH_DEVICE"] = options.device
    context = _group()
    project = load_example(options.example)
    project.settings.epochs = options.epochs
    project.settings.device = options.device
    if options.batch_size:
        project.settings.batch_size = options.batch_size
    rates: dict[str, list[float]] = {"plain": [], "ddp": []}
    cpu: dict[str, list[float]] = {"plain": [], "ddp": []}
    try:
        for repeat in range(options.repeats):
            order = ("plain", "ddp") if repeat % 2 == 0 else ("ddp", "plain")
            for name in order:
                run = build_training_run(project, distributed=context if name == "ddp" else None)
                started = time.process_time()
                history = run.run().history
                cpu[name].append(time.process_time() - started)
                # Steps/s of the training pass; the first epoch (warm-up) is left out.
                rates[name].append(statistics.median(m.samples_per_s for m in history[1:] or history))
            print(f"  repeat {repeat + 1}: plain {rates['plain'][-1]:,.0f}  ddp {rates['ddp'][-1]:,.0f} samples/s; "
                  f"CPU time plain {cpu['plain'][-1]:.2f} s, ddp {cpu['ddp'][-1]:.2f} s", flush=True)
    finally:
        end_worker()
    plain, ddp = rates["plain"], rates["ddp"]
    ratios = [d / p for d, p in zip(ddp, plain)]
    cpu_ratio = statistics.median(p / d for p, d in zip(cpu["plain"], cpu["ddp"]))
    print(f"\n{options.example} on {options.device}, batch {project.settings.batch_size}, "
          f"{options.epochs} epochs x {options.repeats} repeats, {options.threads} thread(s)")
    print("| run | samples/s (median) | min | max |\n|---|---|---|---|")
    print(f"| plain single process | {statistics.median(plain):,.0f} | {min(plain):,.0f} | {max(plain):,.0f} |")
    print(f"| 1 worker under DDP | {statistics.median(ddp):,.0f} | {min(ddp):,.0f} | {max(ddp):,.0f} |")
    ratio = statistics.median(ratios)
    print(f"DDP / plain, wall-clock samples/s (median of adjacent pairs): {ratio:.3f}x (target >= "
          f"{TARGET_OVERHEAD}: {'met' if ratio >= TARGET_OVERHEAD else 'missed'})")
    print(f"DDP / plain, samples per CPU second of the whole run, every thread counted (validation "
          f"included): {cpu_ratio:.3f}x")


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
    parser.add_argument("--batch-size", type=int, default=0, help="global batch (default: the example's)")
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

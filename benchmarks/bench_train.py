"""Training throughput: nnstudio's trainer vs the tutorial loop and vs a hand-written fast loop.

Same network (an example project, default digits-mlp), same data (the bundled digits' training
split), same batch size and optimizer (Adam, lr 1e-3), same number of epochs per measurement:

- ``nnstudio``: ``build_training_run(project).run()`` on the compiled torch.fx module; steps/s from
  the epochs' ``epoch_time_s`` (the training pass; validation excluded, as the peers do none).
  The run's wall time including its per-epoch validation and snapshot is printed too.
- ``tutorial``: the PyTorch quickstart's loop: a hand-written nn.Module, ``DataLoader(TensorDataset)``
  with shuffling, batches moved to the device, ``loss.item()`` every step.
- ``hand-fast``: a hand-written loop on the same fast data path (tensors resident on the device,
  batches by indexing a random permutation) and the hand-written module: the framework tax peer.

Contenders run in rotating order (interleaved repeats); medians are compared. The ratio is
nnstudio steps/s over the peer's, so > 1 means nnstudio is faster. Targets: >= 1.0x vs tutorial on the
CPU (>= 1.5x on a GPU), >= 0.98x vs hand-fast.

By default PyTorch uses one intra-op thread on the CPU (on a shared 2-core machine spinning OpenMP
threads add noise larger than the differences measured); ``--threads 0`` keeps PyTorch's choice.

Run:  .venv/bin/python benchmarks/bench_train.py [--device cpu|cuda] [--example digits-cnn]
      [--epochs 4] [--repeats 7] [--batch-size 64] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nnstudio.core.errors import NnstudioError
from nnstudio.core.examples import load_example
from nnstudio.train.datasets import load_dataset
from nnstudio.train.devices import pick_device
from nnstudio.train.project_run import build_training_run

TARGET_TUTORIAL_CPU = 1.0
TARGET_TUTORIAL_GPU = 1.5
TARGET_FAST = 0.98


def hand_written(example: str) -> nn.Module:
    """Return the example's network written by hand, the way a tutorial does."""
    if example == "digits-mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
                             nn.Linear(64, 10))
    if example == "digits-cnn":
        return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(64 * 2 * 2, 128), nn.ReLU(), nn.Linear(128, 10))
    raise SystemExit(f"no hand-written peer for {example}; use digits-mlp or digits-cnn")


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def run_nnstudio(project, device, epochs: int) -> tuple[float, float]:
    """Return (training steps/s, steps/s over the whole run incl. validation) of nnstudio's trainer."""
    run = build_training_run(project, device=device)
    synchronize(device)
    started = time.perf_counter()
    result = run.run()
    wall = time.perf_counter() - started
    assert result.status == "finished", result.failure
    steps = run.steps_per_epoch * epochs
    return steps / sum(m.epoch_time_s for m in result.history), steps / wall


def run_tutorial(example, x, y, device, epochs: int, batch: int, lr: float) -> float:
    """Return steps/s of the quickstart loop."""
    torch.manual_seed(0)
    model = hand_written(example).to(device)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loader = DataLoader(TensorDataset(x, y), batch_size=batch, shuffle=True)
    steps = 0
    synchronize(device)
    started = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            loss.item()
            steps += 1
    synchronize(device)
    return steps / (time.perf_counter() - started)


def run_hand_fast(example, x, y, device, epochs: int, batch: int, lr: float) -> float:
    """Return steps/s of a hand-written loop on device-resident tensors and permutation batches."""
    torch.manual_seed(0)
    model = hand_written(example).to(device)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    x, y = x.to(device), y.to(device)
    n = len(x)
    steps = 0
    total = torch.zeros((), device=device)
    synchronize(device)
    started = time.perf_counter()
    for _ in range(epochs):
        model.train()
        order = torch.randperm(n, device=device)
        for start in range(0, n, batch):
            index = order[start:start + batch]
            loss = loss_fn(model(x[index]), y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach()
            steps += 1
    float(total)
    synchronize(device)
    return steps / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--example", default="digits-mlp", choices=("digits-mlp", "digits-cnn"))
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    try:
        device = pick_device(args.device)
    except NnstudioError as exc:
        raise SystemExit(f"error: {exc}") from None
    project = load_example(args.example)
    project.settings.epochs = args.epochs
    project.settings.batch_size = args.batch_size
    project.settings.device = device.type
    settings = project.settings
    bundle = load_dataset(settings.dataset, settings.seed, loss=settings.loss)
    x, y = bundle.train.x, bundle.train.y
    lr = settings.lr

    contenders = {
        "nnstudio": lambda: run_nnstudio(project, device, args.epochs),
        "tutorial": lambda: run_tutorial(args.example, x, y, device, args.epochs, args.batch_size, lr),
        "hand-fast": lambda: run_hand_fast(args.example, x, y, device, args.epochs, args.batch_size, lr),
    }
    for contender in contenders.values():  # warm-up: lazy kernels, allocator, CUDA context
        contender()
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    with_validation: list[float] = []
    names = list(contenders)
    for repeat in range(args.repeats):
        for name in names[repeat % 3:] + names[:repeat % 3]:  # rotate the order every repeat
            value = contenders[name]()
            if name == "nnstudio":
                value, whole = value
                with_validation.append(whole)
            samples[name].append(value)

    median = {name: statistics.median(values) for name, values in samples.items()}
    steps_per_epoch = -(-len(x) // args.batch_size)
    print(f"{args.example} on {device} ({torch.get_num_threads()} thread(s)), batch {args.batch_size}, "
          f"{args.epochs} epochs x {steps_per_epoch} steps, {args.repeats} interleaved repeats, medians:")
    for name, values in samples.items():
        print(f"  {name:<10} {median[name]:10,.0f} steps/s   (min {min(values):,.0f}, max {max(values):,.0f})")
    print(f"  nnstudio incl. validation and snapshots: {statistics.median(with_validation):,.0f} steps/s")
    tutorial_target = TARGET_TUTORIAL_GPU if device.type == "cuda" else TARGET_TUTORIAL_CPU
    ratio_tutorial = median["nnstudio"] / median["tutorial"]
    ratio_fast = median["nnstudio"] / median["hand-fast"]
    print(f"ratio nnstudio / tutorial : {ratio_tutorial:.2f}x (target >= {tutorial_target}x) "
          f"{'met' if ratio_tutorial >= tutorial_target else 'MISSED'}")
    print(f"ratio nnstudio / hand-fast: {ratio_fast:.2f}x (target >= {TARGET_FAST}x) "
          f"{'met' if ratio_fast >= TARGET_FAST else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

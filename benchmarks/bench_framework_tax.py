"""Framework tax: the compiled GraphModule's forward+backward vs the same network written by hand.

For digits-cnn and digits-mlp (the bundled examples), batch 64 on the CPU: one training step's
model work (zero grads, forward, cross-entropy, backward) on the nnstudio-compiled torch.fx module
and on two hand-written nn.Modules holding the very same weights: a functional one (``F.relu``,
``F.max_pool2d``, as the CIFAR-10 tutorial writes it) and a module-style one (one module per layer,
as the quickstart's nn.Sequential). Blocks of steps are timed in rotating order (interleaved
repeats); the ratio is the median over rounds of peer time / compiled time (adjacent blocks, so
load drifting between rounds cancels), so 1.0 means no tax and the target is >= 0.98 against the
functional one.

By default PyTorch runs on one intra-op thread: on a shared 2-core machine, OpenMP threads
spinning against other processes add noise of several times the steps being compared to
the tiny digits networks. ``--threads 0`` keeps PyTorch's own choice.

Run:  .venv/bin/python benchmarks/bench_framework_tax.py  [--repeats N] [--block-s S] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from nnstudio.compile import compile_graph
from nnstudio.core.examples import load_example

BATCH = 64
TARGET = 0.98


class HandWrittenDigitsCNN(nn.Module):
    """digits-cnn as a tutorial writes it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 2 * 2, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc2(F.relu(self.fc1(x)))


class HandWrittenDigitsMLP(nn.Module):
    """digits-mlp as a tutorial writes it."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(64, 128)
        self.fc2 = nn.Linear(128, 64)
        self.fc3 = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class ModuleStyleDigitsCNN(nn.Module):
    """digits-cnn in the nn.Sequential style of PyTorch's quickstart: one module per layer."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.relu1, self.pool1 = nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)
        self.conv2, self.relu2, self.pool2 = nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)
        self.flatten1, self.fc1, self.relu3, self.fc2 = nn.Flatten(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        return self.fc2(self.relu3(self.fc1(self.flatten1(x))))


class ModuleStyleDigitsMLP(nn.Module):
    """digits-mlp in the nn.Sequential style of PyTorch's quickstart: one module per layer."""

    def __init__(self) -> None:
        super().__init__()
        self.flatten1, self.fc1, self.relu1 = nn.Flatten(), nn.Linear(64, 128), nn.ReLU()
        self.fc2, self.relu2, self.fc3 = nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc3(self.relu2(self.fc2(self.relu1(self.fc1(self.flatten1(x))))))


def step_time(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    """Return the mean seconds of one zero-grad + forward + loss + backward over ``steps`` steps."""
    start = time.perf_counter()
    for _ in range(steps):
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
    return (time.perf_counter() - start) / steps


def compare(name: str, peers: dict[str, nn.Module], repeats: int, block_s: float) -> dict[str, float]:
    """Return median seconds per step of the compiled module ("compiled") and of each peer, and the
    median per-round ratio of each peer to the compiled module ("<peer>/compiled")."""
    compiled = compile_graph(load_example(name).graph)
    models = {"compiled": compiled, **peers}
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(BATCH, 1, 8, 8, generator=generator)
    y = torch.randint(0, 10, (BATCH,), generator=generator)
    for model in peers.values():
        model.load_state_dict(compiled.state_dict())  # the same weights; strict, so the same parameters
        torch.testing.assert_close(compiled(x), model(x))
    for model in models.values():
        step_time(model, x, y, 10)  # warm up allocator and kernels
    # Enough steps per timed block to last about block_s seconds.
    steps = max(5, round(block_s / step_time(compiled, x, y, 10)))
    times: dict[str, list[float]] = {key: [] for key in models}
    order = list(models)
    for i in range(repeats):
        # Rotate who goes first, so drift in machine load hits all alike.
        for key in order[i % len(order):] + order[:i % len(order)]:
            times[key].append(step_time(models[key], x, y, steps))
    medians = {key: statistics.median(values) for key, values in times.items()}
    # The ratio of each round's adjacent blocks, then the median: robust to load drifting between rounds.
    for key in peers:
        medians[f"{key}/compiled"] = statistics.median(p / c for p, c in zip(times[key], times["compiled"]))
    return medians


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=61)
    parser.add_argument("--block-s", type=float, default=0.08, help="seconds per timed block of steps")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads (0: PyTorch's default)")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), batch {BATCH}, CPU; "
          "ratio = median over rounds of peer time / compiled time")
    print(f"{'network':<12} {'compiled ms':>11} {'functional ms':>13} {'ratio':>6} {'module-style ms':>15} "
          f"{'ratio':>6}")
    cases = {
        "digits-cnn": (HandWrittenDigitsCNN(), ModuleStyleDigitsCNN()),
        "digits-mlp": (HandWrittenDigitsMLP(), ModuleStyleDigitsMLP()),
    }
    worst = float("inf")
    for name, (functional, module_style) in cases.items():
        medians = compare(name, {"functional": functional, "modules": module_style}, args.repeats, args.block_s)
        c, f, m = medians["compiled"], medians["functional"], medians["modules"]
        f_ratio, m_ratio = medians["functional/compiled"], medians["modules/compiled"]
        worst = min(worst, f_ratio)
        print(f"{name:<12} {c * 1e3:>11.3f} {f * 1e3:>13.3f} {f_ratio:>6.3f} {m * 1e3:>15.3f} {m_ratio:>6.3f}")
    print(f"target: ratio vs the functional hand-written module >= {TARGET} -> "
          f"{'met' if worst >= TARGET else 'MISSED'} (worst {worst:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

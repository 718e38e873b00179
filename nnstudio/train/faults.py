"""What went wrong in a run, and which layer did it: :class:`TrainingFailure` and its detectors."""

from __future__ import annotations

import gc
import types
from dataclasses import dataclass
from typing import Literal

import torch
from torch import fx, nn

from nnstudio.compile.compiler import NODE_ID
from nnstudio.core.errors import NnstudioError

FailureKind = Literal["nan", "oom", "layer_error", "error"]


@dataclass(frozen=True)
class TrainingFailure:
    """Why a run stopped early: ``kind`` nan / oom / layer_error / error, and the node when known."""

    message: str
    kind: FailureKind
    node_id: str | None = None
    epoch: int | None = None
    step: int | None = None


class TrainingError(NnstudioError):
    """A run that failed, for callers that prefer an exception (the CLI); carries the failure."""

    def __init__(self, failure: TrainingFailure) -> None:
        self.failure = failure
        super().__init__(failure.message)


class DataMismatchError(NnstudioError):
    """The dataset and the network disagree (input shape, output width, class count) before training."""

    def __init__(self, message: str, node_id: str | None = None) -> None:
        self.node_id = node_id
        super().__init__(f"{node_id}: {message}" if node_id else message)


def is_out_of_memory(error: BaseException) -> bool:
    """Return True for torch's out-of-memory errors on any device."""
    if isinstance(error, torch.OutOfMemoryError):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


def release_memory(device: torch.device) -> None:
    """Free what the failed step held: Python garbage, then the device's cached blocks."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()


def node_of_module_name(name: str) -> str:
    """Return the node id a submodule name belongs to (submodules are named after node ids)."""
    return name.split(".", 1)[0]


def blame_layer(model: nn.Module, error: BaseException) -> str | None:
    """Return the node id of the innermost layer of ``model`` running when ``error`` was raised.

    Walks the traceback's frames for a bound ``self`` that is one of the model's submodules: no hooks,
    so the hot path pays nothing for this.
    """
    names = {id(module): name for name, module in model.named_modules() if name}
    blamed: str | None = None
    tb: types.TracebackType | None = error.__traceback__
    while tb is not None:
        owner = tb.tb_frame.f_locals.get("self")
        if owner is not None and id(owner) in names:
            blamed = names[id(owner)]
        tb = tb.tb_next
    # A nested submodule ("block.0") belongs to the node that owns it ("block").
    return node_of_module_name(blamed) if blamed else None


class _FailureLocator(fx.Interpreter):
    """Replays a GraphModule node by node and remembers the node that raised."""

    failed: fx.Node | None = None

    def run_node(self, n: fx.Node) -> object:
        try:
            return super().run_node(n)
        except Exception:
            self.failed = n
            raise


def replay_to_failing_node(model: nn.Module, inputs: torch.Tensor) -> str | None:
    """Return the node id at which a GraphModule fails on ``inputs`` (None: no failure, or not fx).

    For failures in the graph's own operations (merges, reshapes): torch.fx re-raises those with the
    traceback stripped, so they are found by replaying the batch once, only after a failure.
    """
    if not isinstance(model, fx.GraphModule):
        return None
    locator = _FailureLocator(model)
    try:
        with torch.no_grad():
            locator.run(inputs)
    except Exception:  # noqa: BLE001 - the failure is expected; only where it happens matters
        pass
    node = locator.failed
    if node is None or node.op in ("placeholder", "output"):
        return None
    return node.meta.get(NODE_ID, node.name)


def first_nonfinite_layer(model: nn.Module, inputs: torch.Tensor) -> str | None:
    """Return the node id of the first layer whose output holds NaN/Inf for ``inputs`` (None: none)."""
    found: list[str] = []
    handles = []

    def watch(name: str):
        def hook(_module: nn.Module, _args: object, output: object) -> None:
            if found:
                return
            tensors = output if isinstance(output, (tuple, list)) else (output,)
            for tensor in tensors:
                if isinstance(tensor, torch.Tensor) and tensor.is_floating_point() \
                        and not bool(torch.isfinite(tensor).all()):
                    found.append(name)
                    return
        return hook

    for name, module in model.named_modules():
        if name and "." not in name:
            handles.append(module.register_forward_hook(watch(name)))
    try:
        with torch.no_grad():
            model(inputs)
    except Exception:  # noqa: BLE001 - a diagnosis must never raise over the original failure
        pass
    finally:
        for handle in handles:
            handle.remove()
    return node_of_module_name(found[0]) if found else None

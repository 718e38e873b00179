"""What went wrong in a run, and which layer did it: :class:`TrainingFailure` and its detectors."""

from __future__ import annotations

import gc
import math
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import fx, nn

from nnstudio.compile.compiler import NODE_ID
from nnstudio.core.errors import NnstudioError
from nnstudio.core.problems import Problem
from nnstudio.train.probes import LayerMap, NodeRunner, unwrap, watching_layers

FailureKind = Literal["nan", "oom", "layer_error", "error"]


#: Where a NaN was first made: in a layer's output (``forward``) or in its backward (``gradient``).
CulpritSide = Literal["forward", "gradient"]


@dataclass(frozen=True)
class TrainingFailure:
    """Why a run stopped early: ``kind`` nan / oom / layer_error / error, and the node when known."""

    message: str
    kind: FailureKind
    node_id: str | None = None
    epoch: int | None = None
    step: int | None = None
    #: For ``nan``: whether ``node_id`` made the first non-finite output or the first non-finite gradient.
    side: CulpritSide | None = None

    def problem(self) -> Problem:
        """Returns the failure as an error for the Problems list, on the culprit layer when known."""
        code = {"nan": "nan-culprit", "oom": "out-of-memory", "layer_error": "layer-failed"}.get(
            self.kind, "training-failed")
        return Problem("error", code, self.message, self.node_id)


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


def blame_layer(model: nn.Module, error: BaseException) -> str | None:
    """Return the node id of the innermost layer of ``model`` running when ``error`` was raised.

    Walks the traceback's frames for a bound ``self`` that is one of the model's submodules: no hooks,
    so the hot path pays nothing for this. A module inside a layer (the attention of a Transformer
    layer) is blamed on that layer; layers nested in blocks keep their dotted node ids.
    """
    names = {id(module): name for name, module in model.named_modules() if name}
    blamed: str | None = None
    tb: types.TracebackType | None = error.__traceback__
    while tb is not None:
        owner = tb.tb_frame.f_locals.get("self")
        if owner is not None and id(owner) in names:
            blamed = names[id(owner)]
        tb = tb.tb_next
    return LayerMap(model).owner_of_module(blamed) if blamed else None


class _FailureLocator(NodeRunner):
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


# --- the NaN culprit ------------------------------------------------------------------------------

def weights_are_finite(model: nn.Module) -> bool:
    """Return True when every parameter of ``model`` is finite (one host sync)."""
    params = [p.detach() for p in model.parameters()]
    if not params:
        return True
    with torch.no_grad():
        # The largest magnitude: finite for any finite tensor (an L2 norm can overflow on huge ones).
        norms = torch.stack(torch._foreach_norm(params, math.inf))
    return bool(torch.isfinite(norms).all())


def gradients_are_finite(model: nn.Module) -> bool:
    """Return True when every gradient ``model``'s parameters hold is finite (one host sync)."""
    grads = [p.grad.detach() for p in model.parameters() if p.grad is not None and not p.grad.is_sparse]
    if not grads:
        return True
    with torch.no_grad():
        norms = torch.stack(torch._foreach_norm(grads, math.inf))
    return bool(torch.isfinite(norms).all())


def _is_finite(tensor: torch.Tensor) -> bool:
    return not tensor.is_floating_point() or bool(torch.isfinite(tensor).all())


def first_nonfinite_layer(model: nn.Module, inputs: torch.Tensor) -> str | None:
    """Return the node id of the first layer whose output holds NaN/Inf for ``inputs`` (None: none).

    Every layer counts: merges, reshapes and functions of a compiled network (read through its fx
    graph), and layers nested in blocks (dotted ids); in a plain module, the innermost module.
    """
    layers = LayerMap(unwrap(model))
    found: list[str] = []

    def check(node_id: str, output: torch.Tensor) -> None:
        if not found and not _is_finite(output):
            found.append(node_id)

    try:
        with torch.no_grad(), watching_layers(layers, check):
            model(inputs)
    except Exception:  # noqa: BLE001 - a diagnosis must never raise over the original failure
        pass
    return found[0] if found else None


def first_nonfinite_gradient(model: nn.Module, forward: Callable[[torch.Tensor], torch.Tensor],
                             loss_of: Callable[[torch.Tensor], torch.Tensor], inputs: torch.Tensor) -> str | None:
    """Return the node id of the layer whose backward first turned the gradient non-finite.

    Runs one forward and backward of ``inputs`` (``forward`` calls the network, ``loss_of`` turns its
    output into the loss) with a hook on every layer's output. Gradients flow from the loss towards
    the input, so the culprit is the layer nearest the loss that received a finite gradient and passed
    on a non-finite one, to a layer feeding it or to its own parameters. Leaves ``.grad`` set.
    """
    layers = LayerMap(unwrap(model))
    output_bad: dict[str, torch.Tensor] = {}

    def watch(node_id: str, output: torch.Tensor) -> None:
        if output.requires_grad and output.is_floating_point():
            output.register_hook(lambda grad, name=node_id: output_bad.__setitem__(
                name, ~torch.isfinite(grad).all()))

    for param in model.parameters():
        param.grad = None
    try:
        with watching_layers(layers, watch):
            loss = loss_of(forward(inputs))
        loss.backward()
    except Exception:  # noqa: BLE001 - as above
        return None
    bad_out = {name: bool(flag) for name, flag in output_bad.items()}
    order = [name for name, layer in layers.layers.items() if layer.has_output]
    for position, name in enumerate(reversed(order)):
        if bad_out.get(name, False):
            continue  # the poison reached this layer from nearer the loss
        layer = layers.layers[name]
        sources = layer.inputs if layers.is_fx else order[len(order) - position - 2:len(order) - position - 1]
        params_bad = any(p.grad is not None and not _is_finite(p.grad) for _, p in layer.params)
        if params_bad or any(bad_out.get(source, False) for source in sources):
            return name
    return None

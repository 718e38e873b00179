"""The autograd graph PyTorch builds for one forward pass, as a networkx DiGraph tied to the layers.

``trace_autograd(module, sample_input)`` runs one forward pass and one gradient computation on a
sample batch without touching the training state (parameters' ``.grad``, the train/eval flags,
BatchNorm running statistics and the random generators are all left as they were), and returns an
:class:`AutogradTrace` whose ``graph`` has

* one node per backward operation (``AddmmBackward0``, ``ConvolutionBackward0``, ...) with the shapes
  and dtypes of the tensors it saved for the backward pass (``grad_fn._saved_*``);
* one leaf per parameter (``AccumulateGrad``), named by its parameter name (``conv1.weight``);
* for every node the *layer* it belongs to: the top-level submodule (= editor node id) that was
  running when the operation was recorded.

Edges point the way data flows forward (parameter -> op -> ... -> loss), like torchviz draws them.
Node ids are assigned in a fixed depth-first order from the loss, so the same model always gives
the same graph with the same ids.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import torch
import torch.fx
from torch import nn
from torch.overrides import TorchFunctionMode

from nnstudio.compile.compiler import NODE_ID
from nnstudio.core.errors import NnstudioError

#: Node kinds in the walked graph.
OP, PARAM, LEAF = "op", "param", "leaf"

_BACKWARD_SUFFIX = re.compile(r"Backward\d*$")


class WalkError(NnstudioError):
    """The sample forward/backward pass failed; ``stage`` says where (forward, objective, backward)."""

    def __init__(self, stage: str, message: str) -> None:
        self.stage = stage
        self.reason = message
        super().__init__(f"autograd walk failed during the {stage}: {message}")


@dataclass(frozen=True)
class SavedValue:
    """One value an operation saved for its backward pass: a tensor (shape, dtype) or a scalar."""

    name: str
    shape: tuple[int, ...] | None = None
    dtype: str | None = None
    value: str | None = None

    def describe(self) -> str:
        """Returns ``"mat1: [2, 512] float32"`` or ``"alpha: 1"``."""
        if self.shape is not None:
            return f"{self.name}: {list(self.shape)} {self.dtype}"
        return f"{self.name}: {self.value}"


@dataclass
class AutogradTrace:
    """The walked graph of one sample pass, with its loss and per-parameter gradient norms."""

    graph: nx.DiGraph
    root: str
    loss: float
    gradient_norms: dict[str, float] = field(default_factory=dict)

    def layers(self) -> list[str]:
        """Returns the layer ids that own at least one node, in graph order."""
        seen: dict[str, None] = {}
        for _, data in self.graph.nodes(data=True):
            layer = data.get("layer")
            if layer is not None:
                seen.setdefault(layer, None)
        return list(seen)


def op_label(op_name: str) -> str:
    """Returns the short display name of a backward op: ``AddmmBackward0`` -> ``Addmm``."""
    return _BACKWARD_SUFFIX.sub("", op_name) or op_name


# --------------------------------------------------------------------------- recording layers


class _LayerRecorder(TorchFunctionMode):
    """Notes, for every tensor a torch call returns, which layer was active when its grad_fn was made.

    A TorchFunctionMode sees every torch call once at its outermost level (composite ops such as
    ``cross_entropy`` hide their inner nodes; those inherit their consumer's layer during the walk).
    """

    def __init__(self) -> None:
        super().__init__()
        self.active: list[str] = []
        self.layer_of: dict[Any, str | None] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        # calls outside every layer are noted too (as None), so only the hidden inner nodes of
        # composite ops fall back to their consumer's layer
        self._note(result, self.active[-1] if self.active else None)
        return result

    def _note(self, result: Any, layer: str | None) -> None:
        if isinstance(result, torch.Tensor):
            grad_fn = result.grad_fn
            if grad_fn is not None:
                self.layer_of.setdefault(grad_fn, layer)
        elif isinstance(result, (tuple, list)):
            for item in result:
                self._note(item, layer)


class _LayerInterpreter(torch.fx.Interpreter):
    """Runs a GraphModule node by node so that merges and reshapes (functions) get their layer too."""

    def __init__(self, module: torch.fx.GraphModule, recorder: _LayerRecorder,
                 layer_ids: frozenset[str] | None) -> None:
        super().__init__(module)
        self.recorder = recorder
        self.layer_ids = layer_ids

    def run_node(self, n: torch.fx.Node) -> Any:
        # nnstudio's compiler tags helper steps with the editor node they serve
        layer = n.meta.get(NODE_ID) or (str(n.target).split(".")[0] if n.op == "call_module" else n.name)
        if self.layer_ids is not None and layer not in self.layer_ids:
            return super().run_node(n)
        self.recorder.active.append(layer)
        try:
            return super().run_node(n)
        finally:
            self.recorder.active.pop()


def _run_forward(module: nn.Module, sample_input: Any, recorder: _LayerRecorder,
                 layer_ids: frozenset[str] | None) -> Any:
    inputs = sample_input if isinstance(sample_input, tuple) else (sample_input,)
    if isinstance(module, torch.fx.GraphModule):
        with recorder:
            return _LayerInterpreter(module, recorder, layer_ids).run(*inputs)
    # hooks must return None: a returned value would replace the layer's input or output
    def enter(name: str) -> Callable[..., None]:
        def hook(_module: nn.Module, _args: Any) -> None:
            recorder.active.append(name)
        return hook

    def leave(_module: nn.Module, _args: Any, _output: Any) -> None:
        recorder.active.pop()

    handles = []
    for name, child in module.named_children():
        if layer_ids is not None and name not in layer_ids:
            continue
        handles.append(child.register_forward_pre_hook(enter(name)))
        handles.append(child.register_forward_hook(leave, always_call=True))
    try:
        with recorder:
            return module(*inputs)
    finally:
        for handle in handles:
            handle.remove()


# --------------------------------------------------------------------------- walking grad_fn


def _saved_values(grad_fn: Any) -> tuple[SavedValue, ...]:
    values = []
    for attr in dir(grad_fn):
        # strides say nothing a reader needs; sizes of a saved tensor repeat its shape
        if not attr.startswith("_saved_") or attr.endswith("_sym_strides"):
            continue
        name = attr[len("_saved_"):]
        try:
            value = getattr(grad_fn, attr)
        except RuntimeError:  # freed by an earlier backward, or an undefined optional tensor
            continue
        values.extend(_describe_saved(name, value))
    return tuple(values)


def _describe_saved(name: str, value: Any) -> list[SavedValue]:
    if isinstance(value, torch.Tensor):
        return [SavedValue(name, tuple(value.shape), str(value.dtype).removeprefix("torch."))]
    if isinstance(value, (tuple, list)) and value and all(isinstance(v, torch.Tensor) for v in value):
        return [item for i, v in enumerate(value) for item in _describe_saved(f"{name}[{i}]", v)]
    if value is None:
        return []
    if isinstance(value, (tuple, list)):
        return [SavedValue(name, value=str([_plain(v) for v in value]))]
    return [SavedValue(name, value=str(_plain(value)))]


def _plain(value: Any) -> Any:
    if isinstance(value, torch.SymInt):
        value = int(value)
    # autograd hands negative dims back as their unsigned 64-bit pattern; show them as written
    if isinstance(value, int) and not isinstance(value, bool) and value >= 2**63:
        value -= 2**64
    return value


def walk_grad_fn(root: Any, *, param_names: Mapping[int, str] | None = None,
                 layer_of: Mapping[Any, str | None] | None = None,
                 root_layer: str | None = None) -> tuple[nx.DiGraph, str]:
    """Returns the DiGraph of everything ``root`` (a ``grad_fn``) depends on, and the root's node id.

    ``param_names`` maps ``id(parameter)`` to its name; ``layer_of`` maps grad_fn objects to the
    layer that created them. A node that no one recorded takes the layer of the node that consumes
    it (the inner steps of a composite op belong to the op); the root takes ``root_layer``.
    """
    if root is None:
        raise WalkError("walk", "the output does not require grad: no parameter or input took part")
    param_names = param_names or {}
    layer_of = layer_of or {}
    graph: nx.DiGraph[str] = nx.DiGraph()
    ids: dict[Any, str] = {}
    counters = {OP: 0, LEAF: 0}

    def node_id(fn: Any, consumer_layer: str | None) -> tuple[str, bool]:
        if fn in ids:
            return ids[fn], False
        variable = getattr(fn, "variable", None)
        attrs: dict[str, Any]  # kind, op, label, param, layer, shape, dtype, saved (and order, below)
        if variable is not None:
            name = param_names.get(id(variable))
            if name is not None:
                nid = f"param:{name}"
                attrs = dict(kind=PARAM, op="AccumulateGrad", label=name, param=name,
                             layer=name.split(".")[0], shape=tuple(variable.shape),
                             dtype=str(variable.dtype).removeprefix("torch."), saved=())
            else:
                nid = f"leaf{counters[LEAF]}"
                counters[LEAF] += 1
                attrs = dict(kind=LEAF, op="AccumulateGrad", label="input", param=None, layer=consumer_layer,
                             shape=tuple(variable.shape),
                             dtype=str(variable.dtype).removeprefix("torch."), saved=())
        else:
            nid = f"op{counters[OP]}"
            counters[OP] += 1
            name = fn.name()
            attrs = dict(kind=OP, op=name, label=op_label(name), param=None,
                         layer=layer_of.get(fn, consumer_layer), shape=None, dtype=None,
                         saved=_saved_values(fn))
        attrs["order"] = graph.number_of_nodes()
        graph.add_node(nid, **attrs)
        ids[fn] = nid
        return nid, True

    root_id, _ = node_id(root, root_layer)
    if root in layer_of:
        graph.nodes[root_id]["layer"] = layer_of[root]
    # iterative depth-first walk; children visited in next_functions order for determinism
    stack: list[tuple[Any, str]] = [(root, root_id)]
    while stack:
        fn, fid = stack.pop()
        consumer_layer = graph.nodes[fid]["layer"]
        fresh: list[tuple[Any, str]] = []
        for child, _ in getattr(fn, "next_functions", ()):
            if child is None:
                continue
            cid, is_new = node_id(child, consumer_layer)
            if not graph.has_edge(cid, fid):
                graph.add_edge(cid, fid)
            if is_new:
                fresh.append((child, cid))
        stack.extend(reversed(fresh))
    return graph, root_id


# --------------------------------------------------------------------------- the sample pass


def sum_of_outputs(output: Any) -> torch.Tensor:
    """Returns the sum of every floating-point tensor in ``output`` (the objective for any model)."""
    tensors = [t for t in _tensors(output) if t.is_floating_point() or t.is_complex()]
    if not tensors:
        raise WalkError("objective", "the model returned no floating-point tensor to differentiate")
    total = tensors[0].sum()
    for tensor in tensors[1:]:
        total = total + tensor.sum()
    return total


def _tensors(value: Any) -> Iterable[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _tensors(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)


def trace_autograd(module: nn.Module, sample_input: Any,
                   objective: Callable[[Any], torch.Tensor] | None = None, *,
                   layer_ids: Iterable[str] | None = None, loss_layer: str | None = None,
                   train_mode: bool | None = True, compute_gradients: bool = True) -> AutogradTrace:
    """Returns the autograd graph of ``objective(module(sample_input))``, training state untouched.

    ``objective`` turns the output into a scalar (a loss with its target bound); by default the sum
    of the outputs. ``layer_ids`` limits which top-level names count as layers (the editor's node
    ids); ``loss_layer`` is the layer given to the loss's own ops. ``train_mode`` runs the pass in
    train (True) or eval (False) mode, or as the module is (None); the flags are restored after.
    With ``compute_gradients`` the gradient norm of every parameter is measured with
    ``torch.autograd.grad``, which never writes ``.grad``.
    """
    allowed = frozenset(layer_ids) if layer_ids is not None else None
    named_params = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
    param_names = {id(p): n for n, p in named_params}
    modes = [(m, m.training) for m in module.modules()]
    buffers = [(b, b.detach().clone()) for b in module.buffers()]
    devices = sorted({p.device.index or 0 for _, p in named_params if p.device.type == "cuda"})
    recorder = _LayerRecorder()
    try:
        with torch.random.fork_rng(devices=devices), torch.enable_grad():
            if train_mode is not None:
                module.train(train_mode)
            try:
                output = _run_forward(module, sample_input, recorder, allowed)
            except Exception as exc:  # any layer error: report it with the stage it happened in
                raise WalkError("forward pass", f"{type(exc).__name__}: {exc}") from exc
            # the loss's own ops belong to loss_layer (the editor's Output node, if any)
            recorder.active[:] = [loss_layer] if loss_layer else []
            try:
                with recorder:
                    loss = (objective or sum_of_outputs)(output)
            except WalkError:
                raise
            except Exception as exc:
                raise WalkError("objective", f"{type(exc).__name__}: {exc}") from exc
            if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
                raise WalkError("objective", "the objective must return a one-element tensor")
            graph, root = walk_grad_fn(loss.grad_fn, param_names=param_names,
                                       layer_of=recorder.layer_of, root_layer=loss_layer)
            norms = _gradient_norms(loss, named_params, graph) if compute_gradients else {}
            loss_value = float(loss.detach())
    finally:
        with torch.no_grad():
            for buffer, saved in buffers:
                buffer.copy_(saved)
        for submodule, training in modes:
            submodule.training = training
    return AutogradTrace(graph, root, loss_value, norms)


def _gradient_norms(loss: torch.Tensor, named_params: list[tuple[str, nn.Parameter]],
                    graph: nx.DiGraph) -> dict[str, float]:
    used = [(n, p) for n, p in named_params if graph.has_node(f"param:{n}")]
    if not used:
        return {}
    try:
        grads = torch.autograd.grad(loss, [p for _, p in used], allow_unused=True)
    except RuntimeError as exc:
        raise WalkError("backward pass", str(exc)) from exc
    return {name: float(g.detach().norm()) for (name, _), g in zip(used, grads) if g is not None}


def parameter_gradient_norms(module: nn.Module) -> dict[str, float]:
    """Returns the L2 norm of every parameter's current ``.grad`` (NaN stays NaN), by name."""
    with torch.no_grad():
        return {name: float(p.grad.detach().norm()) for name, p in module.named_parameters()
                if p.grad is not None}

"""Shape, parameter and FLOP inference for one layer, on meta tensors (no memory, no real compute).

:func:`infer_node` builds the layer's real torch module on the ``meta`` device with implied sizes
filled in, runs it on meta inputs under :class:`torch.utils.flop_counter.FlopCounterMode`, and
reports what came out. Every failure becomes a :class:`NodeFailure` carrying PyTorch's own message;
nothing escapes as an exception.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from nnstudio.compile.layers import (
    ELEMENTWISE,
    IMPLIED_SIZES,
    INPUT_LAYOUTS,
    INTEGER_INPUT,
    build_module,
    call_arguments,
    result_selection,
)
from nnstudio.compile.results import BATCH_LABEL, Shape, format_shape
from nnstudio.core.catalog import LayerKind, LayerSpec

#: The batch size of the meta tensors; 2 rather than 1 so BatchNorm's "more than one value" holds.
META_BATCH = 2
_DTYPES = {"float32": torch.float32, "int64": torch.int64}
_DTYPE_NAMES = {v: k for k, v in _DTYPES.items()}
#: Layers that accept integer tensors as they are (they do not compute with the values).
_INTEGER_FRIENDLY = INTEGER_INPUT | {"flatten"}


@dataclass(frozen=True)
class TensorInfo:
    """A tensor's batched shape (batch = META_BATCH) and dtype: all analysis needs to know."""

    shape: tuple[int, ...]
    dtype: torch.dtype

    def meta(self) -> torch.Tensor:
        return torch.empty(self.shape, dtype=self.dtype, device="meta")

    @property
    def display_shape(self) -> Shape:
        return (BATCH_LABEL, *self.shape[1:])

    @property
    def dtype_name(self) -> str:
        return _DTYPE_NAMES.get(self.dtype, str(self.dtype).removeprefix("torch."))


@dataclass(frozen=True)
class NodeFailure:
    """Why a layer cannot work on its input; ``field`` names the parameter at fault, if one is."""

    code: str
    message: str
    field: str | None = None
    #: For a pinned size that disagrees with the input: the value of ``field`` that would fit.
    fitting: Any = None


@dataclass(frozen=True)
class NodeOutcome:
    """The result of inferring one node: an output, or a failure (then ``output`` is None)."""

    output: TensorInfo | None
    params: int = 0
    flops: int = 0
    resolved: Mapping[str, Any] | None = None
    inferred: tuple[str, ...] = ()
    failure: NodeFailure | None = None


class _Failed(Exception):
    def __init__(self, failure: NodeFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def infer_node(spec: LayerSpec, params: Mapping[str, Any], inputs: Sequence[TensorInfo]) -> NodeOutcome:
    """Return what one layer produces from ``inputs`` (already in the order the layer reads them)."""
    try:
        if spec.kind is LayerKind.INPUT:
            shape = (META_BATCH, *params["shape"])
            return NodeOutcome(TensorInfo(shape, _DTYPES[params["dtype"]]), resolved=dict(params))
        if spec.kind is LayerKind.OUTPUT:
            return NodeOutcome(inputs[0], resolved=dict(params))
        if spec.kind is LayerKind.MERGE:
            return _infer_merge(spec, params, inputs)
        if spec.kind is LayerKind.RESHAPE:
            return _infer_reshape(params, inputs[0])
        return _infer_module(spec, params, inputs[0])
    except _Failed as failed:
        return NodeOutcome(None, failure=failed.failure)
    except Exception as exc:  # a safety net: a surprise in one layer must not stop the whole analysis
        return NodeOutcome(None, failure=NodeFailure("analysis-failed", f"{spec.title} could not be analysed: "
                                                     f"{type(exc).__name__}: {_torch_message(exc)}"))


# --- modules -------------------------------------------------------------------------------------

def _infer_module(spec: LayerSpec, params: Mapping[str, Any], x: TensorInfo) -> NodeOutcome:
    _check_input(spec, params, x)
    if spec.type_id in ELEMENTWISE:
        return NodeOutcome(x, resolved=dict(params))
    resolved, inferred = resolve_params(spec, params, x)
    try:
        module = build_module(spec, resolved, device="meta")
    except Exception as exc:  # torch's constructors assert on bad combinations (heads vs embed_dim)
        raise _Failed(NodeFailure("invalid-layer", f"{spec.title} cannot be built: {_torch_message(exc)}")) from None
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    copies, keywords = call_arguments(spec)
    selection = result_selection(spec, resolved)
    try:
        with FlopCounterMode(display=False) as counter:
            value = module(*([x.meta()] * copies), **keywords)
        for index in selection:
            value = operator.getitem(value, index)
    except Exception as exc:  # any run-time failure of the layer is reported on the node
        raise _Failed(NodeFailure("layer-failed", f"{spec.title} fails on input {format_shape(x.display_shape)}: "
                                  f"{_torch_message(exc)}")) from None
    output = _tensor_info(spec, value)
    flops = counter.get_total_flops() // META_BATCH
    return NodeOutcome(output, trainable, flops, resolved, inferred)


def _check_input(spec: LayerSpec, params: Mapping[str, Any], x: TensorInfo) -> None:
    type_id = spec.type_id
    shown = format_shape(x.display_shape)
    layout = INPUT_LAYOUTS.get(type_id)
    if layout and len(x.shape) not in layout.ranks:
        raise _Failed(NodeFailure("wrong-rank", f"{spec.title} expects input shaped {layout.description}, "
                                  f"but gets {shown}"))
    if type_id in INTEGER_INPUT and x.dtype.is_floating_point:
        raise _Failed(NodeFailure("needs-integer-input", f"{spec.title} looks up integer token ids, but gets "
                                  f"{x.dtype_name} values {shown}; set the Input's dtype to int64"))
    if not x.dtype.is_floating_point and type_id not in _INTEGER_FRIENDLY:
        raise _Failed(NodeFailure("needs-float-input", f"{spec.title} gets integer ids {shown}; only an "
                                  "Embedding turns ids into vectors it can work on"))
    if type_id == "flatten":
        rank = len(x.shape)
        start = params["start_dim"] % rank if -rank <= params["start_dim"] < rank else None
        if start == 0:
            raise _Failed(NodeFailure("flattens-batch", "start_dim 0 would merge the batch dimension into "
                                      "the features; use start_dim 1", "start_dim"))


def resolve_params(spec: LayerSpec, params: Mapping[str, Any], x: TensorInfo
                   ) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Return the parameters with implied sizes filled in from ``x``, and the names that were filled.

    A pinned value that disagrees with the input raises a failure naming the value that would fit.
    """
    resolved = dict(params)
    rule = IMPLIED_SIZES.get(spec.type_id)
    if rule is None:
        return resolved, ()
    fitting = x.shape[rule.dim]
    pinned = params[rule.param]
    if pinned is None:
        resolved[rule.param] = fitting
        return resolved, (rule.param,)
    if spec.type_id == "layer_norm":
        _check_normalized_shape(pinned, x)
    elif pinned != fitting:
        shown = format_shape(x.display_shape)
        raise _Failed(NodeFailure(
            "size-mismatch",
            f"{rule.param} is pinned to {pinned}, but the input {shown} has {fitting} {rule.meaning}; "
            f"set {rule.param} to {fitting}, or unpin it so it is inferred from the input", rule.param,
            fitting))
    return resolved, ()


def _check_normalized_shape(pinned: int | tuple[int, ...], x: TensorInfo) -> None:
    wanted = (pinned,) if isinstance(pinned, int) else tuple(pinned)
    trailing = x.shape[1:][-len(wanted):] if len(wanted) < len(x.shape) else None
    if trailing != wanted:
        shown = format_shape(x.display_shape)
        raise _Failed(NodeFailure(
            "size-mismatch",
            f"normalized_shape is pinned to {list(wanted)}, but the input {shown} ends with "
            f"{list(x.shape[1:][-len(wanted):])}; set normalized_shape to {x.shape[-1]}, or unpin it so it is "
            "inferred from the input", "normalized_shape", x.shape[-1]))


def _tensor_info(spec: LayerSpec, value: Any) -> TensorInfo:
    if not isinstance(value, torch.Tensor):
        raise _Failed(NodeFailure("layer-failed", f"{spec.title} did not return a tensor"))
    if value.dim() == 0 or value.shape[0] != META_BATCH:
        raise _Failed(NodeFailure("loses-batch", f"{spec.title} does not keep the batch dimension (its "
                                  f"result has shape {list(value.shape)} for a batch of {META_BATCH})"))
    return TensorInfo(tuple(value.shape), value.dtype)


# --- merges and reshapes -------------------------------------------------------------------------

_MERGE_VERBS = {"add": "add", "multiply": "multiply", "concat": "join"}


def _infer_merge(spec: LayerSpec, params: Mapping[str, Any], inputs: Sequence[TensorInfo]) -> NodeOutcome:
    metas = [x.meta() for x in inputs]
    shapes = ", ".join(format_shape(x.display_shape) for x in inputs)
    try:
        if spec.type_id == "concat":
            dim = params["dim"]
            rank = len(inputs[0].shape)
            if -rank <= dim < rank and dim % rank == 0:
                raise _Failed(NodeFailure("joins-batch", "dim 0 is the batch dimension; join along dim 1 "
                                          "(channels or features) or later", "dim"))
            value = torch.cat(metas, dim=dim)
        else:
            function = torch.add if spec.type_id == "add" else torch.mul
            value = metas[0]
            for other in metas[1:]:
                value = function(value, other)
    except _Failed:
        raise
    except Exception as exc:
        verb = _MERGE_VERBS.get(spec.type_id, "combine")
        raise _Failed(NodeFailure("merge-mismatch", f"cannot {verb} inputs shaped {shapes}: "
                                  f"{_torch_message(exc)}")) from None
    return NodeOutcome(_tensor_info(spec, value), resolved=dict(params))


def _infer_reshape(params: Mapping[str, Any], x: TensorInfo) -> NodeOutcome:
    target = tuple(params["shape"])
    per_sample = 1
    for d in x.shape[1:]:
        per_sample *= d
    known = 1
    for d in target:
        if d != -1:
            known *= d
    shown = format_shape(x.display_shape)
    if -1 in target:
        if per_sample % known:
            raise _Failed(NodeFailure("reshape-mismatch", f"cannot reshape {shown} ({per_sample} values per "
                                      f"sample) into {list(target)}: {per_sample} is not divisible by {known}",
                                      "shape"))
        target = tuple(per_sample // known if d == -1 else d for d in target)
    elif known != per_sample:
        raise _Failed(NodeFailure("reshape-mismatch", f"cannot reshape {shown} ({per_sample} values per "
                                  f"sample) into {list(target)} ({known} values)", "shape"))
    return NodeOutcome(TensorInfo((x.shape[0], *target), x.dtype), resolved=dict(params))


def _torch_message(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 600 else text[:600] + "..."

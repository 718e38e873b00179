"""Values other than one tensor that flow between the layers of an imported network.

A traced network passes more than tensors: ``x.shape[0]`` (an int), ``x.size()`` (a ``torch.Size``),
``torch.chunk(x, 2)`` (a tuple of tensors), attention's ``(output, weights)`` pair. Analysis describes
such a value with a :class:`ValueInfo`, the counterpart of
:class:`~nnstudio.compile.tensors.TensorInfo`: the value itself, with every tensor inside replaced by
its TensorInfo. Both have a ``key`` (analysis caches layers by their inputs' keys) and ``meta()``
(the value to run a layer on, tensors on the ``meta`` device).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from nnstudio.compile.results import Shape
from nnstudio.compile.tensors import META_BATCH, TensorInfo


@dataclass(frozen=True, eq=False)
class ValueInfo:
    """A value that is not a single tensor; tensors inside it are :class:`TensorInfo`s."""

    value: Any
    key: Any = field(default=None)
    batched: bool = False

    def __post_init__(self) -> None:
        if self.key is None:
            object.__setattr__(self, "key", ("value", _key(self.value)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ValueInfo) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    def meta(self) -> Any:
        return _meta(self.value)

    @property
    def display_shape(self) -> Shape:
        """Not a tensor: no shape (``dtype_name`` says what the value is)."""
        return ()

    @property
    def dtype_name(self) -> str:
        return describe(self.value)

    @property
    def shown(self) -> str:
        return describe(self.value)


def _key(value: Any) -> Any:
    """A hashable stand-in for ``value`` that tells apart what a layer could tell apart."""
    if isinstance(value, TensorInfo):
        return ("tensor", value.key)
    if isinstance(value, torch.Size):
        return ("size", tuple(value))
    if isinstance(value, tuple):
        return ("tuple", tuple(_key(v) for v in value))
    if isinstance(value, list):
        return ("list", tuple(_key(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple((_key(k), _key(v)) for k, v in value.items()))
    if isinstance(value, slice):
        return ("slice", _key(value.start), _key(value.stop), _key(value.step))
    if isinstance(value, float):
        return ("float", repr(value))  # keeps nan equal to itself and -0.0 apart from 0.0
    try:
        hash(value)
    except TypeError:
        return ("object", id(value))
    return (type(value).__name__, value)


def _meta(value: Any) -> Any:
    if isinstance(value, TensorInfo):
        return value.meta()
    if isinstance(value, torch.Size):
        return value
    if isinstance(value, tuple):
        items = tuple(_meta(v) for v in value)
        return type(value)(*items) if hasattr(value, "_fields") else items
    if isinstance(value, list):
        return [_meta(v) for v in value]
    if isinstance(value, dict):
        return {k: _meta(v) for k, v in value.items()}
    return value


def describe(value: Any) -> str:
    """What a value is, for people: ``int``, ``torch.Size``, ``tuple of 2``, ``None``."""
    if isinstance(value, TensorInfo):
        return value.shown
    if value is None:
        return "None"
    if isinstance(value, torch.Size):
        return "torch.Size"
    if isinstance(value, (tuple, list)):
        return f"{type(value).__name__} of {len(value)}"
    return type(value).__name__


def info_of(value: Any, batched: bool) -> TensorInfo | ValueInfo:
    """Describe a layer's meta result: a tensor becomes a TensorInfo, anything else a ValueInfo.

    ``batched``: some tensor input had a batch dimension; a tensor result whose first dimension has
    the probe's batch size is then taken to keep it.
    """
    if isinstance(value, torch.Tensor):
        return _tensor_info(value, batched)
    return ValueInfo(_described(value, batched))


def _tensor_info(value: torch.Tensor, batched: bool) -> TensorInfo:
    keeps_batch = batched and value.dim() > 0 and value.shape[0] == META_BATCH
    return TensorInfo(tuple(value.shape), value.dtype, batched=keeps_batch)


def _described(value: Any, batched: bool) -> Any:
    if isinstance(value, torch.Tensor):
        return _tensor_info(value, batched)
    if isinstance(value, torch.Size):
        return value
    if isinstance(value, tuple):
        items = tuple(_described(v, batched) for v in value)
        return type(value)(*items) if hasattr(value, "_fields") else items
    if isinstance(value, list):
        return [_described(v, batched) for v in value]
    if isinstance(value, dict):
        return {k: _described(v, batched) for k, v in value.items()}
    return value


def is_batched(info: Any) -> bool:
    """True when ``info`` is, or holds, a tensor with a batch dimension."""
    if isinstance(info, TensorInfo):
        return info.batched
    if isinstance(info, ValueInfo):
        return _holds_batched(info.value)
    return False


def _holds_batched(value: Any) -> bool:
    if isinstance(value, TensorInfo):
        return value.batched
    if isinstance(value, (tuple, list)):
        return any(_holds_batched(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_batched(v) for v in value.values())
    return False

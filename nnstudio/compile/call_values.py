"""Python and torch values <-> the JSON call data of :mod:`nnstudio.core.call_data`.

:func:`encode` writes the constants of a traced call (``(x, 1)``, ``slice(None, 3)``,
``torch.float32``, ``-inf``) as call data, a reference to an input as ``{"$input": k}``;
:func:`decode` reads it back, putting in the inputs (meta tensors during analysis, fx nodes when
compiling) and the train/eval flag.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

from nnstudio.core import call_data as data
from nnstudio.core.call_data import FrozenData
from nnstudio.core.errors import NnstudioError


class NotData(NnstudioError):
    """A constant that call data cannot hold (a module, a function, an arbitrary object)."""


#: dtypes, memory formats and layouts by the name call data gives them (``float32``, ``channels_last``).
def _named(kind: type) -> dict[str, Any]:
    found = {}
    for name in dir(torch):
        value = getattr(torch, name, None)
        if isinstance(value, kind) and not name.startswith("_"):
            found.setdefault(str(value).removeprefix("torch."), value)
    return found


DTYPES: dict[str, torch.dtype] = _named(torch.dtype)
MEMORY_FORMATS: dict[str, torch.memory_format] = _named(torch.memory_format)
LAYOUTS: dict[str, torch.layout] = _named(torch.layout)


def encode(value: Any, reference: Callable[[Any], int | None] = lambda _v: None, *,
           training: Callable[[Any], bool] = lambda _v: False) -> Any:
    """Return ``value`` as (frozen) call data; ``reference(v)`` gives the input number of an input value.

    ``training(v)`` is True for the value standing for the network's train/eval flag. Raises
    :class:`NotData` naming what cannot be held.
    """
    number = reference(value)
    if number is not None:
        return FrozenData({data.INPUT: number})
    if training(value):
        return FrozenData({data.MODE: "training"})
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return FrozenData({data.FLOAT: "nan"}) if math.isnan(value) else value
    if isinstance(value, torch.Size):
        return FrozenData({data.SIZE: tuple(int(d) for d in value)})
    if isinstance(value, list):
        return tuple(encode(v, reference, training=training) for v in value)
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return FrozenData({data.TUPLE: tuple(encode(v, reference, training=training) for v in value)})
    if isinstance(value, slice):
        return FrozenData({data.SLICE: tuple(encode(v, reference, training=training)
                                             for v in (value.start, value.stop, value.step))})
    if value is Ellipsis:
        return FrozenData({data.ELLIPSIS: None})
    if isinstance(value, torch.dtype):
        return FrozenData({data.DTYPE: str(value).removeprefix("torch.")})
    if isinstance(value, torch.device):
        return FrozenData({data.DEVICE: str(value)})
    if isinstance(value, torch.memory_format):
        return FrozenData({data.MEMORY_FORMAT: str(value).removeprefix("torch.")})
    if isinstance(value, torch.layout):
        return FrozenData({data.LAYOUT: str(value).removeprefix("torch.")})
    if isinstance(value, complex):
        return FrozenData({data.COMPLEX: (value.real, value.imag)})
    if isinstance(value, dict):
        return FrozenData({data.DICT: tuple((encode(k, reference, training=training),
                                             encode(v, reference, training=training)) for k, v in value.items())})
    shown = f"a {type(value).__module__}.{type(value).__qualname__}"
    if isinstance(value, torch.Tensor):
        shown = f"a tensor constant of shape {list(value.shape)}"
    raise NotData(f"{shown} cannot be stored as a constant")


def encode_table(values: dict[str, Any], reference: Callable[[Any], int | None] = lambda _v: None, *,
                 training: Callable[[Any], bool] = lambda _v: False) -> FrozenData:
    """Return keyword arguments as a call-data table (names to values)."""
    return FrozenData({name: encode(v, reference, training=training) for name, v in values.items()})


def decode(value: Any, inputs: Sequence[Any] = (), training: Any = False) -> Any:
    """Return the Python value call data stands for; ``{"$input": k}`` becomes ``inputs[k]``.

    ``training`` stands in for ``{"$mode": "training"}``. Raises :class:`NotData` for a reference to
    an input that is not there or a name torch does not have.
    """
    if isinstance(value, tuple):
        return [decode(v, inputs, training) for v in value]
    tag = data.tag_of(value)
    if tag is None:
        if isinstance(value, dict):
            return {k: decode(v, inputs, training) for k, v in value.items()}
        return value
    payload = value[tag]
    if tag == data.INPUT:
        if payload >= len(inputs):
            raise NotData(f"the call refers to input {payload}, but the layer has {len(inputs)} inputs")
        return inputs[payload]
    if tag == data.TUPLE:
        return tuple(decode(v, inputs, training) for v in payload)
    if tag == data.SLICE:
        return slice(*(decode(v, inputs, training) for v in payload))
    if tag == data.ELLIPSIS:
        return Ellipsis
    if tag == data.MODE:
        return training
    if tag == data.SIZE:
        return torch.Size(payload)
    if tag == data.COMPLEX:
        return complex(*payload)
    if tag == data.FLOAT:
        return float(payload)
    if tag == data.DICT:
        return {decode(k, inputs, training): decode(v, inputs, training) for k, v in payload}
    table = {data.DTYPE: DTYPES, data.MEMORY_FORMAT: MEMORY_FORMATS, data.LAYOUT: LAYOUTS}.get(tag)
    if table is not None:
        if payload not in table:
            raise NotData(f"torch has no {tag.removeprefix('$').replace('_', ' ')} {payload!r}")
        return table[payload]
    try:
        return torch.device(payload)
    except RuntimeError:
        raise NotData(f"{payload!r} is not a device") from None


def decode_call(args: Any, kwargs: Any, inputs: Sequence[Any], training: Any = False
                ) -> tuple[list[Any], dict[str, Any]]:
    """Return a call's positional and keyword arguments from its ``args`` and ``kwargs`` data."""
    return (decode(args, inputs, training) if args is not None else [],
            {name: decode(v, inputs, training) for name, v in (kwargs or {}).items()})

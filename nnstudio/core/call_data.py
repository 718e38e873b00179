"""Constant data of imported calls, as JSON: arguments of a function, a module's constructor.

An imported network calls functions with constants (``torch.flatten(x, 1)``, ``x.permute(0, 2, 1)``,
``x[:, 0]``, ``masked_fill(mask, -inf)``) and builds modules from constructor arguments. A layer keeps
these in a parameter of kind :attr:`~nnstudio.core.fields.ParamKind.DATA`: plain JSON where JSON has
the type (numbers, text, booleans, ``null``, lists), and a one-key *tag* object where it does not::

    {"$input": 0}                  the layer's first input (a value flowing in on a wire)
    {"$tuple": [1, 2]}             (1, 2)            a JSON list stays a Python list
    {"$slice": [null, 3, null]}    slice(None, 3)    ``x[:3]``
    {"$ellipsis": null}            ...
    {"$dtype": "float32"}          torch.float32     (also $device, $memory_format, $layout)
    {"$size": [2, 3]}              torch.Size([2, 3])
    {"$complex": [0.0, 1.0]}       1j
    {"$float": "nan"}              float("nan")      (infinities are written Infinity where allowed)
    {"$mode": "training"}          the network's train/eval flag (``self.training``), read at run time
    {"$dict": [["a", 1]]}          {"a": 1}          (a dict constant; keys are constants too)

A keyword-argument table (``kwargs``) is a JSON object of names to values. Nothing here imports torch:
``nnstudio.compile`` turns the data into Python values and back. In memory the data is immutable and
hashable (JSON lists become tuples, objects a :class:`FrozenData`), so analysis can cache layers by it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

#: The tags a data object may have, each with a check of its payload (None: any payload).
INPUT, TUPLE, SLICE, ELLIPSIS, DTYPE, DEVICE, SIZE, COMPLEX, FLOAT, MODE, DICT, MEMORY_FORMAT, LAYOUT = (
    "$input", "$tuple", "$slice", "$ellipsis", "$dtype", "$device", "$size", "$complex", "$float", "$mode",
    "$dict", "$memory_format", "$layout")
TAGS = frozenset({INPUT, TUPLE, SLICE, ELLIPSIS, DTYPE, DEVICE, SIZE, COMPLEX, FLOAT, MODE, DICT, MEMORY_FORMAT,
                  LAYOUT})
#: The run-time flags ``$mode`` may name.
MODES = frozenset({"training"})
#: Deepest nesting and most entries one value may have: real arguments are small.
MAX_DEPTH = 32
MAX_ENTRIES = 100_000


class DataError(ValueError):
    """A value is not call data; the message says where (``[1].$slice``) and why."""


class FrozenData(dict):  # type: ignore[type-arg]
    """An immutable, hashable JSON object (``json`` writes it as any dict)."""

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(self.items()))

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("call data is immutable")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _refuse  # type: ignore[assignment]


def tag_of(value: Any) -> str | None:
    """The tag of a data object (``"$tuple"``), or None for plain JSON values."""
    if isinstance(value, dict) and len(value) == 1:
        key = next(iter(value))
        if key in TAGS:
            return key
    return None


def freeze(value: Any, *, allow_infinite: bool = False, table: bool = False) -> Any:
    """Return ``value`` checked and made immutable, or raise :class:`DataError` naming the place.

    ``table``: ``value`` is a keyword-argument table (an object of names), not a value.
    """
    counter = [0]
    if table:
        if not isinstance(value, Mapping):
            raise DataError(f"expected an object of argument names, got {_short(value)}")
        return FrozenData({_key(k, ""): _freeze(v, f".{k}", 1, allow_infinite, counter) for k, v in value.items()})
    return _freeze(value, "", 0, allow_infinite, counter)


def _key(key: Any, where: str) -> str:
    if not isinstance(key, str) or not key.isidentifier():
        raise DataError(f"{where or 'an argument name'}: {key!r} is not an argument name")
    return key


def _freeze(value: Any, where: str, depth: int, allow_infinite: bool, counter: list[int]) -> Any:
    counter[0] += 1
    if counter[0] > MAX_ENTRIES:
        raise DataError(f"more than {MAX_ENTRIES:,} entries")
    if depth > MAX_DEPTH:
        raise DataError(f"{where or 'the value'}: nested more than {MAX_DEPTH} deep")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            raise DataError(f"{where or 'the value'}: NaN is written {{\"$float\": \"nan\"}}")
        if math.isinf(value) and not allow_infinite:
            raise DataError(f"{where or 'the value'}: {value!r} is not a finite number")
        return value
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v, f"{where}[{i}]", depth + 1, allow_infinite, counter) for i, v in enumerate(value))
    if isinstance(value, Mapping):
        tag = tag_of(value)
        if tag is None:
            keys = ", ".join(repr(k) for k in list(value)[:3])
            raise DataError(f"{where or 'the value'}: an object must be one tag such as {{\"$tuple\": [...]}}, "
                            f"not {{{keys}}}")
        return FrozenData({tag: _payload(tag, value[tag], f"{where}.{tag}", depth, allow_infinite, counter)})
    raise DataError(f"{where or 'the value'}: {_short(value)} is not JSON data")


def _payload(tag: str, payload: Any, where: str, depth: int, allow_infinite: bool, counter: list[int]) -> Any:
    if tag == INPUT:
        if isinstance(payload, bool) or not isinstance(payload, int) or not 0 <= payload < 100_000:
            raise DataError(f"{where}: expected an input number, got {_short(payload)}")
        return payload
    if tag == ELLIPSIS:
        if payload is not None:
            raise DataError(f"{where}: expected null")
        return None
    if tag in (DTYPE, DEVICE, MEMORY_FORMAT, LAYOUT, MODE, FLOAT):
        if not isinstance(payload, str) or not payload or len(payload) > 64:
            raise DataError(f"{where}: expected a name, got {_short(payload)}")
        if tag == MODE and payload not in MODES:
            raise DataError(f"{where}: {payload!r} is not a mode ({', '.join(sorted(MODES))})")
        if tag == FLOAT and payload not in ("nan", "inf", "-inf"):
            raise DataError(f"{where}: expected nan, inf or -inf, got {payload!r}")
        return payload
    frozen = _freeze(payload, where, depth + 1, allow_infinite, counter)
    if not isinstance(frozen, tuple):
        raise DataError(f"{where}: expected a list, got {_short(payload)}")
    if tag == SLICE and len(frozen) != 3:
        raise DataError(f"{where}: a slice is [start, stop, step]")
    if tag == SIZE and not all(type(d) is int and d >= 0 for d in frozen):
        raise DataError(f"{where}: a size is a list of whole numbers")
    if tag == COMPLEX and (len(frozen) != 2 or not all(isinstance(p, (int, float)) for p in frozen)):
        raise DataError(f"{where}: a complex number is [real, imaginary]")
    if tag == DICT and not all(isinstance(p, tuple) and len(p) == 2 for p in frozen):
        raise DataError(f"{where}: a dict is a list of [key, value] pairs")
    return frozen


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def thaw(value: Any) -> Any:
    """Return frozen data as plain JSON values (lists and dicts), e.g. to compare with a file's text."""
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    if isinstance(value, dict):
        return {k: thaw(v) for k, v in value.items()}
    return value


def inputs_named(value: Any) -> Iterator[int]:
    """Every input number the data refers to (``{"$input": k}``), in reading order."""
    if isinstance(value, tuple):
        for item in value:
            yield from inputs_named(item)
    elif isinstance(value, dict):
        if tag_of(value) == INPUT:
            yield value[INPUT]
        else:
            for item in value.values():
                yield from inputs_named(item)


def show(value: Any) -> str:
    """The data written as Python reads it: ``(x0, 1)``, ``[:, 0]``, ``-inf`` (inputs as ``x0``, ``x1``...)."""
    tag = tag_of(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if tag is None and isinstance(value, dict):
        return "{" + ", ".join(f"{k}={show(v)}" for k, v in value.items()) + "}"
    if tag is None:
        if isinstance(value, float) and math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    payload = value[tag]
    if tag == INPUT:
        return f"x{payload}"
    if tag == TUPLE:
        items = [show(v) for v in payload]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if tag == SLICE:
        start, stop, step = ("" if p is None else show(p) for p in payload)
        return f"{start}:{stop}" + (f":{step}" if step else "")
    if tag == ELLIPSIS:
        return "..."
    if tag in (DTYPE, MEMORY_FORMAT, LAYOUT):
        return f"torch.{payload}"
    if tag == DEVICE:
        return f"torch.device({payload!r})"
    if tag == SIZE:
        return f"torch.Size({list(payload)})"
    if tag == COMPLEX:
        return f"complex({payload[0]}, {payload[1]})"
    if tag == FLOAT:
        return f"float({payload!r})"
    if tag == MODE:
        return "self.training"
    return "{" + ", ".join(f"{show(k)}: {show(v)}" for k, v in payload) + "}"

"""Typed fields: the one vocabulary of values that layers' parameters and datasets' options share.

A :class:`ParamSpec` names a field, its :class:`ParamKind`, default, range and help text, and
validates values (``validate`` returns the value normalised or raises :class:`ParamError` naming
the field). The inspector and the dataset form build their editors from these descriptions, one
editor widget per kind.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Any

from nnstudio.core import call_data
from nnstudio.core.errors import ParamError


class ParamKind(str, Enum):
    """The kinds of value a field holds; the UI maps each kind to one editor widget."""

    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    #: One of ``choices`` (text). An INT field with ``choices`` takes only those whole numbers.
    CHOICE = "choice"
    #: Whole numbers; with ``scalar_ok`` one number also stands for all (``kernel_size=3``), and
    #: ``length=2, scalar_ok=True`` is the "int or pair" of image sizes.
    INT_TUPLE = "int_tuple"
    #: Free text (a column name, a delimiter).
    TEXT = "text"
    #: A file or folder on disk (``path_kind`` says which); stored as text, ``~`` allowed.
    PATH = "path"
    #: A list of finite numbers (per-channel normalisation means, say).
    FLOAT_LIST = "float_list"
    #: Constant data of an imported call (arguments, constructor arguments): JSON with tags for what
    #: JSON lacks (tuples, slices, dtypes...); see :mod:`nnstudio.core.call_data`.
    DATA = "data"


@dataclass(frozen=True)
class ParamSpec:
    """One typed field of a layer or a dataset.

    For a layer, ``name`` is the torch constructor's argument name; for a dataset, the option's key.
    """

    name: str
    kind: ParamKind
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    #: INT_TUPLE only: the number of entries a tuple must have (``None``: any, at least one).
    length: int | None = None
    #: INT_TUPLE only: a single int is also accepted (``kernel_size=3`` for ``(3, 3)``).
    scalar_ok: bool = False
    #: ``None`` is accepted (for example ``MaxPool2d.stride``: ``None`` means "same as kernel").
    optional: bool = False
    #: The value is implied by the input shape when left as ``None`` (``Linear.in_features``).
    inferred: bool = False
    #: Passed to the torch constructor; ``False`` for nnstudio's own settings (LSTM output choice).
    constructor: bool = True
    #: Entries of an INT_TUPLE may be -1 (a reshape's "whatever is left").
    allow_minus_one: bool = False
    #: PATH only: ``"file"`` or ``"folder"`` (what the file dialog asks for).
    path_kind: str = "file"
    #: PATH only: file name patterns the dialog offers (``"*.csv"``).
    path_filter: str = ""
    #: TEXT / FLOAT_LIST: the most characters or entries accepted.
    max_length: int = 4096
    #: The label a form shows (empty: derived from ``name``).
    label: str = ""
    #: What an empty (``None``) value means, shown in an empty editor ("the run's seed").
    placeholder: str = ""
    #: FLOAT / FLOAT_LIST: ``inf`` and ``-inf`` are values (an imported ``masked_fill(x, mask, -inf)``);
    #: NaN never is. Project files store them as ``Infinity`` / ``-Infinity``.
    allow_infinite: bool = False
    #: INT_TUPLE only: the empty tuple is a value (a scalar tensor's shape).
    allow_empty: bool = False
    #: DATA only: the value is a table of keyword arguments (an object of names), not one value.
    keywords: bool = False

    @property
    def title(self) -> str:
        """What a form labels this field with."""
        return self.label or self.name.replace("_", " ").capitalize()

    @property
    def nullable(self) -> bool:
        return self.optional or self.inferred

    def validate(self, value: Any) -> Any:
        """Return ``value`` normalised to this parameter's type, or raise :class:`ParamError`."""
        if value is None:
            if self.nullable:
                return None
            raise ParamError(self.name, "a value is required")
        kind = self.kind
        if kind is ParamKind.BOOL:
            if isinstance(value, bool):
                return value
            raise ParamError(self.name, f"expected true or false, got {value!r}")
        if kind is ParamKind.INT:
            number = self._check_range(self._as_int(value))
            if self.choices and str(number) not in self.choices:
                raise ParamError(self.name, f"{number} is not one of {', '.join(self.choices)}")
            return number
        if kind is ParamKind.FLOAT:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ParamError(self.name, f"expected a number, got {value!r}")
            return self._check_range(self._as_float(value, "expected a finite number"))
        if kind is ParamKind.CHOICE:
            if value in self.choices:
                return value
            raise ParamError(self.name, f"{value!r} is not one of {', '.join(map(repr, self.choices))}")
        if kind is ParamKind.INT_TUPLE:
            return self._validate_tuple(value)
        if kind is ParamKind.TEXT or kind is ParamKind.PATH:
            return self._validate_text(value)
        if kind is ParamKind.FLOAT_LIST:
            return self._validate_float_list(value)
        if kind is ParamKind.DATA:
            try:
                return call_data.freeze(value, allow_infinite=self.allow_infinite, table=self.keywords)
            except call_data.DataError as exc:
                raise ParamError(self.name, str(exc)) from None
        raise AssertionError(kind)  # pragma: no cover - every kind is handled above

    def _as_int(self, value: Any) -> int:
        if isinstance(value, bool):
            raise ParamError(self.name, f"expected a whole number, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ParamError(self.name, f"expected a whole number, got {value!r}")

    def _as_float(self, value: int | float, refusal: str) -> float:
        try:
            number = float(value)
        except OverflowError:  # an int beyond float's range
            raise ParamError(self.name, f"{refusal}, got a number of {len(str(value))} digits") from None
        if math.isnan(number) or (math.isinf(number) and not self.allow_infinite):
            raise ParamError(self.name, f"{refusal}, got {value!r}")
        return number

    def _check_range(self, number: float) -> Any:
        if self.minimum is not None and number < self.minimum:
            raise ParamError(self.name, f"{_number(number)} is below the minimum {self.minimum:g}")
        if self.maximum is not None and number > self.maximum:
            raise ParamError(self.name, f"{_number(number)} is above the maximum {self.maximum:g}")
        return number

    def _validate_tuple(self, value: Any) -> int | tuple[int, ...]:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not self.scalar_ok:
                raise ParamError(self.name, f"expected a list of whole numbers, got {value!r}")
            return self._check_entry(self._as_int(value))
        if not isinstance(value, (list, tuple)):
            raise ParamError(self.name, f"expected a list of whole numbers, got {value!r}")
        entries = tuple(self._check_entry(self._as_int(v)) for v in value)
        if not entries and not self.allow_empty:
            raise ParamError(self.name, "expected at least one number")
        if self.length is not None and len(entries) != self.length:
            raise ParamError(self.name, f"expected {self.length} numbers, got {len(entries)}")
        if self.allow_minus_one and entries.count(-1) > 1:
            raise ParamError(self.name, "only one entry may be -1")
        return entries

    def _check_entry(self, number: int) -> int:
        if self.allow_minus_one and number == -1:
            return number
        self._check_range(number)
        return number

    def _validate_text(self, value: Any) -> str:
        if not isinstance(value, str):
            raise ParamError(self.name, f"expected text, got {value!r}")
        if len(value) > self.max_length:
            raise ParamError(self.name, f"the text is {len(value)} characters long; at most {self.max_length}")
        if self.choices and value not in self.choices:
            raise ParamError(self.name, f"{value!r} is not one of {', '.join(map(repr, self.choices))}")
        return value

    def _validate_float_list(self, value: Any) -> tuple[float, ...]:
        if not isinstance(value, (list, tuple)):
            raise ParamError(self.name, f"expected a list of numbers, got {value!r}")
        if not value:
            raise ParamError(self.name, "expected at least one number")
        if len(value) > self.max_length:
            raise ParamError(self.name, f"expected at most {self.max_length} numbers, got {len(value)}")
        numbers = []
        for entry in value:
            if isinstance(entry, bool) or not isinstance(entry, (int, float)):
                raise ParamError(self.name, f"expected numbers, got {entry!r}")
            number = self._as_float(entry, "expected finite numbers")
            self._check_range(number)
            numbers.append(number)
        if self.length is not None and len(numbers) != self.length:
            raise ParamError(self.name, f"expected {self.length} numbers, got {len(numbers)}")
        return tuple(numbers)


def _number(value: float) -> str:
    """A number for a message; a whole number too long for a float is shown by its length."""
    try:
        return f"{value:g}"
    except OverflowError:
        return f"a number of {len(str(value))} digits"

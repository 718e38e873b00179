"""Torch constructors both ways: the call a layer's parameters make, and parameters read back.

Forward: a catalog target names a class (``torch.nn.Linear``); the resolved parameters become its
keyword arguments, or the call a person would write (required arguments positionally, defaults
left out) for the generated ``model.py``. Backward: a built module's constructor arguments are
read back from its attributes, so that an imported ``nn.Conv2d`` becomes a Conv2d card with its
kernel, stride, padding, groups and bias.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import torch
from torch import nn

from nnstudio.core.catalog import LayerSpec, ParamKind, ParamSpec
from nnstudio.core.errors import ParamError


@cache
def resolve_target(target: str) -> Any:
    """Return the object a catalog target names: ``torch.nn.Linear``, ``torch.add``, ``torch.Tensor.reshape``."""
    module_name, _, name = target.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), name)
    except ImportError:  # ``torch.Tensor.reshape``: an attribute of a class, not of a module
        owner = resolve_target(module_name)
        return getattr(owner, name)


def module_class(target: str) -> type[nn.Module]:
    """Return the nn.Module class named by a catalog target such as ``torch.nn.Linear``."""
    cls = resolve_target(target)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise TypeError(f"{target} is not a torch.nn.Module class")
    return cls


def constructor_kwargs(spec: LayerSpec, resolved: Mapping[str, Any]) -> dict[str, Any]:
    """Return the keyword arguments for the layer's torch constructor (nnstudio's own settings left out)."""
    return {p.name: resolved[p.name] for p in spec.params if p.constructor}


@dataclass(frozen=True)
class ConstructorSignature:
    """The named constructor parameters of a torch module class, with their defaults."""

    #: Required parameters, in order, that may be written positionally.
    positional: tuple[str, ...]
    defaults: dict[str, Any]
    #: Every named parameter, required or not.
    names: tuple[str, ...] = ()
    #: Read from a base class whose constructor the class wraps in ``*args`` (LSTM -> RNNBase): the
    #: class itself fills the base's required arguments (``mode``).
    borrowed: bool = False


_NO_DEFAULT = inspect.Parameter.empty


_SIGNATURES: dict[type[nn.Module], ConstructorSignature] = {}


def constructor_signature(cls: type[nn.Module]) -> ConstructorSignature:
    """Return the constructor's named parameters, looking through ``*args`` wrappers (nn.LSTM)."""
    signature = _SIGNATURES.get(cls)
    if signature is None:
        signature = _SIGNATURES[cls] = _read_signature(cls)
    return signature


def _read_signature(cls: type[nn.Module]) -> ConstructorSignature:
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = [p for p in inspect.signature(init).parameters.values()
                  if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"]
        if not params:
            continue  # e.g. ``LSTM.__init__(self, *args, **kwargs)``: the real one is in a base
        # A class that inherits its constructor takes the same positional arguments; one that wraps it
        # in ``*args`` (LSTM -> RNNBase, whose first argument is ``mode``) is written with keywords.
        own = klass is cls or "__init__" not in cls.__dict__
        positional = tuple(p.name for p in params if p.default is _NO_DEFAULT and own
                           and p.kind is p.POSITIONAL_OR_KEYWORD)
        defaults = {p.name: p.default for p in params if p.default is not _NO_DEFAULT}
        return ConstructorSignature(positional, defaults, tuple(p.name for p in params), borrowed=not own)
    return ConstructorSignature((), {})


def constructor_call_parts(spec: LayerSpec, cls: type[nn.Module], resolved: Mapping[str, Any]
                           ) -> tuple[list[Any], dict[str, Any]]:
    """Return the positional and keyword arguments a person would write for this layer's constructor.

    Required arguments go first, positionally; the others appear only where they differ from
    PyTorch's default, so generated code reads like code written by hand.
    """
    kwargs = constructor_kwargs(spec, resolved)
    signature = constructor_signature(cls)
    args = []
    for name in signature.positional:
        if name not in kwargs:
            break
        args.append(kwargs.pop(name))
    keywords = {}
    for name, value in kwargs.items():
        if name in signature.defaults and same_value(signature.defaults[name], value):
            continue
        keywords[name] = value
    return args, keywords


def same_value(default: Any, value: Any) -> bool:
    """True when a value equals a constructor default as PyTorch would read it (``3 == (3, 3)`` is not)."""
    if isinstance(value, bool) or isinstance(default, bool):
        return value is default
    if isinstance(value, Sequence) and not isinstance(value, str):
        return isinstance(default, Sequence) and tuple(default) == tuple(value)
    return bool(default == value)


# --- reading parameters back from a built module -----------------------------------------------

#: Constructor arguments that change how a module runs, not what it computes (or where it lives).
IGNORED_ARGUMENTS = frozenset({"inplace", "device", "dtype"})

#: Reads one constructor argument back from a module (for arguments not stored under their own name);
#: it takes the module as ``Any`` because torch types submodule attributes as ``Tensor | Module``.
Reader = Callable[[Any], Any]


class NotRepresentable(ParamError):
    """A module's constructor argument has a value its catalog layer cannot hold."""


def read_constructor_arguments(spec: LayerSpec, module: nn.Module, readers: Mapping[str, Reader]
                               ) -> dict[str, Any]:
    """Return the catalog parameters of ``module`` read from its attributes, validated by ``spec``.

    Every constructor argument the catalog does not hold must still have its default (else
    :class:`NotRepresentable` names it): ``MaxPool2d(return_indices=True)`` is not a MaxPool2d card.
    ``readers`` maps argument names to functions for values stored under another name.
    """
    values: dict[str, Any] = {}
    for param in spec.params:
        if param.constructor:
            values[param.name] = _catalog_form(param, _read(module, param.name, readers))
    signature = constructor_signature(type(module))
    for name in signature.names:
        if name in values or name in IGNORED_ARGUMENTS or name.startswith("_"):
            continue
        if name not in signature.defaults:
            if signature.borrowed:
                continue
            raise NotRepresentable(name, f"{type(module).__name__} needs {name!r}, which {spec.title} "
                                   "does not hold")
        value = _read(module, name, readers)
        default = signature.defaults[name]
        if not same_value(default, value) and not (default is None and value is None):
            raise NotRepresentable(name, f"{type(module).__name__} has {name}={value!r}; {spec.title} "
                                   f"holds only the default {default!r}")
    try:
        return spec.validate_params(values)
    except ParamError as exc:
        raise NotRepresentable(exc.field, exc.reason) from None


def _read(module: nn.Module, name: str, readers: Mapping[str, Reader]) -> Any:
    reader = readers.get(name)
    if reader is not None:
        return reader(module)
    try:
        value = getattr(module, name)
    except AttributeError:
        raise NotRepresentable(name, f"{type(module).__name__} does not keep {name!r} where it can be "
                               "read back") from None
    if isinstance(value, torch.Tensor) or (value is None and name == "bias"):
        return value is not None  # ``bias=True`` is kept as a parameter tensor, ``False`` as None
    return value


def _catalog_form(param: ParamSpec, value: Any) -> Any:
    """Write a read-back value as the catalog holds it (a uniform tuple as one number where allowed)."""
    if param.kind is ParamKind.INT_TUPLE and isinstance(value, (tuple, list)):
        entries = tuple(value)
        if param.scalar_ok and entries and len(set(entries)) == 1 and not isinstance(param.default, tuple):
            return entries[0]
        return entries
    if param.kind is ParamKind.INT_TUPLE and isinstance(value, int) and isinstance(param.default, tuple):
        return (value,) * len(param.default)
    return value

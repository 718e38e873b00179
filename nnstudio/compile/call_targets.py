"""What an imported layer may call, by name: torch functions, tensor methods, operators, library modules.

A Function layer names what it calls (``torch.flatten``, ``Tensor.permute``, ``operator.getitem``,
``torchvision.models.swin_transformer.shifted_window_attention``) and a Module layer its class
(``torch.nn.PixelShuffle``, ``torchvision.ops.StochasticDepth``). Project files hold these names, and
opening a project must never run code that the file chooses: a name resolves only inside torch (less
what reads or writes files or changes global settings), the ``operator`` and ``math`` modules, a few
builtins, and the model libraries torchvision and timm (their model and op modules). Anything else is
refused with :class:`UntrustedTarget`, by name.

Importing goes the other way: :func:`function_name` and :func:`class_name` give the public name of
what a traced network calls (``torch._C._nn.avg_pool2d`` is ``torch.nn.functional.avg_pool2d``).
"""

from __future__ import annotations

import builtins
import importlib
import math
import operator
import types
from functools import cache
from typing import Any

import torch
from torch import nn
from torch.fx import _symbolic_trace as symbolic_trace

from nnstudio.core.errors import NnstudioError

#: The prefix of a tensor method's name: ``Tensor.permute`` is ``x.permute(...)``.
METHOD_PREFIX = "Tensor."

#: torch namespaces whose public functions may be called (searched in this order for public names).
TORCH_NAMESPACES = ("torch", "torch.nn.functional", "torch.linalg", "torch.fft", "torch.special")
#: Functions of those namespaces that touch files, global settings or compilation: never called.
TORCH_REFUSED = frozenset({
    "save", "load", "from_file", "manual_seed", "seed", "use_deterministic_algorithms", "compile", "export",
    "set_default_device", "set_default_dtype", "set_default_tensor_type", "set_printoptions", "set_num_threads",
    "set_num_interop_threads", "set_rng_state", "set_grad_enabled", "set_anomaly_enabled", "set_flush_denormal",
    "set_float32_matmul_precision", "set_warn_always", "set_deterministic_debug_mode", "set_vital",
    "get_rng_state", "initial_seed", "load_library",
})
#: Tensor methods never called: storage and memory sharing, hooks, autograd, conversions out of torch.
METHOD_REFUSED = frozenset({
    "numpy", "tolist", "storage", "untyped_storage", "share_memory_", "set_", "data_ptr", "register_hook",
    "register_post_accumulate_grad_hook", "backward", "apply_", "map_", "map2_", "record_stream",
    "pin_memory", "resize_", "resize_as_",
})
#: The ``operator`` functions a traced network uses (arithmetic, comparisons, indexing).
OPERATORS = frozenset({
    "add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "neg", "pos", "abs", "invert",
    "and_", "or_", "xor", "lshift", "rshift", "eq", "ne", "lt", "le", "gt", "ge", "not_", "truth", "is_",
    "is_not", "getitem", "setitem", "contains", "index", "iadd", "isub", "imul", "itruediv", "ifloordiv",
})
#: Builtins a traced network uses.
BUILTINS = frozenset({"getattr", "len", "int", "float", "bool", "abs", "min", "max", "round", "sum", "slice",
                      "tuple", "list", "divmod", "pow", "range", "complex"})
#: What ``getattr`` may read from a value: facts about a tensor, never arbitrary attributes.
READABLE_ATTRIBUTES = frozenset({"shape", "dtype", "device", "ndim", "T", "mT", "H", "mH", "real", "imag",
                                 "is_cuda", "layout", "requires_grad", "is_sparse", "is_floating_point"})
#: Library packages whose model and op modules may be called and built (their classes and functions).
LIBRARY_PACKAGES = ("torchvision.models", "torchvision.ops", "timm.layers", "timm.models")


class UntrustedTarget(NnstudioError):
    """A name that an imported layer may not call (or that does not exist)."""


def _within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def library_name(name: str) -> bool:
    """True when ``name`` lies in a model library (torchvision, timm) rather than torch itself."""
    return _within(name, LIBRARY_PACKAGES)


@cache
def _public_names() -> dict[int, str]:
    """id(function) -> its public name, for the trusted namespaces (first namespace wins)."""
    names: dict[int, str] = {}
    for namespace in TORCH_NAMESPACES:
        module = importlib.import_module(namespace)
        for name in dir(module):
            if name.startswith("_") or name in TORCH_REFUSED:
                continue
            value = getattr(module, name, None)
            if callable(value) and not isinstance(value, type):
                names.setdefault(id(value), f"{namespace}.{name}")
    for name in sorted(OPERATORS):
        names.setdefault(id(getattr(operator, name)), f"operator.{name}")
    for name in dir(math):
        if not name.startswith("_") and callable(getattr(math, name)):
            names.setdefault(id(getattr(math, name)), f"math.{name}")
    for name in sorted(BUILTINS):
        names.setdefault(id(getattr(builtins, name)), f"builtins.{name}")
    return names


def function_name(function: Any) -> str:
    """The public name of a function a traced network calls; raises UntrustedTarget when it has none here."""
    name = _public_names().get(id(function))
    if name is not None:
        return name
    module = getattr(function, "__module__", None) or ""
    qualname = getattr(function, "__qualname__", "") or getattr(function, "__name__", "")
    full = f"{module}.{qualname}"
    if library_name(full) and "<" not in qualname:
        try:
            if resolve_function(full) is function:
                return full
        except UntrustedTarget:
            pass
    shown = full if qualname else repr(function)
    raise UntrustedTarget(f"the network calls {shown}, which nnstudio does not keep in a project: only torch "
                          "functions, tensor methods, operators and functions of torchvision and timm can be "
                          "named there (a function from your own code runs as part of the traced graph unless "
                          "it is wrapped with torch.fx.wrap)")


def method_name(method: str) -> str:
    """The name a Function layer gives a tensor method (``Tensor.permute``); raises UntrustedTarget."""
    name = METHOD_PREFIX + method
    resolve_method(name)
    return name


def resolve_method(name: str) -> str:
    """The method a ``Tensor.<name>`` target calls; raises UntrustedTarget for others."""
    method = name.removeprefix(METHOD_PREFIX)
    if (not name.startswith(METHOD_PREFIX) or method in METHOD_REFUSED or not method.isidentifier()
            or (method.startswith("_") and method not in ("__getitem__",)) or not hasattr(torch.Tensor, method)):
        raise UntrustedTarget(f"{name} is not a tensor method nnstudio calls")
    return method


@cache
def resolve_function(name: str) -> Any:
    """The function a trusted name stands for; raises UntrustedTarget for anything else."""
    module_name, _, attribute = name.rpartition(".")
    refusal = UntrustedTarget(f"{name} is not a function nnstudio calls: a layer may call torch functions, "
                              "tensor methods (Tensor.x), operator, math and a few builtins, and functions of "
                              "torchvision and timm")
    if module_name in TORCH_NAMESPACES:
        if attribute.startswith("_") or attribute in TORCH_REFUSED:
            raise refusal
        value = getattr(importlib.import_module(module_name), attribute, None)
    elif module_name == "operator":
        value = getattr(operator, attribute) if attribute in OPERATORS else None
    elif module_name == "math":
        value = None if attribute.startswith("_") else getattr(math, attribute, None)
    elif module_name == "builtins":
        value = getattr(builtins, attribute) if attribute in BUILTINS else None
    elif library_name(name):
        value = _library_object(name)
        if not _wrapped_for_fx(name, value):
            raise UntrustedTarget(f"{name} is not a function its library wraps for torch.fx, so nnstudio does not "
                                  "call it from a project")
    else:
        raise refusal
    if not callable(value) or isinstance(value, (type, types.ModuleType)):
        raise refusal
    return value


def _wrapped_for_fx(name: str, function: Any) -> bool:
    """True when ``function`` is one its library registered with ``torch.fx.wrap`` (so it stays one call).

    Those are what a traced library network calls by name (torchvision's ``stochastic_depth``,
    ``shifted_window_attention``); anything else of a library (a model builder that downloads weights)
    is not called from a project.
    """
    module = importlib.import_module(getattr(function, "__module__", "") or "builtins")
    wrapped = getattr(symbolic_trace, "_wrapped_fns_to_patch", None)
    if not isinstance(wrapped, dict):  # a torch without the registry: nothing of a library is called
        return False
    attribute = getattr(function, "__name__", "")
    return (id(module.__dict__), attribute) in wrapped and name.endswith("." + attribute)


def check_call(name: str, args: tuple[Any, ...]) -> None:
    """Refuse a call the name allows only with some arguments (``getattr`` of a tensor's facts)."""
    if name == "builtins.getattr":
        attribute = args[1] if len(args) > 1 else None
        if attribute not in READABLE_ATTRIBUTES:
            raise UntrustedTarget(f"getattr may read {', '.join(sorted(READABLE_ATTRIBUTES))} of a value, "
                                  f"not {attribute!r}")


def _library_object(name: str) -> Any:
    """Import the longest importable module prefix of ``name`` and walk the rest as attributes."""
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:cut])
        if not library_name(module_name) and module_name not in ("torchvision", "timm"):
            continue
        try:
            value: Any = importlib.import_module(module_name)
        except ImportError:
            continue
        for attribute in parts[cut:]:
            if attribute.startswith("__"):
                return None
            value = getattr(value, attribute, None)
        return value
    return None


# --- module classes --------------------------------------------------------------------------------

def class_name(cls: type) -> str:
    """The shortest public name of a module class: ``torch.nn.ReLU``, ``torchvision.ops.StochasticDepth``."""
    module = cls.__module__
    full = f"{module}.{cls.__qualname__}"
    if not (_within(module, ("torch.nn",)) or library_name(full)) or "<" in cls.__qualname__:
        raise UntrustedTarget(f"{full} is not a torch.nn or library module class")
    parts = module.split(".")
    for cut in range(1, len(parts) + 1):
        candidate = ".".join(parts[:cut]) + "." + cls.__qualname__
        try:
            if resolve_class(candidate) is cls:
                return candidate
        except UntrustedTarget:
            continue
    return full


@cache
def resolve_class(name: str) -> type[nn.Module]:
    """The nn.Module class a trusted name stands for (torch.nn, torchvision, timm); raises UntrustedTarget."""
    value: Any = None
    if _within(name, ("torch.nn",)):
        module_name, _, attribute = name.rpartition(".")
        try:
            value = getattr(importlib.import_module(module_name), attribute, None)
        except ImportError:
            value = None
    elif library_name(name):
        value = _library_object(name)
    if not (isinstance(value, type) and issubclass(value, nn.Module)) or value in (nn.Module, nn.Sequential,
                                                                                  nn.ModuleList, nn.ModuleDict):
        raise UntrustedTarget(f"{name} is not a module class nnstudio builds: a Module layer's class comes "
                              "from torch.nn, torchvision's models and ops, or timm's layers and models")
    return value


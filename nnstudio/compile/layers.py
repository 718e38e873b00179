"""How each catalog layer becomes PyTorch: its module class, constructor arguments and input rules.

Shape inference, the fx compiler and the code generator all read these rules, so a layer behaves
the same on meta tensors, in the compiled module and in the exported ``model.py``.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import torch
from torch import nn

from nnstudio.core.catalog import LayerKind, LayerSpec


@dataclass(frozen=True)
class ImpliedSize:
    """A parameter whose value is read from one dimension of the (batched) input shape."""

    param: str
    #: Index into the batched input shape: 1 for channels, -1 for the last dimension.
    dim: int
    #: What that dimension holds, for messages ("channels", "features").
    meaning: str


#: Parameters implied by the input, like ``nn.LazyLinear``: type id -> rule.
IMPLIED_SIZES: dict[str, ImpliedSize] = {
    "linear": ImpliedSize("in_features", -1, "features in its last dimension"),
    "conv1d": ImpliedSize("in_channels", 1, "channels"),
    "conv2d": ImpliedSize("in_channels", 1, "channels"),
    "conv_transpose2d": ImpliedSize("in_channels", 1, "channels"),
    "batch_norm1d": ImpliedSize("num_features", 1, "channels"),
    "batch_norm2d": ImpliedSize("num_features", 1, "channels"),
    "layer_norm": ImpliedSize("normalized_shape", -1, "features in its last dimension"),
    "lstm": ImpliedSize("input_size", -1, "features per time step"),
    "gru": ImpliedSize("input_size", -1, "features per time step"),
    "multihead_attention": ImpliedSize("embed_dim", -1, "features per token"),
    "transformer_encoder_layer": ImpliedSize("d_model", -1, "features per token"),
}


@dataclass(frozen=True)
class InputLayout:
    """The batched ranks a layer accepts, and how to describe them to a person."""

    ranks: tuple[int, ...]
    description: str


#: Layers that need a particular input rank (with the batch dimension); others accept any rank.
INPUT_LAYOUTS: dict[str, InputLayout] = {
    "conv1d": InputLayout((3,), "[N, C, L]"),
    "conv2d": InputLayout((4,), "[N, C, H, W]"),
    "conv_transpose2d": InputLayout((4,), "[N, C, H, W]"),
    "max_pool2d": InputLayout((4,), "[N, C, H, W]"),
    "avg_pool2d": InputLayout((4,), "[N, C, H, W]"),
    "adaptive_avg_pool2d": InputLayout((4,), "[N, C, H, W]"),
    "batch_norm1d": InputLayout((2, 3), "[N, C] or [N, C, L]"),
    "batch_norm2d": InputLayout((4,), "[N, C, H, W]"),
    "lstm": InputLayout((3,), "[N, T, F]"),
    "gru": InputLayout((3,), "[N, T, F]"),
    "multihead_attention": InputLayout((3,), "[N, T, E]"),
    "transformer_encoder_layer": InputLayout((3,), "[N, T, E]"),
}

#: Parameter-free element-wise layers: the output has the input's shape and dtype for every input.
#: Analysis skips running them on meta tensors, where point-wise ops go through PyTorch's Python
#: reference kernels (about 0.4 ms each), a cost that buys no information here.
ELEMENTWISE = frozenset({"relu", "leaky_relu", "gelu", "silu", "sigmoid", "tanh", "dropout"})

#: Layers whose input must hold integer ids.
INTEGER_INPUT = frozenset({"embedding"})

#: One step of picking a piece out of a layer's result: an index for ``operator.getitem``.
Selection = tuple[Any, ...]


def result_selection(spec: LayerSpec, params: Mapping[str, Any]) -> Selection:
    """Return the getitem indices that turn a layer's raw result into the tensor it passes on.

    Recurrent layers return ``(output, hidden)``; attention returns ``(output, weights)``; nnstudio
    passes on one tensor, chosen by the ``output`` parameter for LSTM/GRU.
    """
    type_id = spec.type_id
    if type_id == "multihead_attention":
        return (0,)
    if type_id in ("lstm", "gru"):
        choice = params["output"]
        if choice == "sequence":
            return (0,)
        if choice == "last":
            # The time axis is 1 with batch_first (nnstudio's convention), else 0.
            return (0, (slice(None), -1)) if params["batch_first"] else (0, -1)
        # hidden: h_n is [layers * directions, N, H]; its last entry is the top layer's final state.
        return (1, 0, -1) if type_id == "lstm" else (1, -1)
    return ()


def selection_comment(spec: LayerSpec, params: Mapping[str, Any]) -> str:
    """Return a short note saying what :func:`result_selection` keeps (for the generated code)."""
    if spec.type_id == "multihead_attention":
        return "attention output (the weights are not needed)"
    if spec.type_id in ("lstm", "gru"):
        return {"sequence": "output at every time step", "last": "output at the last time step",
                "hidden": "final hidden state of the top layer"}[params["output"]]
    return ""


def call_arguments(spec: LayerSpec) -> tuple[int, dict[str, Any]]:
    """Return how many times the input is passed to the module, and extra keyword arguments."""
    if spec.type_id == "multihead_attention":
        return 3, {"need_weights": False}  # self-attention: query, key and value are the input
    return 1, {}


@cache
def module_class(target: str) -> type[nn.Module]:
    """Return the nn.Module class named by a catalog target such as ``torch.nn.Linear``."""
    module_name, _, class_name = target.rpartition(".")
    return getattr(importlib.import_module(module_name), class_name)


def constructor_kwargs(spec: LayerSpec, resolved: Mapping[str, Any]) -> dict[str, Any]:
    """Return the keyword arguments for the layer's torch constructor (nnstudio's own settings left out)."""
    return {p.name: resolved[p.name] for p in spec.params if p.constructor}


def build_module(spec: LayerSpec, resolved: Mapping[str, Any], device: torch.device | str | None = None
                 ) -> nn.Module:
    """Return the layer's torch module built from fully resolved parameters (on ``device``)."""
    if spec.kind is not LayerKind.MODULE:
        raise ValueError(f"{spec.title} is not a module layer")
    cls = module_class(spec.target)
    kwargs = constructor_kwargs(spec, resolved)
    if device is None:
        return cls(**kwargs)
    with torch.device(device):
        return cls(**kwargs)


@dataclass(frozen=True)
class ConstructorSignature:
    """The named constructor parameters of a torch module class, with their defaults."""

    #: Required parameters, in order, that may be written positionally.
    positional: tuple[str, ...]
    defaults: dict[str, Any]


_NO_DEFAULT = inspect.Parameter.empty


@cache
def constructor_signature(cls: type[nn.Module]) -> ConstructorSignature:
    """Return the constructor's named parameters, looking through ``*args`` wrappers (nn.LSTM)."""
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
        return ConstructorSignature(positional, defaults)
    return ConstructorSignature((), {})


def constructor_call_parts(spec: LayerSpec, resolved: Mapping[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """Return the positional and keyword arguments a person would write for this layer's constructor.

    Required arguments go first, positionally; the others appear only where they differ from
    PyTorch's default, so generated code reads like code written by hand.
    """
    kwargs = constructor_kwargs(spec, resolved)
    signature = constructor_signature(module_class(spec.target))
    args = []
    for name in signature.positional:
        if name not in kwargs:
            break
        args.append(kwargs.pop(name))
    keywords = {}
    for name, value in kwargs.items():
        if name in signature.defaults and _same_value(signature.defaults[name], value):
            continue
        keywords[name] = value
    return args, keywords


def _same_value(default: Any, value: Any) -> bool:
    if isinstance(value, bool) or isinstance(default, bool):
        return value is default
    if isinstance(value, Sequence) and not isinstance(value, str):
        return isinstance(default, Sequence) and tuple(default) == tuple(value)
    return bool(default == value)

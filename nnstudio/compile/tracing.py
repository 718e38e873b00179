"""Tracing a model with torch.fx for import: which modules stay one layer, and ``self.training`` kept live.

:class:`ImportTracer` follows a model's ``forward`` down its submodules and stops at **leaves**, which
become one layer each:

- classes the catalog has a card for (``nn.Conv2d``, ``nn.BatchNorm2d``...);
- any other ``torch.nn`` class whose constructor arguments read back from its attributes (a generic
  Module layer; ``nn.TransformerEncoder``, built from another module, is traced through instead);
- modules a library keeps whole for fx and whose ``forward`` depends on the train/eval mode:
  torchvision's ``StochasticDepth``, timm's ``DropPath`` (:data:`LIBRARY_LEAVES`), and any torchvision
  or timm module whose code branches on ``self.training``.

Everything else is traced through. A submodule's ``self.training`` is then not a frozen ``False``:
it reads as the run-time flag (a ``get_attr`` of ``training``), so ``F.dropout(x, p, self.training)``
keeps working in both modes. Code that *branches* on it, or on a tensor's values, cannot be traced;
the :class:`~nnstudio.compile.model_sources.ImportFailure` raised names the submodule, the file and
line, and what to do. Only the model's own ``forward`` (the root) may branch on ``self.training``: it
is traced as in eval mode, and :attr:`ImportTracer.notes` says so.
"""

from __future__ import annotations

import ast
import inspect
import math
import os
import textwrap
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import torch
from torch import fx, nn

from nnstudio.compile import call_targets
from nnstudio.compile.call_targets import UntrustedTarget
from nnstudio.compile.call_values import NotData, decode, encode
from nnstudio.compile.constructors import NotRepresentable, constructor_kwargs
from nnstudio.compile.model_sources import ImportFailure
from nnstudio.compile.module_lookup import entry_for_class, params_from_module
from nnstudio.core.catalog import LayerSpec

#: Library modules kept whole (their forward depends on the mode through a function wrapped for fx).
LIBRARY_LEAVES = frozenset({
    "torchvision.ops.stochastic_depth.StochasticDepth",
    "torchvision.ops.drop_block.DropBlock2d",
    "torchvision.ops.drop_block.DropBlock3d",
    "timm.layers.drop.DropPath",
    "timm.layers.drop.DropBlock2d",
    "timm.models.layers.drop.DropPath",
})
_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


@dataclass(frozen=True)
class Leaf:
    """How one leaf module becomes a layer: a card (``spec`` and its ``params``) or a generic Module."""

    #: The card's entry, when the module's class has one and its parameters read back.
    spec: LayerSpec | None
    params: dict[str, Any]
    #: The public class name and the constructor arguments as call data (every leaf has them).
    class_name: str
    arguments: dict[str, Any]


# --- constructor arguments of any module ----------------------------------------------------------

def leaf_of(module: nn.Module) -> Leaf | None:
    """Return how ``module`` becomes one layer if it can be rebuilt from its class and arguments, else None."""
    cls = type(module)
    try:
        name = call_targets.class_name(cls)
    except UntrustedTarget:
        return None
    spec = entry_for_class(cls)
    params: dict[str, Any] = {}
    arguments: dict[str, Any] | None = None
    if spec is not None:
        try:
            params = params_from_module(module)
            arguments = {k: encode(v) for k, v in constructor_kwargs(spec, params).items()}
        except (NotRepresentable, NotData):
            spec, params = None, {}
    if arguments is None:
        arguments = recover_arguments(module)
        if arguments is None:
            return None
    if not _rebuilds(module, name, arguments, card=spec is not None):
        if spec is None:
            return None
        spec, params = None, {}
        arguments = recover_arguments(module)
        if arguments is None or not _rebuilds(module, name, arguments):
            return None
    return Leaf(spec, params, name, arguments)


def recover_arguments(module: nn.Module) -> dict[str, Any] | None:
    """The module's constructor arguments, read from its attributes by the constructor's signature.

    An argument not kept as an attribute takes its default (``bias`` is whether the ``bias`` tensor
    exists); None when a required one cannot be read or a value cannot be stored as call data.
    """
    try:
        signature = inspect.signature(type(module).__init__)
    except (TypeError, ValueError):
        return None
    arguments: dict[str, Any] = {}
    for name, parameter in signature.parameters.items():
        if name in ("self", "device", "dtype") or parameter.kind in (parameter.VAR_POSITIONAL,
                                                                                 parameter.VAR_KEYWORD):
            continue
        if name in module.__dict__:
            value = module.__dict__[name]
        elif name in module._parameters or name in module._buffers:
            value = (module._parameters.get(name) if name in module._parameters else module._buffers.get(name))
            value = value is not None  # an optional tensor (bias) exists or not
        elif name == "bias":
            value = False
        elif parameter.default is not inspect.Parameter.empty:
            value = parameter.default
        else:
            return None
        if isinstance(value, torch.Tensor):
            value = True  # an optional tensor (bias) that exists
        try:
            arguments[name] = encode(value)
        except NotData:
            return None
    return arguments


def _rebuilds(module: nn.Module, name: str, arguments: dict[str, Any], card: bool = False) -> bool:
    """True when the class built from ``arguments`` has the module's tensors and description (its repr).

    A card's parameters were read back argument by argument (``inplace`` aside, which computes the
    same), so for a card the tensors are compared only.
    """
    built = _rebuilt(name, tuple(sorted(arguments.items())))
    if built is None:
        return False
    shapes, description = built
    if shapes != tuple((k, tuple(v.shape)) for k, v in module.state_dict().items()):
        return False
    return card or description == repr(module)


_REBUILT: dict[Any, tuple[tuple[Any, ...], str] | None] = {}


def _rebuilt(name: str, arguments: tuple[tuple[str, Any], ...]) -> tuple[tuple[Any, ...], str] | None:
    """(state-dict shapes, repr) of the class built on meta from ``arguments``; None when it cannot be built."""
    key = (name, arguments)
    try:
        return _REBUILT[key]
    except KeyError:
        pass
    except TypeError:  # unhashable arguments: build without remembering
        key = None
    try:
        cls = call_targets.resolve_class(name)
        with torch.device("meta"):
            rebuilt = cls(**{k: decode(v) for k, v in arguments})
        result: tuple[tuple[Any, ...], str] | None = (
            tuple((k, tuple(v.shape)) for k, v in rebuilt.state_dict().items()), repr(rebuilt))
    except Exception:  # noqa: BLE001 - arguments that do not rebuild the module mean: not a leaf
        result = None
    if key is not None:
        if len(_REBUILT) > 4096:
            _REBUILT.clear()
        _REBUILT[key] = result
    return result


# --- what branches on self.training ----------------------------------------------------------------

@dataclass(frozen=True)
class Place:
    """A line of source code: its file, line number and text."""

    file: str
    line: int
    code: str

    def __str__(self) -> str:
        return f"{Path(self.file).name}, line {self.line}: {self.code}"


@cache
def training_branch(cls: type) -> Place | None:
    """Where the class's own methods (not ``__init__``) choose what to run by ``self.training``, or None."""
    for klass in cls.__mro__:
        if klass in (nn.Module, object) or klass.__module__.startswith("torch.nn."):
            break
        try:
            lines, first = inspect.getsourcelines(klass)
            file = inspect.getsourcefile(klass) or "?"
        except (OSError, TypeError):
            continue
        try:
            tree = ast.parse(textwrap.dedent("".join(lines)))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name == "__init__":
                continue
            test = _branch_test(node)
            if test is not None and any(_is_training(n) for n in ast.walk(test)):
                number = first + node.lineno - 1
                return Place(file, number, lines[node.lineno - 1].strip())
    return None


def _branch_test(node: ast.AST) -> ast.AST | None:
    if isinstance(node, (ast.If, ast.IfExp, ast.While, ast.Assert)):
        return node.test
    if isinstance(node, (ast.BoolOp, ast.UnaryOp)) and not isinstance(getattr(node, "op", None), ast.USub):
        return node
    return None


def _is_training(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "training" and isinstance(node.value, ast.Name)
            and node.value.id == "self")


# --- the tracer -------------------------------------------------------------------------------------

class _TrainingFlag(fx.Proxy):
    """``self.training`` of a traced submodule: a run-time value, which code must not branch on."""

    def __bool__(self) -> bool:
        raise _BranchOnTraining()


class _BranchOnTraining(Exception):
    pass


class ImportTracer(fx.Tracer):
    """A torch.fx tracer that keeps module paths, stops at :func:`leaf_of` leaves and keeps ``self.training``."""

    def __init__(self) -> None:
        super().__init__(autowrap_modules=(math,))
        self.record_stack_traces = True
        #: Leaf modules met, by id, with how each becomes a layer.
        self.leaves: dict[int, Leaf] = {}
        self._classified: dict[int, Leaf | None] = {}
        self._refusals: dict[int, ImportFailure] = {}
        #: Module paths being traced through, innermost last (where a failure happened).
        self.path_stack: list[tuple[str, type]] = []
        #: Things the person should know (the root branching on self.training).
        self.notes: list[str] = []

    def classify_all(self, model: nn.Module) -> None:
        """Decide for every submodule whether it is a leaf, before tracing (torch.fx patches torch while
        it traces, so building a module to compare it with must happen outside)."""
        for path, module in model.named_modules():
            if path:
                self._classify(module, path)

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        key = id(m)
        if key not in self._classified:  # a module created while tracing: never a leaf of its own
            return False
        pending = self._refusals.get(key)
        if pending is not None:
            raise pending
        return self._classified[key] is not None

    def _classify(self, m: nn.Module, path: str) -> None:
        key = id(m)
        if key in self._classified:
            return
        leaf: Leaf | None = None
        cls = type(m)
        qualified = f"{cls.__module__}.{cls.__qualname__}"
        try:
            if not isinstance(m, _CONTAINERS) and cls is not nn.Module:
                if (entry_for_class(cls) is not None or cls.__module__.startswith("torch.nn.")
                        or qualified in LIBRARY_LEAVES):
                    leaf = leaf_of(m)
                    if leaf is None and qualified in LIBRARY_LEAVES:
                        raise ImportFailure(f"submodule {path} ({cls.__name__}) is kept whole for torch.fx, but "
                                            "its constructor arguments cannot be read back from it")
                elif training_branch(cls) is not None:
                    leaf = self._training_leaf(m, path, training_branch(cls))
        except ImportFailure as failure:  # raised only if the traced forward calls this module
            self._refusals[key] = failure
        self._classified[key] = leaf
        if leaf is not None:
            self.leaves[key] = leaf

    def _training_leaf(self, m: nn.Module, path: str, place: Place | None) -> Leaf:
        """A module whose code chooses by self.training: kept whole if its library can build it."""
        cls = type(m)
        leaf = None
        try:
            name = call_targets.class_name(cls)
        except UntrustedTarget:
            name = None
        if name is not None and call_targets.library_name(name):
            leaf = leaf_of(m)
        if leaf is None:
            raise ImportFailure(
                f"submodule {path} ({cls.__name__}) chooses what to run by self.training ({place}); torch.fx "
                "would freeze that choice, and nnstudio keeps such a module whole only when torch.nn, "
                "torchvision or timm can rebuild it. Move the part that depends on the mode into a "
                "torch.nn module (nn.Dropout, for instance), or pass self.training on as an argument "
                "(F.dropout(x, p, training=self.training)) instead of branching on it")
        return leaf

    def call_module(self, m: nn.Module, forward: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        path = self.path_of_module(m)
        if self.is_leaf_module(m, path):
            return super().call_module(m, forward, args, kwargs)
        saved = m.__dict__.get("training", False)
        flag = self.create_proxy("get_attr", "training", (), {}, proxy_factory_fn=lambda n: _TrainingFlag(n, self))
        m.__dict__["training"] = flag
        self.path_stack.append((path, type(m)))
        try:
            result = super().call_module(m, forward, args, kwargs)
        finally:
            m.__dict__["training"] = saved
        self.path_stack.pop()
        return result

    def to_bool(self, obj: fx.Proxy) -> bool:
        raise _Untraceable("a condition depends on a tensor's values (an `if`, `and`, `or` or `while` on one)")

    def iter(self, obj: fx.Proxy) -> Iterator[Any]:
        raise _Untraceable("it loops over, or unpacks, a value whose length depends on the tensors")

    def keys(self, obj: fx.Proxy) -> Any:
        raise _Untraceable("it unpacks a traced value with **")


class _Untraceable(Exception):
    pass


def trace_model(model: nn.Module) -> tuple[fx.GraphModule, ImportTracer]:
    """Trace ``model`` for import (in eval mode; its mode is restored). Raises ImportFailure naming the place."""
    tracer = ImportTracer()
    concrete = _concrete_arguments(model)
    root_place = training_branch(type(model))
    was_training = model.training
    model.eval()
    try:
        tracer.classify_all(model)
        graph = tracer.trace(model, concrete_args=concrete or None)
    except ImportFailure:
        raise
    except _BranchOnTraining as exc:
        raise _failure(tracer, "its code chooses what to run by self.training, which torch.fx would freeze",
                       "pass self.training on as an argument (F.dropout(x, p, training=self.training)) "
                       "instead of branching on it, or keep the mode-dependent part in a torch.nn module "
                       "such as nn.Dropout", exc) from None
    except _Untraceable as exc:
        raise _failure(tracer, str(exc), "write the condition without tensor values (torch.where, masks), "
                       "or import a part of the model that does not branch", exc) from None
    except RecursionError:
        raise ImportFailure("tracing the model recursed too deeply (a module that calls itself?)") from None
    except TypeError as exc:
        if "item assignment" not in str(exc):
            raise _failure(tracer, f"TypeError: {' '.join(str(exc).split())[:300]}", _SYMBOLIC, exc) from None
        raise _failure(tracer, "it assigns into a tensor (x[...] = ...)", "nnstudio passes values from layer to "
                       "layer, so write it as a step that returns its result (torch.where, index_put, scatter, or "
                       "torch.cat of the pieces)", exc) from None
    except Exception as exc:  # noqa: BLE001 - the model's code runs on proxies and may fail anywhere
        text = " ".join(str(exc).split())
        raise _failure(tracer, f"{type(exc).__name__}: {text[:300]}", _SYMBOLIC, exc) from None
    finally:
        model.train(was_training)
    if root_place is not None:
        tracer.notes.append(
            f"{type(model).__name__}.forward chooses what to run by self.training ({root_place}): it was "
            "imported as it runs in eval mode, so in training the imported network still runs the eval-mode "
            "path (layers such as Dropout and BatchNorm still follow the mode)")
    return fx.GraphModule(tracer.root, graph, class_name=type(model).__name__), tracer


_SYMBOLIC = ("torch.fx runs forward() on symbolic values; code that needs real numbers (len(), int(), .item(), "
             "numpy) cannot be traced")


def _concrete_arguments(model: nn.Module) -> dict[str, Any]:
    """Fix forward's optional arguments at their defaults; refuse a second required input."""
    try:
        parameters = list(inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):
        return {}
    if not parameters or parameters[0].kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
        raise ImportFailure(f"{type(model).__name__}.forward takes no named input; nnstudio imports networks "
                            "called as model(x)")
    concrete = {}
    for parameter in parameters[1:]:
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if parameter.default is inspect.Parameter.empty:
            names = ", ".join(p.name for p in parameters if p.default is inspect.Parameter.empty)
            raise ImportFailure(f"{type(model).__name__}.forward({names}) takes several inputs; nnstudio imports "
                                "networks with one input (give the others defaults, or wrap the model)")
        concrete[parameter.name] = parameter.default
    return concrete


def _failure(tracer: ImportTracer, what: str, advice: str, exc: BaseException | None = None) -> ImportFailure:
    """An ImportFailure naming the submodule being traced and the line of the model's code."""
    path, cls = tracer.path_stack[-1] if tracer.path_stack else ("", type(tracer.root))
    where = f"submodule {path} ({cls.__name__})" if path else f"the model's forward ({cls.__name__})"
    place = _user_place(exc)
    at = f" at {place}" if place else ""
    return ImportFailure(f"cannot trace {where}{at}: {what}; {advice}")


def _user_place(exc: BaseException | None) -> Place | None:
    """The innermost line of the model's own code on the stack (outside torch and nnstudio)."""
    frames = traceback.extract_tb(exc.__traceback__) if exc is not None else traceback.extract_stack()
    for frame in reversed(frames):
        name = frame.filename
        if os.sep + "torch" + os.sep in name or os.sep + "nnstudio" + os.sep in name or name.startswith("<"):
            continue
        return Place(name, frame.lineno or 0, (frame.line or "").strip())
    return None

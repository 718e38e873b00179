"""The rules of the layers an imported network needs beyond the cards: Function, Module, Call, Parameter.

- **Function** (``function``): calls what its ``target`` names (a torch function, ``Tensor.<method>``,
  an operator, a library function wrapped for fx) with its ``args`` / ``kwargs`` call data, the
  inputs put in where the data says ``{"$input": k}``.
- **Module** (``module``): any ``torch.nn`` or library module, built from ``class`` and ``arguments``
  and called like a Function; with ``args`` null it is held (its weights kept) but not called.
- **Call** (``call``): calls the module of another layer again (ResNet's ``self.relu`` used twice in a
  block); it owns no weights, so parameters are counted once, at the module's own layer.
- **Parameter** (``parameter``): a tensor the network holds (ViT's class token), its values in the
  project's weights file under the layer's own id.

All four run on meta tensors for analysis like any layer, through the same cache, and accept values
that are not tensors (:mod:`nnstudio.compile.values`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import fx, nn
from torch.utils.flop_counter import FlopCounterMode

from nnstudio.compile import call_targets
from nnstudio.compile.call_targets import UntrustedTarget
from nnstudio.compile.call_values import DTYPES, NotData, decode, decode_call
from nnstudio.compile.constructors import constructor_signature, same_value
from nnstudio.compile.rule_kinds import ModuleRule, mark_helper
from nnstudio.compile.rules import FUNCTION, RULES, LayerRule, rule_for
from nnstudio.compile.tensors import META_BATCH, LayerFailed, NodeOutcome, TensorInfo, fail, torch_message
from nnstudio.compile.values import ValueInfo, info_of, is_batched
from nnstudio.core import call_data
from nnstudio.core.catalog import CATALOG, LayerKind, LayerSpec

#: ``node.meta`` key: the fx node of the network's train/eval flag, created once per compiled graph.
_TRAINING_NODE = "nnstudio_training_flag"


def uses_training(value: Any) -> bool:
    """True when call data refers to the network's train/eval flag (``{"$mode": "training"}``)."""
    if isinstance(value, tuple):
        return any(uses_training(v) for v in value)
    if isinstance(value, dict):
        return call_data.tag_of(value) == call_data.MODE or any(uses_training(v) for v in value.values())
    return False


def _training_node(graph: fx.Graph, node_id: str, params: Mapping[str, Any]) -> fx.Node | None:
    """The fx node reading ``self.training``, when the call needs it (one per graph)."""
    if not (uses_training(params.get("args")) or uses_training(params.get("kwargs"))):
        return None
    for node in graph.nodes:
        if node.op == "get_attr" and node.target == "training":
            return node
    return mark_helper(graph.get_attr("training"), node_id)


def _meta_inputs(inputs: Sequence[Any]) -> list[Any]:
    return [x.meta() for x in inputs]


def _check_inputs(spec: LayerSpec, params: Mapping[str, Any], inputs: Sequence[Any]) -> None:
    """Every wire must be read by the call, and the call may read only wires that exist."""
    named = set(call_data.inputs_named(params.get("args"))) | set(call_data.inputs_named(params.get("kwargs")))
    missing = sorted(k for k in named if k >= len(inputs))
    if missing:
        raise fail("unconnected-input", f"{spec.title}'s arguments read input {missing[0]}, but only "
                   f"{len(inputs)} wires enter it; connect one more layer, or edit the arguments", "args")
    unread = sorted(set(range(len(inputs))) - named)
    if unread:
        raise fail("unread-input", f"wire {unread[0]} entering this {spec.title} is not used by its arguments; "
                   'remove it, or refer to it as {"$input": ' + str(unread[0]) + "}", "args")


def _run(spec: LayerSpec, what: str, call: Any, args: list[Any], kwargs: dict[str, Any],
         inputs: Sequence[Any]) -> tuple[Any, int]:
    """Run ``call`` on meta values, counting FLOPs; return (result, FLOPs per sample)."""
    try:
        with torch.device("meta"), FlopCounterMode(display=False) as counter:
            value = call(*args, **kwargs)
    except LayerFailed:
        raise
    except Exception as exc:  # any failure of the call is reported on its layer
        tensors = [x for x in inputs if isinstance(x, TensorInfo)]
        shown = ", ".join(x.shown for x in inputs) or "no inputs"
        raise fail("layer-failed", f"{what} fails on {shown}: {torch_message(exc, tensors)}") from None
    batched = any(is_batched(x) for x in inputs)
    flops = counter.get_total_flops()
    return value, flops // META_BATCH if batched else flops


def _outcome(value: Any, inputs: Sequence[Any], flops: int, params: Mapping[str, Any], trainable: int = 0
             ) -> NodeOutcome:
    output = info_of(value, any(is_batched(x) for x in inputs))
    return NodeOutcome(output, trainable, flops, dict(params))


def _decoded(spec: LayerSpec, params: Mapping[str, Any], inputs: Sequence[Any], field: str = "args"
             ) -> tuple[list[Any], dict[str, Any]]:
    try:
        return decode_call(params.get("args"), params.get("kwargs"), inputs)
    except NotData as exc:
        raise fail("bad-argument", f"{spec.title}: {exc}", field) from None


class FunctionRule(LayerRule):
    """Calls the function, tensor method or operator its ``target`` names."""

    type_id = "function"
    dtypes = "any"
    takes_values = True

    def infer(self, spec: LayerSpec, params: Mapping[str, Any], inputs: Sequence[Any]) -> NodeOutcome:
        _check_inputs(spec, params, inputs)
        target = params["target"]
        args, kwargs = _decoded(spec, params, _meta_inputs(inputs))
        try:
            call = self.callable(target, args)
        except UntrustedTarget as exc:
            raise fail("untrusted-target", str(exc), "target") from None
        value, flops = _run(spec, target, call, args, kwargs, inputs)
        return _outcome(value, inputs, flops, params)

    @staticmethod
    def callable(target: str, args: Sequence[Any]) -> Any:
        """The Python callable ``target`` names (a bound method call for ``Tensor.x``); raises UntrustedTarget."""
        if target.startswith(call_targets.METHOD_PREFIX):
            method = call_targets.resolve_method(target)
            if not args:
                raise UntrustedTarget(f"{target} needs the tensor it is called on as its first argument")
            return lambda receiver, *rest, **kwargs: getattr(receiver, method)(*rest, **kwargs)
        function = call_targets.resolve_function(target)
        call_targets.check_call(target, tuple(args))
        return function

    def emit(self, graph: fx.Graph, node_id: str, spec: LayerSpec, resolved: Mapping[str, Any],
             inputs: list[fx.Node]) -> fx.Node:
        target = resolved["target"]
        args, kwargs = decode_call(resolved["args"], resolved["kwargs"], inputs,
                                   _training_node(graph, node_id, resolved))
        if target.startswith(call_targets.METHOD_PREFIX):
            node = graph.create_node("call_method", call_targets.resolve_method(target), tuple(args), kwargs,
                                     name=node_id)
        else:
            node = graph.create_node("call_function", call_targets.resolve_function(target), tuple(args), kwargs,
                                     name=node_id)
        node.meta[FUNCTION] = target
        return node


class GenericModuleRule(ModuleRule):
    """Any ``torch.nn`` (or library) module: its class and constructor arguments are parameters."""

    type_id = "module"
    dtypes = "any"
    takes_values = True

    def torch_classes(self, spec: LayerSpec) -> tuple[type[nn.Module], ...]:
        return ()  # stands for no class in particular: imported classes map here only when no card fits

    def class_path(self, spec: LayerSpec, resolved: Mapping[str, Any]) -> str:
        return str(resolved["class"])

    def stands_alone(self, params: Mapping[str, Any]) -> bool:
        return params.get("args") is None

    def build(self, spec: LayerSpec, resolved: Mapping[str, Any], device: torch.device | str | None = None
              ) -> nn.Module:
        cls = call_targets.resolve_class(resolved["class"])
        kwargs = {name: decode(value) for name, value in resolved["arguments"].items()}
        with torch.device(device) if device is not None else contextlib.nullcontext():
            return cls(**kwargs)

    def constructor_call(self, spec: LayerSpec, resolved: Mapping[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        cls = call_targets.resolve_class(resolved["class"])
        kwargs = {name: decode(value) for name, value in resolved["arguments"].items()}
        signature = constructor_signature(cls)
        args = []
        for name in signature.positional:
            if name not in kwargs:
                break
            args.append(kwargs.pop(name))
        keywords = {k: v for k, v in kwargs.items()
                    if not (k in signature.defaults and same_value(signature.defaults[k], v))}
        return args, keywords

    def infer(self, spec: LayerSpec, params: Mapping[str, Any], inputs: Sequence[Any]) -> NodeOutcome:
        try:
            module = self.build(spec, params, device="meta")
        except UntrustedTarget as exc:
            raise fail("untrusted-target", str(exc), "class") from None
        except NotData as exc:
            raise fail("bad-argument", f"{spec.title}: {exc}", "arguments") from None
        except Exception as exc:  # the constructor refuses its arguments
            raise fail("invalid-layer", f"{params['class']} cannot be built from these arguments: "
                       f"{torch_message(exc)}", "arguments") from None
        trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
        if params.get("args") is None:
            if inputs:
                raise fail("unread-input", f"this {spec.title} is held but not called, so it takes no wires; "
                           "remove them, or give it arguments", "args")
            return NodeOutcome(ValueInfo(None), trainable, 0, dict(params))
        _check_inputs(spec, params, inputs)
        args, kwargs = _decoded(spec, params, _meta_inputs(inputs))
        module.eval()  # shapes do not depend on the mode, and eval draws no random numbers on meta
        value, flops = _run(spec, str(params["class"]).rpartition(".")[2], module, args, kwargs, inputs)
        return _outcome(value, inputs, flops, params, trainable)

    def emit(self, graph: fx.Graph, node_id: str, spec: LayerSpec, resolved: Mapping[str, Any],
             inputs: list[fx.Node]) -> fx.Node | None:  # type: ignore[override]
        if resolved.get("args") is None:
            return None
        args, kwargs = decode_call(resolved["args"], resolved["kwargs"], inputs,
                                   _training_node(graph, node_id, resolved))
        return graph.create_node("call_module", node_id, tuple(args), kwargs, name=node_id)


#: The key a Call layer's analysed parameters hold the called layer's type and parameters under.
CALLED = "_called"


class CallRule(LayerRule):
    """Calls the module of the layer its ``module`` parameter names, with its own arguments."""

    type_id = "call"
    dtypes = "any"
    takes_values = True

    def with_context(self, params: Mapping[str, Any], nodes: Mapping[str, Any]) -> Mapping[str, Any]:
        called = nodes.get(params["module"])
        context = None
        if called is not None and called.spec.kind is LayerKind.MODULE:
            context = (called.type_id, tuple(called.params.items()))
        return {**params, CALLED: context}

    def infer(self, spec: LayerSpec, params: Mapping[str, Any], inputs: Sequence[Any]) -> NodeOutcome:
        context = params.get(CALLED)
        if context is None:
            raise fail("no-module", f"calls the module of layer {params['module']!r}, but no module layer has that "
                       "name; name the layer whose module it calls", "module")
        type_id, items = context
        called_spec = CATALOG.get(type_id)
        called_params = dict(items)
        rule = rule_for(called_spec)
        assert isinstance(rule, ModuleRule)
        _check_inputs(spec, params, inputs)
        resolved = called_params
        first = next((x for x in inputs if isinstance(x, TensorInfo)), None)
        if not isinstance(rule, GenericModuleRule) and first is not None:
            resolved, _ = rule.resolve(called_spec, called_params, first)
        try:
            module = rule.build(called_spec, resolved, device="meta")
        except Exception as exc:  # the called layer reports its own problem
            raise fail("no-module", f"the module of {params['module']} cannot be built: {torch_message(exc)}",
                       "module") from None
        module.eval()
        args, kwargs = _decoded(spec, params, _meta_inputs(inputs))
        value, flops = _run(spec, params["module"], module, args, kwargs, inputs)
        return _outcome(value, inputs, flops, params)

    def emit(self, graph: fx.Graph, node_id: str, spec: LayerSpec, resolved: Mapping[str, Any],
             inputs: list[fx.Node]) -> fx.Node:
        args, kwargs = decode_call(resolved["args"], resolved["kwargs"], inputs,
                                   _training_node(graph, node_id, resolved))
        return graph.create_node("call_module", resolved["module"], tuple(args), kwargs, name=node_id)


class ParameterRule(LayerRule):
    """A tensor the network holds, with no input: a parameter, a buffer, or a buffer left out of state dicts."""

    type_id = "parameter"
    dtypes = "any"

    def stands_alone(self, params: Mapping[str, Any]) -> bool:
        return True

    def infer(self, spec: LayerSpec, params: Mapping[str, Any], inputs: Sequence[Any]) -> NodeOutcome:
        shape = tuple(params["shape"])
        dtype = DTYPES[params["dtype"]]
        count = 1
        for d in shape:
            count *= d
        learned = params["role"] == "parameter" and (dtype.is_floating_point or dtype.is_complex)
        return NodeOutcome(TensorInfo(shape, dtype, batched=False), count if learned else 0, 0, dict(params))

    def state_shapes(self, params: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
        """The tensors the layer holds by name: its one tensor, named ``""``."""
        return {"": tuple(params["shape"])}

    def make(self, resolved: Mapping[str, Any], stored: torch.Tensor | None) -> torch.Tensor:
        """The tensor to place in the compiled network: the stored one, or zeros of the layer's shape."""
        dtype = DTYPES[resolved["dtype"]]
        tensor = stored.to(dtype) if stored is not None else torch.zeros(tuple(resolved["shape"]), dtype=dtype)
        if resolved["role"] == "parameter":
            return nn.Parameter(tensor, requires_grad=dtype.is_floating_point or dtype.is_complex)
        return tensor

    def emit(self, graph: fx.Graph, node_id: str, spec: LayerSpec, resolved: Mapping[str, Any],
             inputs: list[fx.Node]) -> fx.Node:
        return graph.create_node("get_attr", node_id, (), {}, name=node_id)


RULES.register(FunctionRule())
RULES.register(GenericModuleRule())
RULES.register(CallRule())
RULES.register(ParameterRule())

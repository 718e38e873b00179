"""The kinds of layer rule: a torch module, a merge of several inputs, a reshape, the network's ends.

Each kind runs its layer on meta tensors for analysis (:meth:`~LayerRule.infer`) and adds it to the
compiled fx graph (:meth:`~LayerRule.emit`) in one place, so a layer computes the same thing in the
editor's shapes, the compiled network and the exported ``model.py``. Layers that need more than the
facts of their kind (LSTM's result selection, GroupNorm's friendly refusal) subclass one of these
in :mod:`nnstudio.compile.builtin_rules`.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import fx, nn
from torch.utils.flop_counter import FlopCounterMode

from nnstudio.compile.constructors import (
    Reader,
    constructor_call_parts,
    constructor_kwargs,
    module_class,
    read_constructor_arguments,
    resolve_target,
)
from nnstudio.compile.rules import COMMENT, FUNCTION, HELPER, NODE_ID, LayerRule, Selection
from nnstudio.compile.tensors import (
    DTYPES,
    META_BATCH,
    InsertHint,
    LayerFailed,
    NodeOutcome,
    TensorInfo,
    fail,
    torch_message,
)
from nnstudio.core.catalog import LayerSpec


def mark_helper(node: fx.Node, node_id: str) -> fx.Node:
    """Mark an fx node as a step inside layer ``node_id`` (not the layer's value)."""
    node.meta[HELPER] = True
    node.meta[NODE_ID] = node_id
    return node


def output_info(spec: LayerSpec, value: Any, batched: bool = True) -> TensorInfo:
    """Return what analysis keeps of a layer's meta result; refuse results that lose the batch.

    ``batched``: the input had a batch dimension (an imported network may also run a layer on a
    tensor without one, such as Swin V2's relative position table).
    """
    if not isinstance(value, torch.Tensor):
        raise fail("layer-failed", f"{spec.title} did not return a tensor; nnstudio passes one tensor "
                   "from layer to layer")
    if not batched:
        return TensorInfo(tuple(value.shape), value.dtype, batched=False)
    if value.dim() == 0 or value.shape[0] != META_BATCH:
        raise fail("loses-batch", f"{spec.title} does not keep the batch dimension first (its result no "
                   "longer holds one row per sample); change its parameters so the first dimension stays N")
    return TensorInfo(tuple(value.shape), value.dtype)


class InputRule(LayerRule):
    """The network's input: a placeholder whose shape is one sample's, plus the batch."""

    dtypes = "any"

    def infer(self, spec: LayerSpec, params: Mapping[str, Any], inputs: Sequence[TensorInfo]) -> NodeOutcome:
        shape = (META_BATCH, *params["shape"])
        return NodeOutcome(TensorInfo(shape, DTYPES[params["dtype"]]), resolved=dict(params))

    def emit(self, graph: fx.Graph, node_id: str, spec: LayerSpec, resolved: Mapping[str, Any],
             inputs: list[fx.Node]) -> fx.Node:
        return graph.placeholder(node_id)


class OutputRule(LayerRule):
    """The network's result: passes its one input on (the compiler collects these into the return)."""

    dtypes = "any"

    def infer(self, spec: LayerSpec, params: Mapping[str, Any], inputs: Sequence[TensorInfo]) -> NodeOutcome:
        return NodeOutcome(inputs[0], resolved=dict(params))

    def emit(self, graph: fx.Graph, node_id: str, spec: LayerSpec, resolved: Mapping[str, Any],
             inputs: list[fx.Node]) -> fx.Node:
        return inputs[0]


class ModuleRule(LayerRule):
    """A layer that is one ``torch.nn`` module (the catalog target), called on its one input."""

    #: Functions reading constructor arguments that a module keeps under another name.
    readers: Mapping[str, Reader] = {}

    # --- analysis --------------------------------------------------------------------------------

    def infer(self, spec: LayerSpec, params: Mapping[str, Any], inputs: Sequence[TensorInfo]) -> NodeOutcome:
        x = inputs[0]
        self.check_input(spec, params, x)
        if self.elementwise:
            return NodeOutcome(x, resolved=dict(params))
        resolved, inferred = self.resolve(spec, params, x)
        try:
            module = self.build(spec, resolved, device="meta")
        except LayerFailed:
            raise
        except Exception as exc:  # torch's constructors assert on bad combinations (heads vs embed_dim)
            raise self.build_failure(spec, resolved, x, exc) from None
        trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
        copies, keywords = self.call_arguments(spec)
        try:
            with FlopCounterMode(display=False) as counter:
                value = module(*([x.meta()] * copies), **keywords)
            for index in self.select(spec, resolved):
                value = operator.getitem(value, index)
        except Exception as exc:  # any run-time failure of the layer is reported on the node
            raise fail("layer-failed", f"{spec.title} fails on input {x.shown}: {torch_message(exc, [x])}") from None
        output = output_info(spec, value, x.batched)
        flops = counter.get_total_flops() // (META_BATCH if x.batched else 1)
        return NodeOutcome(output, trainable, flops, resolved, inferred)

    def resolve(self, spec: LayerSpec, params: Mapping[str, Any], x: TensorInfo
                ) -> tuple[dict[str, Any], tuple[str, ...]]:
        """Return the parameters with the implied size filled in from ``x``, and the names filled.

        A pinned value that disagrees with the input raises a failure naming the value that fits.
        """
        resolved = dict(params)
        implied = self.implied
        if implied is None:
            return resolved, ()
        pinned = params[implied.param]
        if pinned is None:
            resolved[implied.param] = implied.fitting(x)
            return resolved, (implied.param,)
        implied.check(pinned, x)
        return resolved, ()

    def build_failure(self, spec: LayerSpec, resolved: Mapping[str, Any], x: TensorInfo, exc: Exception
                      ) -> LayerFailed:
        """Return the failure reported when the torch constructor refuses the parameters."""
        return fail("invalid-layer", f"{spec.title} cannot be built from these parameters: {torch_message(exc)}")

    # --- the torch module and its call -----------------------------------------------------------

    def torch_classes(self, spec: LayerSpec) -> tuple[type[nn.Module], ...]:
        return (module_class(spec.target), *self.aliases)

    def build(self, spec: LayerSpec, resolved: Mapping[str, Any], device: torch.device | str | None = None
              ) -> nn.Module:
        """Return the layer's torch module built from fully resolved parameters (on ``device``)."""
        cls = module_class(spec.target)
        kwargs = constructor_kwargs(spec, resolved)
        if device is None:
            return cls(**kwargs)
        with torch.device(device):
            return cls(**kwargs)

    def class_path(self, spec: LayerSpec, resolved: Mapping[str, Any]) -> str:
        """Return the qualified name of the module's class (``torch.nn.Linear``)."""
        return spec.target

    def constructor_call(self, spec: LayerSpec, resolved: Mapping[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        """Return the constructor's arguments as a person would write them (for ``model.py``)."""
        return constructor_call_parts(spec, module_class(spec.target), resolved)

    def call_arguments(self, spec: LayerSpec) -> tuple[int, dict[str, Any]]:
        """Return how many times the input is passed to the module, and extra keyword arguments."""
        return 1, {}

    def select(self, spec: LayerSpec, params: Mapping[str, Any]) -> Selection:
        """Return the getitem indices that turn the module's raw result into the tensor passed on."""
        return ()

    def selection_comment(self, spec: LayerSpec, params: Mapping[str, Any]) -> str:
        """Return a short note saying what :meth:`select` keeps (for the generated code)."""
        return ""

    def params_from_module(self, spec: LayerSpec, module: nn.Module) -> dict[str, Any]:
        """Return the catalog parameters that rebuild ``module`` (its constructor arguments read back).

        nnstudio's own settings (``constructor=False``) come back at their defaults. Raises
        :class:`~nnstudio.compile.constructors.NotRepresentable` naming the argument the card cannot hold.
        """
        return read_constructor_arguments(spec, module, self.readers)

    def emit(self, graph: fx.Graph, node_id: str, spec: LayerSpec, resolved: Mapping[str, Any],
             inputs: list[fx.Node]) -> fx.Node:
        copies, keywords = self.call_arguments(spec)
        selection = self.select(spec, resolved)
        call_name = f"{node_id}_result" if selection else node_id
        call = graph.create_node("call_module", node_id, tuple([inputs[0]] * copies), dict(keywords),
                                 name=call_name)
        value = call
        for step, index in enumerate(selection):
            last = step == len(selection) - 1
            value = graph.create_node("call_function", operator.getitem, (value, index),
                                      name=node_id if last else f"{node_id}_part")
            if not last:
                mark_helper(value, node_id)
        if selection:
            mark_helper(call, node_id)  # the raw (output, state) pair is a step; the selection is the value
            value.meta[COMMENT] = self.selection_comment(spec, resolved)
        return value


# --- merges --------------------------------------------------------------------------------------

def _dimension_name(rank: int, dim: int) -> str:
    """What a dimension of a batched shape usually holds, for messages ("" when it depends)."""
    if rank == 2 and dim == 1:
        return "features"
    if rank == 4:
        return {1: "channels", 2: "height", 3: "width"}.get(dim, "")
    return ""


def _matching_layer(rank: int, dim: int, size: int) -> tuple[str, dict[str, Any], str] | None:
    """A layer that gives a tensor of ``rank`` the ``size`` in ``dim``: (type id, params, words)."""
    if dim == rank - 1 and rank in (2, 3):
        return "linear", {"out_features": size}, f"a Linear with out_features {size}"
    if dim == 1 and rank == 4:
        return "conv2d", {"out_channels": size, "kernel_size": 1}, f"a 1x1 Conv2d with out_channels {size}"
    if dim == 1 and rank == 3:
        return "conv1d", {"out_channels": size, "kernel_size": 1}, f"a 1x1 Conv1d with out_channels {size}"
    return None


class MergeRule(LayerRule):
    """A function over two or more inputs, named by the catalog target (``torch.add``)."""

    dtypes = "any"
    #: The verb messages use ("add", "multiply", "join").
    verb: str = "combine"

    def function(self, spec: LayerSpec) -> Any:
        return resolve_target(spec.target)

    def torch_functions(self, spec: LayerSpec) -> tuple[Any, ...]:
        return (self.function(spec), *self.aliases)

    def _rank_mismatch(self, spec: LayerSpec, inputs: Sequence[TensorInfo]) -> None:
        first = inputs[0]
        for index, x in enumerate(inputs[1:], start=1):
            if x.rank != first.rank:
                raise fail("merge-mismatch", f"{spec.title} cannot {self.verb} its inputs: {{0}} gives {first.shown} "
                           f"({first.rank} dimensions) but {{{index}}} gives {x.shown} ({x.rank} dimensions); give "
                           "them the same number of dimensions, for example with a Flatten or a Reshape on one "
                           "of them", names_inputs=True)


class ElementwiseMerge(MergeRule):
    """Combines its inputs value by value with a broadcasting binary function (Add, Multiply)."""

    def infer(self, spec: LayerSpec, params: Mapping[str, Any], inputs: Sequence[TensorInfo]) -> NodeOutcome:
        self._rank_mismatch(spec, inputs)
        self._check_broadcast(spec, inputs)
        function = self.function(spec)
        try:
            value = inputs[0].meta()
            for other in inputs[1:]:
                value = function(value, other.meta())
        except Exception as exc:
            raise fail("merge-mismatch", f"{spec.title} cannot {self.verb} inputs shaped "
                       f"{', '.join(x.shown for x in inputs)}: {torch_message(exc, inputs)}") from None
        return NodeOutcome(output_info(spec, value), resolved=dict(params))

    def _check_broadcast(self, spec: LayerSpec, inputs: Sequence[TensorInfo]) -> None:
        """Name the first two inputs whose sizes disagree in a dimension (1 broadcasts; others must match)."""
        rank = inputs[0].rank
        for dim in range(1, rank):
            reference: tuple[int, int] | None = None
            for index, x in enumerate(inputs):
                size = x.shape[dim]
                if size == 1:
                    continue
                if reference is None:
                    reference = (index, size)
                elif size != reference[1]:
                    self._report(spec, inputs, reference[0], index, dim)

    def _report(self, spec: LayerSpec, inputs: Sequence[TensorInfo], first: int, second: int, dim: int) -> None:
        a, b = inputs[first], inputs[second]
        rank = a.rank
        name = _dimension_name(rank, dim)
        sizes = f"{a.shape[dim]} vs {b.shape[dim]}" + (f" {name}" if name else "")
        smaller, larger = (first, second) if a.shape[dim] < b.shape[dim] else (second, first)
        size = inputs[larger].shape[dim]
        matching = _matching_layer(rank, dim, size)
        insert = None
        if matching is not None:
            type_id, layer_params, words = matching
            todo = (f"put {words} after {{{smaller}}} so both have {size}, or join them with a Concat "
                    "instead")
            insert = InsertHint(smaller, type_id, layer_params, f"Insert {words} after {{0}}")
        elif name in ("height", "width"):
            todo = ("give both branches the same strides, padding and pooling so their height and width "
                    "agree")
        else:
            todo = "change the layers before it so the sizes agree, or join them with a Concat instead"
        raise fail("merge-mismatch", f"{spec.title} cannot {self.verb} its inputs: {{{first}}} gives {a.shown} but "
                   f"{{{second}}} gives {b.shown}, which differ in dimension {dim} ({sizes}); {todo}",
                   names_inputs=True, insert=insert)

    def emit(self, graph: fx.Graph, node_id: str, spec: LayerSpec, resolved: Mapping[str, Any],
             inputs: list[fx.Node]) -> fx.Node:
        function = self.function(spec)
        value = inputs[0]
        for position, other in enumerate(inputs[1:], start=2):
            last = position == len(inputs)
            value = graph.create_node("call_function", function, (value, other),
                                      name=node_id if last else f"{node_id}_partial")
            value.meta[FUNCTION] = spec.target
            if not last:
                mark_helper(value, node_id)
        return value


class ConcatMerge(MergeRule):
    """Joins its inputs along the ``dim`` parameter (``torch.cat``)."""

    verb = "join"

    def infer(self, spec: LayerSpec, params: Mapping[str, Any], inputs: Sequence[TensorInfo]) -> NodeOutcome:
        self._rank_mismatch(spec, inputs)
        dim = params["dim"]
        rank = inputs[0].rank
        if not -rank <= dim < rank:
            raise fail("bad-dim", f"{spec.title}'s dim {dim} does not exist in inputs with {rank} dimensions "
                       f"such as {inputs[0].shown}; join along dim 1 (channels or features)", "dim")
        dim %= rank
        if dim == 0:
            raise fail("joins-batch", f"{spec.title} would join along dim 0, the batch dimension, mixing the "
                       "samples of a batch; join along dim 1 (channels or features) or later", "dim")
        for other in range(1, rank):
            if other == dim:
                continue
            sizes = [x.shape[other] for x in inputs]
            for index, size in enumerate(sizes[1:], start=1):
                if size != sizes[0]:
                    name = _dimension_name(rank, other)
                    todo = ("give both branches the same strides, padding and pooling so their height and "
                            "width agree" if name in ("height", "width") else
                            "change the layers before it so those sizes agree")
                    raise fail("merge-mismatch",
                               f"{spec.title} joins along dim {dim}, so its inputs must agree in every other "
                               f"dimension, but {{0}} gives {inputs[0].shown} and {{{index}}} gives "
                               f"{inputs[index].shown}, which differ in dimension {other} ({sizes[0]} vs "
                               f"{size}{' ' + name if name else ''}); {todo}", names_inputs=True)
        try:
            value = self.function(spec)([x.meta() for x in inputs], dim=params["dim"])
        except Exception as exc:
            raise fail("merge-mismatch", f"{spec.title} cannot join inputs shaped "
                       f"{', '.join(x.shown for x in inputs)}: {torch_message(exc, inputs)}") from None
        return NodeOutcome(output_info(spec, value), resolved=dict(params))

    def emit(self, graph: fx.Graph, node_id: str, spec: LayerSpec, resolved: Mapping[str, Any],
             inputs: list[fx.Node]) -> fx.Node:
        node = graph.create_node("call_function", self.function(spec), (list(inputs),), {"dim": resolved["dim"]},
                                 name=node_id)
        node.meta[FUNCTION] = spec.target
        return node


# --- reshape -------------------------------------------------------------------------------------

class ReshapeRule(LayerRule):
    """Gives each sample a new shape with a tensor method (the target), keeping the batch dimension."""

    dtypes = "any"

    def infer(self, spec: LayerSpec, params: Mapping[str, Any], inputs: Sequence[TensorInfo]) -> NodeOutcome:
        x = inputs[0]
        target = tuple(params["shape"])
        per_sample = 1
        for d in x.shape[1:]:
            per_sample *= d
        known = 1
        for d in target:
            if d != -1:
                known *= d
        if -1 in target:
            if per_sample % known:
                raise fail("reshape-mismatch", f"{spec.title} cannot make {x.shown} ({per_sample} values per "
                           f"sample) into {list(target)}: {per_sample} is not divisible by {known}; choose sizes "
                           f"whose product divides {per_sample}", "shape")
            target = tuple(per_sample // known if d == -1 else d for d in target)
        elif known != per_sample:
            raise fail("reshape-mismatch", f"{spec.title} cannot make {x.shown} ({per_sample} values per sample) "
                       f"into {list(target)} ({known} values); choose sizes whose product is {per_sample}, or "
                       "write -1 for one of them", "shape")
        return NodeOutcome(TensorInfo((x.shape[0], *target), x.dtype), resolved=dict(params))

    def emit(self, graph: fx.Graph, node_id: str, spec: LayerSpec, resolved: Mapping[str, Any],
             inputs: list[fx.Node]) -> fx.Node:
        method = spec.target.rpartition(".")[2]
        x = inputs[0]
        batch = mark_helper(graph.create_node("call_method", "size", (x, 0), name=f"{node_id}_batch"), node_id)
        return graph.create_node("call_method", method, (x, batch, *resolved["shape"]), name=node_id)

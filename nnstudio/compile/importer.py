"""Any traceable ``nn.Module`` -> an editor graph: every fx node one layer, module paths kept as ids.

:func:`import_module` traces a model (:mod:`nnstudio.compile.tracing`) and turns each fx node into a
layer: a leaf module becomes its card (or a generic Module layer), another call of it a Call layer, a
function or method call an Add / Concat / Multiply where one fits or else a Function layer, a
``get_attr`` a Parameter layer. Ids keep the module path (``layer1.0.conv1``), so the state-dict keys
of the compiled and exported network are the original's; every tensor of the original's state dict
is stored with the layer that owns it. Then the graph is analysed (the same incremental analysis as
the editor's) and laid out. See docs/architecture.md for the representation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import fx, nn

from nnstudio.compile import call_targets
from nnstudio.compile.analysis import ShapeInference
from nnstudio.compile.call_targets import UntrustedTarget
from nnstudio.compile.call_values import NotData, encode, encode_table
from nnstudio.compile.import_weights import attach_weights, held_state
from nnstudio.compile.input_shapes import choose_input
from nnstudio.compile.model_sources import ImportFailure
from nnstudio.compile.module_lookup import entry_for_function
from nnstudio.compile.results import Analysis
from nnstudio.compile.rule_kinds import ModuleRule
from nnstudio.compile.rules import rule_for
from nnstudio.compile.trace_tidy import place_of, tidy
from nnstudio.compile.tracing import Leaf, trace_model
from nnstudio.core import names
from nnstudio.core.block_layout import nested_layout
from nnstudio.core.errors import GraphError, NnstudioError, ParamError
from nnstudio.core.graph import Edge, Graph, Node
from nnstudio.core.project import Project

#: ``progress(fraction, message)``: how far an import is (0..1), and what it does now.
Progress = Callable[[float, str], None]
#: Calls whose result is a size or a fact about a tensor, never a batched tensor.
_VALUE_CALLS = frozenset({"builtins.getattr", "Tensor.size", "Tensor.dim", "builtins.len", "Tensor.numel"})


class ImportCancelled(NnstudioError):
    """The person cancelled the import."""

    def __init__(self) -> None:
        super().__init__("the import was cancelled")


@dataclass
class ImportResult:
    """An imported network: the project, its analysis (and the cache that made it), and notes for the person."""

    project: Project
    analysis: Analysis
    inference: ShapeInference
    notes: list[str] = field(default_factory=list)


def import_module(model: nn.Module, *, name: str = "Model", description: str = "",
                  input_shape: tuple[int, ...] | None = None, progress: Progress | None = None,
                  cancelled: Callable[[], bool] | None = None, share_weights: bool = False) -> ImportResult:
    """Return ``model`` as a project: its graph (module paths as ids), weights, analysis and layout.

    ``input_shape`` is one sample's shape (no batch dimension); without it the shape is guessed from
    the first layers and the guess is named in the notes. ``share_weights``: the project keeps the
    model's own CPU tensors instead of copies (for a model built only to be imported). Raises
    :class:`ImportFailure` (one line naming the culprit) or :class:`ImportCancelled`.
    """
    step = _Steps(progress, cancelled)
    step(0.05, "tracing the model with torch.fx")
    traced, tracer = trace_model(model)
    step(0.35, "building the graph")
    tidy(traced.graph)
    builder = _GraphBuilder(model, traced.graph, tracer.leaves)
    builder.build()
    held = held_state(model, builder.ids_taken(), builder.weights_owned())
    builder.add_held(held)
    graph = builder.graph()
    step(0.5, "storing the weights")
    attach_weights(graph, model, builder.weight_names(), share=share_weights)
    graph.module_classes = _module_classes(model, graph)
    step(0.6, "inferring shapes")
    inference = ShapeInference()
    notes = list(tracer.notes)
    analysis = _settle(graph, inference, builder, input_shape, notes, step)
    step(0.9, "laying out the layers")
    for node_id, position in nested_layout(graph).items():
        graph.node(node_id).position = position
    step(1.0, "done")
    project = Project(graph, name=name, description=description or f"Imported {type(model).__name__}")
    return ImportResult(project, analysis, inference, notes)


class _Steps:
    def __init__(self, progress: Progress | None, cancelled: Callable[[], bool] | None) -> None:
        self.progress = progress
        self.cancelled = cancelled

    def __call__(self, fraction: float, message: str) -> None:
        if self.cancelled is not None and self.cancelled():
            raise ImportCancelled()
        if self.progress is not None:
            self.progress(fraction, message)


# --- fx nodes -> layers -----------------------------------------------------------------------------

class _GraphBuilder:
    """Turns the traced fx graph into layer and wire records."""

    def __init__(self, model: nn.Module, graph: fx.Graph, leaves: dict[int, Leaf]) -> None:
        self.model = model
        self.fx_graph = graph
        self.leaves = leaves
        self.records: list[dict[str, Any]] = []
        self.edges: list[dict[str, Any]] = []
        #: fx node -> the id of its layer.
        self.layer_of: dict[fx.Node, str] = {}
        self.taken: set[str] = set()
        self.containers: set[str] = set()
        #: module path -> the id of the layer that owns the module (its first call, or a held module).
        self.module_layers: dict[str, str] = {}
        self.input_id = ""
        #: ids of merges made from function calls, with the Function layer each becomes if the merge does not fit.
        self.merges: dict[str, dict[str, Any]] = {}
        #: Parameter layer id -> the attribute path of the tensor it holds.
        self.tensor_paths: dict[str, str] = {}
        #: Layers whose value is not a batched tensor (parameters, sizes): no merge takes them.
        self.values: set[str] = set()

    # ids ----------------------------------------------------------------------------------------------
    def _free(self, node_id: str) -> bool:
        if node_id in self.taken or node_id in self.containers:
            return False
        parts = node_id.split(".")
        return not any(".".join(parts[:i]) in self.taken for i in range(1, len(parts)))

    def _claim(self, node_id: str) -> str:
        self.taken.add(node_id)
        parts = node_id.split(".")
        self.containers.update(".".join(parts[:i]) for i in range(1, len(parts)))
        return node_id

    def _local_name(self, owner: str, base: str, *, dotted: bool = True) -> str:
        """A free id ``owner.base`` (``base_1``, ``base_2``... when taken) that no attribute of the owner uses."""
        module = self._module(owner)
        base = base.strip("_") or "step"
        if not base.isidentifier():
            base = "step"
        for n in range(0, 100_000):
            candidate = base if n == 0 else f"{base}_{n}"
            full = f"{owner}.{candidate}" if owner else candidate
            if (names.name_problem(candidate, dotted=dotted) is None and not hasattr(module, candidate)
                    and self._free(full)):
                return self._claim(full)
        raise ImportFailure(f"no free name for a step named {base} in {owner or 'the model'}")

    def _module(self, path: str) -> Any:
        try:
            return self.model.get_submodule(path) if path else self.model
        except AttributeError:
            return None

    def ids_taken(self) -> set[str]:
        return set(self.taken)

    def _module_id(self, path: str) -> str:
        problem = names.name_problem(path)
        if problem:
            raise ImportFailure(f"submodule {path} cannot keep its name as a layer: {problem}")
        if not self._free(path):
            raise ImportFailure(f"submodule {path} is both a layer and holds other layers; nnstudio cannot "
                                "keep both (its parameters are also read directly)")
        return self._claim(path)

    # building -----------------------------------------------------------------------------------------
    def build(self) -> None:
        for node in self.fx_graph.nodes:
            if node.op == "placeholder":
                self._input(node)
            elif node.op == "get_attr":
                if node.target == "training":
                    continue
                self._parameter(node)
            elif node.op == "call_module":
                self._call_module(node)
            elif node.op in ("call_function", "call_method"):
                self._call(node)
            elif node.op == "output":
                self._output(node)

    def _add(self, node_id: str, type_id: str, params: dict[str, Any], inputs: Iterable[str] = (),
             fx_node: fx.Node | None = None) -> None:
        self.records.append({"id": node_id, "type": type_id, "params": params})
        for index, source in enumerate(inputs):
            self.edges.append({"source": source, "target": node_id, "port": "in", "index": index})
        if fx_node is not None:
            self.layer_of[fx_node] = node_id

    def _input(self, node: fx.Node) -> None:
        if self.input_id:
            raise ImportFailure("the model's forward takes several inputs; nnstudio imports networks with one input")
        node_id = self._local_name("", str(node.target), dotted=False)
        self.input_id = node_id
        self._add(node_id, "input", {"shape": [3, 224, 224], "dtype": "float32"}, fx_node=node)

    def _parameter(self, node: fx.Node) -> None:
        path = str(node.target)
        owner_path, _, attribute = path.rpartition(".")
        owner = self._module(owner_path)
        value = getattr(owner, attribute, None) if owner is not None else None
        if not isinstance(value, torch.Tensor):
            raise ImportFailure(f"the model reads {path}, which is a {type(value).__name__}, not a tensor")
        if isinstance(value, nn.Parameter):
            role = "parameter"
        elif attribute in owner._buffers and attribute not in owner._non_persistent_buffers_set:
            role = "buffer"
        else:
            role = "constant"
        node_id = path if not attribute.startswith("_") and names.name_problem(path) is None else None
        if node_id is not None and self._free(node_id):
            self._claim(node_id)
        elif owner_path in self.module_layers:
            raise ImportFailure(f"the model reads {path} of a module it also calls as a layer; nnstudio cannot "
                                "keep both yet")
        else:
            node_id = self._local_name(owner_path, attribute.strip("_"))
        dtype = str(value.dtype).removeprefix("torch.")
        self._add(node_id, "parameter", {"shape": list(value.shape), "dtype": dtype, "role": role}, fx_node=node)
        self.values.add(node_id)
        self.tensor_paths[node_id] = path

    def _call_module(self, node: fx.Node) -> None:
        path = str(node.target)
        module = self.model.get_submodule(path)
        leaf = self.leaves.get(id(module))
        if leaf is None:  # pragma: no cover - the tracer classified every module it called as a leaf
            raise ImportFailure(f"submodule {path} was called but not kept as one layer")
        if path in self.module_layers:
            self._second_call(node, path)
            return
        if leaf.spec is not None and self._plain_call(node, leaf):
            node_id = self._module_id(path)
            self.module_layers[path] = node_id
            self._add(node_id, leaf.spec.type_id, dict(leaf.params), [self.layer_of[node.args[0]]], fx_node=node)
            return
        node_id = self._module_id(path)
        self.module_layers[path] = node_id
        args, kwargs, inputs = self._arguments(node)
        self._add(node_id, "module", {"class": leaf.class_name, "arguments": leaf.arguments, "args": args,
                                      "kwargs": kwargs}, inputs, fx_node=node)

    def _plain_call(self, node: fx.Node, leaf: Leaf) -> bool:
        """True when the card's own call is this one: ``module(x)``, its whole result passed on."""
        assert leaf.spec is not None
        rule = rule_for(leaf.spec)
        if not isinstance(rule, ModuleRule) or node.kwargs or len(node.args) != 1:
            return False
        if not self._wired(node.args[0]):
            return False
        return rule.call_arguments(leaf.spec) == (1, {}) and not rule.select(leaf.spec, leaf.params)

    def _second_call(self, node: fx.Node, path: str) -> None:
        parent, _, last = path.rpartition(".")
        node_id = self._local_name(parent, f"{last}_1" if not last.isdigit() else f"call{last}")
        args, kwargs, inputs = self._arguments(node)
        self._add(node_id, "call", {"module": self.module_layers[path], "args": args, "kwargs": kwargs}, inputs,
                  fx_node=node)

    def _call(self, node: fx.Node) -> None:
        owner = _owner(node)
        try:
            target = (call_targets.method_name(str(node.target)) if node.op == "call_method"
                      else call_targets.function_name(node.target))
        except UntrustedTarget as exc:
            raise ImportFailure(f"{exc} ({place_of(node)})") from None
        base = str(node.target) if node.op == "call_method" else getattr(node.target, "__name__", "step")
        if node.target is getattr and len(node.args) == 2 and isinstance(node.args[1], str):
            base = node.args[1]  # x.shape is named shape
        node_id = self._local_name(owner, base)
        args, kwargs, inputs = self._arguments(node)
        function = {"target": target, "args": args, "kwargs": kwargs}
        merge = self._merge_of(node, target)
        if inputs and all(i in self.values for i in inputs) or target in _VALUE_CALLS:
            self.values.add(node_id)  # computes with sizes, not tensors (x.shape[0] // 2)
        if merge is not None and any(i in self.values for i in merge[2]):
            merge = None  # a merge combines batched tensors of one rank; a parameter or a size needs the call
        if merge is not None:
            type_id, params, merge_inputs = merge
            self.merges[node_id] = {"type": "function", "params": function, "inputs": inputs}
            self._add(node_id, type_id, params, merge_inputs, fx_node=node)
            return
        self._add(node_id, "function", function, inputs, fx_node=node)

    def _merge_of(self, node: fx.Node, target: str) -> tuple[str, dict[str, Any], list[str]] | None:
        """An Add / Multiply / Concat that computes this call exactly, if its arguments fit one."""
        function = (getattr(torch.Tensor, str(node.target), None) if node.op == "call_method" else node.target)
        spec = entry_for_function(function) if function is not None else None
        if spec is None:
            return None
        if spec.type_id == "concat":
            parts = node.args[0] if node.args else node.kwargs.get("tensors")
            dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
            extra = set(node.kwargs) - {"tensors", "dim"}
            if (isinstance(parts, (list, tuple)) and len(parts) >= 2 and all(self._wired(p) for p in parts)
                    and isinstance(dim, int) and not isinstance(dim, bool) and not extra and len(node.args) <= 2):
                return spec.type_id, {"dim": dim}, [self.layer_of[p] for p in parts]
            return None
        if len(node.args) == 2 and not node.kwargs and all(self._wired(a) for a in node.args):
            return spec.type_id, {}, [self.layer_of[a] for a in node.args]
        return None

    def _wired(self, value: Any) -> bool:
        return isinstance(value, fx.Node) and value in self.layer_of

    def _arguments(self, node: fx.Node) -> tuple[tuple[Any, ...], Any, list[str]]:
        """The call's arguments as call data, and the layers feeding it, in the order the data reads them."""
        inputs: list[str] = []

        def reference(value: Any) -> int | None:
            if not isinstance(value, fx.Node) or _is_training(value):
                return None
            layer = self.layer_of.get(value)
            if layer is None:
                raise ImportFailure(f"a step of the model reads {value.name}, which nnstudio did not keep as a layer "
                                    f"({place_of(node)})")
            if layer not in inputs:
                inputs.append(layer)
            return inputs.index(layer)

        try:
            args = tuple(encode(a, reference, training=_is_training) for a in node.args)
            kwargs = encode_table(dict(node.kwargs), reference, training=_is_training)
        except NotData as exc:
            raise ImportFailure(f"{exc}: the call {node.target!r} ({place_of(node)}) has an argument nnstudio cannot "
                                "store") from None
        return args, kwargs, inputs

    def _output(self, node: fx.Node) -> None:
        result = node.args[0]
        values = list(result) if isinstance(result, (tuple, list)) else [result]
        if not values or not all(self._wired(v) for v in values):
            what = "a value" if isinstance(result, fx.Node) else f"a {type(result).__name__}"
            raise ImportFailure(f"the model returns {what} that is not a tensor or a tuple of them; nnstudio "
                                "imports networks that return tensors")
        for value in values:
            node_id = self._local_name("", "output", dotted=False)
            self._add(node_id, "output", {}, [self.layer_of[value]])

    # held modules and tensors ---------------------------------------------------------------------------
    def weights_owned(self) -> dict[str, str]:
        """Layer id -> the state-dict prefix its tensors sit under (module layers and Parameter layers)."""
        owned = {node_id: path for path, node_id in self.module_layers.items()}
        owned.update(self.tensor_paths)
        return owned

    def add_held(self, held: list[tuple[str, str, dict[str, Any]]]) -> None:
        for path, type_id, params in held:
            node_id = self._module_id(path)
            if type_id == "module":
                self.module_layers[path] = node_id
            else:
                self.tensor_paths[node_id] = path
            self._add(node_id, type_id, params)

    def weight_names(self) -> dict[str, tuple[str, bool]]:
        """Layer id -> (the original's path of what it holds, whether it is a module)."""
        found = {node_id: (path, True) for path, node_id in self.module_layers.items()}
        found.update({node_id: (path, False) for node_id, path in self.tensor_paths.items()})
        return found

    def graph(self) -> Graph:
        try:
            return Graph.from_records(self.records, self.edges)
        except ParamError as exc:
            raise ImportFailure(f"layer {exc.node_id}: {exc.field}: {exc.reason}") from None
        except GraphError as exc:
            raise ImportFailure(f"the imported graph is not valid: {exc}") from None


def _owner(node: fx.Node) -> str:
    """The path of the module whose forward makes this call (``""``: the model's own forward)."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return ""
    path = list(stack.values())[-1][0]
    return path if isinstance(path, str) else ""


def _is_training(value: Any) -> bool:
    return isinstance(value, fx.Node) and value.op == "get_attr" and value.target == "training"


# --- analysis: merges that do not fit, the input shape ---------------------------------------------------

def _settle(graph: Graph, inference: ShapeInference, builder: _GraphBuilder, input_shape: tuple[int, ...] | None,
            notes: list[str], step: _Steps) -> Analysis:
    """Analyse the graph: set the input shape (given or guessed), and turn merges that do not fit into Functions."""
    analysis = choose_input(graph, builder.input_id, input_shape, notes,
                            lambda: _fix_merges(graph, inference, builder))
    step(0.85, "checking the graph")
    return analysis


def _fix_merges(graph: Graph, inference: ShapeInference, builder: _GraphBuilder) -> Analysis:
    """Analyse; every merge that fails becomes the Function call it came from, then analyse again."""
    while True:  # a failed merge hides the merges after it, so this may take a few rounds
        analysis = inference.analyze(graph)
        failed = {p.node_id for p in analysis.errors if p.node_id in builder.merges}
        if not failed:
            return analysis
        for node_id in failed:
            _retype(graph, node_id, builder.merges.pop(node_id))


def _retype(graph: Graph, node_id: str, function: dict[str, Any]) -> None:
    """Replace merge ``node_id`` by a Function layer with the same id, wires and position (while importing)."""
    node = graph.node(node_id)
    outgoing = graph.out_edges(node_id)
    for edge in graph.in_edges(node_id) + outgoing:
        graph._remove_edge(edge)
    order = graph.order_of(node_id)
    graph._remove_node(node_id)
    graph._add_node(Node(node_id, "function", dict(function["params"]), node.position), order)
    for index, source in enumerate(function["inputs"]):
        graph._add_edge(Edge(source, node_id, "in", index))
    for edge in outgoing:
        graph._add_edge(edge)


def _module_classes(model: nn.Module, graph: Graph) -> dict[str, str]:
    """Container path -> the class name of the model's submodule there (titles, and model.py's classes)."""
    found: dict[str, str] = {}
    for node_id in graph.node_ids():
        parts = node_id.split(".")
        for depth in range(1, len(parts)):
            path = ".".join(parts[:depth])
            if path not in found:
                try:
                    found[path] = type(model.get_submodule(path)).__name__
                except AttributeError:
                    continue
    return {path: name for path, name in found.items() if name.isidentifier()}

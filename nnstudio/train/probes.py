"""Every layer's value during one forward pass, by editor node id: what telemetry and fault diagnosis read.

A compiled network is a ``torch.fx.GraphModule`` whose merges (Add, Concat), reshapes and functions
have no module, so module hooks cannot see them. :func:`watching_layers` therefore runs one forward
node by node (an :class:`fx.Interpreter` swapped in for the module's ``forward`` for that call only)
and hands each layer's output to a callback, keyed by the node id the compiler wrote into
``node.meta`` (dotted for layers nested in blocks). Any other ``nn.Module`` is watched with forward
hooks on its leaf modules, keyed by module path. The swap is on the module itself, so a wrapper
around it (DistributedDataParallel) still runs its own forward around the watched one; nothing is
left behind after the call, and the steps that are not watched run the module as compiled.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import fx, nn

from nnstudio.compile.compiler import HELPER, NODE_ID

#: Activation families whose outputs telemetry reads more closely.
RELU, SIGMOID, TANH = "relu", "sigmoid", "tanh"

_MODULE_FAMILIES: tuple[tuple[type[nn.Module], str], ...] = (
    (nn.ReLU, RELU), (nn.ReLU6, RELU), (nn.Sigmoid, SIGMOID), (nn.Tanh, TANH))
_FUNCTION_FAMILIES: dict[Any, str] = {
    torch.relu: RELU, torch.nn.functional.relu: RELU, torch.nn.functional.relu6: RELU,
    torch.sigmoid: SIGMOID, torch.nn.functional.sigmoid: SIGMOID,
    torch.tanh: TANH, torch.nn.functional.tanh: TANH,
}
_METHOD_FAMILIES = {"relu": RELU, "relu_": RELU, "sigmoid": SIGMOID, "tanh": TANH}

#: Receives (node id, output tensor) for each layer, in the order the forward computes them.
ValueCallback = Callable[[str, torch.Tensor], None]


@dataclass
class Layer:
    """One layer of a network as telemetry sees it."""

    node_id: str
    #: ``relu``, ``sigmoid``, ``tanh`` or None: which activation statistics apply.
    family: str | None = None
    #: The layer's own parameters, by state-dict name.
    params: list[tuple[str, nn.Parameter]] = field(default_factory=list)
    #: Node ids of the layers feeding it (empty where the module does not say: plain modules).
    inputs: list[str] = field(default_factory=list)
    #: False for layers that only hold parameters (fx ``get_attr``): no output to read.
    has_output: bool = True


class LayerMap:
    """The layers of ``model`` in the order a forward computes them, and who owns each submodule."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.is_fx = isinstance(model, fx.GraphModule)
        self.layers: dict[str, Layer] = {}
        #: fx node -> node id, for the fx nodes whose value is a layer's output.
        self.values: dict[fx.Node, str] = {}
        #: Module path -> node id, for the modules the layers call.
        self.module_owner: dict[str, str] = {}
        if self.is_fx:
            self._map_graph(model)  # type: ignore[arg-type]
        else:
            self._map_modules(model)

    def _map_graph(self, model: fx.GraphModule) -> None:
        of_fx: dict[fx.Node, str] = {}
        for node in model.graph.nodes:
            if node.op in ("placeholder", "output"):
                continue
            node_id = node.meta.get(NODE_ID) or (str(node.target) if node.op == "call_module" else node.name)
            of_fx[node] = node_id
            layer = self.layers.setdefault(node_id, Layer(node_id, has_output=False))
            if node.op == "call_module":
                module = model.get_submodule(str(node.target))
                self.module_owner[str(node.target)] = node_id
                layer.params.extend(module.named_parameters(prefix=str(node.target)))
            elif node.op == "get_attr":
                value = _attribute(model, str(node.target))
                if isinstance(value, nn.Parameter):
                    layer.params.append((str(node.target), value))
            if node.meta.get(HELPER) or node.op == "get_attr":
                continue
            layer.has_output = True
            layer.family = layer.family or _family(model, node)
            self.values[node] = node_id
            for source in node.all_input_nodes:
                owner = of_fx.get(source)
                if owner is not None and owner != node_id and owner not in layer.inputs:
                    layer.inputs.append(owner)

    def _map_modules(self, model: nn.Module) -> None:
        for path, module in model.named_modules():
            if not path:
                continue
            own = list(module.named_parameters(prefix=path, recurse=False))
            leaf = next(module.children(), None) is None
            if not leaf and not own:
                continue
            family = next((f for cls, f in _MODULE_FAMILIES if isinstance(module, cls)), None)
            self.layers[path] = Layer(path, family, own, has_output=leaf)
            self.module_owner[path] = path

    def owner_of_module(self, path: str) -> str | None:
        """Returns the node id whose layer a submodule path lies in (None: no layer owns it)."""
        while path:
            owner = self.module_owner.get(path)
            if owner is not None:
                return owner
            path = path.rpartition(".")[0]
        return None

    def consumers(self) -> dict[str, list[str]]:
        """Returns, for each layer, the layers reading its output (fx networks only)."""
        readers: dict[str, list[str]] = {name: [] for name in self.layers}
        for name, layer in self.layers.items():
            for source in layer.inputs:
                readers.setdefault(source, []).append(name)
        return readers


def _attribute(model: nn.Module, target: str) -> Any:
    owner: Any = model
    for part in target.split("."):
        owner = getattr(owner, part, None)
    return owner


def _family(model: fx.GraphModule, node: fx.Node) -> str | None:
    if node.op == "call_module":
        module = model.get_submodule(str(node.target))
        return next((f for cls, f in _MODULE_FAMILIES if isinstance(module, cls)), None)
    if node.op == "call_function":
        return _FUNCTION_FAMILIES.get(node.target)
    if node.op == "call_method":
        return _METHOD_FAMILIES.get(str(node.target))
    return None


class NodeRunner(fx.Interpreter):
    """Runs a GraphModule node by node, as ``fx.Interpreter`` does, without its progress bar (a tqdm
    object per run, whose first one starts a monitor thread that outlives the run)."""

    def run(self, *args: Any, initial_env: dict[fx.Node, Any] | None = None,
            enable_io_processing: bool = True) -> Any:
        self.env = initial_env if initial_env is not None else {}
        if enable_io_processing:
            args = self.graph.process_inputs(*args)
        self.args_iter = iter(args)
        for node in self.graph.nodes:
            if node not in self.env:
                self.env[node] = self.run_node(node)
            if self.garbage_collect_values:
                for used in self.user_to_last_uses.get(node, []):
                    del self.env[used]
            if node.op == "output":
                output = self.env[node]
                return self.graph.process_outputs(output) if enable_io_processing else output
        return None


class _Recorder(NodeRunner):
    """Runs a GraphModule node by node, handing each layer's output to a callback."""

    def __init__(self, model: fx.GraphModule, values: dict[fx.Node, str], on_value: ValueCallback) -> None:
        super().__init__(model)
        self._values = values
        self._on_value = on_value

    def run_node(self, n: fx.Node) -> Any:
        result = super().run_node(n)
        node_id = self._values.get(n)
        if node_id is not None and isinstance(result, torch.Tensor):
            self._on_value(node_id, result)
        return result


def run_watched(layers: LayerMap, on_value: ValueCallback, *args: Any) -> Any:
    """Runs a GraphModule's forward on ``args`` node by node, reporting each layer's output to
    ``on_value``; returns what the forward returns. Nothing on the module changes (no hook, no swapped
    ``forward``), so a ``torch.compile`` of it keeps its compiled code."""
    return _Recorder(layers.model, layers.values, on_value).run(*args)  # type: ignore[arg-type]


@contextlib.contextmanager
def watching_layers(layers: LayerMap, on_value: ValueCallback) -> Iterator[None]:
    """Within the block, every forward of ``layers.model`` reports each layer's output to ``on_value``.

    Call the model (or a wrapper around it) inside the block; on leaving it the model is as before.
    """
    model = layers.model
    if layers.is_fx:
        recorder = _Recorder(model, layers.values, on_value)  # type: ignore[arg-type]
        names = [n.target for n in model.graph.nodes if n.op == "placeholder"]  # type: ignore[union-attr]

        def forward(*args: Any, **kwargs: Any) -> Any:
            if kwargs:
                given = dict(zip(names, args)) | kwargs
                args = tuple(given[name] for name in names)
            return recorder.run(*args)

        # An instance attribute shadows the class's generated forward for this block only.
        model.forward = forward  # type: ignore[method-assign]
        try:
            yield
        finally:
            del model.forward
        return
    handles = []
    for name, layer in layers.layers.items():
        if layer.has_output:
            module = model.get_submodule(name)
            handles.append(module.register_forward_hook(_hook(name, on_value)))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _hook(name: str, on_value: ValueCallback) -> Callable[..., None]:
    def hook(_module: nn.Module, _args: object, output: object) -> None:
        if isinstance(output, torch.Tensor):
            on_value(name, output)
        elif isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
            on_value(name, output[0])
    return hook


def unwrap(module: nn.Module) -> nn.Module:
    """Returns the network inside wrappers: ``torch.compile``'s module and DistributedDataParallel."""
    while True:
        inner = getattr(module, "_orig_mod", None)
        if isinstance(inner, nn.Module):
            module = inner
            continue
        if isinstance(module, nn.parallel.DistributedDataParallel | nn.DataParallel):
            module = module.module
            continue
        return module


def eager(forward: nn.Module) -> nn.Module:
    """Returns what to call for a watched step: ``forward`` without ``torch.compile`` (a wrapper such as
    DistributedDataParallel stays, so gradients are still shared between processes)."""
    inner = getattr(forward, "_orig_mod", None)
    return eager(inner) if isinstance(inner, nn.Module) else forward

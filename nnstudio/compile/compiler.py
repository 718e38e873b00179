"""Graph -> ``torch.fx.GraphModule``: the network nnstudio trains, exports and inspects.

The fx graph lists the layers in topological order; each module layer is a submodule named after
its node id, so state dict keys read ``conv1.weight``. The same fx graph is printed as the
``forward`` of the exported ``model.py`` (see :mod:`nnstudio.compile.codegen`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import fx, nn

from nnstudio.compile.analysis import analyze
from nnstudio.compile.initialisation import init_steps, initialise
from nnstudio.compile.results import Analysis
from nnstudio.compile.rule_kinds import ModuleRule
from nnstudio.compile.rules import COMMENT, FUNCTION, HELPER, NODE_ID, rule_for
from nnstudio.compile.stored_weights import load_stored_weights, to_tensor
from nnstudio.core.catalog import LayerKind
from nnstudio.core.errors import GraphError
from nnstudio.core.graph import Graph

__all__ = ["COMMENT", "FUNCTION", "HELPER", "NODE_ID", "CompileError", "FxPlan", "build_fx_graph", "build_module",
           "compile_graph", "current_analysis", "place", "require_valid"]


class CompileError(GraphError):
    """The graph cannot become a module; ``node_id`` names the layer at fault (None: the whole network)."""


@dataclass(frozen=True)
class FxPlan:
    """An fx graph for a network, plus the submodules (unbuilt) it calls."""

    graph: fx.Graph
    analysis: Analysis
    #: Module layer ids, in the order their submodules are created.
    module_ids: tuple[str, ...]
    #: Parameter layer ids (tensors the network holds), in graph order.
    tensor_ids: tuple[str, ...] = ()


def current_analysis(graph: Graph, analysis: Analysis | None) -> Analysis:
    """Return ``analysis`` when it describes ``graph``, else a fresh analysis of it."""
    if analysis is not None and analysis.revision == graph.revision and set(analysis.nodes) == set(
            graph.node_ids()):
        return analysis
    return analyze(graph)


def require_valid(analysis: Analysis) -> None:
    """Raise :class:`CompileError` for the first error of ``analysis``."""
    errors = analysis.errors
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise CompileError(first.message + more, first.node_id)


def build_fx_graph(graph: Graph, analysis: Analysis | None = None) -> FxPlan:
    """Return the fx graph of a valid network; raises CompileError for a network with errors."""
    analysis = current_analysis(graph, analysis)
    require_valid(analysis)
    fx_graph = fx.Graph()
    values: dict[str, fx.Node] = {}
    results: list[fx.Node] = []
    module_ids: list[str] = []
    tensor_ids: list[str] = []
    for node_id in graph.topological_order():
        node = graph.node(node_id)
        spec = node.spec
        inputs = [values[e.source] for e in graph.in_edges(node_id)]
        if spec.kind is LayerKind.OUTPUT:
            results.append(inputs[0])
            continue
        rule = rule_for(spec)
        if isinstance(rule, ModuleRule):
            module_ids.append(node_id)
        elif spec.kind is LayerKind.PARAMETER:
            tensor_ids.append(node_id)
        value = rule.emit(fx_graph, node_id, spec, analysis.nodes[node_id].resolved, inputs)
        if value is None:  # a module held but not called
            continue
        value.meta[NODE_ID] = node_id
        values[node_id] = value
    if not results:
        raise CompileError("the network has no Output layer")
    fx_graph.output(results[0] if len(results) == 1 else tuple(results))
    fx_graph.lint()
    return FxPlan(fx_graph, analysis, tuple(module_ids), tuple(tensor_ids))


def compile_graph(graph: Graph, analysis: Analysis | None = None) -> fx.GraphModule:
    """Return the network as a ``torch.fx.GraphModule`` whose submodules are named after node ids.

    ``analysis`` (of this graph revision) saves re-analysing; without it the graph is analysed
    here. Raises :class:`CompileError` (and nothing else) when the network has errors or a layer
    cannot be built.
    """
    plan = build_fx_graph(graph, analysis)  # networks too large for memory are analysis errors
    return build_module(graph, plan)


def build_module(graph: Graph, plan: FxPlan) -> fx.GraphModule:
    """Return the GraphModule of ``plan``: every module and tensor placed at its layer's dotted path."""
    modules: dict[str, nn.Module] = {}
    for node_id in plan.module_ids:
        spec = graph.node(node_id).spec
        rule = rule_for(spec)
        assert isinstance(rule, ModuleRule)
        try:
            modules[node_id] = rule.build(spec, plan.analysis.nodes[node_id].resolved)
        except (RuntimeError, MemoryError) as exc:
            size = plan.analysis.nodes[node_id].params
            raise CompileError(f"{spec.title} with {size:,} parameters cannot be built: {exc}", node_id) from None
        except Exception as exc:  # the analysis builds the same module on meta, so this is rare
            raise CompileError(f"{spec.title} cannot be built: {exc}", node_id) from None
    # Initialisation schemes after every layer is built, in model.py's order; stored weights win.
    for node_id in plan.module_ids:
        initialise(modules[node_id], init_steps(modules[node_id], graph.node(node_id).init))
    load_stored_weights(modules, graph)
    tensors = {node_id: _held_tensor(graph, plan, node_id) for node_id in plan.tensor_ids}
    root = nn.Module()
    for node_id, module in modules.items():
        place(root, node_id, module)
    for node_id, tensor in tensors.items():
        place(root, node_id, tensor, persistent=plan.analysis.nodes[node_id].resolved["role"] != "constant")
    compiled = fx.GraphModule(root, plan.graph, class_name="Model")
    # GraphModule copies only what its graph reads; held modules and tensors are placed as well, and
    # every tensor again so that a buffer the state dict leaves out stays out of it.
    for node_id, module in modules.items():
        place(compiled, node_id, module)
    for node_id, tensor in tensors.items():
        place(compiled, node_id, tensor, persistent=plan.analysis.nodes[node_id].resolved["role"] != "constant")
    return compiled


def _held_tensor(graph: Graph, plan: FxPlan, node_id: str) -> torch.Tensor:
    rule = rule_for(graph.node(node_id).spec)
    stored = graph.node(node_id).weights.get("")
    return rule.make(plan.analysis.nodes[node_id].resolved, None if stored is None else to_tensor(stored))  # type: ignore[attr-defined]


def place(root: nn.Module, path: str, value: nn.Module | torch.Tensor, *, persistent: bool = True) -> None:
    """Set ``value`` at the dotted ``path`` below ``root``, creating plain containers on the way.

    A tensor that is not an ``nn.Parameter`` becomes a buffer (``persistent=False``: left out of the
    state dict).
    """
    *parents, name = path.split(".")
    owner = root
    for part in parents:
        child = owner._modules.get(part)
        if child is None:
            child = nn.Module()
            owner.add_module(part, child)
        owner = child
    for table in (owner._parameters, owner._buffers, owner._modules):
        table.pop(name, None)
    owner._non_persistent_buffers_set.discard(name)
    if isinstance(value, nn.Module):
        owner.add_module(name, value)
    elif isinstance(value, nn.Parameter):
        owner.register_parameter(name, value)
    else:
        owner.register_buffer(name, value, persistent=persistent)

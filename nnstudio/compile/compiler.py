"""Graph -> ``torch.fx.GraphModule``: the network nnstudio trains, exports and inspects.

The fx graph lists the layers in topological order; each module layer is a submodule named after
its node id, so state dict keys read ``conv1.weight``. The same fx graph is printed as the
``forward`` of the exported ``model.py`` (see :mod:`nnstudio.compile.codegen`).
"""

from __future__ import annotations

import operator
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import fx, nn

from nnstudio.compile.analysis import analyze
from nnstudio.compile.layers import build_module, call_arguments, result_selection, selection_comment
from nnstudio.compile.results import Analysis
from nnstudio.compile.stored_weights import load_stored_weights
from nnstudio.core.catalog import LayerKind, LayerSpec
from nnstudio.core.errors import GraphError
from nnstudio.core.graph import Graph

#: ``node.meta`` key marking fx nodes that are steps inside one layer (not a layer's final value).
HELPER = "nnstudio_helper"
#: ``node.meta`` key holding the editor node id an fx node belongs to.
NODE_ID = "nnstudio_node"
#: ``node.meta`` key with a note for the generated code (what a selection keeps).
COMMENT = "nnstudio_comment"


class CompileError(GraphError):
    """The graph cannot become a module; ``node_id`` names the layer at fault (None: the whole network)."""


@dataclass(frozen=True)
class FxPlan:
    """An fx graph for a network, plus the submodules (unbuilt) it calls."""

    graph: fx.Graph
    analysis: Analysis
    #: Module layer ids, in the order their submodules are created.
    module_ids: tuple[str, ...]


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
    for node_id in graph.topological_order():
        node = graph.node(node_id)
        spec = node.spec
        inputs = [values[e.source] for e in graph.in_edges(node_id)]
        resolved = analysis.nodes[node_id].resolved
        if spec.kind is LayerKind.INPUT:
            value = fx_graph.placeholder(node_id)
        elif spec.kind is LayerKind.OUTPUT:
            results.append(inputs[0])
            continue
        elif spec.kind is LayerKind.MERGE:
            value = _merge(fx_graph, node_id, spec.type_id, resolved, inputs)
        elif spec.kind is LayerKind.RESHAPE:
            value = _reshape(fx_graph, node_id, tuple(resolved["shape"]), inputs[0])
        else:
            module_ids.append(node_id)
            value = _module_call(fx_graph, node_id, spec, resolved, inputs[0])
        value.meta[NODE_ID] = node_id
        values[node_id] = value
    if not results:
        raise CompileError("the network has no Output layer")
    fx_graph.output(results[0] if len(results) == 1 else tuple(results))
    fx_graph.lint()
    return FxPlan(fx_graph, analysis, tuple(module_ids))


def compile_graph(graph: Graph, analysis: Analysis | None = None) -> fx.GraphModule:
    """Return the network as a ``torch.fx.GraphModule`` whose submodules are named after node ids.

    ``analysis`` (of this graph revision) saves re-analysing; without it the graph is analysed
    here. Raises :class:`CompileError` (and nothing else) when the network has errors or a layer
    cannot be built.
    """
    plan = build_fx_graph(graph, analysis)
    _check_memory(plan)
    modules: dict[str, nn.Module] = {}
    for node_id in plan.module_ids:
        spec = graph.node(node_id).spec
        try:
            modules[node_id] = build_module(spec, plan.analysis.nodes[node_id].resolved)
        except (RuntimeError, MemoryError) as exc:
            size = plan.analysis.nodes[node_id].params
            raise CompileError(f"{spec.title} with {size:,} parameters cannot be built: {exc}", node_id) from None
        except Exception as exc:  # the analysis builds the same module on meta, so this is rare
            raise CompileError(f"{spec.title} cannot be built: {exc}", node_id) from None
    load_stored_weights(modules, graph)
    return fx.GraphModule(modules, plan.graph, class_name="Model")


#: Training holds the weights, their gradients and (Adam) two moments: about 4x the weights. Networks
#: beyond that are refused: building one that merely fits would push the machine into swapping.
TRAINING_MEMORY_FACTOR = 4


def physical_memory_bytes() -> int | None:
    """Return the machine's physical memory in bytes, or None where the platform does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _check_memory(plan: FxPlan) -> None:
    """Refuse weights that cannot fit in memory, before allocating them.

    Analysis counts parameters on meta tensors, so a 10^12-parameter Linear is only a number there;
    building it for real would fail slowly or wake the out-of-memory killer instead of saying why.
    """
    limit = physical_memory_bytes()
    if limit is None:
        return
    results = plan.analysis.nodes
    weight_bytes = 4 * sum(results[n].params for n in plan.module_ids)  # float32
    if weight_bytes * TRAINING_MEMORY_FACTOR <= limit:
        return
    largest = max(plan.module_ids, key=lambda n: results[n].params)
    raise CompileError(f"the weights need {_bytes(weight_bytes)} as float32 and training about "
                       f"{TRAINING_MEMORY_FACTOR} times that, more than this machine's {_bytes(limit)} of "
                       f"memory; this layer alone has {results[largest].params:,} parameters", largest)


def _bytes(count: int) -> str:
    """Return a byte count for people: ``97.7 KB``, ``3.6 TB``."""
    units = ("bytes", "KB", "MB", "GB", "TB")
    size, unit = float(count), 0
    while size >= 1024 and unit < len(units) - 1:
        size /= 1024
        unit += 1
    return f"{count} bytes" if unit == 0 else f"{size:.1f} {units[unit]}"


# --- one layer at a time -------------------------------------------------------------------------

def _helper(node: fx.Node, node_id: str) -> fx.Node:
    node.meta[HELPER] = True
    node.meta[NODE_ID] = node_id
    return node


def _module_call(fx_graph: fx.Graph, node_id: str, spec: LayerSpec, resolved: Mapping[str, Any], x: fx.Node
                 ) -> fx.Node:
    copies, keywords = call_arguments(spec)
    selection = result_selection(spec, resolved)
    call_name = f"{node_id}_result" if selection else node_id
    call = fx_graph.create_node("call_module", node_id, tuple([x] * copies), dict(keywords), name=call_name)
    value = call
    for step, index in enumerate(selection):
        last = step == len(selection) - 1
        value = fx_graph.create_node("call_function", operator.getitem, (value, index),
                                     name=node_id if last else f"{node_id}_part")
        if not last:
            _helper(value, node_id)
    if selection:
        _helper(call, node_id)  # the raw (output, state) pair is a step; the selection is the value
        value.meta[COMMENT] = selection_comment(spec, resolved)
    return value


def _merge(fx_graph: fx.Graph, node_id: str, type_id: str, resolved: Mapping[str, Any], inputs: list[fx.Node]
           ) -> fx.Node:
    if type_id == "concat":
        return fx_graph.create_node("call_function", torch.cat, (list(inputs),), {"dim": resolved["dim"]},
                                    name=node_id)
    function = torch.add if type_id == "add" else torch.mul
    value = inputs[0]
    for position, other in enumerate(inputs[1:], start=2):
        last = position == len(inputs)
        value = fx_graph.create_node("call_function", function, (value, other),
                                     name=node_id if last else f"{node_id}_partial")
        if not last:
            _helper(value, node_id)
    return value


def _reshape(fx_graph: fx.Graph, node_id: str, shape: tuple[int, ...], x: fx.Node) -> fx.Node:
    batch = _helper(fx_graph.create_node("call_method", "size", (x, 0), name=f"{node_id}_batch"), node_id)
    return fx_graph.create_node("call_method", "reshape", (x, batch, *shape), name=node_id)

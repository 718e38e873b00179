"""Whole-graph analysis: structure checks, incremental shape inference, then lints.

:class:`ShapeInference` keeps a cache of per-node results keyed by everything a node's result
depends on: its type, its parameters and its inputs' shapes and dtypes. After an edit, nodes
upstream of the change find their key unchanged and reuse the cached result; only the edited node
and the nodes whose inputs actually changed are inferred again. Use one ShapeInference per editor
(it is not thread-safe); the module-level :func:`analyze` uses a fresh one.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from nnstudio.compile.fixes import InsertOnEdge, fit_pinned_size
from nnstudio.compile.lints import run_lints
from nnstudio.compile.memory import memory_problem
from nnstudio.compile.node_inference import NodeOutcome, TensorInfo, infer_node
from nnstudio.compile.results import Analysis, NodeResult
from nnstudio.compile.stored_weights import weight_problems
from nnstudio.compile.tensors import NodeFailure
from nnstudio.compile.validation import check_structure
from nnstudio.core.catalog import LayerKind, LayerSpec
from nnstudio.core.graph import Edge, Graph
from nnstudio.core.problems import Fix, Problem, name_problems
from nnstudio.core.settings import TrainingSettings

_CacheKey = tuple[Any, ...]


class ShapeInference:
    """Analyses graphs, reusing per-node results between calls (the editor keeps one of these)."""

    def __init__(self, max_entries: int = 4096) -> None:
        self._cache: OrderedDict[_CacheKey, NodeOutcome] = OrderedDict()
        self._max_entries = max_entries
        #: Node ids inferred (not taken from the cache) by the latest :meth:`analyze` call.
        self.recomputed: list[str] = []
        #: Counters over this object's life.
        self.hits = 0
        self.misses = 0

    def clear(self) -> None:
        self._cache.clear()

    def analyze(self, graph: Graph, settings: TrainingSettings | None = None) -> Analysis:
        """Return the analysis of ``graph``: per-node results, edge shapes and every problem found.

        Never raises for a bad network: every finding is a :class:`Problem` tied to its node.
        ``settings`` enables the lints that depend on the dataset and the loss.
        """
        self.recomputed = []
        structure = check_structure(graph)
        analysis = Analysis(revision=graph.revision)
        problems: list[Problem] = list(structure.problems) + name_problems(graph)
        values: dict[str, TensorInfo] = {}
        wiring = structure.wiring
        for node_id in structure.order:
            if node_id in structure.broken:
                continue
            node = wiring.nodes[node_id]
            sources = [e.source for e in wiring.incoming[node_id]]
            if any(s not in values for s in sources):
                continue  # an upstream layer failed; its error already explains this one
            inputs = [values[s] for s in sources]
            params = wiring.rules[node_id].with_context(node.params, wiring.nodes)
            outcome = self._infer(node_id, node.type_id, node.spec, params, inputs)
            if outcome.failure is not None:
                problems.append(_failure_problem(node_id, outcome.failure, wiring.incoming[node_id]))
                continue
            assert outcome.output is not None
            values[node_id] = outcome.output
            analysis.nodes[node_id] = NodeResult(
                output_shape=outcome.output.display_shape,
                dtype=outcome.output.dtype_name,
                params=outcome.params,
                flops=outcome.flops,
                resolved=dict(outcome.resolved or {}),
                inferred=outcome.inferred,
            )
        for node in wiring.nodes.values():
            analysis.nodes.setdefault(node.id, NodeResult(resolved=dict(node.params)))
            if node.spec.kind is LayerKind.OUTPUT:
                analysis.output_shapes[node.id] = analysis.nodes[node.id].output_shape
        for edges in wiring.incoming.values():
            for edge in edges:
                analysis.edge_shapes[edge] = analysis.nodes[edge.source].output_shape
        too_large = memory_problem(analysis.nodes)
        if too_large is not None:
            problems.append(too_large)
        analysis.problems = problems + weight_problems(graph, analysis)
        analysis.problems.extend(run_lints(graph, analysis, settings, wiring))
        return analysis

    def infer(self, node_id: str, spec: LayerSpec, params: Mapping[str, Any], inputs: list[TensorInfo]
              ) -> NodeOutcome:
        """Return one layer's outcome through this cache (an importer infers as it builds a graph)."""
        return self._infer(node_id, spec.type_id, spec, params, inputs)

    def _infer(self, node_id: str, type_id: str, spec: LayerSpec, params: Mapping[str, Any],
               inputs: list[TensorInfo]) -> NodeOutcome:
        key = (type_id, tuple(params.items()), tuple(x.key for x in inputs))
        try:
            outcome = self._cache[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable parameter value: infer without caching
            self.misses += 1
            self.recomputed.append(node_id)
            return infer_node(spec, params, inputs)
        else:
            self.hits += 1
            self._cache.move_to_end(key)
            return outcome
        self.misses += 1
        self.recomputed.append(node_id)
        outcome = infer_node(spec, params, inputs)
        self._cache[key] = outcome
        if len(self._cache) > self._max_entries:
            self._cache.popitem(last=False)
        return outcome


def _failure_problem(node_id: str, failure: NodeFailure, incoming: list[Edge]) -> Problem:
    """Return the problem reporting a layer's failure, with the feeding layers named and its fix."""
    sources = [edge.source for edge in incoming]
    fix: Fix | None = None
    if failure.field is not None and failure.fitting is not None:
        fix = fit_pinned_size(node_id, failure.field, failure.fitting)
    elif failure.insert is not None:
        hint = failure.insert
        edge = incoming[hint.input_index]
        fix = Fix(hint.description.format(edge.source),
                  lambda project: InsertOnEdge(project.graph, edge, hint.type_id, dict(hint.params)))
    return Problem("error", failure.code, failure.describe(sources), node_id, failure.field, fix)


def analyze(graph: Graph, settings: TrainingSettings | None = None) -> Analysis:
    """Return the analysis of ``graph`` (see :meth:`ShapeInference.analyze`), without a shared cache."""
    return ShapeInference().analyze(graph, settings)

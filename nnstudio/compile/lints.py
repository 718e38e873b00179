"""Lints: the tutorials' classic mistakes, as warnings with a one-click fix where one exists.

Each lint reads the graph, the analysis (shapes) and, when given, the training settings; it never
changes anything. A fix is a :class:`~nnstudio.core.problems.Fix` whose ``make_command(project)``
returns the undoable command that repairs the project.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from nnstudio.compile.data_fit import loss_problems, network_problems, registry_facts
from nnstudio.compile.fixes import BypassNode, InsertOnEdge, set_loss
from nnstudio.compile.results import Analysis
from nnstudio.compile.validation import Wiring
from nnstudio.core.catalog import LayerKind
from nnstudio.core.commands import Macro, SetParam
from nnstudio.core.graph import Edge, Graph, Node
from nnstudio.core.problems import Fix, Problem
from nnstudio.core.project import Project
from nnstudio.core.settings import TrainingSettings

#: Layers that pass values through without mixing them nonlinearly (for the Linear -> Linear lint).
_LINEAR_PASSTHROUGH = frozenset({"dropout", "flatten", "reshape"})

Lint = Callable[[Wiring, Analysis, "TrainingSettings | None"], Iterator[Problem]]


def run_lints(graph: Graph, analysis: Analysis, settings: TrainingSettings | None = None,
              wiring: Wiring | None = None) -> list[Problem]:
    """Return the lint problems of ``graph`` (warnings, and an error for too few class scores).

    ``wiring`` is the graph's snapshot when the caller already has one (analysis does).
    """
    wiring = wiring or Wiring.of(graph)
    found: list[Problem] = []
    for lint in LINTS:
        found.extend(lint(wiring, analysis, settings))
    return found


def dataset_classes(settings: TrainingSettings) -> int | None:
    """Return how many classes the settings' dataset has, or None when unknown or not class labels.

    Read from the dataset registry's facts (see ``nnstudio.core.datasets``), without loading the data.
    """
    facts = registry_facts(settings)
    if isinstance(facts, Problem) or facts.task != "classification":
        return None
    return facts.classes


def _final_layers(wiring: Wiring) -> Iterator[tuple[Node, Edge]]:
    """Yield each layer that feeds an Output, with the wire into the Output."""
    for node in wiring.nodes.values():
        if node.spec.kind is LayerKind.OUTPUT:
            for edge in wiring.incoming[node.id]:
                yield wiring.nodes[edge.source], edge


def _bypass_fix(description: str, node_id: str) -> Fix:
    return Fix(description, lambda project: BypassNode(project.graph, node_id))


# --- the lints -----------------------------------------------------------------------------------

def softmax_before_cross_entropy(wiring: Wiring, analysis: Analysis, settings: TrainingSettings | None
                                 ) -> Iterator[Problem]:
    if settings is None or settings.loss != "cross_entropy":
        return
    for node, _ in _final_layers(wiring):
        if node.type_id == "softmax":
            yield Problem("warning", "softmax-before-cross-entropy",
                          "CrossEntropyLoss already applies log-softmax; a Softmax before it squashes the "
                          "scores twice and slows learning. Remove it (predictions keep the same order).",
                          node.id, fix=_bypass_fix(f"Remove {node.id} and wire its input to the Output",
                                                   node.id))


def sigmoid_before_bce(wiring: Wiring, analysis: Analysis, settings: TrainingSettings | None
                       ) -> Iterator[Problem]:
    if settings is None or settings.loss != "bce":
        return
    for node, _ in _final_layers(wiring):
        if node.type_id != "sigmoid":
            continue
        node_id = node.id

        def make(project: Project, node_id: str = node_id) -> Macro:
            return Macro("Use BCEWithLogitsLoss", [BypassNode(project.graph, node_id),
                                                   set_loss(project, "bce_with_logits")])

        yield Problem("warning", "sigmoid-before-bce",
                      "Sigmoid followed by BCELoss is numerically unstable for confident predictions; "
                      "BCEWithLogitsLoss does both in one stable step.", node_id,
                      fix=Fix(f"Remove {node_id} and switch the loss to BCEWithLogitsLoss", make))


def log_softmax_before_nll(wiring: Wiring, analysis: Analysis, settings: TrainingSettings | None
                           ) -> Iterator[Problem]:
    if settings is None or settings.loss != "nll":
        return
    for node, edge in _final_layers(wiring):
        if node.type_id == "log_softmax":
            continue
        yield Problem("warning", "nll-without-log-softmax",
                      "NLLLoss expects log-probabilities, but the network's last layer is "
                      f"{node.spec.title}; add a LogSoftmax (dim 1) before the Output, or use "
                      "CrossEntropyLoss.", node.id,
                      fix=Fix("Insert a LogSoftmax before the Output",
                              lambda project, edge=edge: InsertOnEdge(project.graph, edge, "log_softmax")))


def linear_after_linear(wiring: Wiring, analysis: Analysis, settings: TrainingSettings | None
                        ) -> Iterator[Problem]:
    for node in wiring.nodes.values():
        edges = wiring.incoming[node.id]
        if node.type_id != "linear" or len(edges) != 1:
            continue
        entry = edges[0]
        current = wiring.nodes[entry.source]
        seen = {node.id}
        while current.type_id in _LINEAR_PASSTHROUGH and current.id not in seen:
            seen.add(current.id)
            upstream = wiring.incoming[current.id]
            if len(upstream) != 1:
                break
            current = wiring.nodes[upstream[0].source]
        if current.type_id != "linear":
            continue
        yield Problem("warning", "linear-after-linear",
                      f"{node.id} follows {current.id} with no activation between them; two Linear layers "
                      "in a row equal a single linear map. Add a nonlinearity such as ReLU.", node.id,
                      fix=Fix(f"Insert a ReLU before {node.id}",
                              lambda project, edge=entry: InsertOnEdge(project.graph, edge, "relu")))


def output_matches_classes(wiring: Wiring, analysis: Analysis, settings: TrainingSettings | None
                           ) -> Iterator[Problem]:
    """The network against its data: one Input and Output, the Input's shape and dtype, Embedding
    sizes, and the output width (errors: training would refuse or crash); see ``compile.data_fit``."""
    if settings is None:
        return
    facts = registry_facts(settings)
    if not isinstance(facts, Problem):
        yield from network_problems(wiring, analysis, settings, facts)


def loss_matches_targets(wiring: Wiring, analysis: Analysis, settings: TrainingSettings | None
                         ) -> Iterator[Problem]:
    """The loss against the dataset's targets (errors), and the dataset's options themselves."""
    if settings is None:
        return
    facts = registry_facts(settings)
    if isinstance(facts, Problem):
        yield facts  # a bad option: the data cannot be described, let alone loaded
        return
    yield from loss_problems(settings, facts)


def softmax_over_batch(wiring: Wiring, analysis: Analysis, settings: TrainingSettings | None
                       ) -> Iterator[Problem]:
    """A (Log)Softmax along dim 0 mixes the samples of a batch: each prediction depends on the others."""
    for node in wiring.nodes.values():
        if node.type_id not in ("softmax", "log_softmax"):
            continue
        shape = analysis.shape_of(node.id)
        dim = node.params["dim"]
        if shape is None or not -len(shape) <= dim < len(shape) or dim % len(shape) != 0:
            continue
        node_id = node.id
        yield Problem("warning", "softmax-over-batch",
                      f"{node.spec.title} along dim {dim} normalises across the samples of a batch, so "
                      "each prediction depends on the others; use dim 1 (the classes)", node_id, "dim",
                      fix=Fix(f"Set {node_id}.dim to 1",
                              lambda project, node_id=node_id: SetParam(project.graph, node_id, "dim", 1)))


LINTS: tuple[Lint, ...] = (
    softmax_over_batch,
    softmax_before_cross_entropy,
    sigmoid_before_bce,
    log_softmax_before_nll,
    linear_after_linear,
    output_matches_classes,
    loss_matches_targets,
)

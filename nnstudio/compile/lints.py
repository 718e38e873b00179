"""Lints: the tutorials' classic mistakes, as warnings with a one-click fix where one exists.

Each lint reads the graph, the analysis (shapes) and, when given, the training settings; it never
changes anything. A fix is a :class:`~nnstudio.core.problems.Fix` whose ``make_command(project)``
returns the undoable command that repairs the project.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from nnstudio.compile.data_fit import loss_problems, network_problems, registry_facts
from nnstudio.compile.fixes import BypassNode, InsertOnEdge, set_loss
from nnstudio.compile.results import Analysis
from nnstudio.compile.rules import LayerRule, Trait
from nnstudio.compile.validation import Wiring
from nnstudio.core.catalog import LayerKind
from nnstudio.core.commands import Macro, SetParam
from nnstudio.core.graph import Edge, Graph, Node
from nnstudio.core.problems import Fix, Problem
from nnstudio.core.project import Project
from nnstudio.core.settings import (
    TrainingSettings,
)

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


def _insert_fix(description: str, edge: Edge, type_id: str) -> Fix:
    return Fix(description, lambda project: InsertOnEdge(project.graph, edge, type_id))


def _set_param_fix(node_id: str, name: str, value: Any) -> Fix:
    return Fix(f"Set {node_id}.{name} to {value}", lambda project: SetParam(project.graph, node_id, name, value))


def _upstream(wiring: Wiring, node: Node, through: Callable[[LayerRule], bool]) -> tuple[Node, list[Node]]:
    """Walk up from ``node`` through single-input layers whose rule satisfies ``through``.

    Returns the first layer that does not (or the last one reached), and the layers walked through.
    """
    current, passed, seen = node, [], {node.id}
    while through(wiring.rules[current.id]):
        edges = wiring.incoming[current.id]
        if len(edges) != 1 or edges[0].source in seen:
            break
        passed.append(current)
        current = wiring.nodes[edges[0].source]
        seen.add(current.id)
    return current, passed


def _passes_linearly(rule: LayerRule) -> bool:
    return rule.has(Trait.PASSES_LINEARLY)


def _scoring_layers(wiring: Wiring) -> Iterator[tuple[Node, list[Node], Edge]]:
    """Yield the layer whose values reach each Output, looking through pass-through layers (Dropout,
    Flatten...), with the layers looked through and the wire into the Output."""
    for node, edge in _final_layers(wiring):
        layer, passed = _upstream(wiring, node, _passes_linearly)
        yield layer, passed, edge


def _through(passed: list[Node]) -> str:
    return f" (through {', '.join(n.id for n in reversed(passed))})" if passed else ""


# --- the lints -----------------------------------------------------------------------------------

def softmax_before_cross_entropy(wiring: Wiring, analysis: Analysis, settings: TrainingSettings | None
                                 ) -> Iterator[Problem]:
    if settings is None or settings.loss != "cross_entropy":
        return
    for node, passed, _ in _scoring_layers(wiring):
        if wiring.rules[node.id].has(Trait.PROBABILITIES):
            yield Problem("warning", "softmax-before-cross-entropy",
                          f"{node.id} applies a {node.spec.title}{_through(passed)} before CrossEntropyLoss, "
                          "which applies log-softmax itself, so the scores are squashed twice and learning "
                          f"slows; remove {node.id} (the predicted class stays the same)",
                          node.id, fix=_bypass_fix(f"Remove {node.id} and wire its input onward", node.id))


def sigmoid_before_bce(wiring: Wiring, analysis: Analysis, settings: TrainingSettings | None
                       ) -> Iterator[Problem]:
    """A sigmoid before BCELoss: numerically unstable; BCEWithLogitsLoss does both in one step."""
    if settings is None or settings.loss != "bce":
        return
    for node, passed, _ in _scoring_layers(wiring):
        if not wiring.rules[node.id].has(Trait.UNIT_INTERVAL) or len(wiring.incoming[node.id]) != 1:
            continue
        node_id = node.id

        def make(project: Project, node_id: str = node_id) -> Macro:
            return Macro("Use BCEWithLogitsLoss", [BypassNode(project.graph, node_id),
                                                   set_loss(project, "bce_with_logits")])

        yield Problem("warning", "sigmoid-before-bce",
                      f"{node_id} applies a {node.spec.title}{_through(passed)} before BCELoss, which is "
                      f"numerically unstable for confident predictions; remove {node_id} and switch the loss to "
                      "BCEWithLogitsLoss, which does both in one stable step", node_id,
                      fix=Fix(f"Remove {node_id} and switch the loss to BCEWithLogitsLoss", make))


def sigmoid_before_bce_with_logits(wiring: Wiring, analysis: Analysis, settings: TrainingSettings | None
                                   ) -> Iterator[Problem]:
    """A sigmoid before BCEWithLogitsLoss: the loss applies its own, so predictions never fall below 0.5."""
    if settings is None or settings.loss != "bce_with_logits":
        return
    for node, passed, _ in _scoring_layers(wiring):
        if not wiring.rules[node.id].has(Trait.UNIT_INTERVAL) or len(wiring.incoming[node.id]) != 1:
            continue
        yield Problem("warning", "sigmoid-before-bce-with-logits",
                      f"{node.id} applies a {node.spec.title}{_through(passed)} before BCEWithLogitsLoss, which "
                      "applies a sigmoid itself, so the sigmoid is applied twice and no prediction can fall "
                      f"below 0.5; remove {node.id}", node.id,
                      fix=_bypass_fix(f"Remove {node.id} and wire its input onward", node.id))


def log_softmax_before_nll(wiring: Wiring, analysis: Analysis, settings: TrainingSettings | None
                           ) -> Iterator[Problem]:
    if settings is None or settings.loss != "nll":
        return
    for node, _, edge in _scoring_layers(wiring):
        if wiring.rules[node.id].has(Trait.LOG_PROBABILITIES):
            continue
        yield Problem("warning", "nll-without-log-softmax",
                      f"the network ends with {node.id} ({node.spec.title}), but NLLLoss expects "
                      "log-probabilities; insert a LogSoftmax (dim 1) before the Output, or use CrossEntropyLoss",
                      node.id, fix=_insert_fix("Insert a LogSoftmax before the Output", edge, "log_softmax"))


_BETWEEN_LINEAR_MAPS = frozenset({Trait.PASSES_LINEARLY, Trait.NORMALISER})
_LINEAR_CHAIN = _BETWEEN_LINEAR_MAPS | {Trait.LINEAR_MAP}


def _between_linear_maps(rule: LayerRule) -> bool:
    return not _BETWEEN_LINEAR_MAPS.isdisjoint(rule.traits)


def linear_after_linear(wiring: Wiring, analysis: Analysis, settings: TrainingSettings | None
                        ) -> Iterator[Problem]:
    """Two linear maps with only linear steps or normalisers between them collapse into one map."""
    for node in wiring.having(Trait.LINEAR_MAP):
        edges = wiring.incoming[node.id]
        if len(edges) != 1:
            continue
        entry = edges[0]
        if _LINEAR_CHAIN.isdisjoint(wiring.rules[entry.source].traits):
            continue  # the common case, an activation before the Linear: nothing to walk
        current, passed = _upstream(wiring, wiring.nodes[entry.source], _between_linear_maps)
        if not wiring.rules[current.id].has(Trait.LINEAR_MAP) or current.id == node.id:
            continue
        between = f"only {', '.join(n.id for n in reversed(passed))} and " if passed else ""
        normalisers = [n for n in passed if wiring.rules[n.id].has(Trait.NORMALISER)]
        aside = (f" ({normalisers[0].spec.title} normalises but is not a nonlinearity)" if normalisers else "")
        yield Problem("warning", "linear-after-linear",
                      f"{node.id} follows {current.id} with {between}no activation between them{aside}, so the two "
                      f"{node.spec.title} layers act as a single linear map; insert an activation such as "
                      f"ReLU before {node.id}", node.id,
                      fix=_insert_fix(f"Insert a ReLU before {node.id}", entry, "relu"))


def bias_before_norm(wiring: Wiring, analysis: Analysis, settings: TrainingSettings | None
                     ) -> Iterator[Problem]:
    """A learned bias right before a normaliser that subtracts each channel's mean is wasted."""
    for node in wiring.having(Trait.NORMALISER):
        axis = wiring.rules[node.id].centres_axis
        edges = wiring.incoming[node.id]
        if axis is None or len(edges) != 1:
            continue
        producer = wiring.nodes[edges[0].source]
        bias_axis = wiring.rules[producer.id].bias_axis
        shape = analysis.shape_of(producer.id)
        if (bias_axis is None or producer.params.get("bias") is not True or shape is None
                or wiring.feeds[producer.id] != [node.id] or bias_axis % len(shape) != axis % len(shape)):
            continue
        yield Problem("warning", "bias-before-norm",
                      f"{producer.id}'s bias is wasted, because {node.id} ({node.spec.title}) right after it "
                      f"subtracts each channel's mean and so removes it; set bias to False on {producer.id}",
                      producer.id, "bias", fix=_set_param_fix(producer.id, "bias", False))


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
    for node in wiring.having(Trait.PROBABILITIES, Trait.LOG_PROBABILITIES):
        if "dim" not in node.params:
            continue
        shape = analysis.shape_of(node.id)
        dim = node.params["dim"]
        if shape is None or not -len(shape) <= dim < len(shape) or dim % len(shape) != 0:
            continue
        yield Problem("warning", "softmax-over-batch",
                      f"{node.id} normalises along dim {dim}, across the samples of a batch, so each prediction "
                      "depends on the others in its batch; set dim to 1 (the classes)", node.id, "dim",
                      fix=_set_param_fix(node.id, "dim", 1))


LINTS: tuple[Lint, ...] = (
    softmax_over_batch,
    softmax_before_cross_entropy,
    sigmoid_before_bce,
    sigmoid_before_bce_with_logits,
    log_softmax_before_nll,
    linear_after_linear,
    bias_before_norm,
    output_matches_classes,
    loss_matches_targets,
)

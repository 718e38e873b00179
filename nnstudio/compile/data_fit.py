"""Does the network fit its data? The one rule that decides, for every place that asks.

:func:`fit_problems` compares a network (its wiring and analysis) with what is known about its
dataset (:class:`~nnstudio.core.datasets.DatasetFacts`) under the project's loss, and returns the
disagreements as error :class:`~nnstudio.core.problems.Problem` s, each one sentence naming the
layer, what is wrong and what to do (after a semicolon), with a one-click fix where there is one:

- the trainer feeds one tensor and compares one result: one Input and one Output;
- the Input's shape and dtype against one sample's;
- an Embedding fed by the Input must have a row for every token id;
- the loss against the targets (class labels, 0/1 values, real values) and two classes for BCE;
- the Output's shape against the targets: ``[N, classes]``, ``[N, 1]`` for BCE, ``[N, values]``.

Before any data is read, the lints call it with the facts the dataset registry knows from the
options (so ``nnstudio check``, the window's status bar and Problems list show these errors); once
``nnstudio train`` or the window has loaded the data, the pre-flight check calls it again with the
facts of the real data (a CSV's class count, a text vocabulary). Same rule, same words, everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator

from nnstudio.compile.fixes import set_loss
from nnstudio.compile.results import Analysis
from nnstudio.compile.rules import Trait
from nnstudio.compile.validation import Wiring
from nnstudio.core.catalog import LayerKind
from nnstudio.core.commands import SetParam
from nnstudio.core.datasets import DATASETS, DatasetError, DatasetFacts, dataset_facts
from nnstudio.core.formatting import format_shape
from nnstudio.core.graph import Node
from nnstudio.core.problems import Fix, Problem
from nnstudio.core.settings import (
    BINARY_LOSSES,
    CLASSIFICATION_LOSSES,
    LOSS_TITLES,
    TrainingSettings,
    task_for,
)

REGRESSION_LOSSES = frozenset({"mse", "l1", "smooth_l1"})
#: The codes of the loss problems: fixed first, since the right output width depends on the loss.
LOSS_CODES = frozenset({"regression-loss-on-classes", "classification-loss-on-values", "binary-loss-many-classes"})
#: The codes of the problems this rule reports (a run refused for one of them is a data mismatch).
DATA_FIT_CODES = LOSS_CODES | frozenset({
    "dataset-option", "one-input", "one-output", "input-shape-mismatch", "input-dtype-mismatch",
    "embedding-vocabulary", "classifier-output-rank", "class-count-mismatch", "binary-output-width",
    "regression-output-width",
})


def first_to_fix(problems: list[Problem]) -> Problem:
    """Return the data-fit problem a person should fix first: the loss before the output width."""
    return next((p for p in problems if p.code in LOSS_CODES), problems[0])


def registry_facts(settings: TrainingSettings) -> DatasetFacts | Problem:
    """Return what the registry knows of the settings' dataset, or the problem with its options."""
    dataset = settings.dataset
    try:
        return dataset_facts(dataset.kind, dataset.options)
    except DatasetError as exc:
        return Problem("error", "dataset-option", str(exc), field=exc.option)


def fit_problems(wiring: Wiring, analysis: Analysis, settings: TrainingSettings,
                 facts: DatasetFacts) -> list[Problem]:
    """Return every way the network and loss disagree with data described by ``facts``."""
    return [*loss_problems(settings, facts), *network_problems(wiring, analysis, settings, facts)]


def _dataset_name(settings: TrainingSettings) -> str:
    return f"the {settings.dataset.kind} dataset"


def loss_problems(settings: TrainingSettings, facts: DatasetFacts) -> Iterator[Problem]:
    """The loss against the kind of targets: class labels, values, and two classes for BCE."""
    if facts.task is None:
        return
    loss, data = settings.loss, _dataset_name(settings)
    title = LOSS_TITLES[loss]
    if loss in REGRESSION_LOSSES and facts.task == "classification":
        switch = ""
        spec = DATASETS.get(settings.dataset.kind)
        if "task" in spec.option_names and "regression" in spec.option("task").choices:
            switch = (", or set the dataset's task option to regression if the targets are numbers to "
                      "predict")
        yield Problem("error", "regression-loss-on-classes",
                      f"{title} cannot learn {data}: its targets are class labels, which {title} would treat "
                      f"as numbers to approach (as if class 9 were near 8); use CrossEntropyLoss{switch}",
                      fix=Fix("Switch the loss to CrossEntropyLoss", lambda project: set_loss(project, "cross_entropy")))
    elif (loss in CLASSIFICATION_LOSSES or loss in BINARY_LOSSES) and facts.task == "regression":
        yield Problem("error", "classification-loss-on-values",
                      f"{title} cannot learn {data}: its targets are real values, not class labels; use MSELoss "
                      "(or L1Loss / SmoothL1Loss)",
                      fix=Fix("Switch the loss to MSELoss", lambda project: set_loss(project, "mse")))
    elif loss in BINARY_LOSSES and facts.classes is not None and facts.classes != 2:
        yield Problem("error", "binary-loss-many-classes",
                      f"{title} learns two classes, but {data} has {facts.classes}; use CrossEntropyLoss with "
                      f"{facts.classes} outputs",
                      fix=Fix("Switch the loss to CrossEntropyLoss", lambda project: set_loss(project, "cross_entropy")))


def _of_kind(wiring: Wiring, kind: LayerKind) -> list[Node]:
    return [node for node in wiring.nodes.values() if node.spec.kind is kind]


def network_problems(wiring: Wiring, analysis: Analysis, settings: TrainingSettings,
                     facts: DatasetFacts) -> Iterator[Problem]:
    """The Input against one sample, Embeddings against the vocabulary, the Output against the targets."""
    inputs, outputs = _of_kind(wiring, LayerKind.INPUT), _of_kind(wiring, LayerKind.OUTPUT)
    if len(inputs) > 1:
        yield Problem("error", "one-input", f"The trainer feeds one tensor per sample, but the network has "
                      f"{len(inputs)} Input layers; remove {inputs[1].id} or merge the branches", inputs[1].id)
    if len(outputs) > 1:
        yield Problem("error", "one-output", f"The trainer compares one result with the targets, but the network "
                      f"has {len(outputs)} Output layers; remove {outputs[1].id}", outputs[1].id)
    data = _dataset_name(settings)
    if len(inputs) == 1:
        yield from _input_problems(wiring, analysis, inputs[0], facts, data)
    if len(outputs) == 1:
        yield from _output_problems(wiring, analysis, outputs[0], settings, facts, data)


def _input_problems(wiring: Wiring, analysis: Analysis, source: Node, facts: DatasetFacts,
                    data: str) -> Iterator[Problem]:
    node_id = source.id
    if facts.sample_shape is not None:
        declared = tuple(source.params.get("shape", ()))
        wanted = tuple(facts.sample_shape)
        if declared != wanted:
            shown = format_shape(wanted)
            yield Problem("error", "input-shape-mismatch",
                          f"{node_id} takes samples of shape {format_shape(declared)}, but {data} gives "
                          f"{shown}; set {node_id}.shape to {shown}", node_id, "shape",
                          fix=_set_param_fix(node_id, "shape", list(wanted)))
    dtype = source.params.get("dtype", "float32")
    if dtype != facts.dtype:
        what = "token ids (int64)" if facts.dtype == "int64" else "numbers (float32)"
        yield Problem("error", "input-dtype-mismatch",
                      f"{node_id} takes {dtype} values, but {data} gives {what}; set {node_id}.dtype to "
                      f"{facts.dtype}", node_id, "dtype",
                      fix=_set_param_fix(node_id, "dtype", facts.dtype))
    if facts.vocabulary is None:
        return
    for target in wiring.feeds[node_id]:
        layer = wiring.nodes[target]
        if "num_embeddings" not in layer.params:  # a lookup table of token vectors (Embedding)
            continue
        rows = analysis.nodes[target].resolved.get("num_embeddings", layer.params.get("num_embeddings"))
        if isinstance(rows, int) and rows < facts.vocabulary:
            vocabulary = facts.vocabulary
            yield Problem("error", "embedding-vocabulary",
                          f"{target} has {rows} rows, but {data} has token ids up to {vocabulary - 1}, which "
                          f"would index past its end; set {target}.num_embeddings to {vocabulary}",
                          target, "num_embeddings", fix=_set_param_fix(target, "num_embeddings", vocabulary))


def _set_param_fix(node_id: str, name: str, value: object) -> Fix:
    """Return the fix that sets ``node_id.name`` to ``value`` (one undoable step)."""
    return Fix(f"Set {node_id}.{name} to {value}", lambda project: SetParam(project.graph, node_id, name, value))


def _output_problems(wiring: Wiring, analysis: Analysis, output: Node, settings: TrainingSettings,
                     facts: DatasetFacts, data: str) -> Iterator[Problem]:
    edges = wiring.incoming[output.id]
    if len(edges) != 1 or facts.task is None:
        return
    last = wiring.nodes[edges[0].source]
    shape = analysis.shape_of(last.id)
    if shape is None:
        return
    loss = settings.loss
    title = LOSS_TITLES[loss]
    task = task_for(facts.task, loss)
    shown = format_shape(shape)
    if task == "binary" and loss in BINARY_LOSSES:
        if facts.classes not in (None, 2):
            return  # the loss itself is wrong (binary-loss-many-classes); its fix changes what fits
        if tuple(shape[1:]) != (1,):
            yield _width_problem(wiring, last, "binary-output-width", 1,
                                 f"{title} compares one score per sample with the 0/1 label, but {last.id} "
                                 f"returns {shown}")
    elif task == "classification" and loss in CLASSIFICATION_LOSSES and facts.classes is not None:
        classes = facts.classes
        if len(shape) != 2:
            yield Problem("error", "classifier-output-rank",
                          f"{title} wants one score per class, [N, {classes}], but {last.id} returns {shown}; "
                          f"add a Flatten and a Linear with {classes} outputs before the Output", last.id)
        elif shape[1] != classes:
            width = shape[1]
            if not isinstance(width, int):
                consequence = "the widths must match"
            elif width < classes:
                consequence = f"labels {width} and up would crash the loss"
            else:
                consequence = f"the extra {width - classes} scores could never be right"
            scores = f"{width} class score{'s' if width != 1 else ''}"
            yield _width_problem(wiring, last, "class-count-mismatch", classes,
                                 f"{last.id} returns {scores} per sample, but {data} has {classes} classes "
                                 f"({consequence})")
    elif task == "regression" and loss in REGRESSION_LOSSES and facts.target_width is not None:
        values = facts.target_width
        if len(shape) != 2 or shape[1] != values:
            yield _width_problem(wiring, last, "regression-output-width", values,
                                 f"{title} compares the output with {values} target value(s) per sample, [N, "
                                 f"{values}], but {last.id} returns {shown}")


def _width_problem(wiring: Wiring, last: Node, code: str, width: int, what: str) -> Problem:
    """Return the error ``what`` + what to do, on the Linear that sets the output width when there is one."""
    linear = _width_layer(wiring, last)
    if linear is None:
        return Problem("error", code, f"{what}; end the network with a Linear of out_features {width}", last.id)
    node_id = linear.id
    return Problem("error", code, f"{what}; set {node_id}.out_features to {width}", node_id, "out_features",
                   fix=_set_param_fix(node_id, "out_features", width))


def _width_layer(wiring: Wiring, last: Node) -> Node | None:
    """Return the linear map whose out_features decides the output width, looking up through layers that
    keep the shape (activations, Dropout, normalisers), as the layer rules describe them."""
    current, seen = last, {last.id}
    while wiring.rules[current.id].keeps_shape:
        edges = wiring.incoming[current.id]
        if len(edges) != 1 or edges[0].source in seen:
            return None
        current = wiring.nodes[edges[0].source]
        seen.add(current.id)
    if wiring.rules[current.id].has(Trait.LINEAR_MAP) and "out_features" in current.params:
        return current
    return None

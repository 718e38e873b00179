"""From a project to a ready :class:`TrainingRun`: analyse, load the data, check they agree, compile."""

from __future__ import annotations

import torch

from nnstudio.compile.results import Analysis
from nnstudio.core.catalog import LayerKind
from nnstudio.core.formatting import format_shape
from nnstudio.core.project import Project
from nnstudio.core.settings import BINARY_LOSSES, CLASSIFICATION_LOSSES, LOSS_TITLES
from nnstudio.train.data import DatasetBundle
from nnstudio.train.datasets import load_dataset
from nnstudio.train.distributed import WorkerContext
from nnstudio.train.faults import DataMismatchError
from nnstudio.train.trainer import TrainingRun


def check_data_fits(project: Project, analysis: object, bundle: DatasetBundle) -> None:
    """Raise :class:`DataMismatchError` when the network cannot train on ``bundle`` as it stands.

    Checks the Input node's shape against the samples, the loss against the kind of dataset, and the
    Output width against the class count (or the regression target width).
    """
    graph = project.graph
    settings = project.settings
    kind = settings.dataset.kind
    inputs = [n for n in graph.nodes() if n.spec.kind is LayerKind.INPUT]
    outputs = [n for n in graph.nodes() if n.spec.kind is LayerKind.OUTPUT]
    if len(inputs) != 1:
        raise DataMismatchError(f"the trainer feeds one tensor, so the network needs exactly one Input "
                                f"layer (it has {len(inputs)})", inputs[1].id if len(inputs) > 1 else None)
    if len(outputs) != 1:
        raise DataMismatchError(f"the trainer needs exactly one Output layer (the network has {len(outputs)})",
                                outputs[1].id if len(outputs) > 1 else None)
    source, output = inputs[0], outputs[0]
    declared = tuple(source.params.get("shape", ()))
    if declared != tuple(bundle.input_shape):
        raise DataMismatchError(
            f"the Input shape is {format_shape(declared)} but the {kind} dataset gives samples of shape "
            f"{format_shape(bundle.input_shape)}; set the Input's shape to {format_shape(bundle.input_shape)}",
            source.id)
    if source.params.get("dtype", "float32") != "float32":
        raise DataMismatchError(f"the Input takes {source.params.get('dtype')} but the {kind} dataset gives "
                                "float32 samples", source.id)
    loss = settings.loss
    title = LOSS_TITLES[loss]
    if bundle.task == "regression" and (loss in CLASSIFICATION_LOSSES or loss in BINARY_LOSSES):
        raise DataMismatchError(f"the {kind} dataset has real-valued targets, which {title} cannot learn; "
                                "choose MSE, L1 or SmoothL1 loss")
    if bundle.task != "regression" and loss not in CLASSIFICATION_LOSSES and loss not in BINARY_LOSSES:
        raise DataMismatchError(f"the {kind} dataset has class labels, which {title} cannot learn; choose "
                                "CrossEntropy (or BCE/BCEWithLogits for two classes)")
    if bundle.task == "binary" and bundle.num_classes != 2:
        raise DataMismatchError(f"{title} learns two classes but the {kind} dataset has {bundle.num_classes}; "
                                "choose CrossEntropy loss")
    shape = analysis.nodes[output.id].output_shape  # type: ignore[attr-defined]
    if shape is None:
        return
    width = shape[-1] if len(shape) == 2 else None
    if bundle.task == "classification":
        wanted, what = bundle.num_classes, f"{bundle.num_classes} classes"
    elif bundle.task == "binary":
        wanted, what = 1, f"one probability per sample for {title}"
    else:
        wanted, what = bundle.target_width, f"{bundle.target_width} target value(s) per sample"
    if len(shape) != 2 or width != wanted:
        raise DataMismatchError(
            f"the network's output is {format_shape(shape)} but the {kind} dataset needs [N, {wanted}] "
            f"({what}); make the last layer produce {wanted}", output.id)


def build_training_run(project: Project, *, device: torch.device | str | None = None,
                       num_workers: int | None = None, bundle: DatasetBundle | None = None,
                       analysis: Analysis | None = None,
                       distributed: WorkerContext | None = None) -> TrainingRun:
    """Return a run of ``project`` ready to ``run()``; raises an NnstudioError before any training.

    ``analysis`` is the project's current analysis (with its settings) when the caller has one (the
    editor's document, the CLI's single analysis); without it, or when it describes another revision
    of the graph, the project is analysed here.

    Errors come out in the order a person fixes them: network errors (CompileError naming the node),
    the dataset (DatasetError naming the option), then any disagreement between the two
    (DataMismatchError naming the Input or Output node). In a torchrun worker, ``distributed`` (from
    :func:`nnstudio.train.distributed.start_worker`) makes it a data-parallel run.
    """
    from nnstudio.compile import analyze, compile_graph
    from nnstudio.compile.compiler import require_valid

    settings = project.settings
    if analysis is None or analysis.revision != project.graph.revision:
        analysis = analyze(project.graph, settings)
    require_valid(analysis)
    if bundle is None:
        bundle = load_dataset(settings.dataset, settings.seed, loss=settings.loss,
                              val_fraction=settings.val_fraction)
    check_data_fits(project, analysis, bundle)
    # Seed before building so the initial weights (and thus the whole CPU run) repeat exactly.
    torch.manual_seed(settings.seed)
    model = compile_graph(project.graph, analysis)
    return TrainingRun(model, bundle, settings, device=device, num_workers=num_workers, project=project,
                       distributed=distributed)

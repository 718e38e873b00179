"""From a project to a ready :class:`TrainingRun`: analyse, load the data, check they agree, compile."""

from __future__ import annotations

from collections.abc import Callable

import torch

from nnstudio.compile.data_fit import DATA_FIT_CODES, first_to_fix, fit_problems
from nnstudio.compile.results import Analysis
from nnstudio.compile.validation import Wiring
from nnstudio.core.datasets import dataset_facts
from nnstudio.core.problems import Problem
from nnstudio.core.project import Project
from nnstudio.train.data import DatasetBundle
from nnstudio.train.datasets import load_dataset
from nnstudio.train.distributed import WorkerContext
from nnstudio.train.faults import DataMismatchError
from nnstudio.train.trainer import TrainingRun


def check_data_fits(project: Project, analysis: Analysis, bundle: DatasetBundle) -> list[Problem]:
    """Raise :class:`DataMismatchError` when the network cannot train on ``bundle`` as it stands.

    The same rule as the lints (``nnstudio.compile.data_fit``), now with the facts of the loaded data
    (a CSV's class count, a text's vocabulary): one Input and Output, the Input's shape and dtype,
    Embedding sizes, the loss against the targets, and the output width. Returns the warnings found
    (none today; the rule's findings all block a run).
    """
    problems = fit_problems(Wiring.of(project.graph), analysis, project.settings, bundle.facts)
    errors = [p for p in problems if p.is_error]
    if errors:
        first = first_to_fix(errors)
        raise DataMismatchError(first.message, first.node_id)
    return [p for p in problems if not p.is_error]


def _raise_first_error(project: Project, analysis: Analysis) -> None:
    """Raise for the analysis' errors in the order a person fixes them: network, dataset options, fit."""
    from nnstudio.compile.compiler import CompileError

    errors = analysis.errors
    network = [p for p in errors if p.code not in DATA_FIT_CODES]
    if network:
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise CompileError(network[0].message + more, network[0].node_id)
    if any(p.code == "dataset-option" for p in errors):
        dataset = project.settings.dataset
        dataset_facts(dataset.kind, dataset.options)  # raises the DatasetError naming the option
    if errors:
        first = first_to_fix(errors)
        raise DataMismatchError(first.message, first.node_id)


def build_training_run(project: Project, *, device: torch.device | str | None = None,
                       num_workers: int | None = None, bundle: DatasetBundle | None = None,
                       analysis: Analysis | None = None,
                       on_warning: Callable[[Problem], None] | None = None,
                       distributed: WorkerContext | None = None) -> TrainingRun:
    """Return a run of ``project`` ready to ``run()``; raises an NnstudioError before any training.

    ``analysis`` is the project's current analysis (with its settings) when the caller has one (the
    editor's document, the CLI's single analysis); without it, or when it describes another revision
    of the graph, the project is analysed here.

    Errors come out in the order a person fixes them: network errors (CompileError naming the node),
    the dataset's options (DatasetError naming the option), a disagreement between network and data
    that is known without reading the data (DataMismatchError naming the layer): the same errors
    ``nnstudio check`` and the window show. Then the data is read (DatasetError naming the file, line
    or column) and checked again with what it really holds (a CSV's class count).
    ``on_warning`` is called with each warning the run trains through (lints such as Sigmoid before
    BCELoss), so a headless run can say them. In a torchrun worker, ``distributed`` (from
    :func:`nnstudio.train.distributed.start_worker`) makes it a data-parallel run.
    """
    from nnstudio.compile import analyze, compile_graph

    settings = project.settings
    if analysis is None or analysis.revision != project.graph.revision:
        analysis = analyze(project.graph, settings)
    _raise_first_error(project, analysis)
    if bundle is None:
        bundle = load_dataset(settings.dataset, settings.seed, loss=settings.loss,
                              val_fraction=settings.val_fraction)
    warnings = [*analysis.warnings, *check_data_fits(project, analysis, bundle)]
    if on_warning is not None:
        for problem in warnings:
            on_warning(problem)
    # Seed before building so the initial weights (and thus the whole CPU run) repeat exactly.
    torch.manual_seed(settings.seed)
    model = compile_graph(project.graph, analysis)
    return TrainingRun(model, bundle, settings, device=device, num_workers=num_workers, project=project,
                       distributed=distributed)

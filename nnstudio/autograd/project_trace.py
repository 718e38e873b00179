"""The autograd graph of an nnstudio project: compile it, make a sample batch, walk one pass."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from nnstudio.autograd.walk import AutogradTrace, trace_autograd
from nnstudio.compile.compiler import compile_graph
from nnstudio.compile.results import Analysis
from nnstudio.core.errors import GraphError
from nnstudio.core.project import Project
from nnstudio.core.settings import BINARY_LOSSES

#: Two samples, not one: BatchNorm refuses a batch of one in train mode.
SAMPLE_BATCH = 2


def sample_batch(project: Project, batch_size: int = SAMPLE_BATCH, seed: int = 0) -> torch.Tensor:
    """Returns a seeded random batch shaped like the project's Input node (zeros for integer inputs)."""
    inputs = project.graph.nodes_of_type("input")
    if len(inputs) != 1:
        raise GraphError(f"the autograd view needs exactly one Input node, found {len(inputs)}")
    params = inputs[0].params
    shape = (batch_size, *params["shape"])
    if params.get("dtype") == "int64":
        return torch.zeros(shape, dtype=torch.int64)  # index 0 exists in every embedding
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=generator)


def sample_target(project: Project, output: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Returns a seeded target that fits ``output`` and the project's loss (labels, 0/1 or values)."""
    generator = torch.Generator().manual_seed(seed + 1)
    settings = project.settings
    if settings.is_classification:
        classes = output.shape[1] if output.dim() > 1 else 1
        shape = (output.shape[0], *output.shape[2:])
        return torch.randint(0, max(classes, 1), shape, generator=generator)
    if settings.loss in BINARY_LOSSES:
        return torch.randint(0, 2, tuple(output.shape), generator=generator).to(output.dtype)
    return torch.randn(tuple(output.shape), generator=generator).to(output.dtype)


def trace_project(project: Project, loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                  module: nn.Module | None = None, *, analysis: Analysis | None = None,
                  **options) -> AutogradTrace:
    """Returns the autograd graph of one sample pass of ``project`` with ``loss`` (e.g. make_loss).

    ``module`` is the compiled network to inspect (say, the one being trained); without it the
    project's graph is compiled here, from ``analysis`` when given (the editor's current analysis)
    instead of analysing it again. The loss's ops belong to the Output node. ``options`` go to
    :func:`trace_autograd`.
    """
    network = module if module is not None else compile_graph(project.graph, analysis)
    batch = sample_batch(project)
    outputs = project.graph.nodes_of_type("output")
    loss_layer = outputs[0].id if outputs else None

    def objective(output: torch.Tensor) -> torch.Tensor:
        return loss(output, sample_target(project, output))

    return trace_autograd(network, batch, objective, layer_ids=project.graph.node_ids(),
                          loss_layer=loss_layer, **options)

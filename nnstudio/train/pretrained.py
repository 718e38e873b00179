"""Applying a state dict file (pretrained weights) to a project's layers, as one undoable command.

The file's keys are the network's state-dict keys (an imported model keeps the original's module paths,
so a torchvision or timm checkpoint fits the imported network as it is). The file must fit strictly:
every tensor the network holds, each of the right shape; the message lists the keys that do not.
The tensors are then stored with their layers (``Node.weights``) and saved in the project's weights file.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from nnstudio.compile.import_weights import SAFETENSORS_DTYPES
from nnstudio.compile.results import Analysis
from nnstudio.core.commands import Command, Macro, SetStoredWeights
from nnstudio.core.project import Project
from nnstudio.core.weights import TensorSource, layer_of_key
from nnstudio.train.model_import import ImportFailure, load_weights_into

__all__ = ["apply_weights_file"]


def apply_weights_file(project: Project, path: str | os.PathLike[str], analysis: Analysis | None = None) -> Command:
    """The command giving every layer its tensors from the state dict file at ``path``.

    Raises :class:`ImportFailure` (one line naming the file and the keys that do not fit) before
    anything changes. ``analysis``: the project's current analysis, when the caller has one.
    """
    from nnstudio.compile import compile_graph

    path = Path(path)
    model = compile_graph(project.graph, analysis)
    load_weights_into(model, path, "this network")
    state = {key: tensor.detach().to("cpu").contiguous() for key, tensor in model.state_dict().items()}
    buffers = {}
    for key, tensor in state.items():
        if tensor.dtype not in SAFETENSORS_DTYPES:
            raise ImportFailure(f"weights {path.name}: {key} is {tensor.dtype}, which the weights file cannot store")
        buffers[key] = (SAFETENSORS_DTYPES[tensor.dtype], tuple(tensor.shape),
                        tensor.reshape(-1).view(torch.uint8).numpy() if tensor.numel() else b"")
    stored = TensorSource.from_buffers(buffers, name=path.name)
    by_layer: dict[str, dict[str, object]] = {}
    for key, tensor in stored.items():
        owner = layer_of_key(project.graph, key)
        if owner is not None:
            by_layer.setdefault(owner[0], {})[owner[1]] = tensor
    graph = project.graph
    children: list[Command] = [SetStoredWeights(graph, node_id, tensors) for node_id, tensors in by_layer.items()]
    return Macro(f"Apply weights {path.name}", children)

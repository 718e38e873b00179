"""The tensors of an imported model: each stored with the layer that owns it, none left behind.

Every key of the original's state dict (parameters and buffers, BatchNorm's running statistics and
``num_batches_tracked`` included) ends up in exactly one layer's ``Node.weights``, so that
``Model().load_state_dict(original.state_dict(), strict=True)`` works on the export. Tensors of modules
the traced forward never touches (GoogLeNet's auxiliary classifiers in eval mode, a module defined but
unused) are kept by :func:`held_state` as held Module layers or Parameter layers.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from nnstudio.compile.model_sources import ImportFailure
from nnstudio.compile.stored_weights import TORCH_DTYPES
from nnstudio.compile.tracing import leaf_of
from nnstudio.core import names
from nnstudio.core.graph import Graph
from nnstudio.core.weights import TensorSource

#: torch dtype -> the weights file's (safetensors') name for it.
SAFETENSORS_DTYPES = {dtype: name for name, dtype in TORCH_DTYPES.items()}


def held_state(model: nn.Module, taken: set[str], owned: dict[str, str]) -> list[tuple[str, str, dict[str, Any]]]:
    """Layers for the state-dict tensors no layer owns yet: (id, type, params), in state-dict order.

    A module whose every tensor is unowned and which can be rebuilt from its class becomes a held
    Module layer (``args`` null); any other tensor becomes a Parameter layer named by its key.
    """
    state = model.state_dict(keep_vars=True)
    prefixes = tuple(f"{path}." for path in owned.values())
    exact = set(owned.values())
    loose = [key for key in state if key not in exact and not key.startswith(prefixes)]
    if not loose:
        return []
    taken_now = set(taken)
    loose_set = set(loose)
    held: list[tuple[str, str, dict[str, Any]]] = []
    done: set[str] = set()
    for key in loose:
        if key in done:
            continue
        owner_path = key.rpartition(".")[0]
        owner = model.get_submodule(owner_path) if owner_path else model
        own_keys = [f"{owner_path}.{k}" for k in owner.state_dict()] if owner_path else []
        if owner_path and set(own_keys) <= loose_set and _free(owner_path, taken_now):
            leaf = leaf_of(owner)
            if leaf is not None:
                held.append((owner_path, "module", {"class": leaf.class_name, "arguments": leaf.arguments,
                                                    "args": None, "kwargs": {}}))
                _take(owner_path, taken_now)
                done.update(own_keys)
                continue
        if names.name_problem(key) is not None or not _free(key, taken_now):
            raise ImportFailure(f"the model holds {key}, which no step of its forward uses and which cannot be "
                                f"kept under that name ({names.name_problem(key) or 'the name is taken'})")
        tensor = state[key]
        attribute = key.rpartition(".")[2]
        role = "parameter" if attribute in owner._parameters else "buffer"
        held.append((key, "parameter", {"shape": list(tensor.shape),
                                        "dtype": str(tensor.dtype).removeprefix("torch."), "role": role}))
        _take(key, taken_now)
        done.add(key)
    return held


def _free(node_id: str, taken: set[str]) -> bool:
    parts = node_id.split(".")
    if node_id in taken or any(".".join(parts[:i]) in taken for i in range(1, len(parts))):
        return False
    return not any(t.startswith(node_id + ".") for t in taken)


def _take(node_id: str, taken: set[str]) -> None:
    taken.add(node_id)


def attach_weights(graph: Graph, model: nn.Module, owners: dict[str, tuple[str, bool]], *, share: bool = False
                   ) -> None:
    """Store the model's tensors with their layers (``owners``: layer id -> (path in the model, is a module)).

    The layers' stored tensors are copies, or (``share``, for a model nobody else holds) the model's own
    CPU tensors, which then must not change until the project is saved.
    """
    tensors: dict[str, torch.Tensor] = {}
    places: dict[str, tuple[str, str]] = {}
    for layer_id, (path, is_module) in owners.items():
        if is_module:
            for name, tensor in model.get_submodule(path).state_dict().items():
                tensors[f"{layer_id}.{name}"] = tensor
                places[f"{layer_id}.{name}"] = (layer_id, name)
        else:
            owner_path, _, attribute = path.rpartition(".")
            tensors[layer_id] = getattr(model.get_submodule(owner_path) if owner_path else model, attribute)
            places[layer_id] = (layer_id, "")
    if not tensors:
        return
    buffers = {key: (SAFETENSORS_DTYPES[t.dtype], tuple(t.shape), t.reshape(-1).view(torch.uint8).numpy() if t.numel() else b"")
               for key, t in _plain(tensors, share).items()}
    stored = TensorSource.from_buffers(buffers, name="imported weights")
    for key, (layer_id, name) in places.items():
        graph.node(layer_id).weights[name] = stored[key]


def _plain(tensors: dict[str, torch.Tensor], share: bool) -> dict[str, torch.Tensor]:
    """CPU, contiguous copies of the tensors, refusing what a weights file cannot store."""
    plain: dict[str, torch.Tensor] = {}
    for key, tensor in tensors.items():
        tensor = tensor.detach()
        if tensor.is_meta:
            raise ImportFailure(f"the model's {key} is on the meta device (no values); build the model on a real "
                                "device, or pass --weights")
        if tensor.layout is not torch.strided or tensor.is_quantized:
            raise ImportFailure(f"the model's {key} is a {tensor.layout} / quantized tensor, which nnstudio cannot "
                                "store; import the float model")
        if tensor.dtype not in SAFETENSORS_DTYPES:
            raise ImportFailure(f"the model's {key} is {tensor.dtype}, which the weights file cannot store")
        # A copy unless shared: the project must not change when the model it came from does.
        plain[key] = tensor.to("cpu", copy=not share).contiguous()
    return plain

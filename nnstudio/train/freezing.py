"""Frozen layers and learning-rate multipliers, applied to a compiled network before it trains.

A layer whose ``trainable`` flag is off keeps its tensors: its parameters get ``requires_grad=False``,
so autograd computes no gradient for them (backward stops at the first trainable layer) and the
optimizer never sees them. A frozen normalisation layer with running statistics (BatchNorm,
InstanceNorm with ``track_running_stats``) also keeps those statistics: it runs in eval mode even while
the network trains, unless the run's ``update_frozen_norms`` setting lets them follow the new data.
The rule is a forward pre-hook, so it holds whoever calls ``model.train()`` (the trainer, the NaN
replay, the LR finder's copy).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from torch import nn

from nnstudio.core.graph import Graph

__all__ = ["apply_freezing", "frozen_modules", "is_running_norm", "parameter_groups"]


def _owned(model: nn.Module, node_id: str) -> nn.Module | nn.Parameter | None:
    """The submodule or parameter the layer ``node_id`` built in ``model`` (None: it holds nothing)."""
    try:
        return model.get_submodule(node_id)
    except AttributeError:
        pass
    try:
        return model.get_parameter(node_id)
    except AttributeError:
        return None


def _parameters(owned: nn.Module | nn.Parameter) -> Iterator[nn.Parameter]:
    if isinstance(owned, nn.Parameter):
        yield owned
    else:
        yield from owned.parameters()


def is_running_norm(module: nn.Module) -> bool:
    """True for a normalisation layer that updates running statistics while training."""
    return isinstance(module, nn.modules.batchnorm._NormBase) and bool(module.track_running_stats)


def _keep_eval(module: nn.Module, args: Any) -> None:
    module.training = False


def frozen_modules(model: nn.Module, graph: Graph) -> list[nn.Module]:
    """The modules of ``model`` built by frozen layers of ``graph``."""
    found = []
    for node in graph.nodes():
        if not node.trainable:
            owned = _owned(model, node.id)
            if isinstance(owned, nn.Module):
                found.append(owned)
    return found


def apply_freezing(model: nn.Module, graph: Graph, update_frozen_norms: bool = False) -> int:
    """Freeze the parameters of ``graph``'s frozen layers in ``model``; return how many tensors were frozen.

    Frozen running-statistics norms are held in eval mode unless ``update_frozen_norms``.
    """
    count = 0
    for node in graph.nodes():
        if node.trainable:
            continue
        owned = _owned(model, node.id)
        if owned is None:
            continue
        for parameter in _parameters(owned):
            parameter.requires_grad_(False)
            count += 1
        if isinstance(owned, nn.Module) and not update_frozen_norms:
            for module in owned.modules():
                if is_running_norm(module):
                    module.register_forward_pre_hook(_keep_eval)
    return count


def parameter_groups(model: nn.Module, graph: Graph) -> list[dict[str, Any]]:
    """``model``'s trainable parameters as optimizer groups, one per learning-rate multiplier.

    Each group carries ``lr_scale`` (the optimizer's rate is the run's times it); the group with the
    multiplier 1 (or the largest) comes first, since the run reports the first group's rate.
    """
    scale_of: dict[int, float] = {}
    for node in graph.nodes():
        if node.lr_scale != 1.0:
            owned = _owned(model, node.id)
            if owned is not None:
                for parameter in _parameters(owned):
                    scale_of[id(parameter)] = node.lr_scale
    groups: dict[float, list[nn.Parameter]] = {}
    for parameter in model.parameters():
        if parameter.requires_grad:
            groups.setdefault(scale_of.get(id(parameter), 1.0), []).append(parameter)
    order = sorted(groups, key=lambda scale: (scale != 1.0, -scale))
    return [{"params": groups[scale], "lr_scale": scale} for scale in order]

"""Whether a state dict fits a network, checked before anything is copied into the network.

``nn.Module.load_state_dict`` copies every entry that fits before it reports the ones that do not,
so a failed load leaves a half-changed model. :func:`load_state_dict_checked` compares first and
loads only a state dict that fits entirely; otherwise it lists every mismatch and changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from nnstudio.core.errors import NnstudioError
from nnstudio.core.formatting import format_shape

#: A message lists at most this many mismatches (the exception keeps them all).
MISMATCHES_SHOWN = 12


class WeightsMismatchError(NnstudioError):
    """A state dict that does not fit the network; ``mismatches`` lists every difference."""

    def __init__(self, mismatches: list[str]) -> None:
        self.mismatches = mismatches
        super().__init__("the weights do not fit this network:\n" + format_mismatches(mismatches))


def format_mismatches(mismatches: list[str]) -> str:
    """Return the mismatches as indented lines, the list cut after ``MISMATCHES_SHOWN`` entries."""
    lines = [f"  - {m}" for m in mismatches[:MISMATCHES_SHOWN]]
    if len(mismatches) > MISMATCHES_SHOWN:
        lines.append(f"  ... and {len(mismatches) - MISMATCHES_SHOWN} more")
    return "\n".join(lines)


def _shape(tensor: torch.Tensor) -> str:
    return format_shape(tuple(tensor.shape))


def state_dict_mismatches(model: nn.Module, state: Mapping[str, Any]) -> list[str]:
    """Return one line per missing, unexpected, non-tensor or wrongly shaped entry (empty: it fits)."""
    expected = model.state_dict()
    problems = [f"missing: {key} {_shape(value)}" for key, value in expected.items() if key not in state]
    for key, value in state.items():
        if key not in expected:
            problems.append(f"not in this network: {key}")
        elif not isinstance(value, torch.Tensor):
            problems.append(f"{key}: holds a {type(value).__name__}, not a tensor")
        elif value.shape != expected[key].shape:
            problems.append(f"{key}: shape {_shape(value)} in the file, {_shape(expected[key])} in the network")
    return problems


def load_state_dict_checked(model: nn.Module, state: Any) -> None:
    """Load ``state`` into ``model`` only if it fits entirely; raises WeightsMismatchError, model unchanged."""
    if not isinstance(state, Mapping):
        raise WeightsMismatchError([f"the weights are a {type(state).__name__}, not a mapping of names to tensors"])
    mismatches = state_dict_mismatches(model, state)
    if mismatches:
        raise WeightsMismatchError(mismatches)
    model.load_state_dict(state)

"""Weight initialisation on the torch side: the ``nn.init`` calls a layer's ``init`` scheme makes.

:func:`init_steps` turns a built module and a scheme (:mod:`nnstudio.core.initialisation`) into
:class:`InitStep` s, one ``torch.nn.init`` call per parameter. The compiler runs them
(:func:`initialise`) and ``model.py`` writes them out (:func:`init_statements`), in the same
order, after every submodule is built: so ``torch.manual_seed(s); Model()`` holds the very numbers
the compiled network starts from under the same seed, and model.py alone reproduces the scheme.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nnstudio.core.initialisation import DEFAULT_INIT

#: Scheme -> the torch.nn.init function for weight matrices and kernels, and its keyword arguments.
_WEIGHT_CALLS: dict[str, tuple[str, tuple[tuple[str, Any], ...]]] = {
    "kaiming_normal": ("kaiming_normal_", (("nonlinearity", "relu"),)),
    "kaiming_uniform": ("kaiming_uniform_", (("nonlinearity", "relu"),)),
    "xavier_normal": ("xavier_normal_", ()),
    "xavier_uniform": ("xavier_uniform_", ()),
    "orthogonal": ("orthogonal_", ()),
}


@dataclass(frozen=True)
class InitStep:
    """One call ``torch.nn.init.<function>(layer.<parameter>, **keywords)``.

    ``row`` set: instead, zero that row of the parameter (an Embedding's padding row, which PyTorch's
    own initialisation keeps at zero and a scheme would fill).
    """

    parameter: str
    function: str
    keywords: tuple[tuple[str, Any], ...] = ()
    row: int | None = None


def init_steps(module: nn.Module, scheme: str) -> list[InitStep]:
    """Returns the calls that give ``module`` the ``scheme`` initialisation (none for the default).

    Weight matrices and kernels (two or more dimensions) get the scheme, biases zeros; other
    one-dimensional parameters (normalisation scales) keep what the module made. ``module`` may be
    on the meta device (only names and shapes are read).
    """
    if scheme == DEFAULT_INIT:
        return []
    function, keywords = _WEIGHT_CALLS[scheme]
    steps = []
    for name, parameter in module.named_parameters():
        if parameter.dim() >= 2:
            steps.append(InitStep(name, function, keywords))
            owner = module.get_submodule(name.rpartition(".")[0])
            padding = getattr(owner, "padding_idx", None)
            if name.rpartition(".")[2] == "weight" and isinstance(padding, int):
                steps.append(InitStep(name, "zeros_", row=padding))
        elif "bias" in name.rpartition(".")[2]:
            steps.append(InitStep(name, "zeros_"))
    return steps


def initialise(module: nn.Module, steps: Sequence[InitStep]) -> None:
    """Runs ``steps`` on ``module``'s parameters (in place, without recording gradients)."""
    with torch.no_grad():
        for step in steps:
            parameter = module.get_parameter(step.parameter)
            if step.row is not None:
                parameter[step.row].zero_()
            else:
                getattr(nn.init, step.function)(parameter, **dict(step.keywords))


def init_statements(steps: Sequence[InitStep], layer: str, literal: Callable[[Any], str]) -> list[str]:
    """Returns model.py's statements for ``steps``; ``layer`` is the expression reaching the layer
    (``self.fc1``) and ``literal`` writes a keyword's value."""
    lines = []
    for step in steps:
        plain = all(part.isidentifier() for part in step.parameter.split("."))
        target = f"{layer}.{step.parameter}" if plain else f'{layer}.get_parameter("{step.parameter}")'
        if step.row is not None:
            lines.append(f"{target}.data[{step.row}].zero_()  # the padding row stays zero")
            continue
        arguments = "".join(f", {key}={literal(value)}" for key, value in step.keywords)
        lines.append(f"nn.init.{step.function}({target}{arguments})")
    return lines

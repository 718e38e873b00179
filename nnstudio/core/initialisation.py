"""Weight initialisation of a layer: the schemes a layer's ``init`` setting names, as plain data.

A layer with weights starts from PyTorch's own initialisation (``"default"``) or from one of the
classic schemes: Kaiming/He (normal or uniform, with ReLU's gain), Xavier/Glorot (normal or
uniform) or orthogonal matrices. A scheme initialises every weight matrix and kernel of the layer
(parameters with two or more dimensions: a Linear's or a convolution's ``weight``, an LSTM's
``weight_ih_l0`` and ``weight_hh_l0``, attention's projections) and sets its biases to zeros; one-
dimensional scales (a normalisation layer's ``weight``) keep PyTorch's. Stored weights (imported or
pretrained) replace the initialisation. The torch side, which applies a scheme and writes it into
``model.py`` as ``nn.init`` calls, is :mod:`nnstudio.compile.initialisation`.

The setting is stored as a node's optional ``init`` key in project files (format version 2).
"""

from __future__ import annotations

from nnstudio.core.fields import ParamKind, ParamSpec

#: The scheme of a layer nobody chose one for: PyTorch's own (each module's ``reset_parameters``).
DEFAULT_INIT = "default"

#: Scheme -> the title a form shows.
INIT_TITLES: dict[str, str] = {
    DEFAULT_INIT: "PyTorch default",
    "kaiming_normal": "Kaiming/He normal",
    "kaiming_uniform": "Kaiming/He uniform",
    "xavier_normal": "Xavier/Glorot normal",
    "xavier_uniform": "Xavier/Glorot uniform",
    "orthogonal": "Orthogonal",
}

INIT_SCHEMES: tuple[str, ...] = tuple(INIT_TITLES)

#: The field the inspector edits (stored on the node, not passed to the torch constructor).
INIT_FIELD = ParamSpec(
    "init", ParamKind.CHOICE, DEFAULT_INIT,
    "how the layer's weights start: PyTorch's default; Kaiming/He (for ReLU networks: variance "
    "2 / fan-in); Xavier/Glorot (for tanh or sigmoid: variance 2 / (fan-in + fan-out)); orthogonal "
    "matrices (recurrent layers). Every scheme but the default also sets the biases to zeros; "
    "normalisation scales keep theirs. model.py writes the same nn.init calls",
    choices=INIT_SCHEMES, constructor=False, label="Initialisation")


def init_title(scheme: str) -> str:
    """Returns what a person reads for ``scheme`` ("Kaiming/He normal")."""
    return INIT_TITLES.get(scheme, scheme)

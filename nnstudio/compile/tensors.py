"""What analysis knows about a tensor, and how one layer's inference reports what it found.

Analysis runs layers on ``meta`` tensors (shapes and dtypes, no memory) with a hidden batch of
:data:`META_BATCH`. A layer's inference returns a :class:`NodeOutcome`: an output
:class:`TensorInfo`, or a :class:`NodeFailure` that says in the project's own words what is wrong.
PyTorch's text, where it is the best explanation there is, goes through :func:`torch_message`,
which writes the hidden batch as ``N`` so people never see the probe's size.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from nnstudio.compile.results import BATCH_LABEL, Shape
from nnstudio.core.formatting import format_shape

#: The batch size of the meta tensors; 2 rather than 1 so BatchNorm's "more than one value" holds.
META_BATCH = 2
DTYPES = {"float32": torch.float32, "int64": torch.int64}
_DTYPE_NAMES = {v: k for k, v in DTYPES.items()}


@dataclass(frozen=True)
class TensorInfo:
    """A tensor's batched shape (batch = META_BATCH) and dtype: all analysis needs to know.

    ``batched`` is False for a tensor without a batch dimension (an imported network's parameter,
    such as ViT's position embedding): its shape is shown as it is.
    """

    shape: tuple[int, ...]
    dtype: torch.dtype
    batched: bool = True

    def meta(self) -> torch.Tensor:
        return torch.empty(self.shape, dtype=self.dtype, device="meta")

    @property
    def key(self) -> tuple[Any, ...]:
        """What a layer's result may depend on (analysis caches results by their inputs' keys)."""
        return (self.shape, self.dtype, self.batched)

    @property
    def display_shape(self) -> Shape:
        if not self.batched or not self.shape:
            return tuple(self.shape)
        return (BATCH_LABEL, *self.shape[1:])

    @property
    def shown(self) -> str:
        """The shape as people read it: ``[N, 64, 8, 8]``."""
        return format_shape(self.display_shape)

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def dtype_name(self) -> str:
        return _DTYPE_NAMES.get(self.dtype, str(self.dtype).removeprefix("torch."))


@dataclass(frozen=True)
class InsertHint:
    """A one-click repair that puts a new layer on the wire into input ``input_index``."""

    input_index: int
    type_id: str
    params: Mapping[str, Any] = field(default_factory=dict)
    #: What the fix says it does; ``{0}`` stands for the layer feeding that input.
    description: str = ""


@dataclass(frozen=True)
class NodeFailure:
    """Why a layer cannot work on its input; ``field`` names the parameter at fault, if one is.

    With ``names_inputs`` the message refers to the layers feeding the node as ``{0}``, ``{1}``...
    (in the order the layer reads them): results are cached by shape, not by who feeds them, so
    the names are filled in by :meth:`describe` when the problem is reported.
    """

    code: str
    message: str
    field: str | None = None
    #: For a pinned size that disagrees with the input: the value of ``field`` that would fit.
    fitting: Any = None
    names_inputs: bool = False
    insert: InsertHint | None = None

    def describe(self, sources: Sequence[str]) -> str:
        """Return the message with the feeding layers' names filled in."""
        return self.message.format(*sources) if self.names_inputs else self.message


@dataclass(frozen=True)
class NodeOutcome:
    """The result of inferring one node: an output, or a failure (then ``output`` is None)."""

    output: TensorInfo | None
    params: int = 0
    flops: int = 0
    resolved: Mapping[str, Any] | None = None
    inferred: tuple[str, ...] = ()
    failure: NodeFailure | None = None


class LayerFailed(Exception):
    """Raised inside a layer's inference to report a :class:`NodeFailure` (caught by analysis)."""

    def __init__(self, failure: NodeFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def fail(code: str, message: str, field: str | None = None, **extra: Any) -> LayerFailed:
    """Return the exception that reports a failure (``raise fail(...)``)."""
    return LayerFailed(NodeFailure(code, message, field, **extra))


def torch_message(exc: BaseException, inputs: Sequence[TensorInfo] = ()) -> str:
    """Return PyTorch's message for people: the probe's batched shapes written with ``N``, and short.

    PyTorch writes shapes as ``[2, 64]``, ``(2, 64)``, ``torch.Size([2, 64])`` or ``2x64``; each
    input's batched shape in any of those forms becomes ``[N, 64]``.
    """
    text = str(exc).strip() or type(exc).__name__
    for x in sorted((t for t in inputs if isinstance(t, TensorInfo) and t.batched), key=lambda t: -len(t.shape)):
        dims = [str(d) for d in x.shape]
        shown = x.shown
        for pattern in (r"torch\.Size\(\[{}\]\)", r"\[{}\]", r"\({}\)"):
            text = re.sub(pattern.format(r",\s*".join(dims)), shown, text)
        if len(dims) > 1:
            text = re.sub(r"(?<![\w.])" + r"\s*x\s*".join(dims) + r"(?![\w.])", shown, text)
    return text if len(text) <= 600 else text[:600] + "..."

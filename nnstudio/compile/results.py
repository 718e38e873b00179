"""What analysis reports about a network: per-node shapes, sizes and costs, and the problems found."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nnstudio.core.formatting import format_shape
from nnstudio.core.graph import Edge
from nnstudio.core.problems import Problem

#: A tensor shape as people read it: the batch dimension first, written ``"N"``.
Shape = tuple[int | str, ...]

BATCH_LABEL = "N"

__all__ = ["BATCH_LABEL", "Analysis", "NodeResult", "Shape", "format_shape"]


@dataclass(frozen=True)
class NodeResult:
    """What one layer does to its input, as far as analysis could tell."""

    #: Output shape with the batch dimension shown as ``"N"``; ``None`` when it could not be computed.
    #: For an Output node: the shape the network returns.
    output_shape: Shape | None = None
    #: Element type of the output (``"float32"``, ``"int64"``), ``None`` when unknown.
    dtype: str | None = None
    #: Trainable parameters.
    params: int = 0
    #: Floating point operations for one sample (multiply and add count as two).
    flops: int = 0
    #: Every parameter with inferred values filled in (what the torch module is built with).
    resolved: dict[str, Any] = field(default_factory=dict)
    #: Names of the parameters whose values were inferred from the input.
    inferred: tuple[str, ...] = ()

    @property
    def known(self) -> bool:
        return self.output_shape is not None


@dataclass
class Analysis:
    """The analysis of one graph revision."""

    nodes: dict[str, NodeResult] = field(default_factory=dict)
    #: Each edge's tensor shape (its source's output shape); ``None`` where unknown.
    edge_shapes: dict[Edge, Shape | None] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    #: Output node id -> the shape it returns (in graph order).
    output_shapes: dict[str, Shape | None] = field(default_factory=dict)
    #: The graph revision this analysis describes.
    revision: int = 0

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.is_error]

    @property
    def ok(self) -> bool:
        """True when nothing blocks compiling and training (warnings allowed)."""
        return not self.errors

    @property
    def output_shape(self) -> Shape | None:
        """The shape of the network's result when it has exactly one Output, else ``None``."""
        if len(self.output_shapes) != 1:
            return None
        return next(iter(self.output_shapes.values()))

    @property
    def total_params(self) -> int:
        return sum(r.params for r in self.nodes.values())

    @property
    def total_flops(self) -> int:
        return sum(r.flops for r in self.nodes.values())

    def problems_for(self, node_id: str) -> list[Problem]:
        """The problems attached to one node, errors first."""
        found = [p for p in self.problems if p.node_id == node_id]
        return sorted(found, key=lambda p: not p.is_error)

    def shape_of(self, node_id: str) -> Shape | None:
        result = self.nodes.get(node_id)
        return result.output_shape if result else None

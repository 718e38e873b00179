"""Gradient health: colours on a log scale and flags for vanishing, exploding and NaN gradients."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import networkx as nx

from nnstudio.core.gradient_scale import (  # noqa: F401 - the scale's names, as this module had them
    EXPLODING,
    EXPLODING_ABOVE,
    NAN,
    NAN_COLOR,
    SCALE_LOG10,
    VANISHING,
    VANISHING_BELOW,
    classify,
    gradient_color,
)


@dataclass(frozen=True)
class GradientProblem:
    """A parameter whose gradient norm is vanishing, exploding or not a number."""

    param: str
    layer: str | None
    kind: str
    norm: float

    @property
    def message(self) -> str:
        """Returns a sentence for the problems list."""
        if self.kind == NAN:
            return f"{self.param}: the gradient is NaN or infinite"
        if self.kind == VANISHING:
            return f"{self.param}: vanishing gradient (norm {self.norm:.1e} < {VANISHING_BELOW:.0e})"
        return f"{self.param}: exploding gradient (norm {self.norm:.1e} > {EXPLODING_ABOVE:.0e})"


def find_gradient_problems(norms: Mapping[str, float],
                           graph: nx.DiGraph | None = None) -> list[GradientProblem]:
    """Returns one problem per unhealthy parameter, worst kind first (NaN, exploding, vanishing)."""
    rank = {NAN: 0, EXPLODING: 1, VANISHING: 2}
    problems = []
    for param, norm in norms.items():
        kind = classify(norm)
        if kind is None:
            continue
        node = graph.nodes.get(f"param:{param}") if graph is not None else None
        layer = node["layer"] if node else param.split(".")[0]
        problems.append(GradientProblem(param, layer, kind, norm))
    problems.sort(key=lambda p: (rank[p.kind], p.param))
    return problems


def node_gradient_norms(graph: nx.DiGraph, norms: Mapping[str, float]) -> dict[str, float]:
    """Returns a norm for every node the colours apply to: parameters their own, others their layer's.

    A layer's norm is the root of the sum of its parameters' squared norms (NaN if any is NaN), so a
    layer box and the ops inside it share the colour of the layer's overall gradient.
    """
    per_layer: dict[str, float] = {}
    for param, norm in norms.items():
        node = graph.nodes.get(f"param:{param}")
        layer = node["layer"] if node else param.split(".")[0]
        if layer is not None:
            per_layer[layer] = per_layer.get(layer, 0.0) + norm * norm
    result: dict[str, float] = {}
    for node, data in graph.nodes(data=True):
        if data.get("param") is not None:
            if data["param"] in norms:  # a parameter shows its own gradient or none at all
                result[node] = norms[data["param"]]
        elif data.get("layer") in per_layer:
            result[node] = math.sqrt(per_layer[data["layer"]])
    return result


def text_color_on(fill: str) -> str:
    """Returns near-black or white, whichever reads better on the ``#rrggbb`` colour ``fill``."""
    r, g, b = (int(fill[i:i + 2], 16) / 255 for i in (1, 3, 5))
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return "#111827" if luminance > 0.5 else "#ffffff"

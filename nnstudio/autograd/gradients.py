"""Gradient health: colours on a log scale and flags for vanishing, exploding and NaN gradients."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import networkx as nx

#: Below this L2 norm a parameter's gradient is called vanishing.
VANISHING_BELOW = 1e-7
#: Above this L2 norm a parameter's gradient is called exploding.
EXPLODING_ABOVE = 1e3

#: The log10 range the colour scale spans (values outside are clamped to its ends).
SCALE_LOG10 = (-8.0, 4.0)
#: Colour stops along the scale: cold blue (vanishing) - teal - green (healthy) - orange - red.
_STOPS = ((0.0, (49, 54, 149)), (0.25, (69, 117, 180)), (0.5, (102, 189, 99)),
          (0.8, (253, 174, 97)), (1.0, (215, 48, 39)))
NAN_COLOR = "#c026d3"

VANISHING, EXPLODING, NAN = "vanishing", "exploding", "nan"


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


def classify(norm: float) -> str | None:
    """Returns ``"nan"``, ``"vanishing"``, ``"exploding"`` or None for a healthy gradient norm."""
    if not math.isfinite(norm):
        return NAN
    if norm < VANISHING_BELOW:
        return VANISHING
    if norm > EXPLODING_ABOVE:
        return EXPLODING
    return None


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


def gradient_color(norm: float) -> str:
    """Returns the ``#rrggbb`` colour of a gradient norm on the log scale (NaN: magenta)."""
    if not math.isfinite(norm):
        return NAN_COLOR
    lo, hi = SCALE_LOG10
    value = math.log10(norm) if norm > 0 else lo
    t = min(max((value - lo) / (hi - lo), 0.0), 1.0)
    for (t0, c0), (t1, c1) in zip(_STOPS, _STOPS[1:]):
        if t <= t1:
            f = 0.0 if t1 == t0 else (t - t0) / (t1 - t0)
            r, g, b = (round(a + (z - a) * f) for a, z in zip(c0, c1))
            return f"#{r:02x}{g:02x}{b:02x}"
    r, g, b = _STOPS[-1][1]
    return f"#{r:02x}{g:02x}{b:02x}"


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

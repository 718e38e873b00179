"""The gradient-norm scale shared by every view of gradients: health thresholds and log-scale colours.

The autograd view colours its boxes with it, and the editor's cards colour their telemetry badges
with it while a run trains, so one colour means one gradient size everywhere.
"""

from __future__ import annotations

import math

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


def classify(norm: float) -> str | None:
    """Returns ``"nan"``, ``"vanishing"``, ``"exploding"`` or None for a healthy gradient norm."""
    if not math.isfinite(norm):
        return NAN
    if norm < VANISHING_BELOW:
        return VANISHING
    if norm > EXPLODING_ABOVE:
        return EXPLODING
    return None


def scale_position(value: float, log10_range: tuple[float, float] = SCALE_LOG10) -> float:
    """Returns where a positive ``value`` sits on a log scale, 0.0 (low end) to 1.0 (high end)."""
    lo, hi = log10_range
    exponent = math.log10(value) if value > 0 else lo
    return min(max((exponent - lo) / (hi - lo), 0.0), 1.0)


def scale_color(t: float) -> str:
    """Returns the ``#rrggbb`` colour at position ``t`` (0..1) of the scale."""
    t = min(max(t, 0.0), 1.0)
    for (t0, c0), (t1, c1) in zip(_STOPS, _STOPS[1:]):
        if t <= t1:
            f = 0.0 if t1 == t0 else (t - t0) / (t1 - t0)
            r, g, b = (round(a + (z - a) * f) for a, z in zip(c0, c1))
            return f"#{r:02x}{g:02x}{b:02x}"
    r, g, b = _STOPS[-1][1]
    return f"#{r:02x}{g:02x}{b:02x}"


def gradient_color(norm: float) -> str:
    """Returns the ``#rrggbb`` colour of a gradient norm on the log scale (NaN: magenta)."""
    if not math.isfinite(norm):
        return NAN_COLOR
    return scale_color(scale_position(norm))

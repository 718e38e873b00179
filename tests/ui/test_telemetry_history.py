"""The telemetry history behind the cards and the layer view: series, latest values, histogram images."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nnstudio.core.gradient_scale import gradient_color
from nnstudio.train.telemetry import Histogram, LayerStats, TelemetrySample
from nnstudio.ui.telemetry_badges import badge_content, short_number
from nnstudio.ui.telemetry_history import IMAGE_COLUMNS, TelemetryHistory, rebin


def sample(step: int, stats: dict[str, LayerStats], steps: int = 10) -> TelemetrySample:
    return TelemetrySample(step, 1 + (step - 1) // steps, (step - 1) % steps + 1, steps, stats)


def test_series_keep_every_sample_and_latest_skips_what_was_not_measured():
    history = TelemetryHistory()
    history.add(sample(1, {"fc": LayerStats("fc", mean=0.5, grad_norm=1e-2)}))
    history.add(sample(5, {"fc": LayerStats("fc", mean=0.7, grad_norm=None)}))
    x, y = history.layers["fc"].series("mean")
    assert list(x) == [0.1, 0.5] and list(y) == [0.5, 0.7]
    assert history.layers["fc"].latest("grad_norm") == 1e-2
    assert history.layers["fc"].latest("dead") is None


def test_rebin_moves_counts_onto_a_wider_range():
    out = rebin(0.0, 1.0, [4, 0, 0, 6], -1.0, 1.0, 8)  # bin centres 0.125 .. 0.875 on -1..1 in 8 rows
    assert out.sum() == 10 and out[4] == 4 and out[7] == 6


def test_the_histogram_image_puts_each_sample_where_its_step_lies_on_the_epoch_axis():
    history = TelemetryHistory()
    low = Histogram(0.0, 1.0, (10,) + (0,) * 31)
    high = Histogram(0.0, 1.0, (0,) * 31 + (10,))
    history.add(sample(1, {"fc": LayerStats("fc", activations=low)}))
    history.add(sample(2, {"fc": LayerStats("fc", activations=low)}))
    history.add(sample(10, {"fc": LayerStats("fc", activations=high)}))  # much later than the first two
    image, (x0, x1), (lo, hi) = history.histogram_image("fc")
    assert image.shape[0] == IMAGE_COLUMNS and (x0, x1, lo, hi) == (0.1, 1.0, 0.0, 1.0)
    bottom = image[:, :4].sum(axis=1) > 0  # columns showing the first histogram
    # Samples 1 and 2 are at 0.1 and 0.2, sample 10 at 1.0: the low histogram holds until the last.
    assert bottom.all() and image.max() == pytest.approx(1.0)
    assert history.histogram_image("nothing") is None


def test_a_badge_shows_dead_units_for_relus_and_the_gradient_colour_for_the_rest():
    history = TelemetryHistory()
    history.add(sample(1, {"relu": LayerStats("relu", dead=0.25, output_grad_norm=1e-3),
                           "fc": LayerStats("fc", grad_norm=2e4)}))
    dot, text, _spark, warning, tooltip = badge_content(history.layers["relu"], [])
    assert text == "dead 25%" and not warning and "dead units: 25.0%" in tooltip
    dot, text, *_ = badge_content(history.layers["fc"], [])
    assert text == "∇2e+04" and dot == gradient_color(2e4) == gradient_color(1e4)  # the red end of the scale
    assert short_number(math.nan) == "NaN" and short_number(0.031) == "0.031"
    assert np.isfinite(history.layers["fc"].series("grad_norm")[1]).all()

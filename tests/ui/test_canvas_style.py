"""What a card says about its layer: key settings, shapes and compact parameter counts."""

from __future__ import annotations

import pytest

from nnstudio.core.catalog import CATALOG
from nnstudio.ui.canvas_style import input_port_offset, parameter_summary


@pytest.mark.parametrize(("type_id", "params", "expected"), [
    ("conv2d", {"out_channels": 64, "kernel_size": (5, 3)}, "Conv2d · 64 · k5×3"),
    ("linear", {"out_features": 10}, "Linear · 10"),
    ("dropout", {"p": 0.25}, "Dropout · p=0.25"),
    ("softmax", {"dim": -1}, "Softmax · dim=-1"),
    ("flatten", {}, "Flatten"),
    ("relu", {}, "ReLU"),
])
def test_the_summary_names_the_settings_that_tell_layers_apart(type_id, params, expected):
    spec = CATALOG.get(type_id)
    assert parameter_summary(spec, spec.validate_params(params)) == expected


def test_input_ports_are_spread_evenly_along_the_top_edge():
    spec = CATALOG.get("add")
    x, y = input_port_offset(spec, "in")
    assert y == 0 and x > 0

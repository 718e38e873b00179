"""AutogradView: shows the walked graph, links selection with the editor, colours gradients, exports."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import torch
from PySide6.QtCore import QPoint, Qt
from torch import nn

from nnstudio.autograd.collapse import COLLAPSE_ABOVE
from nnstudio.core.examples import load_example
from nnstudio.ui.autograd_view import AutogradView

TIMEOUT_MS = 60_000


@pytest.fixture
def view(qtbot):
    widget = AutogradView()
    qtbot.addWidget(widget)
    widget.resize(800, 600)
    widget.show()
    yield widget
    widget.close()


def _show_project(qtbot, view, name="digits-cnn"):
    with qtbot.waitSignal(view.graph_shown, timeout=TIMEOUT_MS):
        view.set_project(load_example(name))


def test_shows_ops_and_parameters_of_a_project(qtbot, view):
    assert view.objectName() == "autogradView"
    _show_project(qtbot, view)
    ids = view.node_ids()
    assert "param:conv1.weight" in ids and "param:fc2.bias" in ids
    ops = {view.item_of(n).data["op"] for n in ids}
    assert {"ConvolutionBackward0", "AddmmBackward0", "NllLossBackward0"} <= ops
    assert "ops" in view.status.text() and "crossings" in view.status.text()


def test_clicking_a_node_selects_its_layer(qtbot, view):
    _show_project(qtbot, view)
    item = view.item_of("param:conv2.weight")
    view.canvas.centerOn(item)
    qtbot.wait(10)
    point = view.canvas.mapFromScene(item.sceneBoundingRect().center())
    with qtbot.waitSignal(view.layer_selected, timeout=2000) as blocker:
        qtbot.mouseClick(view.canvas.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert blocker.args == ["conv2"]
    assert view.selected_layer() == "conv2"


def test_select_layer_from_the_editor_highlights_without_echo(qtbot, view):
    _show_project(qtbot, view)
    echoed = []
    view.layer_selected.connect(echoed.append)
    view.select_layer("fc1")
    highlighted = {n for n in view.node_ids() if view.item_of(n).highlighted}
    assert "param:fc1.weight" in highlighted and "param:fc2.weight" not in highlighted
    assert echoed == []


def test_collapse_and_expand_a_layer(qtbot, view):
    _show_project(qtbot, view, "residual-block")
    assert not view.collapsed  # small graphs open with every op
    with qtbot.waitSignal(view.graph_shown, timeout=TIMEOUT_MS):
        view.detail_button.click()
    assert view.collapsed and "layer:conv1" in view.node_ids()
    assert "param:conv1.weight" not in view.node_ids()
    item = view.item_of("layer:conv1")
    view.canvas.centerOn(item)
    point = view.canvas.mapFromScene(item.sceneBoundingRect().center())
    with qtbot.waitSignal(view.graph_shown, timeout=TIMEOUT_MS):
        qtbot.mouseDClick(view.canvas.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert "param:conv1.weight" in view.node_ids() and "layer:bn1" in view.node_ids()


def test_big_graphs_open_collapsed(qtbot, view):
    model = nn.Sequential(*[nn.Linear(4, 4) for _ in range(COLLAPSE_ABOVE // 3)])
    with qtbot.waitSignal(view.graph_shown, timeout=TIMEOUT_MS):
        view.set_model(model, torch.randn(2, 4))
    assert view.collapsed
    assert all(n.startswith("layer:") for n in view.node_ids() if n != view.trace.root)


def test_search_dims_everything_but_the_matches(qtbot, view):
    _show_project(qtbot, view)
    view.search.setText("conv2")
    matches = view.search_matches()
    assert "param:conv2.weight" in matches and "param:fc1.weight" not in matches
    assert view.item_of("param:fc1.weight").dimmed and not view.item_of("param:conv2.weight").dimmed
    view.search.clear()
    assert not any(view.item_of(n).dimmed for n in view.node_ids())


def test_gradients_colour_flag_and_rate_limit(qtbot, view):
    _show_project(qtbot, view)
    with qtbot.waitSignal(view.gradient_problems_changed, timeout=2000) as blocker:
        view.update_gradients({"conv1.weight": 1e-9, "fc1.weight": 2e3, "fc2.weight": float("nan"),
                               "conv2.weight": 0.1})
    kinds = {(p.param, p.kind) for p in blocker.args[0]}
    assert kinds == {("conv1.weight", "vanishing"), ("fc1.weight", "exploding"), ("fc2.weight", "nan")}
    assert view.gradient_problems() == blocker.args[0]
    assert view.item_of("param:conv2.weight").gradient == pytest.approx(0.1)
    assert view.legend.isVisible()
    # a second report within the second waits for the refresh timer instead of repainting at once
    view.update_gradients({"conv1.weight": 0.5})
    assert view.item_of("param:conv1.weight").gradient == pytest.approx(1e-9)
    with qtbot.waitSignal(view.gradient_problems_changed, timeout=3000):
        pass
    assert view.item_of("param:conv1.weight").gradient == pytest.approx(0.5)


def test_export_svg_dot_png(qtbot, view, tmp_path):
    _show_project(qtbot, view)
    view.export(tmp_path / "g.svg")
    view.export(tmp_path / "g.dot")
    view.export(tmp_path / "g.png")
    ET.fromstring((tmp_path / "g.svg").read_text(encoding="utf-8"))
    assert '"param:conv1.weight"' in (tmp_path / "g.dot").read_text(encoding="utf-8")
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="use .dot, .svg or .png"):
        view.export(tmp_path / "g.jpg")


def test_a_failing_model_reports_instead_of_crashing(qtbot, view):
    with qtbot.waitSignal(view.failed, timeout=TIMEOUT_MS) as blocker:
        view.set_model(nn.Linear(3, 2), torch.randn(2, 5))
    assert "forward pass" in blocker.args[0]
    assert "forward pass" in view.status.text()


def test_screenshot_is_not_blank(qtbot, view, tmp_path):
    _show_project(qtbot, view, "residual-block")
    image = view.grab().toImage()
    colours = {image.pixel(QPoint(x, y)) for x in range(0, image.width(), 17) for y in range(40, image.height(), 17)}
    assert len(colours) > 5

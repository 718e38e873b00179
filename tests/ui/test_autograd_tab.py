"""The Autograd tab of the window: the graph of the open network, linked to the editor and to training."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QSpinBox, QWidget

from nnstudio.core.commands import SetParam

WALK_TIMEOUT_MS = 60_000
RUN_TIMEOUT_MS = 120_000


def _show_tab(qtbot, window):
    """Brings the Autograd tab to the front and returns its view once the graph is drawn."""
    tab = window.autograd_tab
    if tab.view is None or tab.view.trace is None:
        with qtbot.waitSignal(tab.ensure_view().graph_shown, timeout=WALK_TIMEOUT_MS):
            window.tabs.setCurrentWidget(tab.page)
    else:
        window.tabs.setCurrentWidget(tab.page)
    return tab.view


def _click_node(qtbot, view, node_id: str) -> None:
    item = view.item_of(node_id)
    view.canvas.centerOn(item)
    point = view.canvas.mapFromScene(item.sceneBoundingRect().center())
    qtbot.mouseClick(view.canvas.viewport(), Qt.MouseButton.LeftButton, pos=point)


def _highlighted_layers(view) -> set[str]:
    return {view.item_of(n).layer for n in view.node_ids() if view.item_of(n).highlighted}


def _problem_codes(window) -> dict[str, str]:
    """Returns {code: layer} of the gradient problems in the Problems list."""
    return {p.code: p.node_id for p in window.problems.problems if p.code.startswith("gradient-")}


def test_the_tab_shows_the_digits_cnn_graph_only_once_opened(qtbot, example_window):
    window = example_window
    titles = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert "Autograd" in titles
    assert window.autograd_tab.view is None  # nobody looked: nothing walked, nothing built

    view = _show_tab(qtbot, window)

    assert window.findChild(QWidget, "autogradView") is view and view.isVisible()
    ids = view.node_ids()
    assert {"param:conv1.weight", "param:conv2.weight", "param:fc2.bias"} <= set(ids)
    ops = {view.item_of(n).data["op"] for n in ids}
    assert {"ConvolutionBackward0", "MaxPool2DWithIndicesBackward0", "AddmmBackward0"} <= ops
    assert "ops" in view.status.text()


def test_clicking_a_node_selects_its_layer_in_the_editor(qtbot, example_window):
    window = example_window
    view = _show_tab(qtbot, window)
    _click_node(qtbot, view, "param:conv2.weight")
    assert window.canvas.selected_node_ids() == ["conv2"]
    assert window.inspector.node_ids == ["conv2"]  # the Inspector beside the graph shows the layer
    assert _highlighted_layers(view) == {"conv2"}


def test_selecting_layers_in_the_editor_highlights_them_in_the_graph(qtbot, example_window):
    window = example_window
    view = _show_tab(qtbot, window)
    window.canvas.select_nodes(["fc1", "fc2"])
    assert _highlighted_layers(view) == {"fc1", "fc2"}
    assert view.item_of("param:fc1.weight").highlighted and not view.item_of("param:conv1.weight").highlighted
    window.canvas.select_nodes([])
    assert _highlighted_layers(view) == set()


def test_an_edit_redraws_the_graph_while_the_tab_is_shown(qtbot, example_window):
    window = example_window
    view = _show_tab(qtbot, window)
    assert view.item_of("param:fc1.weight").data["shape"] == (128, 256)
    with qtbot.waitSignal(view.graph_shown, timeout=WALK_TIMEOUT_MS):
        window.document.push(SetParam(window.document.graph, "fc1", "out_features", 100))
    assert view.item_of("param:fc1.weight").data["shape"] == (100, 256)
    assert view.item_of("param:fc2.weight").data["shape"] == (10, 100)


def test_edits_made_in_the_editor_are_walked_when_the_tab_is_next_shown(qtbot, example_window, wait_analysis):
    window = example_window
    view = _show_tab(qtbot, window)
    window.tabs.setCurrentWidget(window.canvas)
    walks = []
    view.graph_shown.connect(lambda: walks.append(True))
    window.document.push(SetParam(window.document.graph, "conv2", "out_channels", 16))
    wait_analysis(window)
    qtbot.wait(600)  # longer than the refresh's quiet time: a hidden tab must not walk meanwhile
    assert walks == []
    _show_tab(qtbot, window)
    qtbot.waitUntil(lambda: walks == [True], timeout=WALK_TIMEOUT_MS)
    assert view.item_of("param:conv2.weight").data["shape"] == (16, 32, 3, 3)


def test_a_network_with_errors_keeps_the_last_graph_and_says_why(qtbot, example_window, wait_analysis):
    window = example_window
    view = _show_tab(qtbot, window)
    trace = view.trace
    window.document.push(SetParam(window.document.graph, "fc1", "in_features", 100))
    wait_analysis(window)
    qtbot.waitUntil(lambda: "error" in view.status.text(), timeout=5000)
    assert "last network that worked" in view.status.text()
    assert view.trace is trace


def test_gradient_norms_recolour_the_graph_and_flag_nan_and_exploding_gradients(qtbot, example_window):
    window = example_window
    view = _show_tab(qtbot, window)
    norms = {"conv1.weight": float("nan"), "conv1.bias": 0.01, "conv2.weight": 0.2, "conv2.bias": 0.05,
             "fc1.weight": 5e4, "fc1.bias": 0.3, "fc2.weight": 0.1, "fc2.bias": 0.02}
    window.training_panel.presenter.session.gradients.emit(norms)

    qtbot.waitUntil(lambda: bool(_problem_codes(window)), timeout=5000)
    assert _problem_codes(window) == {"gradient-nan": "conv1", "gradient-exploding": "fc1"}
    messages = [p.message for p in window.problems.problems if p.code.startswith("gradient-")]
    assert any("conv1.weight" in m and "NaN" in m for m in messages)
    assert any("fc1.weight" in m and "learning rate" in m for m in messages)
    assert math.isnan(view.item_of("param:conv1.weight").gradient)
    assert view.item_of("param:fc2.bias").gradient == pytest.approx(0.02)
    assert view.item_of("param:fc1.weight").gradient == pytest.approx(5e4)
    assert not view.legend.isHidden()
    # the analysis's own list is untouched: a new analysis keeps the gradient problems beside it
    window.document.schedule_analysis()
    qtbot.waitUntil(lambda: window.document.analysis_is_current, timeout=WALK_TIMEOUT_MS)
    assert set(_problem_codes(window)) == {"gradient-nan", "gradient-exploding"}


def test_gradient_problems_are_listed_even_if_the_tab_was_never_opened(qtbot, example_window):
    window = example_window
    window.training_panel.presenter.session.gradients.emit({"fc2.weight": 1e-9, "fc2.bias": 0.1})
    qtbot.waitUntil(lambda: bool(_problem_codes(window)), timeout=5000)
    assert _problem_codes(window) == {"gradient-vanishing": "fc2"}
    assert window.autograd_tab.view is not None and not window.autograd_tab.page.isVisible()


def test_another_document_forgets_the_gradients_of_the_last(qtbot, example_window, wait_analysis):
    window = example_window
    view = _show_tab(qtbot, window)
    window.training_panel.presenter.session.gradients.emit({"fc1.weight": float("inf")})
    qtbot.waitUntil(lambda: bool(_problem_codes(window)), timeout=5000)
    assert window.files.open_example("digits-mlp")
    assert _problem_codes(window) == {}
    assert view.item_of("param:fc1.weight").gradient is None and view.legend.isHidden()
    with qtbot.waitSignal(view.graph_shown, timeout=WALK_TIMEOUT_MS):
        wait_analysis(window)
    assert "param:fc3.weight" in view.node_ids() and "param:conv1.weight" not in view.node_ids()


def test_an_edit_of_the_network_forgets_gradients_measured_before_it(qtbot, example_window, wait_analysis):
    window = example_window
    view = _show_tab(qtbot, window)
    window.training_panel.presenter.session.gradients.emit({"fc1.weight": 2e3, "fc1.bias": 0.1})
    qtbot.waitUntil(lambda: bool(_problem_codes(window)), timeout=5000)
    window.document.schedule_analysis()  # nothing changed: the flags stay
    wait_analysis(window)
    assert _problem_codes(window) == {"gradient-exploding": "fc1"}
    window.document.push(SetParam(window.document.graph, "fc1", "out_features", 64))
    wait_analysis(window)
    assert _problem_codes(window) == {}
    assert view.legend.isHidden()


def test_a_gui_training_run_colours_the_graph_with_live_gradients(qtbot, window, wait_analysis):
    assert window.files.open_example("digits-mlp")
    wait_analysis(window)
    view = _show_tab(qtbot, window)
    view.update_gradients({"fc1.weight": float("nan")})  # left over from an earlier run
    window.training_panel.findChild(QSpinBox, "epochs").setValue(1)
    reports = []
    window.training_panel.presenter.session.gradients.connect(reports.append)
    panel = window.training_panel
    with qtbot.waitSignal(panel.presenter.run_ended, timeout=RUN_TIMEOUT_MS) as ended:
        window.findChild(QAction, "actionTrain").trigger()
        assert _problem_codes(window) == {}  # a new run starts with a clean slate
    assert ended.args[0].status == "finished", ended.args[0].message

    assert reports, "the running session sent no gradient norms"
    assert set(reports[0]) == {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"}
    qtbot.waitUntil(lambda: view.item_of("param:fc3.weight").gradient is not None, timeout=5000)
    for name in reports[-1]:
        norm = view.item_of(f"param:{name}").gradient
        assert norm is not None and 0 < norm < 1e3
    layer_norm = view.item_of(next(n for n in view.node_ids() if view.item_of(n).data.get("op") == "AddmmBackward0"
                                   and view.item_of(n).layer == "fc3")).gradient
    assert layer_norm is not None and layer_norm > 0  # ops take their layer's colour
    assert _problem_codes(window) == {}  # a healthy run flags nothing


def test_the_export_menu_saves_svg_png_and_dot(qtbot, example_window, tmp_path, monkeypatch):
    window = example_window
    actions = window.autograd_tab.export_actions
    assert set(actions) == {".svg", ".png", ".dot"}
    assert not any(a.isEnabled() for a in actions.values())  # nothing drawn yet
    view = _show_tab(qtbot, window)
    assert all(a.isEnabled() for a in actions.values())
    assert window.findChild(QAction, "actionExportAutogradSvg") is actions[".svg"]

    chosen = {}
    monkeypatch.setattr(view, "ask_export_path",
                        lambda suffix: chosen.setdefault(suffix, str(tmp_path / f"graph{suffix}")))
    messages = []
    window.status_bar.messageChanged.connect(messages.append)
    for action in actions.values():
        action.trigger()
    assert f"Exported the autograd graph to {tmp_path / 'graph.dot'}" in messages
    svg = ET.parse(tmp_path / "graph.svg").getroot()
    assert svg.tag.endswith("svg")
    assert (tmp_path / "graph.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dot = (tmp_path / "graph.dot").read_text()
    assert dot.startswith("digraph") and "conv1.weight" in dot
    assert view.trace is not None


def test_a_failed_export_says_why_and_writes_nothing(qtbot, example_window, tmp_path, monkeypatch):
    window = example_window
    _show_tab(qtbot, window)
    errors = []
    monkeypatch.setattr(window.dialogs, "show_error", lambda title, message: errors.append(message))
    assert not window.autograd_tab.view.export_to(tmp_path / "graph.jpeg")
    assert errors and "graph.jpeg" in errors[0] and ".svg" in errors[0]
    assert not (tmp_path / "graph.jpeg").exists()


def test_the_menu_and_the_view_s_button_open_the_same_dialog(qtbot, example_window, tmp_path, monkeypatch):
    """One export dialog: the File menu's entries pick a format, the view's Export… button offers all
    three; both start at the project's name beside its file."""
    from PySide6.QtWidgets import QFileDialog, QToolButton

    window = example_window
    view = _show_tab(qtbot, window)
    asked = []

    def dialog(parent, title, start, file_filter):
        asked.append((title, start, file_filter))
        return str(tmp_path / "picked"), file_filter.split(";;")[-1]
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(dialog))
    window.autograd_tab.export_actions[".svg"].trigger()
    view.findChild(QToolButton, "autogradExport").click()
    assert [title for title, _start, _filter in asked] == ["Export autograd graph"] * 2
    assert asked[0][1].endswith("digits-cnn-autograd.svg") and asked[0][2] == "SVG drawing (*.svg)"
    assert asked[1][2].count("(*.") == 3  # the button: every format, the chosen one decides
    assert (tmp_path / "picked.svg").is_file() and (tmp_path / "picked.dot").is_file()

"""Telemetry in the window: badges on the cards, the layer's history, live problems, the NaN culprit
on the canvas, changes made while paused, and the learning-rate finder in the Training tab."""

from __future__ import annotations

import math

import pytest
import torch
from PySide6.QtGui import QAction

from nnstudio.ui.telemetry_badges import TelemetryBadge

RUN_TIMEOUT_MS = 120_000


def _action(window, name: str) -> QAction:
    action = window.findChild(QAction, name)
    assert action is not None, name
    return action


def _open(window, wait_analysis, example: str, epochs: int):
    assert window.files.open_example(example)
    wait_analysis(window)
    window.document.project.settings.epochs = epochs
    window.document.project.settings.device = "cpu"
    return window.training_panel


def _train(qtbot, window):
    panel = window.training_panel
    with qtbot.waitSignal(panel.presenter.run_ended, timeout=RUN_TIMEOUT_MS) as ended:
        _action(window, "actionTrain").trigger()
    return ended.args[0]


def test_digits_cnn_cards_show_every_layers_telemetry_and_the_inspector_its_history(
        qtbot, window, wait_analysis, tmp_path):
    _open(window, wait_analysis, "digits-cnn", epochs=3)
    window.canvas.select_nodes(["conv2"])
    outcome = _train(qtbot, window)
    assert outcome.status == "finished"
    controller = window.telemetry
    layers = [n.id for n in window.document.graph.nodes() if n.spec.type_id not in ("input", "output")]
    assert set(controller.history.layers) == set(layers)
    badges = controller.cards.badges()
    assert set(badges) == set(layers), "a badge on every layer's card"
    assert badges["relu1"].text.startswith("dead ") and badges["conv2"].text.startswith("∇")
    assert all(b.dot.startswith("#") and not b.warning for b in badges.values())
    assert "gradient norm (weights)" in badges["conv2"].toolTip()
    window.telemetry.dock.raise_()
    window.canvas.select_nodes(["conv1"])
    qtbot.waitUntil(lambda: controller.view is not None and controller.view.node_id == "conv1", timeout=5000)
    view = controller.view
    x, y = view.curves["grad_norm"].xData, view.curves["grad_norm"].yData  # as given (not log10)
    assert len(x) == len(controller.history.layers["conv1"].positions) >= 2 and (y > 0).all()
    assert view.images["activations"].image is not None and view.images["gradients"].image is not None
    window.canvas.grab().save(str(tmp_path / "cards.png"))
    view.grab().save(str(tmp_path / "layer.png"))


def test_dead_relus_are_flagged_live_on_the_card_and_in_the_problems_list(qtbot, window, wait_analysis, monkeypatch):
    import nnstudio.compile as compile_package

    compile_graph = compile_package.compile_graph

    def with_dead_relus(*args, **kwargs):
        model = compile_graph(*args, **kwargs)
        with torch.no_grad():
            model.fc1.bias.fill_(-100.0)
        return model

    monkeypatch.setattr(compile_package, "compile_graph", with_dead_relus)
    _open(window, wait_analysis, "digits-mlp", epochs=1)
    _train(qtbot, window)
    problems = [p for p in window.problems.problems if p.code == "dead-units"]
    assert [p.node_id for p in problems] == ["relu1"]
    assert window.telemetry.cards.badges()["relu1"].warning
    card = window.canvas.canvas_scene.node_items["relu1"]
    assert any(p.code == "dead-units" for p in card.problems), "the card shows the warning as analysis problems"


def test_the_nan_culprit_is_marked_on_its_card_and_listed_as_an_error(qtbot, window, wait_analysis, monkeypatch):
    import nnstudio.compile as compile_package

    compile_graph = compile_package.compile_graph

    def overflowing(*args, **kwargs):
        model = compile_graph(*args, **kwargs)
        with torch.no_grad():
            model.fc2.weight.fill_(1e38)
        return model

    monkeypatch.setattr(compile_package, "compile_graph", overflowing)
    _open(window, wait_analysis, "digits-mlp", epochs=1)
    outcome = _train(qtbot, window)
    assert outcome.status == "failed" and outcome.node_id == "fc2"
    badge = window.telemetry.cards.badge("fc2", create=False)
    assert badge is not None and badge.culprit == "NaN made here"
    errors = [p for p in window.problems.problems if p.code == "nan-culprit"]
    assert [(p.severity, p.node_id) for p in errors] == [("error", "fc2")]
    assert [p.code for p in window.canvas.canvas_scene.node_items["fc2"].problems] == ["nan-culprit"]
    # An edit makes the marks stale: they go.
    from nnstudio.core.commands import SetParam

    window.document.push(SetParam(window.document.graph, "fc1", "out_features", 100))
    wait_analysis(window)
    assert window.telemetry.cards.badge("fc2", create=False) is None
    assert not [p for p in window.problems.problems if p.code == "nan-culprit"]
    assert not window.canvas.canvas_scene.node_items["fc2"].problems


def test_a_learning_rate_changed_while_paused_steps_the_lr_curve_and_is_marked(qtbot, window, wait_analysis):
    panel = _open(window, wait_analysis, "digits-mlp", epochs=200)
    window.tabs.setCurrentWidget(panel)
    controller = window.telemetry
    box = controller.midrun
    assert not box.apply_button.isEnabled()
    with qtbot.waitSignal(panel.presenter.session.epoch_ended, timeout=RUN_TIMEOUT_MS):
        _action(window, "actionTrain").trigger()
    _action(window, "actionPause").trigger()
    assert panel.presenter.session.is_paused and box.apply_button.isEnabled()
    assert box.lr.value() == pytest.approx(1e-3) and box.batch_size.value() == 64
    box.lr.setValue(0.01)
    with qtbot.waitSignal(panel.presenter.session.changed, timeout=RUN_TIMEOUT_MS) as changed:
        box.apply_button.click()
        assert "Resume" in box.message.text()
        _action(window, "actionPause").trigger()  # Resume
    change = changed.args[0]
    assert change.values == {"lr": (pytest.approx(1e-3), pytest.approx(0.01))}
    with qtbot.waitSignal(panel.presenter.session.epoch_ended, timeout=RUN_TIMEOUT_MS):
        pass
    with qtbot.waitSignal(panel.presenter.run_ended, timeout=RUN_TIMEOUT_MS):
        _action(window, "actionStop").trigger()
    assert len(controller.change_markers) == 1
    assert controller.change_markers[0].value() == pytest.approx(change.position)
    x, lr = panel.loss_plot.series_data("lr")
    before, after = lr[x <= change.position], lr[x > change.position]
    assert len(before) and len(after)
    assert list(before) == pytest.approx([1e-3] * len(before)) and list(after) == pytest.approx([0.01] * len(after))
    assert "learning rate 0.001 -> 0.01" in panel.log.toPlainText()


def test_a_refused_change_is_named_under_the_form_and_nothing_changes(qtbot, window, wait_analysis):
    panel = _open(window, wait_analysis, "digits-mlp", epochs=200)
    with qtbot.waitSignal(panel.presenter.session.batches, timeout=RUN_TIMEOUT_MS):
        _action(window, "actionTrain").trigger()
    _action(window, "actionPause").trigger()
    box = window.telemetry.midrun
    box.batch_size.setValue(0)
    box.apply_button.click()
    assert "batch size" in box.message.text() and "greater than or equal to 1" in box.message.text()
    run = panel.presenter.session._worker.run
    assert run._pending == {} and run.settings.batch_size == 64
    with qtbot.waitSignal(panel.presenter.run_ended, timeout=RUN_TIMEOUT_MS):
        _action(window, "actionStop").trigger()
    assert not box.apply_button.isEnabled()


def test_the_lr_finder_suggests_a_rate_and_use_sets_it_as_one_undoable_step(qtbot, window, wait_analysis):
    panel = _open(window, wait_analysis, "digits-mlp", epochs=1)
    window.tabs.setCurrentWidget(panel)
    finder = window.telemetry.ensure_lr_finder()
    with qtbot.waitSignal(finder.session.ended, timeout=RUN_TIMEOUT_MS):
        finder.find_button.click()
    result = finder.result
    assert result is not None and result.suggested_lr is not None
    assert finder.marker.isVisible() and finder.region.isVisible()
    assert math.log10(result.suggested_lr) == pytest.approx(finder.marker.value())
    assert "Suggested learning rate" in finder.summary.text()
    suggested = float(f"{result.suggested_lr:.3g}")
    assert finder.use_button.isEnabled() and finder.use_button.text() == f"Use {suggested:.3g}"
    finder.use_button.click()
    assert window.document.project.settings.lr == suggested
    _action(window, "actionUndo").trigger()
    assert window.document.project.settings.lr == 1e-3
    # Another document: the suggestion was for the network that was open.
    assert window.files.open_example("digits-cnn")
    wait_analysis(window)
    assert finder.result is None and not finder.use_button.isEnabled() and not finder.marker.isVisible()


def test_badges_are_plain_child_items_of_the_cards(qtbot, window, wait_analysis):
    _open(window, wait_analysis, "digits-mlp", epochs=1)
    _train(qtbot, window)
    item = window.canvas.canvas_scene.node_items["fc1"]
    assert any(isinstance(child, TelemetryBadge) for child in item.childItems())
    window.telemetry.forget()
    assert not any(isinstance(child, TelemetryBadge) for child in item.childItems())

"""The Training tab as a person uses it: start with F5's action, watch curves, stop, pause, fail, export."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMessageBox, QSpinBox

from nnstudio.core.commands import SetParam

RUN_TIMEOUT_MS = 120_000
Button = QMessageBox.StandardButton


def _action(window, name: str) -> QAction:
    action = window.findChild(QAction, name)
    assert action is not None, name
    return action


@pytest.fixture
def digits_window(window, wait_analysis):
    """A shown window with digits-mlp open, analysed, and the Training tab in front."""
    assert window.files.open_example("digits-mlp")
    wait_analysis(window)
    window.tabs.setCurrentWidget(window.training_panel)
    return window


def _set_epochs(window, epochs: int) -> None:
    spin = window.training_panel.findChild(QSpinBox, "epochs")
    spin.setValue(epochs)
    assert window.document.project.settings.epochs == epochs


def _train(qtbot, window, action: str = "actionTrain", timeout: int = RUN_TIMEOUT_MS):
    panel = window.training_panel
    with qtbot.waitSignal(panel.presenter.run_ended, timeout=timeout) as ended:
        _action(window, action).trigger()
        assert panel.presenter.is_running
    return ended.args[0]


def test_two_epochs_of_digits_mlp_fill_both_plots_and_the_results(qtbot, digits_window):
    window, panel = digits_window, digits_window.training_panel
    _set_epochs(window, 2)
    locked = []
    panel.presenter.running_changed.connect(lambda running: locked.append((running, window.canvas.is_read_only())))

    outcome = _train(qtbot, window)

    assert outcome.status == "finished", outcome.message
    assert locked == [(True, True), (False, False)]  # the editor is locked exactly while it trains
    steps = panel.presenter.info.steps_per_epoch
    x, loss = panel.loss_plot.series_data("batch_loss")
    assert len(loss) == 2 * steps and np.all(np.isfinite(loss))
    assert x[-1] == pytest.approx(2.0)
    assert len(panel.loss_plot.series_data("val_loss")[1]) == 2
    # Both plots show the whole planned run on one epoch axis from the start.
    for plot in (panel.loss_plot, panel.accuracy_plot):
        left, right = plot.main_plot.getViewBox().viewRange()[0]
        assert left <= 0.0 and 2.0 <= right <= 2.1, (plot.objectName(), left, right)
    _, val_acc = panel.accuracy_plot.series_data("val_acc")
    assert len(val_acc) == 2 and val_acc[-1] > 0.3  # chance is 0.1 with ten classes
    counts = panel.confusion.counts()
    assert counts.shape == (10, 10) and counts.sum() == panel.presenter.info.val_size
    grid_wrong = panel.samples.wrong_indices()
    assert len(grid_wrong) < 24
    assert panel.progress.value() == panel.progress.maximum()
    log = panel.log.toPlainText()
    assert "epoch 1/2" in log and "epoch 2/2" in log
    record = panel.history.records()[-1]  # the run as recorded in the runs folder
    assert record.status == "finished" and record.final["val_acc"] == pytest.approx(val_acc[-1])
    assert _action(window, "actionExportResults").isEnabled()
    assert not _action(window, "actionStop").isEnabled()


def test_stop_in_the_middle_ends_promptly_and_keeps_usable_weights(qtbot, digits_window, tmp_path):
    window, panel = digits_window, digits_window.training_panel
    _set_epochs(window, 200)
    with qtbot.waitSignal(panel.presenter.session.epoch_ended, timeout=RUN_TIMEOUT_MS):
        _action(window, "actionTrain").trigger()
    with qtbot.waitSignal(panel.presenter.run_ended, timeout=10_000) as ended:
        _action(window, "actionStop").trigger()
    outcome = ended.args[0]
    assert outcome.status == "stopped"
    run = panel.presenter.trained_run
    assert 1 <= run.epochs_done < 200
    assert not window.is_read_only

    folder = panel.presenter.export_results(tmp_path / "results")
    assert {"model.pth", "model.py", "project.nns", "metrics.csv", "checkpoint.pth"} <= {
        p.name for p in folder.iterdir()}
    from nnstudio.compile import compile_graph

    model = compile_graph(window.document.graph)
    model.load_state_dict(torch.load(folder / "model.pth", weights_only=True))
    logits = model(torch.rand(4, 1, 8, 8))
    assert logits.shape == (4, 10) and torch.isfinite(logits).all()
    rows = (folder / "metrics.csv").read_text().splitlines()
    assert len(rows) == 1 + run.epochs_done


def test_pause_holds_the_run_and_resume_finishes_it(qtbot, digits_window):
    window, panel = digits_window, digits_window.training_panel
    _set_epochs(window, 3)
    pause = _action(window, "actionPause")
    assert not pause.isEnabled()
    with qtbot.waitSignal(panel.presenter.session.batches, timeout=RUN_TIMEOUT_MS):
        _action(window, "actionTrain").trigger()
    pause.trigger()
    assert panel.presenter.session.is_paused and pause.text().replace("&", "") == "Resume"
    qtbot.wait(300)  # the step under way when Pause was pressed completes and reports
    held = (panel.presenter._last_update.epoch, panel.presenter._last_update.step)
    qtbot.wait(400)
    assert (panel.presenter._last_update.epoch, panel.presenter._last_update.step) == held
    assert panel.presenter.is_running
    with qtbot.waitSignal(panel.presenter.run_ended, timeout=RUN_TIMEOUT_MS) as ended:
        pause.trigger()
        assert not panel.presenter.session.is_paused
    assert ended.args[0].status == "finished"
    assert panel.presenter.trained_run.epochs_done == 3
    assert "paused" in panel.log.toPlainText() and "resumed" in panel.log.toPlainText()


def test_closing_the_window_mid_run_asks_then_stops_and_joins_the_thread(qtbot, digits_window, monkeypatch):
    window, panel = digits_window, digits_window.training_panel
    _set_epochs(window, 200)
    with qtbot.waitSignal(panel.presenter.session.batches, timeout=RUN_TIMEOUT_MS):
        _action(window, "actionTrain").trigger()
    monkeypatch.setattr(window.dialogs, "ask_stop_training", lambda *_: Button.No)
    window.close()
    assert window.isVisible() and panel.presenter.is_running  # "No" keeps training

    asked = []
    monkeypatch.setattr(window.dialogs, "ask_stop_training", lambda *_: asked.append(1) or Button.Yes)
    monkeypatch.setattr(window.dialogs, "ask_unsaved_changes", lambda *_: Button.Discard)
    thread = panel.presenter.session._thread
    window.close()
    assert asked and not window.isVisible()
    assert not panel.presenter.is_running
    assert not thread.isRunning()


def test_a_network_with_an_error_cannot_start_and_the_errors_are_listed(qtbot, digits_window, wait_analysis):
    window, panel = digits_window, digits_window.training_panel
    window.document.push(SetParam(window.document.graph, "fc2", "in_features", 7))  # fc1 gives 128
    analysis = wait_analysis(window)
    assert not analysis.ok
    train = _action(window, "actionTrain")
    assert not train.isEnabled()
    assert "fc2" in train.toolTip()
    assert panel.presenter.start() is False
    assert not panel.presenter.is_running and not window.is_read_only
    log = panel.log.toPlainText()
    assert "cannot start" in log and "fc2" in log

    window.document_undo()
    wait_analysis(window)
    assert train.isEnabled()


class _ExplodingLoss(torch.nn.Module):
    """Cross-entropy until the third training step, then NaN: what a diverging run looks like."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, output, target):
        self.calls += 1
        loss = torch.nn.functional.cross_entropy(output, target)
        return loss * math.nan if self.calls >= 3 else loss


def test_a_nan_loss_ends_the_run_with_a_message_and_the_window_stays_usable(qtbot, digits_window, monkeypatch):
    window, panel = digits_window, digits_window.training_panel
    monkeypatch.setattr("nnstudio.train.trainer.make_loss", lambda settings: _ExplodingLoss())
    _set_epochs(window, 2)
    outcome = _train(qtbot, window)
    assert outcome.status == "failed"
    assert "nan" in outcome.message.lower()
    log = panel.log.toPlainText()
    assert "error:" in log and "nan" in log.lower()
    assert panel.state_label.accessibleName() == "Failed"
    assert panel.history.records()[-1].status == "failed"  # recorded, with why
    assert not window.is_read_only and _action(window, "actionTrain").isEnabled()
    assert panel.presenter.trained_run is None  # no epoch completed: nothing to export
    assert not _action(window, "actionExportResults").isEnabled()


def test_an_exception_in_a_layer_names_the_layer(qtbot, digits_window, monkeypatch):
    window, panel = digits_window, digits_window.training_panel
    original = torch.nn.ReLU.forward

    def broken(self, x):
        if self.training:
            raise RuntimeError("simulated kernel failure")
        return original(self, x)

    monkeypatch.setattr(torch.nn.ReLU, "forward", broken)
    _set_epochs(window, 1)
    outcome = _train(qtbot, window)
    assert outcome.status == "failed" and outcome.node_id == "relu1"
    assert "relu1" in panel.log.toPlainText()


def test_checkpoint_saved_after_a_run_resumes_in_a_later_run(qtbot, digits_window, tmp_path):
    window, panel = digits_window, digits_window.training_panel
    _set_epochs(window, 1)
    assert _train(qtbot, window).status == "finished"
    path = panel.presenter.save_checkpoint(tmp_path / "checkpoint.pth")
    _set_epochs(window, 2)
    with qtbot.waitSignal(panel.presenter.run_ended, timeout=RUN_TIMEOUT_MS) as ended:
        assert panel.presenter.resume_from(path)
    assert ended.args[0].status == "finished"
    assert panel.presenter.trained_run.epochs_done == 2
    assert panel.presenter.info.first_epoch == 2
    # Only the second epoch was trained in this run.
    assert len(panel.accuracy_plot.series_data("val_acc")[1]) == 1


def test_an_unsafe_checkpoint_is_refused_without_unpickling(qtbot, digits_window, tmp_path):
    panel = digits_window.training_panel
    path = tmp_path / "evil.pth"
    torch.save({"history": [], "model": {}, "payload": _ExplodingLoss}, path)
    assert panel.presenter.resume_from(path) is False
    assert "refused" in panel.log.toPlainText()
    assert not panel.presenter.is_running


def test_a_regression_run_shows_mean_absolute_error_and_no_confusion_matrix(qtbot, window, wait_analysis):
    assert window.files.open_example("linear-regression")
    wait_analysis(window)
    panel = window.training_panel
    _set_epochs(window, 2)
    outcome = _train(qtbot, window)
    assert outcome.status == "finished", outcome.message
    assert panel.accuracy_plot.mode == "mae"
    _, mae = panel.accuracy_plot.series_data("val_mae")
    assert len(mae) == 2 and mae[-1] < mae[0]
    assert panel.confusion.isHidden() and not panel.results_hint.isHidden()
    assert "val MAE" in panel.log.toPlainText()


def test_an_image_folder_trains_through_the_data_loader_and_shows_its_samples(qtbot, window, wait_analysis,
                                                                            tmp_path):
    from PIL import Image

    from nnstudio.core.settings import DatasetSettings
    from nnstudio.ui.training_settings import settings_command

    for label, value in (("dark", 30), ("light", 220)):
        (tmp_path / label).mkdir()
        for i in range(8):
            Image.new("L", (8, 8), value + i).save(tmp_path / label / f"{i}.png")
    assert window.files.open_example("digits-mlp")
    wait_analysis(window)
    document = window.document
    document.push(SetParam(document.graph, "fc3", "out_features", 2))
    dataset = DatasetSettings(kind="image_folder", options={"path": str(tmp_path), "size": 8, "channels": 1})
    document.push(settings_command(document, {"dataset": dataset, "epochs": 1}, "Use the folder"))
    wait_analysis(window)
    panel = window.training_panel
    outcome = _train(qtbot, window)
    assert outcome.status == "finished", outcome.message
    assert panel.confusion.counts().shape == (2, 2)
    assert panel.confusion.class_names() == ["dark", "light"]
    assert not panel.samples_scroll.isHidden()


def test_the_device_list_names_the_devices_present(window, wait_analysis):
    wait_analysis(window)
    form = window.training_panel.settings_form
    window.document.device_found.emit("CPU")
    names = [form.device.itemData(i) for i in range(form.device.count())]
    assert names[0] == "auto" and "cpu" in names
    assert "CPU (" in form.device.itemText(names.index("cpu"))


def test_short_epochs_are_drawn_on_the_redraw_cadence_and_the_last_one_is_shown(qtbot, digits_window, monkeypatch):
    import time as clock

    from nnstudio.ui.training_presenter import RESULTS_PER_SECOND
    from nnstudio.ui.training_worker import MAX_UPDATES_PER_SECOND

    window, panel = digits_window, digits_window.training_panel
    _set_epochs(window, 12)  # digits-mlp epochs take a few tens of milliseconds here
    panel.ensure_plots()
    flushes, shown_epochs = [], []
    real_flush, real_results = type(panel.loss_plot).flush, panel.show_epoch_results
    monkeypatch.setattr(panel.loss_plot, "flush",
                        lambda *args: (flushes.append(1), real_flush(panel.loss_plot, *args)))
    monkeypatch.setattr(panel, "show_epoch_results",
                        lambda metrics, samples, info: (shown_epochs.append(metrics.epoch),
                                                        real_results(metrics, samples, info)))
    began = clock.perf_counter()
    outcome = _train(qtbot, window)
    elapsed = clock.perf_counter() - began
    assert outcome.status == "finished"
    # Besides the cadence: the x axis settling at the start (auto range, then the run's epoch span;
    # each re-reduces the curves at once), the final redraw and the one when the run ends.
    assert len(flushes) <= MAX_UPDATES_PER_SECOND * elapsed + 4, (len(flushes), elapsed)
    assert shown_epochs and shown_epochs[-1] == 12, "the final epoch's results are always shown"
    assert shown_epochs == sorted(set(shown_epochs)), "results are never shown out of order or twice"
    assert len(shown_epochs) <= RESULTS_PER_SECOND * elapsed + 2, (shown_epochs, elapsed)
    assert panel.confusion.counts().sum() == panel.presenter.info.val_size
    assert not panel.presenter._redraw_timer.isActive() and not panel.presenter._results_timer.isActive()


def test_the_read_outs_change_less_often_than_the_curves_and_end_on_the_last_values(qtbot, digits_window,
                                                                                 monkeypatch):
    import time as clock

    from nnstudio.ui.training_presenter import READOUTS_PER_SECOND

    window, panel = digits_window, digits_window.training_panel
    _set_epochs(window, 12)
    panel.ensure_plots()
    texts = []
    readout = panel.loss_plot._readout
    real_set_text = type(readout).setText
    monkeypatch.setattr(readout, "setText", lambda text: (texts.append(text), real_set_text(readout, text)))
    began = clock.perf_counter()
    assert _train(qtbot, window).status == "finished"
    elapsed = clock.perf_counter() - began
    # The start's empty hint and the end's final values come on top of the cadence.
    assert len(texts) <= READOUTS_PER_SECOND * elapsed + 3, (len(texts), elapsed)
    last_x = panel.loss_plot.series_data("batch_loss")[0][-1]
    assert f"latest epoch {last_x:.2f}" in panel.loss_plot.readout_text()


def test_a_failure_to_draw_the_last_curves_still_ends_the_run(qtbot, digits_window, monkeypatch):
    window, panel = digits_window, digits_window.training_panel
    _set_epochs(window, 1)
    panel.ensure_plots()

    real_flush = type(panel.loss_plot).flush

    def broken(*args):
        if panel.presenter.is_running:
            return real_flush(panel.loss_plot, *args)
        raise RuntimeError("no room left for pixels")  # the redraw once the run is over

    monkeypatch.setattr(panel.loss_plot, "flush", broken)
    outcome = _train(qtbot, window)
    assert outcome.status == "finished" and not panel.presenter.is_running
    assert "could not draw the last curves: RuntimeError: no room left for pixels" in panel.log.toPlainText()
    assert _action(window, "actionTrain").isEnabled()

"""The window's multi-GPU choice and memory pre-flight, as a person meets them.

- The Inspector's network summary and the Training tab show the memory of one training step beside
  the device's free memory, and follow the batch size.
- Train with a batch that will not fit asks first, and offers the largest batch size that fits.
- With more than one CUDA GPU (faked here: the device list is replaced) the Device list offers
  "All GPUs (N)"; a run on it goes to torchrun worker processes (gloo CPU workers here, behind the
  same choice) whose rank 0 streams the run into the same curves and results.
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QComboBox, QSpinBox

from nnstudio.experiments import RunStore, runs_folder_for
from nnstudio.train.preflight import estimate_project_memory

PREFLIGHT_TIMEOUT_MS = 120_000  # the first estimate of a session warms up PyTorch's fake tensors
RUN_TIMEOUT_MS = 240_000  # two worker processes import torch before the first step


def _action(window, name: str) -> QAction:
    action = window.findChild(QAction, name)
    assert action is not None, name
    return action


def _set_spin(window, name: str, value: int) -> None:
    spin = window.training_panel.findChild(QSpinBox, name)
    spin.setValue(value)
    assert getattr(window.document.project.settings, name) == value


def _wait_estimate(qtbot, window, batch: int, workers: int = 1):
    memory = window.training_panel.presenter.memory

    def current():
        result = memory.result
        return (result is not None and not memory.pending and result.estimate.workers == workers
                and result.estimate.batch_size * workers >= batch > (result.estimate.batch_size - 1) * workers)

    qtbot.waitUntil(current, timeout=PREFLIGHT_TIMEOUT_MS)
    return memory.result


@pytest.fixture
def digits_window(window, wait_analysis):
    assert window.files.open_example("digits-mlp")
    wait_analysis(window)
    window.tabs.setCurrentWidget(window.training_panel)
    return window


def test_the_summary_and_the_training_tab_show_the_memory_of_a_step(qtbot, digits_window):
    window, panel = digits_window, digits_window.training_panel
    window.inspector.show_nodes([])
    first = _wait_estimate(qtbot, window, 64)
    assert first.fits and first.free is not None
    label = panel.memory_label.text()
    assert "per step" in label and "free on cpu" in label
    assert "parameters" in panel.memory_label.toolTip() and "optimizer state" in panel.memory_label.toolTip()
    summary = window.inspector.findChild(type(panel.memory_label), "inspectorSummary").text()
    assert "Memory per step" in summary and "per step" in summary
    # A bigger batch holds more activations: the line follows the Recipe.
    _set_spin(window, "batch_size", 512)
    bigger = _wait_estimate(qtbot, window, 512)
    assert bigger.estimate.peak > first.estimate.peak
    panel.grab().save("/tmp/nnstudio-training-memory.png")
    window.inspector.grab().save("/tmp/nnstudio-inspector-memory.png")


@pytest.mark.parametrize("choice", ["largest", "cancel"])
def test_a_step_that_will_not_fit_asks_first_and_offers_the_largest_batch_that_fits(
        qtbot, digits_window, monkeypatch, choice):
    window, presenter = digits_window, digits_window.training_panel.presenter
    project = window.document.project
    free = estimate_project_memory(project, device="cpu", batch_size=100).needed
    monkeypatch.setattr("nnstudio.train.preflight.free_memory", lambda device: free)
    _set_spin(window, "epochs", 1)
    _set_spin(window, "batch_size", 400)
    result = _wait_estimate(qtbot, window, 400)
    assert not result.fits and 90 <= result.largest_batch <= 100
    assert "will not fit" in window.training_panel.memory_label.text()
    QApplication.processEvents()  # the label's new height is laid out by the event loop
    window.training_panel.grab().save("/tmp/nnstudio-memory-wont-fit.png")
    asked = []
    monkeypatch.setattr("nnstudio.ui.training_presenter.ask_memory_fit",
                        lambda parent, preflight: asked.append(preflight) or choice)
    if choice == "cancel":
        assert presenter.start() is False
        assert asked and not presenter.is_running
        assert window.document.project.settings.batch_size == 400
        assert "not started" in window.training_panel.log.toPlainText()
        return
    with qtbot.waitSignal(presenter.run_ended, timeout=RUN_TIMEOUT_MS) as ended:
        _action(window, "actionTrain").trigger()
    assert asked and ended.args[0].status == "finished"
    assert window.document.project.settings.batch_size == result.largest_batch
    window.document.undo_stack.undo()  # the change is an ordinary, undoable settings edit
    assert window.document.project.settings.batch_size == 400


def test_all_gpus_trains_in_worker_processes_and_fills_the_same_views(qtbot, digits_window, monkeypatch, tmp_path):
    window, panel = digits_window, digits_window.training_panel
    presenter = panel.presenter
    # Two CUDA GPUs as far as the window knows; the workers behind the choice train with gloo on the CPU.
    monkeypatch.setattr("nnstudio.train.devices.list_devices",
                        lambda: [("cuda", "GPU 0 (80.0 GiB)"), ("cuda:1", "GPU 1 (80.0 GiB)"), ("cpu", "CPU")])
    monkeypatch.setattr("nnstudio.ui.training_presenter.ALL_GPUS_DEVICE", "cpu")
    monkeypatch.setattr("nnstudio.ui.memory_preflight.ALL_GPUS_DEVICE", "cpu")
    panel._list_devices()
    combo = panel.findChild(QComboBox, "device")
    index = combo.findText("All GPUs (2)")
    assert index >= 0, [combo.itemText(i) for i in range(combo.count())]
    combo.setCurrentIndex(index)
    combo.activated.emit(index)
    assert presenter.workers == 2 and window.document.project.settings.device == "cuda"
    assert combo.currentText() == "All GPUs (2)"
    estimate = _wait_estimate(qtbot, window, 64, workers=2)
    assert estimate.estimate.batch_size == 32 and "on each GPU" in panel.memory_label.text()
    _set_spin(window, "epochs", 2)
    assert combo.currentText() == "All GPUs (2)"  # another setting's edit keeps the choice
    with qtbot.waitSignal(presenter.run_ended, timeout=RUN_TIMEOUT_MS) as ended:
        _action(window, "actionTrain").trigger()
        assert presenter.is_running
    assert presenter.session is presenter.processes
    outcome = ended.args[0]
    assert outcome.status == "finished", outcome.message
    _x, loss = panel.loss_plot.series_data("batch_loss")
    assert len(loss) > 0 and np.all(np.isfinite(loss))
    assert "2 workers on cpu (gloo)" in panel.log.toPlainText()
    assert panel.confusion.isVisible()
    panel.grab().save("/tmp/nnstudio-all-gpus-run.png")
    # Recorded in the project's runs folder like a thread run, and listed in the Runs view.
    [record] = RunStore(runs_folder_for(example="digits-mlp")).runs()
    assert (record.status, record.source, record.device) == ("finished", "window", "2 workers on cpu (gloo)")
    assert "recording the run in" in panel.log.toPlainText()
    qtbot.waitUntil(lambda: panel.history.visible_run_ids() == [record.run_id])
    # Rank 0's per-layer telemetry fills the cards, and the log says whose batches it watched.
    assert window.telemetry.history.samples and "fc1" in window.telemetry.history.layers
    assert "rank 0's share of each batch" in panel.log.toPlainText()
    # Pausing a run of worker processes: the "While paused" box says why nothing can be changed.
    _set_spin(window, "epochs", 5000)
    _action(window, "actionTrain").trigger()
    qtbot.waitUntil(lambda: panel.loss_plot.series_data("val_loss")[1].size >= 1, timeout=RUN_TIMEOUT_MS)
    _action(window, "actionPause").trigger()
    midrun = window.telemetry.midrun
    assert presenter.is_paused and not midrun.apply_button.isEnabled()
    assert "cannot change its settings while paused" in midrun.message.text()
    assert not midrun.hint.isVisible()
    qtbot.wait(50)  # the box's layout makes room for the message
    midrun.parentWidget().grab().save("/tmp/nnstudio-all-gpus-paused.png")
    with qtbot.waitSignal(presenter.run_ended, timeout=RUN_TIMEOUT_MS):
        _action(window, "actionStop").trigger()
    _set_spin(window, "epochs", 2)
    # What ran elsewhere exports like any run.
    target = presenter.export_results(tmp_path / "exported")
    assert {p.name for p in target.iterdir()} >= {"model.pth", "model.py", "metrics.csv", "checkpoint.pth"}
    # Choosing one device again trains in the window's thread.
    combo.setCurrentIndex(combo.findData("cpu"))
    combo.activated.emit(combo.currentIndex())
    assert presenter.workers == 1

"""Training from the window: closing mid-run and long pauses end as designed, with the last good weights."""

from __future__ import annotations

import resource

import pytest
import torch
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMessageBox, QSpinBox

RUN_TIMEOUT_MS = 120_000
Button = QMessageBox.StandardButton


@pytest.fixture
def digits_window(window, wait_analysis):
    assert window.files.open_example("digits-mlp")
    wait_analysis(window)
    window.tabs.setCurrentWidget(window.training_panel)
    window.training_panel.findChild(QSpinBox, "epochs").setValue(200)
    return window


def start_training(qtbot, window) -> None:
    panel = window.training_panel
    with qtbot.waitSignal(panel.presenter.session.epoch_ended, timeout=RUN_TIMEOUT_MS):
        window.findChild(QAction, "actionTrain").trigger()


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def test_closing_the_window_mid_run_joins_the_thread_and_keeps_the_last_complete_epoch(
        qtbot, digits_window, monkeypatch, autosave_folder):
    window, panel = digits_window, digits_window.training_panel
    start_training(qtbot, window)
    thread = panel.presenter.session._thread
    monkeypatch.setattr(window.dialogs, "ask_stop_training", lambda *_: Button.Yes)
    monkeypatch.setattr(window.dialogs, "ask_unsaved_changes", lambda *_: Button.Discard)
    window.close()
    assert not window.isVisible() and not panel.presenter.is_running and not thread.isRunning()
    run = panel.presenter.session.last_run
    assert 1 <= run.epochs_done < 200
    weights = run.weights()
    current = run.model.state_dict()
    assert all(torch.equal(current[k].cpu(), v) for k, v in weights.items()), \
        "the model was not put back to the last complete epoch"
    assert all(torch.isfinite(v).all() for v in weights.values())
    assert not list(autosave_folder.glob("recovery.*")), "a clean close leaves no autosave"


def test_a_long_pause_in_the_window_costs_almost_no_cpu_and_resume_continues(qtbot, digits_window):
    window, panel = digits_window, digits_window.training_panel
    start_training(qtbot, window)
    panel.presenter.pause()
    qtbot.wait(300)  # the worker finishes its step and blocks
    epochs_at_pause = panel.presenter.session._worker.run.epochs_done
    before = cpu_seconds()
    qtbot.wait(1500)  # the event loop keeps running, as it would on screen
    used = cpu_seconds() - before
    assert panel.presenter.session.is_paused and panel.presenter.session._worker.run.epochs_done == epochs_at_pause
    # Busy-waiting (trainer or GUI timers) would burn most of the 1.5 s; a blocked run almost none.
    assert used < 0.4, f"{used:.2f} s of CPU while paused"
    with qtbot.waitSignal(panel.presenter.session.epoch_ended, timeout=RUN_TIMEOUT_MS):
        panel.presenter.resume()
    with qtbot.waitSignal(panel.presenter.run_ended, timeout=RUN_TIMEOUT_MS) as ended:
        panel.presenter.stop()
    assert ended.args[0].status == "stopped"
    assert panel.presenter.session.last_run.epochs_done > epochs_at_pause

"""What the Training tab shows of a run that ends early: the planned epochs, and long messages whole."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QSpinBox

from nnstudio.core.errors import NnstudioError
from nnstudio.ui.live_text import plain_text

RUN_TIMEOUT_MS = 120_000


@pytest.fixture
def digits_window(window, wait_analysis):
    assert window.files.open_example("digits-mlp")
    wait_analysis(window)
    window.tabs.setCurrentWidget(window.training_panel)
    return window


def _set_epochs(window, epochs: int) -> None:
    window.training_panel.findChild(QSpinBox, "epochs").setValue(epochs)
    assert window.document.project.settings.epochs == epochs


def _train(qtbot, window):
    panel = window.training_panel
    with qtbot.waitSignal(panel.presenter.run_ended, timeout=RUN_TIMEOUT_MS) as ended:
        window.findChild(QAction, "actionTrain").trigger()
    return ended.args[0]


def _epoch_axis(plot) -> tuple[float, float]:
    return tuple(plot.main_plot.getViewBox().viewRange()[0])


def _fail_to_build(monkeypatch, message: str) -> None:
    def refuse(*_args, **_kwargs):
        raise NnstudioError(message)
    monkeypatch.setattr("nnstudio.train.project_run.build_training_run", refuse)


def test_a_run_that_fails_before_its_first_epoch_shows_its_own_planned_epochs(qtbot, digits_window, monkeypatch):
    window, panel = digits_window, digits_window.training_panel
    _set_epochs(window, 4)
    assert _train(qtbot, window).status == "finished"
    assert _epoch_axis(panel.loss_plot)[1] >= 4.0

    _set_epochs(window, 2)
    _fail_to_build(monkeypatch, "the file is missing")
    assert _train(qtbot, window).status == "failed"

    for plot in (panel.loss_plot, panel.accuracy_plot):
        left, right = _epoch_axis(plot)
        assert left <= 0.0 and 2.0 <= right <= 2.1, (plot.objectName(), left, right)


LONG = ("the CSV file /home/someone/projects/a-rather-deeply/nested/folder/with/data/measurements-2026.csv "
        "line 4127, column 'temperature_celsius' holds 'n/a', which is not a number; fix the cell or remove "
        "the row, then train again")


def test_a_long_failure_message_is_shown_from_its_start_and_whole_on_hover(qtbot, digits_window, monkeypatch):
    window, panel = digits_window, digits_window.training_panel
    _fail_to_build(monkeypatch, LONG)
    outcome = _train(qtbot, window)
    assert outcome.status == "failed"

    line = panel.progress_label
    assert line.text().startswith("The CSV file /home/someone")
    # A one-line field wider text than it can show: the start (the part that names the file) is in view.
    assert line.fontMetrics().horizontalAdvance(line.text()) > line.width()
    assert line.cursorPosition() == 0
    assert LONG[1:] in plain_text(line.toolTip())
    # The status bar's line: the whole message on hover, and the whole message in the log.
    assert LONG in plain_text(window.status_bar.toolTip())
    assert LONG in panel.log.toPlainText()


def test_early_stopping_names_the_kept_epoch_in_the_window(qtbot, digits_window, monkeypatch):
    from nnstudio.train.trainer import TrainingRun

    window, panel = digits_window, digits_window.training_panel
    window.document.project.settings.early_stopping = 2
    _set_epochs(window, 8)
    losses = iter([1.0, 0.5, 0.7, 0.9, 0.1, 0.1, 0.1, 0.1])
    real = TrainingRun._validate

    def scripted(self):
        _loss, accuracy, mae, confusion = real(self)
        return next(losses), accuracy, mae, confusion
    monkeypatch.setattr(TrainingRun, "_validate", scripted)

    outcome = _train(qtbot, window)
    assert outcome.status == "finished"
    assert "the weights are those of epoch 2, the best validation loss" in panel.progress_label.text()
    assert "the weights kept are those of epoch 2" in panel.log.toPlainText()
    # The Runs view's record of the run: its best validation loss is the kept epoch's, and its notes
    # name the epoch whose weights the run's model.pth holds.
    qtbot.waitUntil(lambda: panel.history.records() and panel.history.records()[-1].status == "finished")
    record = panel.history.records()[-1]
    assert (record.best["val_loss"], record.best["val_loss_epoch"]) == (0.5, 2)
    assert any("the weights kept are those of epoch 2" in note for note in record.notes_from_run)
    assert panel.presenter.trained_run.weights_epoch == 2

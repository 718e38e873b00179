"""Runs in the window: each training run is recorded and listed in the Runs tab, an earlier run's
network opens in the editor, and the Sweep dialog opens from the Training tab."""

from __future__ import annotations

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMessageBox, QSpinBox

from nnstudio.core.commands import SetParam
from nnstudio.experiments import RunStore, runs_folder_for

RUN_TIMEOUT_MS = 120_000


def _action(window, name: str) -> QAction:
    action = window.findChild(QAction, name)
    assert action is not None, name
    return action


def _train(qtbot, window, epochs: int) -> None:
    panel = window.training_panel
    spin = panel.findChild(QSpinBox, "epochs")
    spin.setValue(epochs)
    with qtbot.waitSignal(panel.presenter.run_ended, timeout=RUN_TIMEOUT_MS) as ended:
        _action(window, "actionTrain").trigger()
    assert ended.args[0].status == "finished", ended.args[0].message


def test_runs_trained_in_the_window_are_recorded_listed_and_reopened(qtbot, window, wait_analysis, monkeypatch):
    assert window.files.open_example("digits-mlp")
    wait_analysis(window)
    panel = window.training_panel
    window.tabs.setCurrentWidget(panel)
    _train(qtbot, window, 2)
    window.document.push(SetParam(window.document.graph, "fc1", "out_features", 48))
    wait_analysis(window)
    _train(qtbot, window, 2)

    folder = runs_folder_for(example="digits-mlp")  # an example's runs: the user data folder (a test's own)
    records = RunStore(folder).runs()
    assert [r.status for r in records] == ["finished", "finished"] and all(r.source == "window" for r in records)
    first, second = records
    assert (first.folder / "model.pth").is_file() and (first.folder / "run.json").is_file()
    assert any(p.name.startswith("events.out.tfevents") for p in second.folder.iterdir())
    assert len(second.epochs) == 2 and second.graph["nodes"][2]["params"]["out_features"] == 48
    history = panel.history
    qtbot.waitUntil(lambda: set(history.visible_run_ids()) == {first.run_id, second.run_id})
    assert history.row_texts(second.run_id)[3] == "fc1.out_features 128 → 48"
    assert "recording the run in" in panel.log.toPlainText()

    history.select_runs([first.run_id, second.run_id])
    assert panel.loss_plot.overlay_ids() == [first.run_id, second.run_id]
    window.resize(1400, 900)
    panel.bottom_tabs.setCurrentWidget(history)
    qtbot.wait(50)
    window.grab().save("/tmp/nnstudio-window-runs.png")

    # Opening the first run's network replaces the edited document (after the usual question).
    monkeypatch.setattr(window.dialogs, "ask_unsaved_changes", lambda name: QMessageBox.StandardButton.Discard)
    with qtbot.waitSignal(window.document.replaced):
        history.details.open_a.click()
    assert window.document.graph.node("fc1").params["out_features"] == 128
    assert window.document.is_modified and window.document.path is None
    assert window.tabs.currentIndex() == 0, "the network opens in the editor"


def test_the_sweep_dialog_opens_from_the_training_tab(qtbot, window, wait_analysis):
    assert window.files.open_example("digits-mlp")
    wait_analysis(window)
    window.tabs.setCurrentWidget(window.training_panel)
    _action(window, "actionSweep").trigger()
    dialog = window.training_panel.sweep_dialog
    qtbot.waitExposed(dialog)
    assert dialog.isVisible() and dialog.runs_folder == runs_folder_for(example="digits-mlp")
    dialog.set_field("lr", True)
    assert dialog.params() == ["lr=0.0001:0.01:log"] and dialog.start_button.isEnabled()
    dialog.close()

"""The Sweep dialog: fields picked and checked, trials run in worker processes and listed best first,
the objective plotted against each parameter, and the best values applied as one undoable step."""

from __future__ import annotations

import os

import pytest

from nnstudio.core.examples import load_example
from nnstudio.ui.document import Document
from nnstudio.ui.sweep_dialog import SweepDialog


@pytest.fixture
def document(qtbot):
    document = Document()
    document.replace(load_example("digits-mlp"))
    yield document
    document.shutdown()


@pytest.fixture
def dialog(qtbot, document, tmp_path):
    widget = SweepDialog(document, tmp_path / "digits-mlp.runs", example="digits-mlp")
    qtbot.addWidget(widget)
    yield widget
    widget.shutdown()


def test_fields_come_from_the_settings_and_the_layers_and_ranges_are_checked(dialog):
    fields = {dialog.fields.topLevelItem(i).text(0) for i in range(dialog.fields.topLevelItemCount())}
    assert {"Training", "fc1 (Linear)", "fc2 (Linear)"} <= fields
    assert not dialog.start_button.isEnabled(), "nothing to search yet"
    dialog.set_field("lr", True, "1e-1:1e-4:log")
    assert "the range is inverted" in dialog.problem.text() and not dialog.start_button.isEnabled()
    assert not dialog.start()
    dialog.set_field("lr", True, "1e-4:1e-1:log")
    dialog.set_field("fc1.out_features", True, "16:0:int")
    assert dialog.problem.text().startswith("fc1.out_features:")
    dialog.set_field("fc1.out_features", False)
    assert dialog.problem.text() == "" and dialog.start_button.isEnabled()
    assert dialog.params() == ["lr=1e-4:1e-1:log"]


def test_a_sweep_runs_beside_the_window_and_its_best_values_apply_in_one_step(qtbot, dialog, document, tmp_path):
    dialog.set_field("lr", True, "1e-3:1e-1:log")
    dialog.set_field("fc1.out_features", True, "16:96:int")
    dialog.trials_spin.setValue(4)
    dialog.epochs_spin.setValue(2)
    dialog.prune.setChecked(False)
    dialog.sampler.setCurrentIndex(dialog.sampler.findData("random"))
    with qtbot.waitSignal(dialog.finished_sweep, timeout=240_000) as done:
        assert dialog.start()
    assert "Sweep finished: 4 trials" in done.args[0], done.args[0]
    rows = dialog.table_rows()
    assert len(rows) == 4 and all(r[1] == "complete" for r in rows)
    values = [float(r[2]) for r in rows]
    assert values == sorted(values), "best (lowest validation loss) first"
    trials = dialog.sweep.load_study().trials
    assert {t.user_attrs["worker"]["pid"] for t in trials} != {os.getpid()}, "trials train in worker processes"
    assert len(dialog.plots.points("lr")) == 4 and len(dialog.plots.points("fc1.out_features")) == 4
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.grab().save("/tmp/nnstudio-sweep-dialog.png")

    best = min(trials, key=lambda t: t.value)
    before = (document.project.settings.lr, document.project.graph.node("fc1").params["out_features"])
    assert dialog.apply_best()
    after = (document.project.settings.lr, document.project.graph.node("fc1").params["out_features"])
    assert after == (pytest.approx(best.params["lr"]), best.params["fc1.out_features"])
    assert document.project.settings.epochs == load_example("digits-mlp").settings.epochs
    document.undo_stack.undo()
    assert (document.project.settings.lr, document.project.graph.node("fc1").params["out_features"]) == before
    # Every trial is a recorded run in the project's runs folder.
    from nnstudio.experiments import RunStore

    runs = RunStore(tmp_path / "digits-mlp.runs").runs()
    assert len(runs) == 4 and {r.sweep["trial"] for r in runs} == {0, 1, 2, 3}

"""The Runs view: recorded runs listed from the runs folder, sorted, filtered, overlaid on the plots,
compared two at a time, renamed, annotated and deleted."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from nnstudio.core.commands import AddNode, Connect, Disconnect, SetParam
from nnstudio.core.examples import load_example
from nnstudio.experiments import RunRecorder, read_run
from nnstudio.experiments.records import RECORD_FILE
from nnstudio.ui.plots import AccuracyPlot, LossPlot
from nnstudio.ui.run_history import RunHistoryWidget
from nnstudio.ui.runs_table import VAL_LOSS


def _train(project, folder, fail_after_epoch=None):
    import torch

    from nnstudio.train.project_run import build_training_run

    torch.set_num_threads(1)
    run = build_training_run(project)
    with RunRecorder(run, project, folder, source="window"):
        if fail_after_epoch is not None:
            def fail(metrics):
                if metrics.epoch == fail_after_epoch:
                    raise RuntimeError("the data loader broke")
            run.events.epoch_end.connect(fail)
        run.run()


@pytest.fixture(scope="module")
def recorded_runs(tmp_path_factory):
    """A runs folder: a baseline, a changed run (lr, a wider fc1, a dropout), a failed one, a damaged one."""
    runs = tmp_path_factory.mktemp("runs") / "digits.runs"
    base = load_example("digits-mlp")
    base.settings.epochs = 3
    base.settings.device = "cpu"
    _train(base, runs / "20260101-100000")
    changed = base.copy()
    changed.settings.lr = 0.01
    graph = changed.graph
    SetParam(graph, "fc1", "out_features", 64).redo()
    Disconnect(graph, graph.in_edges("fc2")[0]).redo()
    AddNode(graph, "dropout", (0, 0), node_id="dropout1").redo()
    Connect(graph, "relu1", "dropout1").redo()
    Connect(graph, "dropout1", "fc2").redo()
    _train(changed, runs / "20260101-110000")
    failing = base.copy()
    failing.settings.optimizer = "sgd"
    _train(failing, runs / "20260101-120000", fail_after_epoch=2)
    (runs / "20260101-130000").mkdir()
    (runs / "20260101-130000" / RECORD_FILE).write_text("{ not json")
    return runs


@pytest.fixture
def runs_folder(recorded_runs, tmp_path):
    copy = tmp_path / "digits.runs"
    shutil.copytree(recorded_runs, copy)
    return copy


@pytest.fixture
def view(qtbot, runs_folder):
    widget = RunHistoryWidget()
    qtbot.addWidget(widget)
    widget.resize(1100, 320)
    widget.set_folder(runs_folder)
    return widget


A, B, FAILED, DAMAGED = "20260101-100000", "20260101-110000", "20260101-120000", "20260101-130000"


def test_the_runs_folder_is_listed_with_what_changed(view):
    assert set(view.visible_run_ids()) == {A, B, FAILED, DAMAGED}
    assert view.visible_run_ids()[0] == DAMAGED, "newest first"
    a, b, failed = (view.row_texts(r) for r in (A, B, FAILED))
    assert a[2] == "finished" and a[3] == "first run"
    assert b[3].startswith("lr 0.001 → 0.01") and "+dropout1" in b[3] and "fc1.out_features 128 → 64" in b[3]
    assert a[4].endswith("%") and float(a[5]) == pytest.approx(view.record(A).best["val_loss"], rel=1e-3)
    assert failed[2] == "failed" and "optimizer adam → sgd" in failed[3]
    assert view.row_texts(DAMAGED)[2] == "damaged"


def test_sorting_and_filters(view, qtbot):
    view.table.sortByColumn(VAL_LOSS, view.table.horizontalHeader().sortIndicatorOrder().AscendingOrder)
    order = view.visible_run_ids()
    losses = [view.record(r).best.get("val_loss", float("inf")) for r in order]
    assert losses == sorted(losses), "numbers sort as numbers"
    view.filter_edit.setText("128 → 64")
    assert view.visible_run_ids() == [B]
    view.filter_edit.clear()
    view.status_filter.setCurrentIndex(view.status_filter.findData("failed"))
    assert view.visible_run_ids() == [FAILED]


def test_selected_runs_overlay_their_curves_with_a_legend(view, qtbot):
    loss, accuracy = LossPlot(), AccuracyPlot()
    for plot in (loss, accuracy):
        qtbot.addWidget(plot)
        plot.resize(520, 300)
    view.attach_plots(loss, accuracy)
    view.select_runs([A, B])
    assert loss.overlay_ids() == [A, B] and accuracy.overlay_ids() == [A, B]
    assert view.overlay_colour(A) != view.overlay_colour(B)
    epochs = view.record(B).epochs
    x, y = loss.overlay_data(B)["val_loss"]
    assert x.tolist() == [1.0, 2.0, 3.0] and np.allclose(y, [row["val_loss"] for row in epochs])
    assert accuracy.overlay_data(A)["val_acc"][1].tolist() == [row["val_acc"] for row in view.record(A).epochs]
    legend = [label.text for _sample, label in loss._legend.items]
    assert A in legend and B in legend
    _save(qtbot, view, loss, accuracy, "runs-overlay")
    view.select_runs([B])
    assert loss.overlay_ids() == [B] and accuracy.overlay_ids() == [B]
    view.select_runs([])
    assert loss.overlay_ids() == []


def test_two_selected_runs_show_a_diff_and_open_either_network(view, qtbot):
    view.select_runs([A, B])
    rows = view.details.diff_rows()
    assert ("lr", "0.001", "0.01") in rows["Settings"]
    assert rows["Layers added"] == [("dropout1", "", "dropout")]
    assert ("fc1.out_features", "128", "64") in rows["Parameters changed"]
    assert ("relu1 → fc2", "removed", "") in rows["Wires"]
    assert view.details.open_b.text() == f"Open {B}"
    with qtbot.waitSignal(view.open_network_requested) as opened:
        view.details.open_b.click()
    project, title = opened.args
    assert title == B and "dropout1" in project.graph and project.settings.lr == 0.01
    with qtbot.waitSignal(view.open_network_requested) as opened:
        view.details.open_a.click()
    assert "dropout1" not in opened.args[0].graph
    view.resize(1200, 380)
    _save(qtbot, view, None, None, "runs-diff")


def test_rename_notes_and_delete(view, qtbot, runs_folder, monkeypatch):
    view.select_runs([A])
    view.model.item(view.model.row_of(A), 0).setText("baseline")  # what editing the cell in place does
    qtbot.waitUntil(lambda: read_run(runs_folder / A).title == "baseline")
    qtbot.waitUntil(lambda: view.row_texts(A)[0] == "baseline")
    assert view.row_texts(B)[3].startswith("lr 0.001"), "a rename is not a change of the run"
    view.select_runs([A])
    view.details.notes.setPlainText("lr looks low")
    view.details.flush_notes()
    assert read_run(runs_folder / A).notes == "lr looks low"
    asked = []
    monkeypatch.setattr(view, "ask_delete", lambda titles, size: asked.append((titles, size)) or False)
    view.select_runs([B, FAILED])
    assert view.delete_runs(view.selected_run_ids()) == 0 and (runs_folder / B).exists()
    assert asked[0][0] == [B, FAILED] and asked[0][1] > 0
    monkeypatch.setattr(view, "ask_delete", lambda titles, size: True)
    with qtbot.waitSignal(view.message) as said:
        freed = view.delete_runs([B, FAILED])
    assert freed > 0 and not (runs_folder / B).exists() and not (runs_folder / FAILED).exists()
    assert "Deleted 2 runs" in said.args[0]
    assert set(view.visible_run_ids()) == {A, DAMAGED}


def _save(qtbot, view, loss, accuracy, name):
    """Save a picture of the view (under the two plots, when given) for a person to look at."""
    from PySide6.QtGui import QImage, QPainter

    widgets = [view] if loss is None else [loss, accuracy, view]
    for widget in widgets:
        widget.show()
        qtbot.waitExposed(widget)
    if loss is None:
        view.grab().save(f"/tmp/nnstudio-{name}.png")
        return
    for plot in (loss, accuracy):
        plot.flush()
    top = [loss.grab(), accuracy.grab()]
    bottom = view.grab()
    width = max(top[0].width() + top[1].width(), bottom.width())
    image = QImage(width, max(p.height() for p in top) + bottom.height(), QImage.Format.Format_ARGB32)
    image.fill(view.palette().window().color())
    painter = QPainter(image)
    painter.drawPixmap(0, 0, top[0])
    painter.drawPixmap(top[0].width(), 0, top[1])
    painter.drawPixmap(0, max(p.height() for p in top), bottom)
    painter.end()
    image.save(f"/tmp/nnstudio-{name}.png")

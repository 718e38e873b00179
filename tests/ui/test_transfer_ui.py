"""Transfer learning in the window: the Trainable switch, locks on cards, the split count, the actions."""

from __future__ import annotations

import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from nnstudio.core.settings import DatasetSettings
from nnstudio.core.transfer import SetTraining


def _records(window):
    return window.document.graph.to_records()


def test_the_trainable_switch_freezes_a_layer_shows_a_lock_and_splits_the_count(example_window, wait_analysis,
                                                                                 qtbot):
    window = example_window
    before = _records(window)
    window.canvas.select_nodes(["conv1"])
    flags = window.inspector.training_flags
    assert flags is not None and flags.trainable.isChecked()
    flags.trainable.click()
    graph = window.document.graph
    assert not graph.node("conv1").trainable
    assert window.canvas.scene().node_items["conv1"].frozen
    analysis = wait_analysis(window)
    frozen = analysis.nodes["conv1"].params
    assert window.inspector.findChild(QLabel, "inspectorParams").text().endswith("(frozen)")
    status = window.findChild(QLabel, "statusParams").text()
    assert status.startswith("Parameters: ") and "trainable · " in status and status.endswith(" frozen")
    assert f"{frozen}" in status or f"{frozen / 1000:.3g}k" in status
    window.canvas.viewport().grab().save("/tmp/transfer-lock.png")
    window.document_undo()
    assert _records(window) == before and not window.canvas.scene().node_items["conv1"].frozen
    assert flags.trainable.isChecked()
    window.document_redo()
    assert not graph.node("conv1").trainable and not flags.trainable.isChecked()


def test_a_selection_freezes_as_one_undo_step_and_shows_partly_frozen(example_window):
    window = example_window
    before = _records(window)
    window.canvas.select_nodes(["conv2"])
    window.inspector.training_flags.trainable.click()
    window.canvas.select_nodes(["conv1", "conv2", "fc1"])
    flags = window.inspector.training_flags
    assert flags.trainable.checkState() == Qt.CheckState.PartiallyChecked
    flags.trainable.click()  # from partly: every selected layer trains
    assert all(window.document.graph.node(n).trainable for n in ("conv1", "conv2", "fc1"))
    window.transfer.freeze.trigger()
    assert not any(window.document.graph.node(n).trainable for n in ("conv1", "conv2", "fc1"))
    assert window.inspector.training_flags.trainable.checkState() == Qt.CheckState.Unchecked
    flags = window.inspector.training_flags
    flags.lr_scale.setValue(0.25)
    assert window.document.graph.node("fc1").lr_scale == 0.25
    window.document_undo()
    window.document.push(SetTraining(window.document.graph, ["conv1"], lr_scale=0.5))
    assert window.inspector.training_flags.lr_scale.text() == "mixed"
    window.document_undo()
    window.document_redo()
    for _ in range(4):
        window.document_undo()
    assert _records(window) == before


def test_replace_head_sets_the_dataset_class_count_in_one_step(example_window):
    window = example_window
    project = window.document.project
    head = [n.id for n in project.graph.nodes() if "out_features" in n.params][-1]
    project.settings.dataset = DatasetSettings(kind="blobs", options={"classes": 3, "features": 2})
    window.transfer.replace_head.trigger()
    assert project.graph.node(head).params["out_features"] == 3
    window.document_undo()
    assert project.graph.node(head).params["out_features"] == 10
    window.transfer.freeze_backbone.trigger()
    assert [n.id for n in project.graph.nodes() if n.trainable] == [head]
    window.document_undo()
    assert all(n.trainable for n in project.graph.nodes())


def test_apply_weights_file_gives_every_layer_its_tensors_and_undo_takes_them_back(example_window, tmp_path):
    from nnstudio.compile import compile_graph

    window = example_window
    model = compile_graph(window.document.graph)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.fill_(0.5)
    torch.save(model.state_dict(), tmp_path / "pretrained.pth")
    assert window.transfer.apply_weights_file(str(tmp_path / "pretrained.pth"))
    stored = window.document.graph.node("conv1").weights
    assert set(stored) == {"weight", "bias"} and stored["weight"].shape == tuple(model.conv1.weight.shape)
    window.document_undo()
    assert window.document.graph.node("conv1").weights == {}
    errors = []
    window.dialogs.show_error = lambda title, message: errors.append(message)
    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "other.pth")
    assert not window.transfer.apply_weights_file(str(tmp_path / "other.pth"))
    assert len(errors) == 1 and "other.pth" in errors[0] and "\n" not in errors[0]


def test_the_frozen_batchnorm_option_is_a_training_setting_with_undo(example_window):
    window = example_window
    from PySide6.QtWidgets import QCheckBox

    form = window.training_panel.findChild(object, "trainingSettings")
    form.advanced_button.click()
    box = form.findChild(QCheckBox, "update_frozen_norms")
    assert not box.isChecked()
    box.click()
    assert window.document.project.settings.update_frozen_norms
    window.document_undo()
    assert not window.document.project.settings.update_frozen_norms and not box.isChecked()


def test_a_picture_dropped_on_the_window_is_classified_by_the_last_run(window, tmp_path, qtbot):
    import sys
    from pathlib import Path

    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
    from transfer_helpers import fine_tuning_project

    from nnstudio.train.predict import Predictor
    from nnstudio.train.preprocessing import describe
    from nnstudio.train.project_run import build_training_run

    def drop(path):
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(path))])
        event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                           Qt.KeyboardModifier.NoModifier)
        window.dropEvent(event)
        assert event.isAccepted()

    project, _ = fine_tuning_project(tmp_path, epochs=1, per_class=3)
    picture = tmp_path / "pets" / "dogs" / "000.png"
    drop(picture)
    qtbot.waitUntil(lambda: "Train the network first" in window.statusBar().currentMessage())
    run = build_training_run(project, num_workers=0)
    run.run()
    window.training_panel.presenter.session.last_run = run  # what a finished run in the window leaves
    expected = Predictor(run.model, describe(run.data, run.settings.loss)).predict_files([str(picture)])[0].text()
    drop(picture)
    qtbot.waitUntil(lambda: window.statusBar().currentMessage() == expected)
    assert expected.startswith(f"{picture}: ") and expected in window.training_panel.log.toPlainText()


def test_the_dataset_preview_shows_training_pictures_as_augmented(tmp_path):
    import sys
    from pathlib import Path

    import numpy as np

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
    from transfer_helpers import write_image_folder

    from nnstudio.train.datasets import load_dataset
    from nnstudio.ui.dataset_preview import summarize_bundle

    folder = write_image_folder(tmp_path / "pets", per_class=4)

    def previews(**options):
        bundle = load_dataset(DatasetSettings(kind="image_folder", options={"path": str(folder), **options}), 0)
        return summarize_bundle(bundle).images, summarize_bundle(bundle).images

    first, second = previews(size=32, random_crop=True, flip=True, jitter=0.5)
    assert first.shape[1:] == (3, 32, 32) and not np.array_equal(first, second)
    first, second = previews(size=32)
    assert np.array_equal(first, second)

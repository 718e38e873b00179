"""Training settings and dataset choices in the Training tab: undoable, saved with the project."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QComboBox, QSpinBox

from nnstudio.core.project import load_project
from nnstudio.core.settings import DatasetSettings
from nnstudio.ui.training_settings import SettingsEditError, settings_command


@pytest.fixture
def panel(window, wait_analysis):
    assert window.files.open_example("digits-mlp")
    wait_analysis(window)
    return window.training_panel


def test_settings_edits_are_undoable_steps_and_saved_in_the_project(window, panel, tmp_path):
    settings = window.document.project.settings
    epochs = panel.findChild(QSpinBox, "epochs")
    assert epochs.value() == settings.epochs == 30
    assert not window.document.is_modified

    epochs.setValue(7)
    loss = panel.findChild(QComboBox, "loss")
    loss.setCurrentIndex(loss.findData("nll"))
    loss.activated.emit(loss.currentIndex())  # what a person's choice emits
    assert (settings.epochs, settings.loss) == (7, "nll")
    assert window.document.is_modified

    window.document_undo()
    assert settings.loss == "cross_entropy" and loss.currentData() == "cross_entropy"
    window.document_undo()
    assert settings.epochs == 30 and epochs.value() == 30
    window.document_redo()
    assert epochs.value() == 7

    assert window.files.save_to(tmp_path / "net.nns")
    assert load_project(tmp_path / "net.nns").settings.epochs == 7


def test_consecutive_edits_of_one_field_merge_into_one_undo_step(window, panel):
    epochs = panel.findChild(QSpinBox, "epochs")
    for value in (31, 32, 33):
        epochs.setValue(value)
    window.document_undo()
    assert window.document.project.settings.epochs == 30


def test_a_refused_value_never_reaches_the_undo_stack(window, panel):
    with pytest.raises(SettingsEditError) as error:
        settings_command(window.document, {"lr": -1.0}, "Set lr")
    assert error.value.field == "lr"
    assert not window.document.undo_stack.can_undo()


def test_dataset_choice_preview_and_input_shape_in_one_undo_step(window, panel, wait_analysis):
    chooser = panel.dataset
    summary = chooser.preview()
    assert summary.input_shape == (1, 8, 8) and summary.class_counts.sum() == summary.train_size
    assert chooser.preview_view.summary is summary

    chooser.kind.setCurrentIndex(chooser.kind.findData("moons"))
    chooser.kind.activated.emit(chooser.kind.currentIndex())  # moons preview loads at once
    assert window.document.project.settings.dataset.kind == "moons"
    summary = chooser.preview_view.summary
    assert summary.input_shape == (2,) and summary.rows is not None and len(summary.class_counts) == 2
    samples = chooser.findChild(QSpinBox, "option_n_samples")
    samples.setValue(400)
    assert window.document.project.settings.dataset.options == {"n_samples": 400}
    assert chooser.preview().train_size + chooser.preview().val_size == 400

    assert chooser.apply_input_shape()
    assert tuple(window.document.graph.node("image").params["shape"]) == (2,)
    window.document_undo()
    assert tuple(window.document.graph.node("image").params["shape"]) == (1, 8, 8)
    window.document_undo()
    window.document_undo()
    assert window.document.project.settings.dataset == DatasetSettings(kind="digits")
    assert chooser.kind.currentData() == "digits"


def test_csv_dataset_is_chosen_by_file_with_its_target_column(window, panel, tmp_path, monkeypatch):
    table = tmp_path / "flowers.csv"
    rows = ["width,height,kind"] + [f"{i % 7}.5,{i % 5}.25,{i % 3}" for i in range(60)]
    table.write_text("\n".join(rows) + "\n")
    chooser = panel.dataset
    monkeypatch.setattr(chooser, "ask_file", lambda start: str(table))
    chooser.kind.setCurrentIndex(chooser.kind.findData("csv"))
    chooser.kind.activated.emit(chooser.kind.currentIndex())
    assert window.document.project.settings.dataset.options["path"] == str(table)
    target = chooser.findChild(QComboBox, "option_target")
    assert [target.itemText(i) for i in range(target.count())] == ["width", "height", "kind"]
    summary = chooser.preview()
    assert summary.input_shape == (2,) and summary.rows.shape[1] == 2
    assert chooser.preview_view.table.rowCount() == len(summary.rows)


def test_a_dataset_that_cannot_load_says_why_in_the_preview(window, panel, tmp_path, monkeypatch):
    chooser = panel.dataset
    missing = tmp_path / "nowhere"
    monkeypatch.setattr(chooser, "ask_folder", lambda title, start: str(missing))
    chooser.kind.setCurrentIndex(chooser.kind.findData("image_folder"))
    chooser.kind.activated.emit(chooser.kind.currentIndex())
    assert chooser.preview() is None
    assert "does not exist" in chooser.preview_view.facts.text()
    assert not chooser.shape_button.isEnabled()

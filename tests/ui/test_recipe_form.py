"""The Recipe form offers every training setting, with help, the advanced ones in a folded group."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QWidget

from nnstudio.core.project import load_project
from nnstudio.core.recipe_fields import RECIPE


@pytest.fixture
def form(window, wait_analysis):
    assert window.files.open_example("digits-mlp")
    wait_analysis(window)
    return window.training_panel.settings_form


def _type(qtbot, line: QLineEdit, text: str) -> None:
    line.setFocus()
    line.selectAll()
    qtbot.keyClicks(line, text)
    qtbot.keyClick(line, Qt.Key.Key_Return)


def test_every_training_setting_has_an_editor_with_its_help(form):
    for entry in RECIPE:
        editor = form.findChild(QWidget, entry.name)
        assert editor is not None, entry.name
        assert entry.spec.help[:20].lower() in editor.toolTip().lower(), entry.name
        assert form.labels[entry.name].text() == entry.spec.title


def test_advanced_settings_are_folded_until_opened_and_then_edited_like_the_rest(qtbot, window, form, tmp_path):
    settings = window.document.project.settings
    weight_decay = form.findChild(QLineEdit, "weight_decay")
    assert form.advanced_button.text() == "Advanced" and not form.advanced.isVisibleTo(form)

    form.advanced_button.click()
    assert form.advanced.isVisibleTo(form)
    _type(qtbot, weight_decay, "0.01")
    assert settings.weight_decay == 0.01
    _type(qtbot, form.findChild(QLineEdit, "grad_clip"), "1.5")
    assert settings.grad_clip == 1.5
    _type(qtbot, form.findChild(QLineEdit, "early_stopping"), "4")
    assert settings.early_stopping == 4
    form.findChild(QCheckBox, "compile").click()
    assert settings.compile is True

    window.document_undo()
    assert settings.compile is False
    window.document_undo()
    assert settings.early_stopping is None and form.findChild(QLineEdit, "early_stopping").text() == ""
    window.document_redo()
    assert window.files.save_to(tmp_path / "net.nns")
    saved = load_project(tmp_path / "net.nns").settings
    assert (saved.weight_decay, saved.grad_clip, saved.early_stopping) == (0.01, 1.5, 4)

    form.advanced_button.click()  # folded: the header says how many are set
    assert form.advanced_button.text() == "Advanced (3 set)"


def test_a_project_that_sets_an_advanced_setting_opens_the_group(window, wait_analysis, tmp_path):
    assert window.files.open_example("digits-mlp")
    window.document.project.settings.momentum = 0.9
    window.document.project.settings.optimizer = "sgd"
    assert window.files.save_to(tmp_path / "sgd.nns")
    assert window.files.open_path(tmp_path / "sgd.nns")
    form = window.training_panel.settings_form
    assert form.advanced.isVisibleTo(form)
    assert form.findChild(QLineEdit, "momentum").text() == "0.9"


def test_a_setting_that_does_nothing_with_the_others_is_disabled_and_says_why(window, form):
    settings = window.document.project.settings
    momentum = form.findChild(QLineEdit, "momentum")
    assert settings.optimizer == "adam"
    assert not momentum.isEnabled()
    assert "Adam has no momentum setting" in momentum.toolTip()

    optimizer = form.findChild(QComboBox, "optimizer")
    optimizer.setCurrentIndex(optimizer.findData("sgd"))
    optimizer.activated.emit(optimizer.currentIndex())
    assert settings.optimizer == "sgd" and optimizer.currentText() == "SGD"
    assert momentum.isEnabled() and "Not used now" not in momentum.toolTip()


def test_a_refused_value_is_said_under_the_form_and_not_stored(qtbot, window, form):
    form.advanced_button.click()
    assert not window.document.undo_stack.can_undo()
    _type(qtbot, form.findChild(QLineEdit, "val_fraction"), "1.5")
    assert window.document.project.settings.val_fraction == 0.2
    assert form.error.isVisibleTo(form)
    assert "Validation share" in form.error.text()
    assert not window.document.undo_stack.can_undo()
    _type(qtbot, form.findChild(QLineEdit, "val_fraction"), "0.25")
    assert window.document.project.settings.val_fraction == 0.25
    assert not form.error.isVisibleTo(form)

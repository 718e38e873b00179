"""Files: save and reopen, bad files, the unsaved-changes prompt, recent files, drops, autosave."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from nnstudio.core.commands import SetParam
from nnstudio.core.examples import example_path
from nnstudio.core.project import load_project
from nnstudio.ui import MainWindow
from nnstudio.ui.autosave import find_recovery

Button = QMessageBox.StandardButton


def _edit(window, value=48):
    window.document.push(SetParam(window.document.graph, "conv1", "out_channels", value))


def _snapshot(window):
    graph = window.document.graph
    return graph.to_records(), window.document.path, window.document.project.name, graph


def test_save_then_reopen_gives_the_identical_graph(example_window, make_window, tmp_path):
    window = example_window
    _edit(window)
    window.canvas.edits.auto_layout()
    target = tmp_path / "mine.nns"
    assert window.files.save_to(target)
    assert not window.document.is_modified and not window.isWindowModified()
    assert window.windowTitle().startswith("mine.nns")
    other = make_window()
    assert other.files.open_path(target)
    assert other.document.graph.same_as(window.document.graph)
    assert other.document.project.settings == window.document.project.settings


def test_save_asks_for_a_path_when_the_document_has_none(example_window, tmp_path):
    window = example_window
    window.dialogs.ask_save_path = lambda *_: str(tmp_path / "picked")  # no suffix: .nns is added
    assert window.files.save()
    assert window.document.path == (tmp_path / "picked.nns").resolve()
    assert load_project(tmp_path / "picked.nns").graph.same_as(window.document.graph)


def test_title_carries_the_modified_marker(example_window):
    window = example_window
    assert "[*]" in window.windowTitle() and "digits-cnn" in window.windowTitle()
    assert not window.isWindowModified()
    _edit(window)
    assert window.isWindowModified()
    window.document.undo_stack.undo()
    assert not window.isWindowModified()


@pytest.mark.parametrize(("content", "expected"), [
    ("{ not json", "not valid JSON"),
    (json.dumps({"format": "nnstudio-project", "version": 1,
                 "nodes": [{"id": "a", "type": "warp_drive"}]}), "unknown type 'warp_drive'"),
    (json.dumps({"format": "nnstudio-project", "version": 99}), "newer nnstudio"),
    ("", "empty"),
])
def test_a_malformed_file_shows_its_problem_and_leaves_the_document_exactly_as_it_was(
        example_window, monkeypatch, tmp_path, content, expected):
    window = example_window
    _edit(window)
    bad = tmp_path / "bad.nns"
    bad.write_text(content, encoding="utf-8")
    shown = []
    monkeypatch.setattr(QMessageBox, "critical", staticmethod(lambda parent, title, text: shown.append(text)))
    window.dialogs.ask_unsaved_changes = lambda *_: pytest.fail("a bad file must not prompt about unsaved changes")
    before = _snapshot(window)
    undo_text = window.document.undo_stack.undo_text()
    assert window.files.open_path(bad) is False
    assert len(shown) == 1 and expected in shown[0] and "bad.nns" in shown[0]
    after = _snapshot(window)
    assert after[0] == before[0] and after[1:3] == before[1:3] and after[3] is before[3]
    assert window.document.is_modified and window.document.undo_stack.undo_text() == undo_text


def test_a_missing_file_is_reported_too(example_window, monkeypatch, tmp_path):
    shown = []
    monkeypatch.setattr(QMessageBox, "critical", staticmethod(lambda parent, title, text: shown.append(text)))
    assert example_window.files.open_path(tmp_path / "nowhere.nns") is False
    assert "cannot read the file" in shown[0]


def test_unsaved_changes_prompt_cancel_keeps_discard_replaces_save_saves(example_window, tmp_path):
    window = example_window
    _edit(window)
    graph = window.document.graph
    answers = []
    window.dialogs.ask_unsaved_changes = lambda *_: answers.pop(0)

    answers.append(Button.Cancel)
    assert window.files.new_document() is False
    assert window.document.graph is graph and window.document.is_modified

    answers.append(Button.Save)
    window.dialogs.ask_save_path = lambda *_: str(tmp_path / "kept.nns")
    assert window.files.open_example("digits-mlp")
    assert load_project(tmp_path / "kept.nns").graph.node("conv1").params["out_channels"] == 48
    assert window.document.project.name == "digits-mlp"

    window.document.push(SetParam(window.document.graph, "fc1", "out_features", 7))
    answers.append(Button.Discard)
    assert window.files.new_document()
    assert len(window.document.graph) == 0 and not window.document.is_modified
    assert answers == []


def test_a_failed_save_shows_why_and_keeps_the_document_modified(example_window, monkeypatch, tmp_path):
    window = example_window
    _edit(window)
    shown = []
    monkeypatch.setattr(QMessageBox, "critical", staticmethod(lambda parent, title, text: shown.append(text)))
    assert window.files.save_to(tmp_path / "no" / "such" / "folder" / "x.nns") is False
    assert shown and "cannot write" in shown[0]
    assert window.document.is_modified and window.document.path is None
    # cancelling the close prompt's save keeps the window open
    window.dialogs.ask_unsaved_changes = lambda *_: Button.Save
    window.dialogs.ask_save_path = lambda *_: ""
    window.close()
    assert window.isVisible()


def test_closing_with_unsaved_changes_asks_first(example_window):
    window = example_window
    _edit(window)
    asked = []
    window.dialogs.ask_unsaved_changes = lambda *_: asked.append(1) or Button.Cancel
    window.close()
    assert asked and window.isVisible()
    window.dialogs.ask_unsaved_changes = lambda *_: Button.Discard
    window.close()
    assert not window.isVisible()


def test_opened_and_saved_files_are_remembered_newest_first(window, tmp_path):
    first, second = tmp_path / "first.nns", tmp_path / "second.nns"
    for path in (first, second):
        path.write_bytes(example_path("digits-mlp").read_bytes())
    assert window.files.open_path(first) and window.files.open_path(second)
    assert window.files.recent_files() == [str(second.resolve()), str(first.resolve())]
    window.recent_menu.aboutToShow.emit()
    assert [a.text() for a in window.recent_menu.actions()][:2] == ["second.nns", "first.nns"]
    second.unlink()
    assert window.files.recent_files() == [str(first.resolve())]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Qt 6 keeps only the QPoint drag constructors
def test_dropping_a_project_file_on_the_window_opens_it(window, qtbot, tmp_path):
    path = tmp_path / "dropped.nns"
    path.write_bytes(example_path("residual-block").read_bytes())
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    target = window.palette_panel.tree.viewport()  # a drop anywhere reaches the window
    enter = QDragEnterEvent(QPoint(5, 5), *args)
    QApplication.sendEvent(target, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(target, QDropEvent(QPointF(5, 5), *args))
    qtbot.waitUntil(lambda: window.document.path == path.resolve())
    assert window.document.graph.same_as(load_project(path).graph)


def test_autosave_writes_while_modified_and_a_new_window_offers_recovery(make_window, autosave_folder, qtbot,
                                                                         wait_analysis):
    crashed = make_window(autosave_interval_ms=30)
    crashed.files.open_example("digits-cnn")
    assert not crashed.autosaver.is_running
    _edit(crashed, 40)
    assert crashed.autosaver.is_running
    qtbot.waitUntil(lambda: crashed.autosaver.project_file.is_file())
    edited = crashed.document.graph.to_records()
    crashed.autosaver.stop(discard=False)  # the process dies here: nothing cleans up

    restarted = MainWindow(autosave_folder=autosave_folder)
    restarted.dialogs.ask_recover = lambda path: Button.Yes
    assert restarted.files.offer_recovery()
    assert restarted.document.graph.to_records() == edited
    assert restarted.document.is_modified and restarted.isWindowModified()
    restarted.shutdown()  # a clean exit removes the autosave
    restarted.close()
    assert find_recovery(autosave_folder) is None


def test_declining_recovery_removes_the_autosave(make_window, autosave_folder, qtbot):
    crashed = make_window(autosave_interval_ms=30)
    crashed.files.open_example("digits-mlp")
    crashed.document.push(SetParam(crashed.document.graph, "fc1", "out_features", 5))
    qtbot.waitUntil(lambda: crashed.autosaver.project_file.is_file())
    crashed.autosaver.stop(discard=False)
    later = make_window()
    later.dialogs.ask_recover = lambda path: Button.No
    assert later.files.offer_recovery() is False
    assert find_recovery(autosave_folder) is None
    assert not list(autosave_folder.glob("*.nns")) and not list(autosave_folder.glob("*.json"))


def test_saving_removes_the_autosave_of_this_window(example_window, autosave_folder, qtbot, tmp_path):
    window = example_window
    window.autosaver.set_interval(30)
    _edit(window)
    qtbot.waitUntil(lambda: window.autosaver.project_file.is_file())
    assert window.files.save_to(tmp_path / "saved.nns")
    assert not window.autosaver.project_file.exists() and not window.autosaver.is_running


def test_a_new_window_does_not_delete_an_autosave_it_did_not_write(make_window, autosave_folder, qtbot):
    crashed = make_window(autosave_interval_ms=30)
    crashed.files.open_example("digits-mlp")
    crashed.document.push(SetParam(crashed.document.graph, "fc1", "out_features", 5))
    qtbot.waitUntil(lambda: crashed.autosaver.project_file.is_file())
    crashed.autosaver.stop(discard=False)
    bystander = make_window()
    bystander.files.open_example("digits-cnn")
    bystander.shutdown()
    assert find_recovery(autosave_folder) is not None

"""The window and bad files: an error dialog, never a traceback, and the open document untouched.

Also the GUI's save path when the disk refuses, and "Resume from Checkpoint" with a hostile file.
"""

from __future__ import annotations

import errno
import json
import os
import random

import torch
from PySide6.QtWidgets import QMessageBox
from reliability_payloads import PAYLOAD_WRITERS

from nnstudio.core.commands import SetParam
from nnstudio.core.examples import example_path
from nnstudio.core.project import dumps_project, save_project

Button = QMessageBox.StandardButton


class Dialogs:
    """Stands in for the window's error dialog and records what it would have shown."""

    def __init__(self, window, monkeypatch) -> None:
        self.errors: list[tuple[str, str]] = []
        monkeypatch.setattr(window.dialogs, "show_error", lambda title, message: self.errors.append((title, message)))


def _snapshot(window):
    document = window.document
    return (document.project, dumps_project(document.project), document.path, document.is_modified,
            document.undo_stack.can_undo(), window.windowTitle())


def _bad_files(tmp_path) -> dict[str, object]:
    data = example_path("digits-mlp").read_bytes()
    minimal = {"format": "nnstudio-project", "version": 1, "nodes": [], "edges": []}
    contents = {
        "truncated": data[: len(data) // 2],
        "binary": bytes(range(256)),
        "wrong-types": json.dumps({**minimal, "nodes": [{"id": "a", "type": "linear",
                                                         "params": {"out_features": "many"}}]}).encode(),
        "unknown-layer": json.dumps({**minimal, "nodes": [{"id": "a", "type": "quantum"}]}).encode(),
        "newer-version": json.dumps({**minimal, "version": 99}).encode(),
        "deep-nesting": b"[" * 100_000 + b"]" * 100_000,
        "empty": b"",
    }
    paths: dict[str, object] = {}
    for name, content in contents.items():
        paths[name] = tmp_path / f"{name}.nns"
        paths[name].write_bytes(content)
    paths["huge"] = tmp_path / "huge.nns"
    with open(paths["huge"], "wb") as handle:
        handle.truncate(100 * 1024 * 1024)  # sparse
    paths["missing"] = tmp_path / "missing.nns"
    paths["folder"] = tmp_path
    return paths


def test_opening_bad_files_shows_a_dialog_and_keeps_the_modified_document(example_window, tmp_path,
                                                                          monkeypatch):
    window = example_window
    window.document.push(SetParam(window.document.graph, "fc1", "out_features", 77))
    assert window.document.is_modified
    dialogs = Dialogs(window, monkeypatch)
    before = _snapshot(window)
    files = _bad_files(tmp_path)
    for name, path in files.items():
        assert window.files.open_path(path) is False, name
        assert _snapshot(window) == before, f"{name} changed the open document"
    assert len(dialogs.errors) == len(files)
    for (title, message), name in zip(dialogs.errors, files, strict=True):
        assert title == "Could not open the project"
        assert message.strip() and "Traceback" not in message, name
    by_name = dict(zip(files, (m for _, m in dialogs.errors), strict=True))
    assert "newer nnstudio" in by_name["newer-version"]
    assert "'quantum'" in by_name["unknown-layer"]
    assert "100.0 MB" in by_name["huge"]
    assert "nested too deeply" in by_name["deep-nesting"]


def test_byte_flipped_examples_open_or_are_refused_never_half_loaded(window, wait_analysis, tmp_path,
                                                                    monkeypatch):
    dialogs = Dialogs(window, monkeypatch)
    data = example_path("residual-block").read_bytes()
    rng = random.Random(99)
    opened = 0
    for attempt in range(30):
        flipped = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            # Digits keep the JSON readable and change sizes, ids and settings; other bytes break it.
            flipped[rng.randrange(len(flipped))] = rng.choice(b"0123456789") if rng.random() < 0.7 \
                else rng.randrange(256)
        path = tmp_path / f"flipped{attempt}.nns"
        path.write_bytes(bytes(flipped))
        before = _snapshot(window)
        refused_before = len(dialogs.errors)
        if window.files.open_path(path):
            opened += 1
            assert window.document.path == path.resolve()
            assert not window.document.is_modified
            wait_analysis(window)  # whatever the flip did, the analysis ends (errors are Problems)
        else:
            assert len(dialogs.errors) == refused_before + 1
            assert _snapshot(window) == before
    assert 0 < len(dialogs.errors) < 30 and opened > 0


def test_a_failing_save_shows_why_and_keeps_the_document_modified(example_window, tmp_path, monkeypatch):
    window = example_window
    dialogs = Dialogs(window, monkeypatch)
    target = tmp_path / "project.nns"
    assert window.files.save_to(target)
    saved = target.read_bytes()
    window.document.push(SetParam(window.document.graph, "fc1", "out_features", 55))
    assert window.document.is_modified

    def refuse(*args):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(os, "replace", refuse)  # what a read-only folder does to the final rename
    assert window.files.save() is False
    assert dialogs.errors and dialogs.errors[-1][0] == "Could not save the project"
    assert "Permission denied" in dialogs.errors[-1][1]
    assert window.document.is_modified and window.isWindowModified()
    assert window.document.path == target.resolve()
    assert target.read_bytes() == saved, "the previous file must stay as it was"
    assert window.document.graph.node("fc1").params["out_features"] == 55
    monkeypatch.undo()  # the disk works again: the same document saves
    Dialogs(window, monkeypatch)
    assert window.files.save() and not window.document.is_modified


def test_saving_into_a_missing_or_read_only_folder_shows_why(example_window, tmp_path, monkeypatch):
    window = example_window
    dialogs = Dialogs(window, monkeypatch)
    window.document.push(SetParam(window.document.graph, "fc1", "out_features", 33))
    assert window.files.save_to(tmp_path / "no-such-folder" / "project.nns") is False
    assert "cannot write in" in dialogs.errors[-1][1]
    assert window.document.is_modified and window.document.path is None
    if os.geteuid() != 0:  # root writes anywhere; the stand-in above covers the refusal then
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        try:
            assert window.files.save_to(locked / "project.nns") is False
        finally:
            locked.chmod(0o755)
        assert window.document.is_modified


def test_resume_from_a_payload_checkpoint_is_refused_and_never_runs(example_window, tmp_path):
    panel = example_window.training_panel
    for kind, write in PAYLOAD_WRITERS.items():
        marker = tmp_path / f"ran-{kind}"
        path = write(tmp_path / f"{kind}.pth", marker)
        assert panel.presenter.resume_from(path) is False, kind
        assert not marker.exists(), f"the {kind} payload ran"
        assert not panel.presenter.is_running
    log = panel.log.toPlainText()
    assert log.count("refused") >= len(PAYLOAD_WRITERS) and "open" in log


def test_resume_from_a_checkpoint_of_another_network_lists_the_mismatches(qtbot, example_window, tmp_path):
    panel = example_window.training_panel
    path = tmp_path / "other.pth"
    torch.save({"format": "nnstudio-checkpoint", "version": 1, "history": [],
                "optimizer": {"state": {}, "param_groups": [{"params": [0], "lr": 0.001}]},
                "model": {"fc1.weight": torch.zeros(2, 2)}}, path)
    with qtbot.waitSignal(panel.presenter.run_ended, timeout=120_000) as ended:
        assert panel.presenter.resume_from(path)
    outcome = ended.args[0]
    assert outcome.status == "failed"
    assert "fc1.weight: shape [2, 2] in the file" in outcome.message
    assert "missing: conv1.weight" in outcome.message


def test_an_example_saved_by_the_window_reloads_identically(example_window, tmp_path):
    window = example_window
    target = tmp_path / "again.nns"
    assert window.files.save_to(target)
    reference = tmp_path / "reference.nns"
    save_project(window.document.project, reference)
    assert target.read_text(encoding="utf-8") == reference.read_text(encoding="utf-8")


def test_an_autosave_the_disk_refuses_is_logged_and_the_work_stays_in_the_window(example_window, tmp_path,
                                                                                caplog):
    window = example_window
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the autosave folder should be")
    window.autosaver.folder = blocked
    window.document.push(SetParam(window.document.graph, "fc1", "out_features", 21))
    assert window.autosaver.save_now() is False
    assert "autosave failed" in caplog.text
    assert window.document.is_modified and window.autosaver.is_running, "autosave keeps trying"
    assert window.document.graph.node("fc1").params["out_features"] == 21

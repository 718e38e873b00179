"""One autosave per window: only crashed windows' work is offered, a live window's is never touched.

Before, every window autosaved into one per-user slot: a second running window offered to "recover"
the first one's live work, and answering No deleted it. A failing autosave raised inside its timer
and nobody saw it; a name holding a lone surrogate (it loads from JSON) made every save fail.
"""

from __future__ import annotations

import json
import signal

import pytest
from PySide6.QtWidgets import QMessageBox
from test_crash_recovery import finish, read_line, sandbox, start  # noqa: F401 - the child-process fixture

from nnstudio.core.commands import SetParam
from nnstudio.core.examples import example_path
from nnstudio.core.project import load_project
from nnstudio.ui.autosave import find_recoveries

Button = QMessageBox.StandardButton


@pytest.fixture
def edited(qtbot, wait_analysis):
    """Return a function that opens digits-mlp in a window, edits it and waits for its autosave."""
    def edit(window, value: int):
        window.files.open_example("digits-mlp")
        window.document.push(SetParam(window.document.graph, "fc1", "out_features", value))
        qtbot.waitUntil(lambda: window.autosaver.project_file.is_file(), timeout=10_000)
        wait_analysis(window)  # no analysis left running when the test ends
    return edit


def test_two_live_windows_keep_their_own_autosaves_and_a_third_offers_neither(make_window, edited,
                                                                             autosave_folder):
    first, second = make_window(autosave_interval_ms=30), make_window(autosave_interval_ms=30)
    edited(first, 11)
    edited(second, 22)
    assert first.autosaver.project_file != second.autosaver.project_file
    third = make_window()
    third.dialogs.ask_recover = lambda path: (_ for _ in ()).throw(AssertionError("offered a live window's work"))
    assert third.files.offer_recovery() is False
    values = sorted(load_project(p).graph.node("fc1").params["out_features"] for p in autosave_folder.glob("*.nns"))
    assert values == [11, 22], "both live autosaves are still there"


def test_declining_a_crashed_window_deletes_only_its_autosave(make_window, edited, autosave_folder):
    crashed, live = make_window(autosave_interval_ms=30), make_window(autosave_interval_ms=30)
    edited(crashed, 11)
    edited(live, 22)
    crashed.autosaver.stop(discard=False)  # the crash: files stay, the lock goes with the process
    later = make_window()
    offered = []
    later.dialogs.ask_recover = lambda path: offered.append(path) or Button.No
    assert later.files.offer_recovery() is False
    assert len(offered) == 1
    assert not crashed.autosaver.project_file.exists()
    assert load_project(live.autosaver.project_file).graph.node("fc1").params["out_features"] == 22


def test_a_recovered_autosave_becomes_the_new_windows_own(make_window, edited, autosave_folder, wait_analysis):
    crashed = make_window(autosave_interval_ms=30)
    edited(crashed, 33)
    crashed.autosaver.stop(discard=False)
    restarted = make_window()
    restarted.dialogs.ask_recover = lambda path: Button.Yes
    assert restarted.files.offer_recovery()
    wait_analysis(restarted)
    assert [p.name for p in autosave_folder.glob("*.nns")] == [restarted.autosaver.project_file.name]
    assert restarted.autosaver.owns_files
    another = make_window()  # the recovered work is live again: never offered twice
    another.dialogs.ask_recover = lambda path: (_ for _ in ()).throw(AssertionError("offered twice"))
    assert another.files.offer_recovery() is False
    assert find_recoveries(autosave_folder) == []


def test_a_second_window_process_never_offers_a_running_ones_work(sandbox):  # noqa: F811
    env, autosave, project = sandbox
    running = start(env, "edit", str(project))
    try:
        assert read_line(running) == "autosaved"
        second = start(env, "decline")
        shown = json.loads(read_line(second))
        assert finish(second) == 0, second.stderr.read()
        assert shown["offered"] == [], "a live window's autosave was offered"
        assert len(list(autosave.glob("*.nns"))) == 1, "declining deleted the live window's autosave"
    finally:
        running.send_signal(signal.SIGKILL)
        running.wait()
    after_crash = start(env, "recover")
    shown = json.loads(read_line(after_crash))
    assert finish(after_crash) == 0
    assert shown["offered"] == [str(project.resolve())] and shown["out_features"] == 77


def test_a_failing_autosave_is_shown_in_the_window_and_cleared_when_it_works_again(example_window, tmp_path):
    window = example_window
    window.document.push(SetParam(window.document.graph, "fc1", "out_features", 5))
    good_folder = window.autosaver.folder
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the autosave folder should be")
    window.autosaver.folder = blocked
    assert window.autosaver.save_now() is False
    assert window.statusBar().currentMessage().startswith("⚠ Autosave failed")
    assert "not-a-folder" in window.statusBar().currentMessage()
    window.autosaver.folder = good_folder
    assert window.autosaver.save_now() is True
    assert window.statusBar().currentMessage() == ""


def test_a_name_with_a_lone_surrogate_loads_saves_and_autosaves(make_window, qtbot, tmp_path, wait_analysis):
    source = json.loads(example_path("digits-mlp").read_text(encoding="utf-8"))
    source["name"] = "net \ud800 one"
    source["description"] = "broken \udfff text"
    path = tmp_path / "odd.nns"
    path.write_text(json.dumps(source), encoding="ascii")  # JSON escapes: a valid file holding lone surrogates
    window = make_window(autosave_interval_ms=30)
    assert window.files.open_path(path)
    window.document.push(SetParam(window.document.graph, "fc1", "out_features", 9))
    qtbot.waitUntil(lambda: window.autosaver.project_file.is_file(), timeout=10_000)
    assert window.autosaver.last_error is None
    wait_analysis(window)
    assert window.files.save_to(tmp_path / "again.nns")
    again = load_project(tmp_path / "again.nns")
    assert (again.name, again.description) == ("net \ud800 one", "broken \udfff text")

"""Crash recovery end to end, with real processes: edit, autosave, SIGKILL, start again, recover.

The window runs in child processes (``recovery_driver.py``) whose HOME and XDG_DATA_HOME point at a
temporary folder, so the autosave goes where a person's would, and nothing of the person's is used.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from nnstudio.core.examples import example_path
from nnstudio.core.project import load_project

DRIVER = Path(__file__).with_name("recovery_driver.py")
STARTUP_TIMEOUT_S = 120  # the first analysis in a fresh process imports torch


@pytest.fixture
def sandbox(tmp_path):
    """Returns (environment, autosave folder, a copy of digits-mlp to edit) for the child processes."""
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home / "data"),
           "XDG_CONFIG_HOME": str(home / "config"), "QT_QPA_PLATFORM": "offscreen",
           "PYTHONDONTWRITEBYTECODE": "1"}
    project = tmp_path / "work" / "digits.nns"
    project.parent.mkdir()
    project.write_bytes(example_path("digits-mlp").read_bytes())
    return env, home / "data" / "nnstudio" / "autosave", project


def start(env, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(DRIVER), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, text=True)


def read_line(child: subprocess.Popen) -> str:
    """Return the child's next line of output; fails with its stderr if it ended instead."""
    line = child.stdout.readline()
    if not line:
        child.wait(STARTUP_TIMEOUT_S)
        pytest.fail(f"the window process ended early ({child.returncode}):\n{child.stderr.read()}")
    return line.strip()


def finish(child: subprocess.Popen) -> int:
    try:
        return child.wait(STARTUP_TIMEOUT_S)
    finally:
        if child.poll() is None:
            child.kill()


def test_an_edit_survives_sigkill_and_is_recovered_then_a_clean_exit_removes_the_autosave(sandbox):
    env, autosave, project = sandbox
    original = project.read_bytes()
    crashed = start(env, "edit", str(project))
    try:
        assert read_line(crashed) == "autosaved"
    finally:
        crashed.send_signal(signal.SIGKILL)
        crashed.wait()
    assert len(list(autosave.glob("*.nns"))) == 1
    assert project.read_bytes() == original, "autosave must never write over the person's file"

    restarted = start(env, "recover")
    shown = json.loads(read_line(restarted))
    assert finish(restarted) == 0, restarted.stderr.read()
    assert shown["offered"] == [str(project.resolve())], "recovery is offered, naming the edited file"
    assert shown["recovered"] is True
    assert shown["out_features"] == 77, "the recovered document holds the edit"
    assert shown["modified"] is True, "recovered work is unsaved work"
    assert shown["path"] == str(project.resolve())
    assert not list(autosave.glob("*.nns")) and not list(autosave.glob("*.json"))
    assert load_project(project).graph.node("fc1").params["out_features"] == 128


def test_a_clean_exit_after_edits_leaves_no_autosave_and_offers_nothing_next_time(sandbox):
    env, autosave, project = sandbox
    session = start(env, "quit", str(project))
    assert read_line(session) == "autosaved"
    assert finish(session) == 0, session.stderr.read()
    assert not list(autosave.glob("*.nns")) and not list(autosave.glob("*.json"))
    following = start(env, "recover")
    shown = json.loads(read_line(following))
    assert finish(following) == 0
    assert shown["offered"] == [] and shown["recovered"] is False

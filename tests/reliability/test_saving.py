"""Saving: a save killed at any moment, a folder that refuses writes, a disk that fails mid-write.

The previous file must always stay whole: it loads and equals one of the versions written, never a
mixture or a fragment.
"""

from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nnstudio.core.commands import AddNode, Connect, Disconnect
from nnstudio.core.errors import ProjectFileError
from nnstudio.core.examples import load_example
from nnstudio.core.project import STALE_TEMPORARY_S, Project, dumps_project, load_project, save_project

KILL_ROUNDS = 300 if os.environ.get("NNSTUDIO_LONG") == "1" else 30
CHILD = Path(__file__).with_name("save_under_fire.py")


def large_project(layers: int = 400) -> Project:
    """Return a chain of ``layers`` Linear/ReLU layers (a ~150 KB file: a save takes a while)."""
    project = load_example("digits-mlp")
    graph = project.graph
    tip = "fc3"
    out_edges = graph.out_edges(tip)
    for edge in out_edges:
        Disconnect(graph, edge).redo()
    for i in range(layers):
        type_id = "relu" if i % 2 else "linear"
        node_id = f"extra{i}"
        AddNode(graph, type_id, position=(float(i), 0.0), node_id=node_id,
                params={"out_features": 10} if type_id == "linear" else None).redo()
        Connect(graph, tip, node_id).redo()
        tip = node_id
    for edge in out_edges:
        Connect(graph, tip, edge.target, edge.port).redo()
    return project


def versions(project: Project) -> dict[str, str]:
    texts = {}
    for name in ("version A", "version B"):
        copy = project.copy()
        copy.name = name
        texts[name] = dumps_project(copy)
    return texts


def test_a_save_killed_at_random_moments_always_leaves_a_whole_file(tmp_path):
    project = large_project()
    base = tmp_path / "base.nns"
    save_project(project, base)
    target = tmp_path / "project.nns"
    expected = versions(project)
    target.write_text(expected["version A"], encoding="utf-8")
    rng = random.Random(1234)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    seen: set[str] = set()
    for round_number in range(KILL_ROUNDS):
        child = subprocess.Popen([sys.executable, str(CHILD), str(base), str(target)], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, env=env, text=True)
        try:
            word, _, seconds = child.stdout.readline().strip().partition(" ")
            assert word == "ready", child.stderr.read()
            # Seeded moments: after one to four finished saves (so either version can be the last
            # whole one, however this machine's disk paces them), then somewhere within the next save.
            for _ in range(rng.randint(1, 4)):
                assert child.stdout.readline().startswith("saved "), child.stderr.read()
            time.sleep(rng.uniform(0.0, 1.5 * float(seconds)))
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        assert child.returncode == -signal.SIGKILL, f"round {round_number}: the saver ended by itself"
        loaded = load_project(target)  # a fragment would raise ProjectFileError here
        assert loaded.name in expected, f"round {round_number}"
        assert target.read_text(encoding="utf-8") == expected[loaded.name], f"round {round_number}"
        seen.add(loaded.name)
    # Both versions turned up: the kills did land while saves were under way.
    assert seen == set(expected)
    # Killed saves leave temporaries; the next save removes those old enough to be orphans.
    leftovers = list(tmp_path.glob(".project.nns.*.tmp"))
    assert leftovers, "no save was killed mid-write"
    long_ago = time.time() - STALE_TEMPORARY_S - 60
    for leftover in leftovers:
        os.utime(leftover, (long_ago, long_ago))
    save_project(project, target)
    assert not list(tmp_path.glob(".project.nns.*.tmp"))


def test_a_failing_write_keeps_the_old_file_and_leaves_no_temporary_behind(tmp_path, monkeypatch):
    target = tmp_path / "project.nns"
    old = load_example("digits-cnn")
    save_project(old, target)
    before = target.read_bytes()

    def disk_full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(ProjectFileError, match="No space left on device"):
        save_project(load_example("digits-mlp"), target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project.nns"]


def test_a_refused_rename_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "project.nns"
    save_project(load_example("digits-cnn"), target)
    before = target.read_bytes()

    def refuse(*args):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(ProjectFileError, match="Permission denied"):
        save_project(load_example("digits-mlp"), target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project.nns"]


def test_a_read_only_folder_is_a_clear_error(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders; test_gui_files covers the refusal by a stand-in")
    folder = tmp_path / "locked"
    folder.mkdir()
    target = folder / "project.nns"
    save_project(load_example("digits-cnn"), target)
    before = target.read_bytes()
    folder.chmod(0o555)
    try:
        with pytest.raises(ProjectFileError, match="cannot write in"):
            save_project(load_example("digits-mlp"), target)
    finally:
        folder.chmod(0o755)
    assert target.read_bytes() == before


def test_saving_keeps_the_file_mode(tmp_path):
    target = tmp_path / "project.nns"
    save_project(load_example("digits-cnn"), target)
    target.chmod(0o600)
    save_project(load_example("digits-mlp"), target)
    assert target.stat().st_mode & 0o777 == 0o600

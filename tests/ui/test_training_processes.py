"""The window's multi-GPU runs: torchrun workers (gloo on the CPU here) streaming into the same signals.

Each test starts a real launcher and two worker processes, so there are few tests and each checks
several things.
"""

from __future__ import annotations

import psutil
import pytest

from nnstudio.core.examples import load_example
from nnstudio.ui.training_processes import ProcessTrainingSession
from nnstudio.ui.training_worker import BatchUpdate, RunInfo, RunOutcome, ValidationSamples

#: Two workers import torch on a shared 2-core machine before the first step: allow for it.
START_S = 180


@pytest.fixture
def session(qtbot):
    session = ProcessTrainingSession()
    yield session
    session.shutdown()


def _children() -> set[int]:
    return {child.pid for child in psutil.Process().children(recursive=True)}


def test_a_run_in_worker_processes_streams_the_same_events_as_a_thread_run(session, qtbot):
    project = load_example("digits-mlp")
    project.settings.epochs = 2
    prepared, updates, epochs = [], [], []
    session.prepared.connect(prepared.append)
    session.batches.connect(updates.append)
    session.epoch_ended.connect(lambda metrics, samples: epochs.append((metrics, samples)))
    before = _children()
    with qtbot.waitSignal(session.ended, timeout=START_S * 1000) as ended:
        session.start(project, device="cpu", workers=2)
        assert session.is_running
    outcome: RunOutcome = ended.args[0]
    assert outcome.status == "finished", outcome.message
    assert outcome.message == "finished 2 epoch(s)"
    assert not session.is_running
    info: RunInfo = prepared[0]
    assert info.epochs == 2 and info.first_epoch == 1 and "2 workers on cpu (gloo)" in info.device
    assert info.class_names[:2] == ["0", "1"]
    assert updates and all(isinstance(u, BatchUpdate) for u in updates)
    assert updates[-1].epoch == 2 and updates[-1].step == updates[-1].steps_per_epoch
    assert sum(len(u.losses) for u in updates) >= 2 and 0 < updates[-1].positions[-1] <= 2.0
    assert [m.epoch for m, _ in epochs] == [1, 2]
    samples: ValidationSamples = epochs[-1][1]
    assert samples.images.shape == (24, 1, 8, 8) and len(samples.predicted) == 24
    # The run that trained elsewhere is here now, for exports and checkpoints.
    run = session.last_run
    assert [m.epoch for m in run.history] == [1, 2] and run.checkpoint()["epoch"] == 2
    assert set(run.weights()) == {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"}
    assert _children() <= before  # the launcher and its workers are gone


def test_pause_holds_every_worker_and_stop_ends_the_run_after_a_complete_epoch(session, qtbot):
    project = load_example("digits-mlp")
    project.settings.epochs = 5000
    epochs, updates = [], []
    session.epoch_ended.connect(lambda metrics, samples: epochs.append(metrics))
    session.batches.connect(updates.append)
    session.start(project, device="cpu", workers=2)
    qtbot.waitUntil(lambda: len(epochs) >= 1, timeout=START_S * 1000)
    session.pause()
    assert session.is_paused
    qtbot.wait(1500)  # the pause reaches rank 0, and the workers agree on it within a fraction of a second
    held = len(updates)
    qtbot.wait(1500)
    assert len(updates) == held, "batches arrived while the run was paused"
    session.resume()
    qtbot.waitUntil(lambda: len(updates) > held, timeout=30_000)
    with qtbot.waitSignal(session.ended, timeout=60_000) as ended:
        session.stop()
    outcome = ended.args[0]
    assert outcome.status == "stopped", outcome.message
    assert session.last_run is not None and len(session.last_run.history) >= 1


def test_stopping_before_the_workers_connect_interrupts_the_launcher(session, qtbot):
    project = load_example("digits-mlp")
    with qtbot.waitSignal(session.ended, timeout=START_S * 1000) as ended:
        session.start(project, device="cpu", workers=2)
        session.stop()
    assert ended.args[0].status == "stopped", ended.args[0].message
    assert not session.is_running

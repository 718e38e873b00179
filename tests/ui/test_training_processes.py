"""The window's multi-GPU runs: torchrun workers (gloo on the CPU here) streaming into the same signals.

Each test starts a real launcher and two worker processes, so there are few tests and each checks
several things.
"""

from __future__ import annotations

import psutil
import pytest

from nnstudio.core.examples import load_example
from nnstudio.experiments import read_run
from nnstudio.train.telemetry import TelemetrySample
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


def test_a_run_in_worker_processes_streams_the_same_events_as_a_thread_run(session, qtbot, tmp_path):
    project = load_example("digits-mlp")
    project.settings.epochs = 2
    prepared, updates, epochs, samples_seen, notes = [], [], [], [], []
    session.prepared.connect(prepared.append)
    session.batches.connect(updates.append)
    session.epoch_ended.connect(lambda metrics, samples: epochs.append((metrics, samples)))
    session.telemetry.connect(samples_seen.append)
    session.note.connect(notes.append)
    before = _children()
    runs = tmp_path / "digits-mlp.runs"
    with qtbot.waitSignal(session.ended, timeout=START_S * 1000) as ended:
        session.start(project, device="cpu", workers=2, runs_folder=runs, project_path=tmp_path / "digits.nns")
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
    # Recorded like a thread run: a folder of the runs folder, which the Runs view lists.
    [folder] = list(runs.iterdir())
    assert info.run_folder == str(folder)
    record = read_run(folder)
    assert (record.status, record.source, record.device) == ("finished", "window", "2 workers on cpu (gloo)")
    assert [row["epoch"] for row in record.epochs] == [1, 2] and record.project_path == str(tmp_path / "digits.nns")
    assert {"model.pth", "checkpoint.pth", "metrics.csv", "project.nns"} <= {p.name for p in folder.iterdir()}
    assert any(p.name.startswith("events.out.tfevents") for p in folder.iterdir())
    # Rank 0's per-layer telemetry reaches the window, and the window is told what it covers.
    assert samples_seen and all(isinstance(s, TelemetrySample) for s in samples_seen)
    assert {"fc1", "fc2", "fc3"} <= set(samples_seen[-1].layers)
    assert samples_seen[-1].layers["fc1"].grad_norm is not None
    assert any("rank 0's share of each batch" in note for note in notes)
    # Settings cannot change mid-run in worker processes; the refusal says what to do instead.
    assert session.current_values() is None
    with pytest.raises(RuntimeError, match="Resume from Checkpoint"):
        session.change_settings(lr=0.1)


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


def test_window_telemetry_of_worker_processes_has_the_budget_of_thread_runs():
    from nnstudio.train import run_stream
    from nnstudio.ui import training_worker

    assert run_stream.WINDOW_TELEMETRY_BUDGET == training_worker.GUI_TELEMETRY_BUDGET
    assert run_stream.WINDOW_TELEMETRY_PER_SECOND == training_worker.GUI_TELEMETRY_PER_SECOND

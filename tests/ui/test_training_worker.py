"""The background training session: merged batch updates, stop before the start, setup failures."""

from __future__ import annotations

import time

import pytest

from nnstudio.core.examples import load_example
from nnstudio.core.settings import DatasetSettings
from nnstudio.ui.training_worker import MAX_UPDATES_PER_SECOND, TrainingSession, _BatchMerger

TIMEOUT_MS = 120_000


@pytest.fixture
def session(qtbot):
    session = TrainingSession()
    yield session
    session.shutdown()


def test_merger_sends_at_most_once_per_interval_and_loses_no_point():
    merger = _BatchMerger(interval_s=0.1)
    assert not merger.due(1.0) and merger.take(1.0) is None
    merger.add(1, 1, 4, 0.9, 0.01, 100.0)
    assert merger.due(1.0)
    first = merger.take(1.0)
    assert first.positions.tolist() == [0.25] and first.losses.tolist() == [0.9]
    merger.add(1, 2, 4, 0.8, 0.01, 110.0)
    merger.add(1, 3, 4, None, 0.01, 120.0)  # a step whose loss was not read (GPU)
    merger.add(1, 4, 4, 0.6, 0.005, 130.0)
    assert not merger.due(1.05)
    assert merger.due(1.1)
    second = merger.take(1.1)
    assert second.positions.tolist() == [0.5, 1.0]
    assert second.lrs.tolist() == [0.01, 0.005]
    assert (second.epoch, second.step, second.samples_per_s) == (1, 4, 130.0)


def test_thousands_of_fast_steps_reach_the_gui_as_a_few_merged_updates(qtbot, session):
    project = load_example("linear-regression")
    project.settings.batch_size = 1
    project.settings.epochs = 1
    project.settings.dataset = DatasetSettings(kind="linear", options={"n_samples": 3000})
    updates = []
    session.batches.connect(updates.append)
    started = time.perf_counter()
    with qtbot.waitSignal(session.ended, timeout=TIMEOUT_MS) as ended:
        session.start(project)
    elapsed = time.perf_counter() - started
    assert ended.args[0].status == "finished"
    steps = session.last_run.steps_per_epoch
    assert steps == 2400
    assert sum(len(u.losses) for u in updates) == steps  # every loss arrives, merged
    assert updates[-1].step == steps
    # Never more than the rate allows (plus the flush at the end of the epoch and of the run).
    assert len(updates) <= MAX_UPDATES_PER_SECOND * elapsed + 3
    assert len(updates) < steps / 10


def test_stop_before_the_first_step_ends_the_run_and_joins_the_thread(qtbot, session):
    project = load_example("digits-mlp")
    with qtbot.waitSignal(session.ended, timeout=TIMEOUT_MS) as ended:
        session.start(project)
        session.stop()
    assert ended.args[0].status == "stopped"
    assert not session.is_running
    assert session.last_run.epochs_done == 0


def test_a_dataset_the_trainer_refuses_ends_the_run_naming_the_option(qtbot, session):
    project = load_example("digits-mlp")
    project.settings.dataset = DatasetSettings(kind="csv")
    with qtbot.waitSignal(session.ended, timeout=TIMEOUT_MS) as ended:
        session.start(project)
    outcome = ended.args[0]
    assert outcome.status == "failed" and "path" in outcome.message
    assert session.last_run is None and not session.is_running


def test_a_second_start_while_running_is_refused(qtbot, session):
    project = load_example("digits-mlp")
    project.settings.epochs = 1
    with qtbot.waitSignal(session.ended, timeout=TIMEOUT_MS):
        session.start(project)
        with pytest.raises(RuntimeError, match="already in progress"):
            session.start(project)

"""Mid-run changes: pause, change the learning rate / momentum / weight decay / batch size, resume."""

from __future__ import annotations

import threading

import pytest
import torch

from nnstudio.train.changes import ChangeError
from nnstudio.train.trainer import TrainingRun


def run_with_pause_at(run: TrainingRun, epoch: int, step: int, **change):
    """Runs ``run`` in a thread, pauses it after ``step`` of ``epoch``, changes settings from this
    thread while it is paused (a callable value is called with the run then), resumes; returns (result, [(epoch, step, steps, lr)] of every step)."""
    steps: list[tuple[int, int, int, float]] = []
    paused = threading.Event()

    def on_batch(e, s, n, loss, lr, rate):
        steps.append((e, s, n, lr))
        if (e, s) == (epoch, step):
            run.pause()
            paused.set()

    run.events.batch_end.connect(on_batch)
    results = []
    worker = threading.Thread(target=lambda: results.append(run.run()))
    worker.start()
    assert paused.wait(60)
    assert run.paused
    run.change_settings(**{k: v(run) if callable(v) else v for k, v in change.items()})
    run.resume()
    worker.join(120)
    assert not worker.is_alive() and results
    return results[0], steps


def test_a_new_learning_rate_applies_from_the_step_after_the_pause_and_training_continues(
        blob_settings, blob_data, small_classifier):
    run = TrainingRun(small_classifier(), blob_data, blob_settings)
    changes = []
    run.events.changed.connect(changes.append)
    result, steps = run_with_pause_at(run, 2, 3, lr=0.1)
    assert result.status == "finished" and [m.epoch for m in result.history] == [1, 2, 3]
    lrs = [lr for *_, lr in steps]
    at = steps.index((2, 3, steps[0][2], 0.01))
    assert set(lrs[:at + 1]) == {0.01} and set(lrs[at + 1:]) == {0.1}, "the lr curve steps after the pause"
    assert [m.lr for m in result.history] == [0.01, 0.1, 0.1]
    assert all(m.train_loss == m.train_loss for m in result.history)  # metrics continue (no NaN)
    (change,) = changes
    assert (change.epoch, change.step, change.values) == (2, 3, {"lr": (0.01, 0.1)})
    assert change.position == pytest.approx(1 + 3 / steps[0][2])
    assert result.changes == [change] and run.changes == [change]
    assert "learning rate 0.01 -> 0.1" in change.describe() and any("0.01 -> 0.1" in n for n in result.notes)
    assert run.settings.lr == pytest.approx(0.1)


def test_a_new_batch_size_shapes_the_next_batch_and_the_epoch_still_sees_every_sample(
        blob_settings, blob_data, small_classifier):
    model = small_classifier()
    sizes: list[int] = []
    model[0].register_forward_hook(lambda m, a, out: sizes.append(a[0].shape[0]) if m.training else None)
    run = TrainingRun(model, blob_data, blob_settings)
    result, steps = run_with_pause_at(run, 1, 2, batch_size=10)
    assert result.status == "finished"
    train = len(blob_data.train)
    first_epoch = sizes[:2 + (train - 64) // 10 + (1 if (train - 64) % 10 else 0)]
    assert first_epoch[:2] == [32, 32] and set(first_epoch[2:-1]) == {10}
    assert sum(first_epoch) == train
    epoch1 = [s for s in steps if s[0] == 1]
    assert epoch1[-1][1] == epoch1[-1][2] == len(first_epoch), "steps per epoch follows the change"
    assert [n for e, _, n, _ in steps if e == 2][0] == -(-train // 10)


def test_momentum_and_weight_decay_change_in_the_optimizer(blob_settings, blob_data, small_classifier):
    blob_settings.optimizer = "sgd"
    run = TrainingRun(small_classifier(), blob_data, blob_settings)
    result, _ = run_with_pause_at(run, 1, 4, momentum=0.9, weight_decay=1e-3)
    assert result.status == "finished"
    group = run.optimizer.param_groups[0]
    assert (group["momentum"], group["weight_decay"]) == (0.9, 1e-3)
    assert (run.settings.momentum, run.settings.weight_decay) == (0.9, 1e-3)
    assert all(torch.isfinite(p).all() for p in run.model.parameters())
    assert result.changes[0].values == {"momentum": (0.0, 0.9), "weight_decay": (0.0, 1e-3)}


def test_adam_takes_momentum_as_its_beta1(blob_settings, blob_data, small_classifier):
    run = TrainingRun(small_classifier(), blob_data, blob_settings)
    run_with_pause_at(run, 1, 1, momentum=0.5)
    assert run.optimizer.param_groups[0]["betas"][0] == 0.5


def test_a_step_schedule_continues_from_the_new_rate(blob_settings, blob_data, small_classifier):
    blob_settings.scheduler, blob_settings.step_size, blob_settings.gamma = "step", 1, 0.5
    run = TrainingRun(small_classifier(), blob_data, blob_settings)
    result, _ = run_with_pause_at(run, 2, 1, lr=0.02)  # epoch 2 runs at 0.005; now 0.02 instead
    # Epoch 3 halves the new rate, as the schedule halves every epoch: scaled by 0.02 / 0.005.
    assert [m.lr for m in result.history] == pytest.approx([0.01, 0.02, 0.01])
    assert run.settings.lr == pytest.approx(0.04)


def test_one_cycle_follows_a_new_rate_and_a_new_batch_size_to_its_end(blob_settings, blob_data, small_classifier):
    blob_settings.scheduler, blob_settings.epochs = "onecycle", 3
    run = TrainingRun(small_classifier(), blob_data, blob_settings)
    peak_before = run.optimizer.param_groups[0]["max_lr"]
    result, steps = run_with_pause_at(run, 1, 3, lr=lambda r: r.optimizer.param_groups[0]["lr"] * 2, batch_size=16)
    assert result.status == "finished", result.failure
    assert run.optimizer.param_groups[0]["max_lr"] == pytest.approx(2 * peak_before)
    lrs = [lr for *_, lr in steps]
    assert max(lrs) == pytest.approx(2 * peak_before, rel=0.05), "the peak moved with the new rate"
    # The last step trains at the cycle's (doubled) floor: the cycle was stretched to the new step count.
    assert lrs[-2] == pytest.approx(2 * peak_before / 25 / 1e4)
    scheduler = run.schedule.scheduler
    assert scheduler.last_epoch == scheduler.total_steps


@pytest.mark.parametrize(("change", "field"), [
    ({"lr": 0}, "learning rate"), ({"batch_size": 2.5}, "batch size"), ({"epochs": 3}, "epochs"),
    ({"lr": float("nan")}, "learning rate"), ({"momentum": 1.5}, "momentum")])
def test_a_bad_change_is_refused_by_name_and_changes_nothing(blob_settings, blob_data, small_classifier,
                                                             change, field):
    run = TrainingRun(small_classifier(), blob_data, blob_settings)
    with pytest.raises(ChangeError, match=field):
        run.change_settings(**change)
    assert run._pending == {} and run.settings.lr == 0.01


def test_momentum_is_refused_for_an_optimizer_without_one(blob_settings, blob_data, small_classifier):
    blob_settings.optimizer = "adagrad"
    run = TrainingRun(small_classifier(), blob_data, blob_settings)
    with pytest.raises(ChangeError, match="Adagrad has no momentum"):
        run.change_settings(momentum=0.9)

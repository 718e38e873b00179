"""Training faults on real projects: each ends or continues as designed, with the last good weights.

"Last good weights" is checked exactly: they equal the weights of an uninterrupted run that stopped
after the same epoch. A run continued after a fault, a stop or a long pause ends exactly where an
uninterrupted run ends (CPU runs are deterministic).
"""

from __future__ import annotations

import csv
import resource
import threading
import time

import pytest
import torch

from nnstudio.cli import main
from nnstudio.core.examples import load_example
from nnstudio.train import build_training_run, load_state_dict_file
from nnstudio.train.trainer import TrainingRun

EXAMPLE = "digits-mlp"
FAULT_EPOCH, FAULT_STEP = 2, 5
FAULT_LAYER = "fc2"


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # deterministic and fastest for this small network on a shared machine
    yield
    torch.set_num_threads(threads)


def new_run(epochs: int) -> TrainingRun:
    project = load_example(EXAMPLE)
    project.settings.epochs = epochs
    return build_training_run(project, device="cpu")


@pytest.fixture(scope="module")
def uninterrupted():
    """Weights after each epoch and the history of a three-epoch run without faults."""
    torch.set_num_threads(1)
    run = new_run(3)
    weights = {}
    run.events.epoch_end.connect(lambda m: weights.__setitem__(m.epoch, run.weights()))
    result = run.run()
    assert result.status == "finished"
    return weights, [m.val_loss for m in result.history]


def assert_weights_equal(actual: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    assert list(actual) == list(expected)
    different = [k for k in expected if not torch.equal(actual[k].cpu(), expected[k])]
    assert not different, f"not the last good weights: {different}"


class FaultAtStep:
    """A forward hook on one layer that misbehaves at training step ``step`` of epoch ``epoch``."""

    def __init__(self, run: TrainingRun, kind: str, epoch: int = FAULT_EPOCH, step: int = FAULT_STEP) -> None:
        self.kind, self.target = kind, (epoch - 1) * run.steps_per_epoch + step
        self.calls = 0
        self.handle = getattr(run.model, FAULT_LAYER).register_forward_hook(self)

    def __call__(self, module, args, output):
        if not module.training:
            return None  # validation passes are not training steps
        self.calls += 1
        if self.calls != self.target:
            return None
        if self.kind == "nan":
            # As a diverging run does: the layer's weights themselves become NaN, not one output.
            with torch.no_grad():
                module.weight.fill_(float("nan"))
            return output * float("nan")
        if self.kind == "oom":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (simulated)")
        raise ValueError("injected failure inside the layer")


@pytest.mark.parametrize(("kind", "expected_kind", "expected_node"), [
    ("nan", "nan", FAULT_LAYER), ("layer_error", "layer_error", FAULT_LAYER), ("oom", "oom", None)])
def test_a_fault_ends_the_run_with_the_last_good_weights_and_the_run_can_continue(
        uninterrupted, kind, expected_kind, expected_node):
    weights_after, val_losses = uninterrupted
    run = new_run(3)
    fault = FaultAtStep(run, kind)
    failures = []
    run.events.failed.connect(failures.append)
    result = run.run()
    assert result.status == "failed" and failures == [result.failure]
    failure = result.failure
    assert (failure.kind, failure.node_id, failure.epoch, failure.step) == (
        expected_kind, expected_node, FAULT_EPOCH, FAULT_STEP)
    assert failure.message
    if kind == "oom":
        assert "smaller batch" in failure.message
    assert [m.epoch for m in result.history] == [1]
    assert_weights_equal(run.weights(), weights_after[1])
    assert_weights_equal(run.model.state_dict(), weights_after[1])
    # Continuing after the fault (the cause removed) ends exactly as the uninterrupted run did.
    fault.handle.remove()
    again = run.run()
    assert again.status == "finished"
    assert [m.val_loss for m in again.history] == val_losses
    assert_weights_equal(run.weights(), weights_after[3])


def test_stop_mid_epoch_keeps_the_last_complete_epoch_and_continues_exactly(uninterrupted):
    weights_after, val_losses = uninterrupted
    run = new_run(3)

    def stop_mid_epoch(epoch, step, steps, loss, lr, speed):
        if (epoch, step) == (FAULT_EPOCH, FAULT_STEP):
            run.stop()

    run.events.batch_end.connect(stop_mid_epoch)
    result = run.run()
    assert result.status == "stopped" and [m.epoch for m in result.history] == [1]
    assert_weights_equal(run.model.state_dict(), weights_after[1])
    run.events.batch_end.disconnect(stop_mid_epoch)
    again = run.run()
    assert again.status == "finished" and [m.val_loss for m in again.history] == val_losses


def test_a_long_pause_costs_no_cpu_and_the_run_then_ends_as_if_never_paused(uninterrupted):
    weights_after, val_losses = uninterrupted
    run = new_run(3)
    paused = threading.Event()

    def pause_once(epoch, step, steps, loss, lr, speed):
        if (epoch, step) == (FAULT_EPOCH, FAULT_STEP) and not paused.is_set():
            run.pause()
            paused.set()

    run.events.batch_end.connect(pause_once)
    results = []
    worker = threading.Thread(target=lambda: results.append(run.run()), name="paused-run")
    worker.start()
    try:
        assert paused.wait(60), "the run never reached the pause point"
        time.sleep(0.2)  # let the trainer reach its wait
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        time.sleep(1.5)
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        assert worker.is_alive() and run.paused
    finally:
        run.resume()
        worker.join(60)
    # A busy-waiting trainer would burn ~1.5 s of CPU here; a blocked one almost none.
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    assert cpu < 0.3, f"{cpu:.2f} s of CPU used while paused"
    assert results and results[0].status == "finished"
    assert [m.val_loss for m in results[0].history] == val_losses
    assert_weights_equal(run.weights(), weights_after[3])


def test_the_cli_writes_the_last_good_epoch_and_exits_1_when_training_fails(tmp_path, uninterrupted,
                                                                               monkeypatch, capsys):
    weights_after, _ = uninterrupted
    original = TrainingRun.run

    def run_with_a_fault(self):
        FaultAtStep(self, "layer_error")
        return original(self)

    monkeypatch.setattr(TrainingRun, "run", run_with_a_fault)
    out = tmp_path / "run"
    code = main(["train", "--example", EXAMPLE, "--epochs", "3", "--device", "cpu", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1
    assert f"layer {FAULT_LAYER} failed in epoch {FAULT_EPOCH}" in err and "Traceback" not in err
    assert_weights_equal(load_state_dict_file(out / "model.pth"), weights_after[1])
    with open(out / "metrics.csv", newline="") as handle:
        assert [row["epoch"] for row in csv.DictReader(handle)] == ["1"]


TIME_COLUMNS = {"epoch_time_s", "samples_per_s"}


def _metrics_without_times(path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return [{k: v for k, v in row.items() if k not in TIME_COLUMNS} for row in csv.DictReader(handle)]


def test_the_same_seed_gives_identical_metrics_and_weights_through_nnstudio_train(tmp_path, capsys):
    outputs = []
    for attempt in ("first", "second"):
        out = tmp_path / attempt
        assert main(["train", "--example", EXAMPLE, "--epochs", "2", "--seed", "11", "--device", "cpu",
                     "--out", str(out)]) == 0
        outputs.append(out)
    capsys.readouterr()
    first, second = (_metrics_without_times(o / "metrics.csv") for o in outputs)
    assert len(first) == 2 and first == second  # losses, accuracies and lr to the last digit
    assert_weights_equal(load_state_dict_file(outputs[1] / "model.pth"),
                         load_state_dict_file(outputs[0] / "model.pth"))

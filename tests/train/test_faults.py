"""Every fault is injected: a layer making NaN, a layer raising at step k, a simulated out-of-memory."""

import torch
from torch import nn

from nnstudio.train.faults import TrainingFailure
from nnstudio.train.trainer import TrainingRun


class PoisonAfter(nn.Module):
    """Passes its input through until ``calls`` forward passes, then returns NaN."""

    def __init__(self, calls: int, error: Exception | None = None) -> None:
        super().__init__()
        self.calls_left = calls
        self.error = error

    def forward(self, x):
        if self.training:
            self.calls_left -= 1
        if self.calls_left < 0:
            if self.error is not None:
                raise self.error
            return x * float("nan")
        return x


def named_model(poison: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    model = nn.Module()
    model = nn.Sequential()
    model.add_module("fc1", nn.Linear(2, 16))
    model.add_module("act", nn.ReLU())
    model.add_module("fc2", nn.Linear(16, 3))
    model.add_module("poison", poison)
    return model


def run_until_fault(model, data, settings):
    run = TrainingRun(model, data, settings)
    failures: list[TrainingFailure] = []
    run.events.failed.connect(failures.append)
    result = run.run()
    return run, result, failures


def test_nan_loss_stops_with_the_weights_of_the_last_good_epoch(blob_settings, blob_data):
    steps = -(-len(blob_data.train) // blob_settings.batch_size)
    poison = PoisonAfter(calls=steps + 2)  # fine for epoch 1, NaN at step 3 of epoch 2
    model = named_model(poison)
    run, result, failures = run_until_fault(model, blob_data, blob_settings)
    assert result.status == "failed" and failures == [result.failure]
    failure = result.failure
    assert (failure.kind, failure.epoch, failure.step) == ("nan", 2, 3)
    assert failure.node_id == "poison", "the first layer producing NaN is named"
    assert "nan" in failure.message and "epoch 1" in failure.message
    assert len(result.history) == 1
    weights = run.weights()
    assert all(torch.isfinite(t).all() for t in weights.values())
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())


def test_an_exception_inside_a_layer_names_the_node(blob_settings, blob_data):
    model = named_model(PoisonAfter(calls=4, error=ValueError("bad things at step 5")))
    run, result, _ = run_until_fault(model, blob_data, blob_settings)
    failure = result.failure
    assert failure.kind == "layer_error" and failure.node_id == "poison"
    assert (failure.epoch, failure.step) == (1, 5)
    assert "layer poison failed in epoch 1" in failure.message and "bad things" in failure.message
    assert "Traceback" in run.failure_details


def test_a_shape_error_in_a_torch_layer_names_that_layer(blob_settings, blob_data):
    torch.manual_seed(0)
    model = nn.Sequential()
    model.add_module("fc1", nn.Linear(2, 16))
    model.add_module("wrong", nn.Linear(15, 3))  # in_features disagrees with fc1's output
    _, result, _ = run_until_fault(model, blob_data, blob_settings)
    assert result.failure.kind == "layer_error" and result.failure.node_id == "wrong"


def test_out_of_memory_is_caught_and_suggests_a_smaller_batch(blob_settings, blob_data):
    oom = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
    model = named_model(PoisonAfter(calls=2, error=oom))
    _, result, _ = run_until_fault(model, blob_data, blob_settings)
    failure = result.failure
    assert failure.kind == "oom"
    assert "out of memory" in failure.message and "smaller batch (e.g. 16)" in failure.message


def test_runtime_error_saying_out_of_memory_counts_as_oom(blob_settings, blob_data):
    model = named_model(PoisonAfter(calls=1, error=RuntimeError("MPS backend out of memory")))
    _, result, _ = run_until_fault(model, blob_data, blob_settings)
    assert result.failure.kind == "oom"


def test_an_error_outside_the_layers_is_a_plain_error(blob_settings, blob_data):
    model = named_model(nn.Identity())
    run = TrainingRun(model, blob_data, blob_settings)
    run.loss_fn = lambda output, target: (_ for _ in ()).throw(KeyError("loss broke"))
    result = run.run()
    assert result.failure.kind == "error" and result.failure.node_id is None
    assert "loss broke" in result.failure.message


def test_the_run_stays_usable_after_a_fault(blob_settings, blob_data):
    poison = PoisonAfter(calls=3, error=RuntimeError("flaky"))
    run, result, _ = run_until_fault(named_model(poison), blob_data, blob_settings)
    assert result.status == "failed"
    poison.calls_left = 10**9  # the person fixes the problem and presses Train again
    again = run.run()
    assert again.status == "finished" and len(again.history) == blob_settings.epochs
    assert run.checkpoint()["epoch"] == blob_settings.epochs


def test_a_layer_failing_inside_a_compiled_project_names_its_node():
    from nnstudio.core.examples import load_example
    from nnstudio.train.project_run import build_training_run

    project = load_example("digits-mlp")
    project.settings.epochs = 1
    run = build_training_run(project, device="cpu")
    run.model.relu2 = PoisonAfter(calls=3, error=RuntimeError("something broke in here"))
    result = run.run()
    assert result.failure.kind == "layer_error" and result.failure.node_id == "relu2"
    assert "layer relu2 failed" in result.failure.message


class WrongChannels(nn.Module):
    """Returns one channel too few, so the Add after it cannot broadcast."""

    def forward(self, x):
        return x[:, :-1]


def test_a_merge_failing_inside_a_compiled_project_names_the_merge_node():
    from nnstudio.core.examples import load_example
    from nnstudio.train.project_run import build_training_run

    project = load_example("residual-block")
    project.settings.epochs = 1
    run = build_training_run(project, device="cpu")
    run.model.bn2 = WrongChannels()
    result = run.run()
    assert result.failure.kind == "layer_error" and result.failure.node_id == "skip_add", result.failure

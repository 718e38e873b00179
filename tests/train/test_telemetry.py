"""Per-layer telemetry: values for every layer, problems on the right layer, nothing left behind."""

from __future__ import annotations

import csv
import math

import pytest
import torch

from nnstudio.cli import main
from nnstudio.core.examples import load_example
from nnstudio.train import build_training_run
from nnstudio.train.layer_stats import (
    HISTOGRAM_BINS,
    gradient_summary,
    gradient_summary_host,
    output_summary,
    output_summary_host,
)
from nnstudio.train.telemetry import Telemetry, TelemetryOptions
from nnstudio.train.telemetry_log import COLUMNS
from nnstudio.train.trainer import TrainingRun

#: Every step sampled: tests look at specific steps, not at the overhead.
EVERY_STEP = TelemetryOptions(budget=1e9, max_per_second=1e9, first_step=1, min_interval_steps=1)


def example_run(name: str, epochs: int = 1, **settings) -> TrainingRun:
    project = load_example(name)
    project.settings.epochs = epochs
    for key, value in settings.items():
        setattr(project.settings, key, value)
    return build_training_run(project, device="cpu")


def collect(run: TrainingRun, options: TelemetryOptions = EVERY_STEP, on_sample=None):
    samples = []
    run.enable_telemetry(options)
    run.events.telemetry.connect(on_sample or samples.append)
    result = run.run()
    return result, samples


def test_digits_cnn_has_statistics_for_every_layer():
    run = example_run("digits-cnn")
    result, samples = collect(run)
    assert result.status == "finished" and samples
    layers = [n.id for n in run.project.graph.nodes() if n.spec.type_id not in ("input", "output")]
    sample = samples[-1]
    assert list(sample.layers) == layers, "every layer, in the order the network computes them"
    for name, stats in sample.layers.items():
        assert math.isfinite(stats.mean) and stats.std > 0, name
        assert stats.output_grad_norm > 0, name
        assert stats.activations is not None and sum(stats.activations.counts) > 0, name
        assert stats.gradients is not None and len(stats.gradients.counts) == HISTOGRAM_BINS, name
        has_weights = name.startswith(("conv", "fc"))
        assert (stats.grad_norm is not None, stats.update_ratio is not None) == (has_weights, has_weights), name
        is_relu = name.startswith("relu")
        assert (stats.zeros is not None, stats.dead is not None) == (is_relu, is_relu), name
        assert stats.saturated is None, name
    assert 0 < sample.layers["relu1"].zeros < 1
    assert all(1e-5 < sample.layers[n].update_ratio < 0.5 for n in ("conv1", "conv2", "fc1", "fc2"))


def test_statistics_match_the_tensors_they_describe():
    x = torch.tensor([[-1.0, 0.0, 2.0, 0.0], [-3.0, 0.0, 4.0, 5.0]])
    relu = torch.relu(x)  # columns 0 and 1 are zero for both samples: two of four units dead
    mean, std, zeros, dead, saturated, lo, hi, *counts = output_summary(relu, "relu").tolist()
    assert (mean, zeros, dead) == (pytest.approx(relu.mean().item()), 5 / 8, 0.5)
    assert std == pytest.approx(relu.std(correction=0).item())
    assert math.isnan(saturated)
    assert (lo, hi, sum(counts), counts[0], counts[-1]) == (0.0, 5.0, 8, 5, 1)
    sig = torch.tensor([0.001, 0.5, 0.999, 0.2])
    assert output_summary(sig, "sigmoid")[4].item() == 0.5
    assert output_summary(torch.tensor([-0.995, 0.0, 0.3, 0.999]), "tanh")[4].item() == 0.5


@pytest.mark.parametrize("family", ["relu", "sigmoid", "tanh", None])
def test_the_cpu_and_the_device_statistics_agree(family):
    # The CPU reads statistics with numpy, accelerators with torch operators: one meaning for both.

    torch.manual_seed(0)
    x = torch.randn(64, 16, 5, 5) * 3
    x = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh, None: lambda t: t}[family](x)
    device, host = output_summary(x, family).tolist(), output_summary_host(x, family).tolist()
    for a, b in zip(device[:7], host[:7]):
        assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-4, abs=1e-6)
    assert sum(device[7:]) == sum(host[7:]) and max(abs(a - b) for a, b in zip(device[7:], host[7:])) <= 2
    grad = torch.randn(64, 40) * 1e-3
    grad[:, :5] = 0
    device, host = gradient_summary(grad).tolist(), gradient_summary_host(grad).tolist()
    assert device[:3] == pytest.approx(host[:3], rel=1e-5) and device[3:] == host[3:]


def test_a_far_too_high_learning_rate_flags_exploding_gradients_on_the_layers_whose_gradients_explode():
    run = example_run("digits-mlp", optimizer="sgd", lr=30.0)
    checked = []

    def on_sample(sample):
        # Measured here, independently: the parameters' gradients are still those of the sampled step.
        squares: dict[str, float] = {}
        for name, param in run.model.named_parameters():
            squares[name.split(".")[0]] = squares.get(name.split(".")[0], 0.0) + param.grad.norm().item() ** 2
        exploding = {layer for layer, sq in squares.items() if math.sqrt(sq) > 1e3}
        flagged = {p.node_id for p in sample.problems if p.code == "exploding-gradient"}
        assert flagged == exploding, (sample.global_step, squares)
        checked.append(flagged)
        problems.extend(sample.problems)

    problems = []
    collect(run, on_sample=on_sample)
    assert any(checked), "the run's gradients exploded somewhere"
    assert any(flags and flags != {"fc1", "fc2", "fc3"} for flags in checked), \
        "some sample tells layers apart (exploding in some, not in others)"
    problem = next(p for p in problems if p.code == "exploding-gradient")
    assert problem.severity == "warning" and "lower learning rate" in problem.message


def test_a_healthy_run_raises_no_problems():
    run = example_run("digits-mlp")
    _, samples = collect(run)
    assert samples and not any(s.problems for s in samples)


def test_a_bias_that_kills_the_relus_flags_dead_units_on_that_layer():
    run = example_run("digits-mlp")
    with torch.no_grad():
        run.model.fc1.bias.fill_(-100.0)  # every unit of fc1 is far below zero: relu1 passes nothing
    _, samples = collect(run)
    first = samples[0]
    dead = [p for p in first.problems if p.code == "dead-units"]
    assert [p.node_id for p in dead] == ["relu1"]
    assert first.layers["relu1"].dead == 1.0
    assert "fed by fc1" in dead[0].message and "LeakyReLU" in dead[0].message
    assert first.layers["relu2"].dead < 0.9
    # fc1 learns nothing through dead units: its gradient vanishes, and that is flagged too.
    assert {p.node_id for p in first.problems if p.code == "vanishing-gradient"} == {"fc1"}


def test_hooks_are_gone_after_each_sampled_step_and_other_steps_are_not_watched():
    run = example_run("digits-mlp")
    watched_calls = []
    layers_seen = []
    run.enable_telemetry(TelemetryOptions(budget=1e9, max_per_second=1e9, first_step=3, min_interval_steps=5))
    original = run.telemetry.watch

    def watch(forward):
        step = original(forward)
        watched_calls.append(run.global_step)
        return step

    run.telemetry.watch = watch
    run.events.telemetry.connect(lambda s: layers_seen.append(len(s.layers)))
    run.run()
    assert watched_calls[:3] == [3, 8, 13]
    assert len(layers_seen) == len(watched_calls)
    model = run.model
    assert "forward" not in vars(model), "the watched forward is removed after its step"
    assert not any(m._forward_hooks or m._backward_hooks for m in model.modules())


def test_the_sampling_interval_keeps_the_cost_near_the_budget(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr("nnstudio.train.telemetry.time.perf_counter", lambda: clock[0])
    telemetry = Telemetry(torch.nn.Linear(2, 2), TelemetryOptions(budget=0.02, max_per_second=1e9, first_step=5))
    watched = []
    for _ in range(2000):
        if telemetry.due():
            watched.append(telemetry.global_step)
            clock[0] += 0.011  # a watched step: 10 ms more than an ordinary one
        else:
            clock[0] += 0.001
    # The first sample is followed by a calibration sample 10 steps later (the first one pays one-time
    # costs); then 10 ms extra every K steps of 1 ms is 2% when K = 500.
    assert watched[:4] == [5, 15, 515, 1015]
    assert telemetry.interval == 500 and telemetry.last_cost == pytest.approx(0.010)


def test_telemetry_can_be_switched_on_and_off_between_runs_of_one_run_object():
    run = example_run("digits-mlp", epochs=2)
    samples = []
    run.events.telemetry.connect(samples.append)
    run.settings.epochs = 1
    run.run()
    assert samples == []
    run.enable_telemetry(EVERY_STEP)
    run.settings.epochs = 2
    run.run()
    assert samples and {s.epoch for s in samples} == {2}


def test_cli_train_with_telemetry_writes_the_csv_and_prints_problems(tmp_path, capsys):
    project = load_example("digits-mlp")
    project.settings.epochs = 1
    from nnstudio.core.project import save_project

    source = tmp_path / "mlp.nns"
    save_project(project, source)
    out = tmp_path / "run"
    assert main(["train", str(source), "--telemetry", "--device", "cpu", "--lr", "5", "--out", str(out)]) == 0
    with open(out / "telemetry.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == COLUMNS
    layers = {row["layer"] for row in rows}
    assert layers == {"flatten1", "fc1", "relu1", "fc2", "relu2", "fc3"}
    fc1 = [row for row in rows if row["layer"] == "fc1"]
    assert all(float(row["grad_norm"]) >= 0 and row["update_ratio"] for row in fc1)
    assert all(row["dead"] == "" for row in fc1) and all(row["dead"] != "" for row in rows if row["layer"] == "relu1")
    err = capsys.readouterr().err
    assert "telemetry: epoch 1 step 3: warning: fc" in err and "update" in err


def test_a_wrapped_network_is_watched_inside_its_wrapper(blob_settings, blob_data):
    # DataParallel stands in for DistributedDataParallel: the wrapper's forward must still run (it is
    # what shares gradients between processes), so the network's forward is swapped for the step.
    from torch import fx, nn

    torch.manual_seed(0)
    inner = fx.symbolic_trace(nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3)))
    wrapper = nn.DataParallel(inner)
    calls = []
    wrapper.register_forward_pre_hook(lambda module, args: calls.append(1))
    run = TrainingRun(wrapper, blob_data, blob_settings)
    result, samples = collect(run)
    assert result.status == "finished" and samples
    assert list(samples[-1].layers) == ["0", "1", "2"]
    assert samples[-1].layers["1"].dead is not None and samples[-1].layers["2"].grad_norm > 0
    assert len(calls) >= run.global_step, "every step, watched ones included, ran through the wrapper"
    assert "forward" not in vars(inner)


def test_a_sample_and_a_change_survive_json_as_a_worker_process_streams_them():
    import json

    from nnstudio.train.changes import SettingsChange
    from nnstudio.train.telemetry import TelemetrySample

    run = example_run("digits-mlp")
    with torch.no_grad():
        run.model.fc1.bias.fill_(-100.0)
    _, samples = collect(run)
    sample = samples[0]
    again = TelemetrySample.from_dict(json.loads(json.dumps(sample.as_dict())))
    assert again == sample and again.problems and again.layers["relu1"].activations.counts
    change = SettingsChange(2, 3, 40, 1.25, {"lr": (0.001, 0.01)})
    assert SettingsChange.from_dict(json.loads(json.dumps(change.as_dict()))) == change

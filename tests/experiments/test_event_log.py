"""TensorBoard event files read back with TensorBoard's own reader: scalars and hyperparameters."""

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import api_pb2, metadata

from nnstudio.core.examples import load_example
from nnstudio.experiments import RunRecorder
from nnstudio.train.project_run import build_training_run


def read_events(folder):
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    return events


def hparams_of(events):
    """Return (hyperparameters, metric tags, end status) from the HParams plugin's summaries."""
    content = events.PluginTagToContent(metadata.PLUGIN_NAME)
    start = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
    experiment = metadata.parse_experiment_plugin_data(content[metadata.EXPERIMENT_TAG])
    values = {}
    for name, value in start.hparams.items():
        kind = value.WhichOneof("kind")
        values[name] = getattr(value, kind)
    metrics = [m.name.tag for m in experiment.metric_infos]
    status = None
    if metadata.SESSION_END_INFO_TAG in content:
        status = metadata.parse_session_end_info_plugin_data(content[metadata.SESSION_END_INFO_TAG]).status
    return values, metrics, status


def test_every_metric_and_the_learning_rate_are_scalars_with_hparams(tmp_path):
    project = load_example("digits-mlp")
    project.settings.epochs = 3
    project.settings.device = "cpu"
    project.settings.scheduler = "step"
    project.settings.step_size = 1
    project.settings.gamma = 0.5
    run = build_training_run(project)
    with RunRecorder(run, project, tmp_path, source="cli"):
        run.run()
    events = read_events(tmp_path)
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "val/loss", "train/accuracy", "val/accuracy", "lr", "perf/samples_per_s",
            "best/val_loss", "best/val_accuracy", "final/val_loss", "final/val_accuracy"} <= tags
    assert "train/mae" not in tags, "a classifier has no MAE"
    val_loss = events.Scalars("val/loss")
    assert [e.step for e in val_loss] == [1, 2, 3]
    assert [e.value for e in val_loss] == pytest.approx([m.val_loss for m in run.history], rel=1e-6)
    assert [e.value for e in events.Scalars("lr")] == pytest.approx([1e-3, 5e-4, 2.5e-4])
    best = events.Scalars("best/val_loss")
    assert best[-1].value == pytest.approx(min(m.val_loss for m in run.history), rel=1e-6)
    values, metrics, status = hparams_of(events)
    assert values["lr"] == pytest.approx(1e-3) and values["optimizer"] == "adam"
    assert values["batch_size"] == 64 and values["scheduler"] == "step" and values["dataset"] == "digits"
    assert values["grad_clip"] == "none", "unset settings are shown, not dropped"
    assert "best/val_loss" in metrics and "final/val_accuracy" in metrics
    assert status == api_pb2.STATUS_SUCCESS


def test_a_regression_run_logs_mae_and_a_failure_is_marked(tmp_path):
    project = load_example("linear-regression")
    project.settings.epochs = 2
    project.settings.device = "cpu"
    run = build_training_run(project)
    with RunRecorder(run, project, tmp_path / "ok", source="cli"):
        run.run()
    events = read_events(tmp_path / "ok")
    assert {"train/mae", "val/mae", "best/val_mae", "final/val_mae"} <= set(events.Tags()["scalars"])
    assert "val/accuracy" not in events.Tags()["scalars"]
    _values, metrics, _status = hparams_of(events)
    assert "best/val_mae" in metrics and "best/val_accuracy" not in metrics

    project.settings.lr = 100.0  # gradient descent diverges to inf within an epoch
    failing = build_training_run(project)
    with RunRecorder(failing, project, tmp_path / "nan", source="cli"):
        failing.run()
    assert failing.failure is not None
    assert hparams_of(read_events(tmp_path / "nan"))[2] == api_pb2.STATUS_FAILURE


def test_telemetry_samples_become_per_layer_scalars_and_histograms(tmp_path):
    from nnstudio.train.telemetry import TelemetryOptions

    project = load_example("digits-cnn")
    project.settings.epochs = 1
    project.settings.device = "cpu"
    run = build_training_run(project)
    # Sample as often as telemetry allows: a short run still gives several samples.
    run.enable_telemetry(TelemetryOptions(budget=1.0, max_per_second=1000.0, first_step=1, min_interval_steps=1))
    samples = []
    run.events.telemetry.connect(samples.append)
    with RunRecorder(run, project, tmp_path, source="cli"):
        run.run()
    assert samples
    events = EventAccumulator(str(tmp_path), size_guidance={"scalars": 0, "histograms": 0})
    events.Reload()
    layers = set(samples[-1].layers)
    histograms = set(events.Tags()["histograms"])
    assert {f"activations/{node}" for node in layers} <= histograms
    assert any(tag.startswith("gradients/") for tag in histograms)
    relu = next(node for node in layers if samples[-1].layers[node].dead is not None)
    dead = events.Scalars(f"telemetry/{relu}/dead")
    assert [e.step for e in dead] == [s.global_step for s in samples]
    assert dead[-1].value == pytest.approx(samples[-1].layers[relu].dead, rel=1e-6)
    conv = next(node for node in layers if samples[-1].layers[node].grad_norm is not None)
    last = events.Histograms(f"activations/{conv}")[-1].histogram_value
    assert last.num == sum(samples[-1].layers[conv].activations.counts)

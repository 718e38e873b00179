"""The trainer's ``gradients`` event: per-parameter norms, rate-limited, free when nobody listens."""

from __future__ import annotations

import math
import time
import warnings
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from nnstudio.train import trainer as trainer_module
from nnstudio.train.trainer import GRADIENT_REPORT_INTERVAL_S, TrainingRun, gradient_norms


def test_gradient_norms_match_each_parameters_grad_and_keep_nan():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    assert gradient_norms(model) == {}
    model(torch.randn(5, 3)).sum().backward()
    norms = gradient_norms(model)
    assert set(norms) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    for name, parameter in model.named_parameters():
        assert norms[name] == pytest.approx(float(parameter.grad.norm()), rel=1e-6)
    model[2].bias.grad[0] = float("nan")
    assert math.isnan(gradient_norms(model)["2.bias"])


def _fake_clock(monkeypatch, seconds_per_call: float) -> None:
    """Makes the trainer's monotonic clock advance ``seconds_per_call`` at each reading."""
    readings = iter(range(100_000))
    fake_time = SimpleNamespace(monotonic=lambda: next(readings) * seconds_per_call,
                                perf_counter=time.perf_counter)
    monkeypatch.setattr(trainer_module, "time", fake_time)


def test_a_listener_gets_every_parameters_norm(monkeypatch, blob_settings, blob_data, small_classifier):
    run = TrainingRun(small_classifier(), blob_data, blob_settings.model_copy(update={"epochs": 2}))
    reports: list[dict[str, float]] = []
    run.events.gradients.connect(reports.append)
    _fake_clock(monkeypatch, seconds_per_call=GRADIENT_REPORT_INTERVAL_S)
    run.run()
    assert len(reports) == 2 * run.steps_per_epoch  # a full interval passes between steps on this clock
    assert set(reports[0]) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    assert all(0 < norm < 1e3 for report in reports for norm in report.values())


def test_reports_come_at_most_once_per_interval(monkeypatch, blob_settings, blob_data, small_classifier):
    run = TrainingRun(small_classifier(), blob_data, blob_settings)
    reports: list[dict[str, float]] = []
    run.events.gradients.connect(reports.append)
    _fake_clock(monkeypatch, seconds_per_call=GRADIENT_REPORT_INTERVAL_S / 4)
    run.run()
    steps = 3 * run.steps_per_epoch
    assert len(reports) == math.ceil(steps / 4)  # the first step reports, then every fourth


def test_a_run_nobody_watches_never_measures_gradients(monkeypatch, blob_settings, blob_data, small_classifier):
    def refuse(_model):
        raise AssertionError("gradient norms were computed although nothing listens")

    monkeypatch.setattr(trainer_module, "gradient_norms", refuse)
    result = TrainingRun(small_classifier(), blob_data, blob_settings).run()
    assert result.status == "finished"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_a_gpu_the_norms_cost_a_single_host_sync():
    model = nn.Sequential(*[nn.Linear(8, 8) for _ in range(10)]).cuda()
    model(torch.randn(4, 8, device="cuda")).sum().backward()
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            norms = gradient_norms(model)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    syncs = [w for w in caught if "synchroniz" in str(w.message)]
    assert len(syncs) == 1, [str(w.message) for w in syncs]
    assert len(norms) == 20 and all(norm > 0 for norm in norms.values())

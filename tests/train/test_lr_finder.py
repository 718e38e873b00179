"""The learning-rate range test: a suggestion where the loss falls fastest, the project untouched."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nnstudio.cli import main
from nnstudio.core.errors import NnstudioError
from nnstudio.core.examples import load_example
from nnstudio.train import build_training_run
from nnstudio.train.lr_finder import LrFinderOptions, find_lr, find_lr_for_project, smooth_both_ways, suggest


def fastest_falling_range(lrs: list[float], losses: list[float], decades: float = 0.5) -> tuple[float, float]:
    """The rates where the raw loss falls fastest, measured apart from the finder: a least-squares line
    through every half-decade window of the raw curve; the windows falling at least half as steeply
    as the steepest, contiguous around it."""
    x = np.log10(lrs)
    y = np.asarray(losses)
    slopes = []
    for centre in x:
        inside = np.abs(x - centre) <= decades / 2
        slopes.append(np.polyfit(x[inside], y[inside], 1)[0] if inside.sum() >= 3 else 0.0)
    slopes = np.asarray(slopes)
    best = int(np.argmin(slopes))
    lo = hi = best
    while lo > 0 and slopes[lo - 1] <= slopes[best] / 2:
        lo -= 1
    while hi + 1 < len(slopes) and slopes[hi + 1] <= slopes[best] / 2:
        hi += 1
    return lrs[lo], lrs[hi]


def test_the_suggestion_for_digits_mlp_lies_where_the_loss_falls_fastest():
    project = load_example("digits-mlp")
    result = find_lr_for_project(project, device="cpu")
    assert result.stop_reason == "diverged", "the sweep goes on until the loss blows up"
    assert result.lrs == sorted(result.lrs) and len(result.lrs) == len(result.losses) >= 50
    lo, hi = fastest_falling_range(result.lrs, result.losses)
    assert lo <= result.suggested_lr <= hi, (result.suggested_lr, (lo, hi))
    # Far below where it diverged, and the finder's own range says the same.
    assert result.suggested_lr < result.lrs[-1] / 10
    assert result.falling_range[0] <= result.suggested_lr <= result.falling_range[1]


def test_the_suggested_rate_trains_better_than_rates_far_from_it():
    project = load_example("digits-mlp")
    suggested = find_lr_for_project(project, device="cpu").suggested_lr
    losses = {}
    for lr in (suggested / 100, suggested, suggested * 100):
        project.settings.lr, project.settings.epochs = lr, 2
        losses[lr] = build_training_run(project, device="cpu").run().last.val_loss
    assert losses[suggested] < losses[suggested / 100] and losses[suggested] < losses[suggested * 100], losses


def test_the_network_range_tested_is_a_copy(blob_settings, blob_data, small_classifier):
    model = small_classifier()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    steps = []
    result = find_lr(model, blob_data, blob_settings, LrFinderOptions(steps=30),
                     on_step=lambda i, lr, loss: steps.append((i, lr)))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), "the weights are untouched"
    assert not any(p.grad is not None for p in model.parameters())
    assert [i for i, _ in steps] == list(range(len(result.lrs)))
    assert steps[0][1] == pytest.approx(1e-7)


def test_should_stop_ends_the_sweep_with_what_was_measured(blob_settings, blob_data, small_classifier):
    calls = []
    result = find_lr(small_classifier(), blob_data, blob_settings, LrFinderOptions(steps=40),
                     should_stop=lambda: (calls.append(1), len(calls) > 12)[1])
    assert result.stop_reason == "stopped" and len(result.lrs) == 12


def test_a_loss_that_never_falls_gives_no_suggestion():
    lrs = list(np.geomspace(1e-6, 1, 40))
    flat = [2.0 + 0.01 * i for i in range(40)]
    assert suggest(lrs, smooth_both_ways(flat, 0.8), LrFinderOptions(steps=40)) == (None, None)


@pytest.mark.parametrize("options", [LrFinderOptions(start_lr=1, end_lr=0.1), LrFinderOptions(steps=3),
                                     LrFinderOptions(start_lr=0)])
def test_bad_options_are_refused(options):
    with pytest.raises(NnstudioError):
        options.check()


def test_cli_prints_the_summary_and_the_suggested_rate(capsys, tmp_path):
    curve = tmp_path / "curve.csv"
    assert main(["lr-find", "--example", "digits-mlp", "--device", "cpu", "--steps", "60", "-o", str(curve)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1].startswith("suggested lr: ")
    value = float(out[-1].split(": ")[1])
    assert 1e-5 < value < 1
    assert any(line.split()[:1] == ["lr"] for line in out) and "falls fastest between" in out[-2]
    rows = curve.read_text().splitlines()
    assert rows[0] == "lr,loss,smoothed" and len(rows) > 20


def test_cli_refuses_a_falling_range_of_rates(capsys):
    assert main(["lr-find", "--example", "digits-mlp", "--start", "1", "--end", "0.1"]) == 2
    assert "must rise" in capsys.readouterr().err

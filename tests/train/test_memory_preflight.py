"""The memory pre-flight: an estimate made on fake tensors against what a real step allocates.

The reference is the profiler's memory events of two real training steps on the CPU
(``measure_step_memory``); the estimate must land within 10% of it. The CUDA comparison (against
``torch.cuda.max_memory_allocated``, within 15%, library workspaces reported apart) runs on a GPU.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nnstudio.core.examples import load_example
from nnstudio.core.settings import TrainingSettings
from nnstudio.train.memory import CATEGORIES, estimate_step_memory, measure_step_memory
from nnstudio.train.preflight import estimate_project_memory, largest_fitting_batch, project_step_shapes

ADAM = TrainingSettings(optimizer="adam", lr=1e-3)


def resnet18() -> nn.Module:
    import torchvision

    return torchvision.models.resnet18(weights=None)


def transformer_encoder() -> nn.Module:
    layer = nn.TransformerEncoderLayer(128, 4, 512, batch_first=True)
    return nn.Sequential(nn.TransformerEncoder(layer, 2), nn.Flatten(), nn.Linear(128 * 32, 10))


def digits_cnn():
    from nnstudio.compile import analyze, compile_graph

    project = load_example("digits-cnn")
    analysis = analyze(project.graph, project.settings)
    sample, _, target, _, classes = project_step_shapes(project, analysis)
    return project, (lambda: compile_graph(project.graph, analysis)), sample, target, classes


@pytest.mark.parametrize(("name", "build", "input_shape", "target_shape"), [
    ("resnet18", resnet18, (32, 3, 224, 224), (32,)),
    ("transformer-encoder", transformer_encoder, (32, 32, 128), (32,)),
], ids=["resnet18-batch32", "transformer-encoder"])
def test_the_estimate_is_within_10_percent_of_a_real_step(name, build, input_shape, target_shape):
    estimate = estimate_step_memory(build, input_shape, target_shape, ADAM, classes=10)
    measured = measure_step_memory(build, input_shape, target_shape, ADAM, classes=10)
    assert estimate.peak == pytest.approx(measured, rel=0.10), f"{name}: {estimate.peak} vs {measured}"
    assert sum(estimate.split.values()) == estimate.peak and set(estimate.split) == set(CATEGORIES)
    # Activations dominate a convolutional or attention network at this batch size.
    assert estimate.split["activations"] > estimate.split["parameters"]


def test_the_estimate_of_an_editor_network_matches_its_real_step():
    project, build, sample, target, classes = digits_cnn()
    batch = project.settings.batch_size
    estimate = estimate_project_memory(project, device="cpu")
    measured = measure_step_memory(build, (batch, *sample), (batch, *target), project.settings, classes=classes)
    assert estimate.peak == pytest.approx(measured, rel=0.10)
    params = sum(p.numel() * 4 for p in build().parameters())
    assert estimate.split["parameters"] == params
    assert estimate.split["optimizer_state"] >= 2 * params  # Adam: two moments per weight


def test_the_estimate_allocates_nothing_real():
    # A ResNet-18 step at batch 4096 needs about 100 GB: far beyond this machine, yet estimated.
    estimate = estimate_step_memory(resnet18, (4096, 3, 224, 224), (4096,), ADAM, classes=10)
    assert estimate.peak > 50 * 2**30


def test_settings_change_the_estimate_as_they_change_a_real_step():
    sgd = estimate_step_memory(resnet18, (8, 3, 64, 64), (8,), TrainingSettings(optimizer="sgd"), classes=10)
    adam = estimate_step_memory(resnet18, (8, 3, 64, 64), (8,), ADAM, classes=10)
    assert sgd.split["optimizer_state"] == 0 < adam.split["optimizer_state"]
    bigger = estimate_step_memory(resnet18, (16, 3, 64, 64), (16,), ADAM, classes=10)
    assert bigger.saved_activations == pytest.approx(2 * adam.saved_activations, rel=0.05)


def test_on_cuda_blocks_are_rounded_and_the_runtime_is_allowed_for():
    project = load_example("digits-mlp")
    cpu = estimate_project_memory(project, device="cpu")
    cuda = estimate_project_memory(project, device="cuda")
    assert cuda.peak >= cpu.peak and cuda.peak % 512 == 0
    assert cuda.needed > cuda.peak and cpu.needed == cpu.peak
    assert "CUDA context" in cuda.summary() and "at batch 64" in cuda.summary()


def test_each_worker_of_a_data_parallel_run_holds_its_share_of_the_batch():
    project = load_example("digits-cnn")
    one = estimate_project_memory(project, device="cpu")
    two = estimate_project_memory(project, device="cpu", workers=2)
    assert two.batch_size == 32 and two.workers == 2
    assert two.split["activations"] < one.split["activations"]
    assert "per worker (batch 32 of 64)" in two.summary()


def test_the_largest_batch_that_fits_fits_and_a_larger_one_does_not():
    project = load_example("digits-cnn")

    def at(batch):
        return estimate_project_memory(project, device="cpu", batch_size=batch)

    free = at(300).needed
    largest = largest_fitting_batch(at, free)
    assert largest is not None and 290 <= largest <= 310
    assert at(largest).fits(free) and not at(largest + 16).fits(free)
    assert largest_fitting_batch(at, at(1).needed - 1) is None


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize(("build", "input_shape"), [(resnet18, (32, 3, 224, 224)),
                                                    (transformer_encoder, (32, 32, 128))],
                         ids=["resnet18-batch32", "transformer-encoder"])
def test_on_cuda_the_estimate_is_within_15_percent_of_max_memory_allocated(build, input_shape):
    from nnstudio.train.recipe import make_loss, make_optimizer

    device = torch.device("cuda")
    estimate = estimate_step_memory(build, input_shape, (input_shape[0],), ADAM, device=device, classes=10)
    torch.cuda.empty_cache()
    start = torch.cuda.memory_allocated()
    model = build().to(device)
    optimizer = make_optimizer(ADAM, model.parameters(), device)
    loss_fn = make_loss(ADAM)
    torch.cuda.reset_peak_memory_stats()
    for _ in range(2):
        x = torch.randn(input_shape, device=device)
        y = torch.randint(0, 10, (input_shape[0],), device=device)
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        optimizer.step()
        del x, y
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - start
    # What is still allocated beyond the weights, gradients and optimizer state are the libraries'
    # workspaces (cuBLAS keeps one per handle): reported apart, not part of the estimate.
    kept = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in (
        *model.parameters(), *model.buffers(), *(p.grad for p in model.parameters() if p.grad is not None),
        *(v for s in optimizer.state.values() for v in s.values() if isinstance(v, torch.Tensor)))}
    tensors = sum(-(-size // 512) * 512 for size in kept.values())
    workspaces = max(0, torch.cuda.memory_allocated() - start - tensors)
    print(f"estimate {estimate.peak / 2**20:.1f} MiB, max_memory_allocated {peak / 2**20:.1f} MiB, "
          f"library workspaces {workspaces / 2**20:.1f} MiB")
    assert estimate.peak == pytest.approx(peak - workspaces, rel=0.15)


# --- nnstudio check ----------------------------------------------------------------------------------

def test_check_prints_the_estimate_beside_the_free_memory(capsys):
    from nnstudio.cli import main

    assert main(["check", "--example", "digits-cnn", "--batch-size", "128"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("memory: "))
    assert "per training step at batch 128 on cpu" in line and "activations" in line and "free on cpu" in line


def test_check_warns_when_the_step_will_not_fit_and_names_the_batch_that_fits(capsys, monkeypatch):
    import json

    from nnstudio.cli import main

    project = load_example("digits-cnn")
    free = estimate_project_memory(project, device="cpu", batch_size=100).needed
    monkeypatch.setattr("nnstudio.train.preflight.free_memory", lambda device: free)
    assert main(["check", "--example", "digits-cnn", "--batch-size", "400"]) == 0  # a warning, not an error
    out = capsys.readouterr().out
    warning = next(line for line in out.splitlines() if line.startswith("warning: at batch size 400"))
    largest = int(warning.rsplit(" ", 1)[1])
    assert 95 <= largest <= 100
    assert main(["check", "--example", "digits-cnn", "--batch-size", "400", "--json"]) == 0
    memory = json.loads(capsys.readouterr().out)["memory"]
    assert memory["fits"] is False and memory["largest_batch"] == largest and memory["batch_size"] == 400

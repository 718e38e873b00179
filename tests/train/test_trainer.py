import threading

import pytest
import torch
from torch import nn

from nnstudio.core.settings import DatasetSettings, TrainingSettings
from nnstudio.train.datasets import load_dataset
from nnstudio.train.trainer import EpochMetrics, TrainingRun


def test_a_classifier_learns_and_reports_every_epoch(blob_settings, blob_data, small_classifier):
    run = TrainingRun(small_classifier(), blob_data, blob_settings)
    epochs: list[EpochMetrics] = []
    batches = []
    run.events.epoch_end.connect(epochs.append)
    run.events.batch_end.connect(lambda *args: batches.append(args))
    finished = []
    run.events.finished.connect(finished.append)
    result = run.run()
    assert result.status == "finished" and finished == [result]
    assert [m.epoch for m in epochs] == [1, 2, 3]
    assert epochs[-1].val_acc > 0.9 and epochs[-1].train_loss < epochs[0].train_loss
    assert epochs[-1].val_mae is None
    confusion = epochs[-1].confusion
    assert len(confusion) == 3 and sum(map(sum, confusion)) == len(blob_data.val)
    steps = run.steps_per_epoch
    assert len(batches) == 3 * steps
    epoch, step, total, loss, lr, speed = batches[-1]
    assert (epoch, step, total) == (3, steps, steps)
    assert isinstance(loss, float) and lr == pytest.approx(0.01) and speed > 0


def test_regression_reports_mae_and_no_accuracy():
    settings = TrainingSettings(dataset=DatasetSettings(kind="linear", options={"n_samples": 128}),
                                loss="mse", optimizer="sgd", lr=0.05, epochs=5, batch_size=16, device="cpu")
    data = load_dataset(settings.dataset, 0, loss="mse")
    torch.manual_seed(0)
    result = TrainingRun(nn.Linear(1, 1), data, settings).run()
    last = result.last
    assert last.train_acc is None and last.val_acc is None and last.confusion is None
    assert last.val_mae < 0.2


def test_same_seed_gives_identical_runs_on_the_cpu(blob_settings, blob_data):
    settings = blob_settings.model_copy(update={"epochs": 2})

    def history():
        torch.manual_seed(1)
        model = nn.Sequential(nn.Linear(2, 16), nn.Dropout(0.3), nn.ReLU(), nn.Linear(16, 3))
        return [(m.train_loss, m.val_loss, m.train_acc) for m in TrainingRun(model, blob_data, settings).run().history]

    assert history() == history()


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw", "rmsprop", "adagrad"])
def test_every_optimizer_trains(optimizer, blob_settings, blob_data, small_classifier):
    settings = blob_settings.model_copy(update={"optimizer": optimizer, "momentum": 0.9, "nesterov": True,
                                                "weight_decay": 1e-4, "epochs": 2})
    result = TrainingRun(small_classifier(), blob_data, settings).run()
    assert result.status == "finished"
    assert result.history[-1].train_loss < result.history[0].train_loss * 1.05


@pytest.mark.parametrize("scheduler", ["step", "cosine", "onecycle", "plateau"])
def test_schedulers_change_the_learning_rate(scheduler, blob_settings, blob_data, small_classifier):
    settings = blob_settings.model_copy(update={"scheduler": scheduler, "step_size": 1, "gamma": 0.5,
                                                "epochs": 4, "lr": 0.5, "optimizer": "sgd"})
    if scheduler == "plateau":  # a rate too high to improve, so the plateau rule must cut it
        settings = settings.model_copy(update={"lr": 50.0, "grad_clip": 1.0})
    result = TrainingRun(small_classifier(), blob_data, settings).run()
    rates = [m.lr for m in result.history]
    assert result.status == "finished"
    assert len(set(rates)) > 1 or (scheduler == "plateau" and rates[-1] < settings.lr), rates


@pytest.mark.parametrize("loss", ["nll", "bce", "bce_with_logits"])
def test_classification_losses(loss, blob_settings):
    settings = blob_settings.model_copy(update={
        "loss": loss, "dataset": DatasetSettings(kind="moons", options={"n_samples": 200}), "lr": 0.05})
    data = load_dataset(settings.dataset, 0, loss=loss)
    torch.manual_seed(0)
    width = 1 if loss.startswith("bce") else 2
    layers = [nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, width)]
    layers.append(nn.Sigmoid() if loss == "bce" else nn.LogSoftmax(1) if loss == "nll" else nn.Identity())
    result = TrainingRun(nn.Sequential(*layers), data, settings).run()
    assert result.status == "finished" and result.last.val_acc > 0.75
    assert len(result.last.confusion) == 2


@pytest.mark.parametrize("loss", ["l1", "smooth_l1"])
def test_regression_losses(loss):
    settings = TrainingSettings(dataset=DatasetSettings(kind="sine", options={"n_samples": 200}), loss=loss,
                                epochs=2, device="cpu", lr=0.01)
    data = load_dataset(settings.dataset, 0, loss=loss)
    result = TrainingRun(nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 1)), data, settings).run()
    assert result.status == "finished" and result.last.val_mae is not None


def test_early_stopping_ends_the_run(blob_settings, blob_data, small_classifier):
    # A learning rate of zero never improves the validation loss after the first epoch.
    settings = blob_settings.model_copy(update={"epochs": 20, "early_stopping": 2, "optimizer": "sgd",
                                                "lr": 1e-12})
    run = TrainingRun(small_classifier(), blob_data, settings)
    result = run.run()
    assert result.status == "finished" and len(result.history) < 20
    assert any("early stopping" in note for note in result.notes)


def test_gradient_clipping_bounds_the_update(blob_settings, blob_data, small_classifier):
    settings = blob_settings.model_copy(update={"optimizer": "sgd", "lr": 1.0, "grad_clip": 1e-3,
                                                "epochs": 1, "batch_size": 300})
    model = small_classifier()
    before = torch.nn.utils.parameters_to_vector(model.parameters()).clone()
    TrainingRun(model, blob_data, settings).run()
    moved = torch.nn.utils.parameters_to_vector(model.parameters()) - before
    assert float(moved.detach().norm()) <= 1e-3 + 1e-6


def test_amp_on_cpu_trains_in_float32_with_a_note(blob_settings, blob_data, small_classifier):
    settings = blob_settings.model_copy(update={"amp": "bf16", "epochs": 1})
    result = TrainingRun(small_classifier(), blob_data, settings).run()
    assert result.status == "finished"
    assert any("mixed precision" in note for note in result.notes)


def test_torch_compile_failure_falls_back_to_eager(monkeypatch, blob_settings, blob_data, small_classifier):
    def broken_compile(model, *args, **kwargs):
        def call(*inputs):
            raise RuntimeError("backend exploded")
        return call

    monkeypatch.setattr(torch, "compile", broken_compile)
    settings = blob_settings.model_copy(update={"compile": True, "epochs": 1})
    result = TrainingRun(small_classifier(), blob_data, settings).run()
    assert result.status == "finished" and result.last.val_acc is not None
    assert any("torch.compile failed" in note and "backend exploded" in note for note in result.notes)


def test_stop_from_another_thread_ends_after_the_current_step(blob_settings, blob_data, small_classifier):
    settings = blob_settings.model_copy(update={"epochs": 50, "batch_size": 8})
    run = TrainingRun(small_classifier(), blob_data, settings)
    steps = []

    def on_batch(epoch, step, *rest):
        steps.append((epoch, step))
        if epoch == 2 and step == 3:
            stopper = threading.Thread(target=run.stop)  # as the GUI does: from another thread
            stopper.start()
            stopper.join()

    run.events.batch_end.connect(on_batch)
    stopped = []
    run.events.stopped.connect(stopped.append)
    result = run.run()
    assert result.status == "stopped" and stopped == [result]
    assert steps[-1] == (2, 3)
    assert len(result.history) == 1  # the partial epoch is dropped: outputs are of the last good epoch


def test_pause_holds_the_run_until_resume(blob_settings, blob_data, small_classifier):
    settings = blob_settings.model_copy(update={"epochs": 2})
    run = TrainingRun(small_classifier(), blob_data, settings)
    held = threading.Event()
    log = []

    def on_batch(epoch, step, *rest):
        log.append((epoch, step, run.paused))
        if (epoch, step) == (1, 2):
            run.pause()
            held.set()

    run.events.batch_end.connect(on_batch)
    worker = threading.Thread(target=run.run)
    worker.start()
    assert held.wait(30)
    worker.join(0.3)
    assert worker.is_alive(), "a paused run must wait"
    count = len(log)
    run.resume()
    worker.join(60)
    assert not worker.is_alive()
    assert count == 2 and len(run.history) == 2


def test_a_second_run_call_continues_after_the_last_epoch(blob_settings, blob_data, small_classifier):
    run = TrainingRun(small_classifier(), blob_data, blob_settings.model_copy(update={"epochs": 2}))
    run.run()
    run.settings = run.settings.model_copy(update={"epochs": 3})
    result = run.run()
    assert [m.epoch for m in result.history] == [1, 2, 3]


def test_without_per_step_reads_the_loss_is_read_rarely_and_at_epoch_end(blob_settings, blob_data,
                                                                          small_classifier, monkeypatch):
    # The GPU path (no host sync per step), exercised on the CPU; one read per ~11 days but the last.
    monkeypatch.setattr("nnstudio.train.trainer.READS_PER_SECOND", 1e-6)
    run = TrainingRun(small_classifier(), blob_data, blob_settings, read_loss_every_step=False)
    reads = []
    run.events.batch_end.connect(lambda epoch, step, steps, loss, *rest: reads.append((step, steps, loss)))
    result = run.run()
    assert result.status == "finished"
    read_at = [step for step, steps, loss in reads if loss is not None]
    assert read_at == [1, run.steps_per_epoch] * blob_settings.epochs
    eager = TrainingRun(small_classifier(), blob_data, blob_settings).run()
    assert [m.train_loss for m in result.history] == pytest.approx([m.train_loss for m in eager.history])


def test_without_per_step_reads_a_nan_loss_still_stops_the_run(blob_settings, blob_data):
    model = nn.Sequential(nn.Linear(2, 3))
    with torch.no_grad():
        model[0].weight.fill_(float("inf"))
    result = TrainingRun(model, blob_data, blob_settings, read_loss_every_step=False).run()
    assert result.status == "failed" and result.failure.kind == "nan" and result.history == []


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("amp", ["off", "bf16", "fp16"])
def test_cuda_training_with_mixed_precision(amp, blob_settings, blob_data, small_classifier):
    settings = blob_settings.model_copy(update={"device": "cuda", "amp": amp, "epochs": 3})
    run = TrainingRun(small_classifier(), blob_data, settings)
    result = run.run()
    assert result.status == "finished" and result.last.val_acc > 0.8 and not result.notes
    assert all(t.device.type == "cpu" for t in run.weights().values())


@pytest.mark.parametrize("workers", [0, 1])
def test_folder_datasets_train_through_a_dataloader(tmp_path, workers):
    from PIL import Image

    for label, colour in (("red", (220, 20, 20)), ("blue", (20, 20, 220))):
        (tmp_path / label).mkdir()
        for i in range(12):
            Image.new("RGB", (10, 10), tuple(max(0, c - 5 * i) for c in colour)).save(tmp_path / label / f"{i}.png")
    settings = TrainingSettings(dataset=DatasetSettings(kind="image_folder", options={"path": str(tmp_path),
                                                                                        "size": 8}),
                                epochs=4, batch_size=4, lr=0.01, device="cpu")
    data = load_dataset(settings.dataset, 0, loss="cross_entropy")
    assert not data.in_memory
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2))
    run = TrainingRun(model, data, settings, num_workers=workers)
    result = run.run()
    assert result.status == "finished", result.failure
    assert run.steps_per_epoch == 5  # 20 training images in batches of 4
    assert result.last.val_acc == 1.0


def test_a_stop_requested_before_run_starts_is_honoured(blob_settings, blob_data, small_classifier):
    run = TrainingRun(small_classifier(), blob_data, blob_settings)
    run.stop()
    assert run.run().status == "stopped" and run.history == []
    assert run.run().status == "finished", "the stop request is used up by the run it stopped"

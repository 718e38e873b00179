"""``nnstudio train --nproc-per-node N`` end to end: real torchrun launches of gloo CPU workers.

Each launch starts Python processes that import torch, so the runs are few and each checks several
things. The full-length comparison with a single-process run is the ``long`` test at the end.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import torch

from nnstudio.cli import main
from nnstudio.experiments import read_run
from nnstudio.train.outputs import OUTPUT_FILES

#: A run is refused (exit status 1) within this many seconds of a worker's death.
FAULT_DEADLINE_S = 60


def command(*words: str) -> list[str]:
    return [sys.executable, "-m", "nnstudio", "train", *words]


def rows(folder: Path) -> list[dict[str, str]]:
    with (folder / "metrics.csv").open() as handle:
        return list(csv.DictReader(handle))


def workers_of(launcher: psutil.Process) -> dict[int, psutil.Process]:
    """Return the launcher's worker processes by rank (read from their environment)."""
    found = {}
    for child in launcher.children(recursive=True):
        try:
            rank = child.environ().get("RANK")
        except psutil.Error:
            continue
        if rank is not None:
            found[int(rank)] = child
    return found


def wait_for(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def assert_all_gone(processes: list[psutil.Process]) -> None:
    for process in processes:
        try:
            alive = process.is_running() and process.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            alive = False
        assert not alive, f"worker pid {process.pid} outlived the run"


@pytest.fixture(scope="module")
def two_worker_run(tmp_path_factory):
    """digits-mlp trained 4 epochs by 2 gloo workers, with telemetry: (folder, completed process)."""
    out = tmp_path_factory.mktemp("ddp") / "run"
    completed = subprocess.run(command("--example", "digits-mlp", "--nproc-per-node", "2", "--epochs", "4",
                                       "--device", "cpu", "--out", str(out), "--telemetry"),
                               capture_output=True, text=True, timeout=280, check=False)
    return out, completed


def single_run(tmp_path: Path, *extra: str) -> Path:
    out = tmp_path / "single"
    assert main(["train", "--example", "digits-mlp", "--device", "cpu", "--out", str(out), *extra]) == 0
    return out


def test_two_workers_train_like_one_process_and_rank_0_writes_once(two_worker_run, tmp_path):
    out, completed = two_worker_run
    assert completed.returncode == 0, completed.stderr[-3000:]
    # Only rank 0 reports and writes: one line per epoch, one "wrote".
    assert [line.split()[1] for line in completed.stdout.splitlines() if line.startswith("epoch ")] == \
        ["1/4", "2/4", "3/4", "4/4"]
    assert completed.stdout.count("wrote ") == 1
    assert "2 workers on cpu (gloo)" in completed.stderr
    # The outputs, the run's record and TensorBoard events, telemetry.csv: no stray temporary files.
    names = {p.name for p in out.iterdir()}
    events = [name for name in names if name.startswith("events.out.tfevents.")]
    assert names == {*OUTPUT_FILES, "run.json", "telemetry.csv", *events} and len(events) == 1
    assert len(rows(out)) == 4
    single = single_run(tmp_path, "--epochs", "4")
    ours, theirs = float(rows(out)[-1]["val_acc"]), float(rows(single)[-1]["val_acc"])
    assert abs(ours - theirs) <= 0.01, f"2 workers reached {ours:.3f}, one process {theirs:.3f}"
    # The same plain PyTorch as a single-device run: state dict keys, and model.py that loads them.
    state = torch.load(out / "model.pth", weights_only=True)
    assert list(state) == list(torch.load(single / "model.pth", weights_only=True))
    spec = importlib.util.spec_from_file_location("ddp_model", out / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.Model()
    model.load_state_dict(state)
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


def test_rank_0_records_the_run_and_its_telemetry_as_a_single_device_run_does(two_worker_run):
    out, completed = two_worker_run
    assert completed.returncode == 0, completed.stderr[-3000:]
    record = read_run(out)
    assert (record.status, record.source, record.device) == ("finished", "cli", "2 workers on cpu (gloo)")
    assert record.example == "digits-mlp" and record.output_folder == str(out.resolve())
    # The record's epochs are the all-reduced ones metrics.csv holds, not rank 0's share.
    assert [row["epoch"] for row in record.epochs] == [1, 2, 3, 4]
    for row, written in zip(record.epochs, rows(out), strict=True):
        assert row["val_acc"] == pytest.approx(float(written["val_acc"]))
        assert row["train_loss"] == pytest.approx(float(written["train_loss"]), rel=1e-6)
    # TensorBoard reads one scalar per epoch from the event file.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(out))
    accumulator.Reload()
    assert [event.step for event in accumulator.Scalars("val/loss")] == [1, 2, 3, 4]
    # --telemetry: rank 0 samples every layer, writes telemetry.csv once; gradients are DDP's averaged ones.
    with (out / "telemetry.csv").open() as handle:
        sampled = list(csv.DictReader(handle))
    assert {"fc1", "fc2", "fc3"} <= {row["layer"] for row in sampled}
    assert any(row["grad_norm"] for row in sampled if row["layer"] == "fc1")
    assert completed.stdout.count("wrote ") == 1


def test_a_checkpoint_of_two_workers_resumes_with_three_workers_or_one_process(two_worker_run, tmp_path):
    out, completed = two_worker_run
    assert completed.returncode == 0, completed.stderr[-3000:]
    checkpoint = out / "checkpoint.pth"
    three = tmp_path / "three"
    resumed = subprocess.run(command("--example", "digits-mlp", "--nproc-per-node", "3", "--epochs", "5",
                                     "--device", "cpu", "--resume", str(checkpoint), "--out", str(three)),
                             capture_output=True, text=True, timeout=280, check=False)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    one = single_run(tmp_path, "--epochs", "5", "--resume", str(checkpoint))
    assert [r["epoch"] for r in rows(three)] == [r["epoch"] for r in rows(one)] == ["1", "2", "3", "4", "5"]
    # The same samples in the same batches whatever the worker count: the same weights.
    a = torch.load(three / "model.pth", weights_only=True)
    b = torch.load(one / "model.pth", weights_only=True)
    for name in b:
        torch.testing.assert_close(a[name], b[name], rtol=1e-4, atol=1e-5)


def test_killing_a_worker_ends_the_run_says_so_and_leaves_a_resumable_checkpoint(tmp_path):
    out = tmp_path / "killed"
    launcher = subprocess.Popen(command("--example", "digits-mlp", "--nproc-per-node", "2", "--epochs", "2000",
                                        "--device", "cpu", "--out", str(out)),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        parent = psutil.Process(launcher.pid)
        wait_for(lambda: (out / "checkpoint.pth").exists() and len(workers_of(parent)) == 2, 200,
                 "the first epoch's checkpoint")
        workers = workers_of(parent)
        time.sleep(0.05)  # well inside an epoch: each takes a fraction of a second, validation included
        workers[1].kill()
        _stdout, stderr = launcher.communicate(timeout=FAULT_DEADLINE_S)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
    assert launcher.returncode == 1
    assert "error: worker rank 1" in stderr and "SIGKILL" in stderr, stderr[-2000:]
    assert "Traceback" not in stderr
    assert_all_gone(list(workers.values()))
    # The launcher, which outlived every worker, closed the run's record with the same words.
    record = read_run(out)
    assert record.status == "failed" and "worker rank 1" in record.reason and "SIGKILL" in record.reason, \
        (record.status, record.reason)
    # The last complete epoch's files are intact and agree; the checkpoint resumes on one device.
    saved = torch.load(out / "checkpoint.pth", weights_only=True)
    done = saved["epoch"]
    assert 1 <= done < 2000 and len(rows(out)) == done
    resumed = tmp_path / "resumed"
    assert main(["train", "--example", "digits-mlp", "--device", "cpu", "--resume", str(out / "checkpoint.pth"),
                 "--epochs", str(done + 1), "--out", str(resumed)]) == 0
    assert len(rows(resumed)) == done + 1


def test_ctrl_c_stops_every_worker_and_keeps_the_last_epoch(tmp_path):
    out = tmp_path / "interrupted"
    launcher = subprocess.Popen(command("--example", "digits-mlp", "--nproc-per-node", "2", "--epochs", "2000",
                                        "--device", "cpu", "--out", str(out)),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        parent = psutil.Process(launcher.pid)
        wait_for(lambda: (out / "checkpoint.pth").exists() and len(workers_of(parent)) == 2, 200,
                 "the first epoch's checkpoint")
        workers = list(workers_of(parent).values())
        launcher.send_signal(signal.SIGINT)
        stdout, stderr = launcher.communicate(timeout=FAULT_DEADLINE_S)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
    assert launcher.returncode == 130, stderr[-2000:]
    assert "stopped by SIGINT" in stderr and "Traceback" not in stderr
    assert_all_gone(workers)
    saved = torch.load(out / "checkpoint.pth", weights_only=True)
    assert saved["epoch"] == len(rows(out)) >= 1
    assert "wrote" in stdout  # rank 0 wrote the outputs of the last complete epoch on its way out
    record = read_run(out)
    assert record.status == "stopped" and len(record.epochs) == saved["epoch"], (record.status, record.reason)


def test_a_worker_that_fails_ends_the_run_with_its_reason(tmp_path, capfd):
    # SGD at lr 100 on y = 2x diverges in the first epoch: every worker sees the loss become inf/nan.
    code = subprocess.run(command("--example", "linear-regression", "--nproc-per-node", "2", "--lr", "100",
                                  "--epochs", "5", "--device", "cpu", "--out", str(tmp_path / "nan")),
                          capture_output=True, text=True, timeout=280, check=False)
    assert code.returncode == 1
    error = [line for line in code.stderr.splitlines() if line.startswith("error: ")]
    assert len(error) == 1 and error[0].startswith("error: worker rank ") and "the loss became" in error[0], \
        code.stderr[-2000:]
    assert "Traceback" not in code.stderr


def test_the_warnings_a_run_trains_through_are_said_once_not_by_every_worker(tmp_path):
    done = subprocess.run(command("--example", "logistic-moons", "--nproc-per-node", "2", "--epochs", "1",
                                  "--device", "cpu", "--out", str(tmp_path / "moons")),
                          capture_output=True, text=True, timeout=280, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr.count("warning: sigmoid1 ") == 1, done.stderr[-2000:]


def test_too_many_gpu_workers_are_refused_before_anything_starts(capsys):
    if torch.cuda.is_available() and torch.cuda.device_count() >= 64:
        pytest.skip("this machine has 64 GPUs")
    assert main(["train", "--example", "digits-mlp", "--nproc-per-node", "64", "--device", "cuda"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and ("no CUDA GPU" in err or "64" in err)


@pytest.mark.long
def test_two_workers_reach_the_single_process_accuracy_over_a_full_run(tmp_path):
    out = tmp_path / "ddp"
    completed = subprocess.run(command("--example", "digits-mlp", "--nproc-per-node", "2", "--device", "cpu",
                                       "--out", str(out)), capture_output=True, text=True, timeout=1800,
                               check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    single = single_run(tmp_path)
    ours, theirs = float(rows(out)[-1]["val_acc"]), float(rows(single)[-1]["val_acc"])
    assert abs(ours - theirs) <= 0.01


@pytest.mark.gpu
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 CUDA devices")
def test_two_gpus_train_with_nccl(tmp_path):
    out = tmp_path / "nccl"
    completed = subprocess.run(command("--example", "digits-cnn", "--nproc-per-node", "2", "--epochs", "3",
                                       "--device", "cuda", "--out", str(out)),
                               capture_output=True, text=True, timeout=600, check=False,
                               env={**os.environ})
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "2 workers on cuda (nccl)" in completed.stderr
    single = single_run(tmp_path, "--epochs", "3")
    assert abs(float(rows(out)[-1]["val_acc"]) - float(rows(single)[-1]["val_acc"])) <= 0.01

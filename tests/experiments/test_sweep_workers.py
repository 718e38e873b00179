"""Sweeps across processes: killed mid-trial and resumed, and two worker processes sharing one study."""

import os
import signal
import subprocess
import sys
import time

import pytest
from sweep_helpers import load_trials

from nnstudio.cli import main
from nnstudio.experiments import RunStore


def sweep_command(runs, *extra):
    return [sys.executable, "-m", "nnstudio", "sweep", "--example", "digits-mlp", "--param",
            "lr=1e-3:1e-1:log", "--param", "fc1.out_features=16:128:int", "--sampler", "random",
            "--pruner", "none", "--device", "cpu", "--out", str(runs), *extra]


def wait_for(condition, timeout, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the sweep ended before the moment awaited: {proc.communicate()}")
        time.sleep(0.05)
    raise AssertionError("timed out")


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL is POSIX")
def test_a_sweep_killed_mid_trial_resumes_without_losing_or_repeating_trials(tmp_path):
    runs = tmp_path / "runs"
    storage = f"sqlite:///{runs}/sweeps.db"
    # Trials long enough (60 short epochs, a few seconds) that the test sees one mid-way between two polls.
    command = sweep_command(runs, "--trials", "3", "--epochs", "60")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)

    def mid_trial():
        if not (runs / "sweeps.db").exists():
            return None
        try:
            trials = load_trials(storage)
        except Exception:  # noqa: BLE001 - the study is still being created
            return None
        done = [t for t in trials if t.state.name == "COMPLETE"]
        running = [t for t in trials if t.state.name == "RUNNING" and t.intermediate_values]
        return (done, running[0]) if done and running else None

    try:
        done, victim = wait_for(mid_trial, timeout=240, proc=proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    kept = {t.number: (t.params, t.value) for t in done}

    # The killed trial's run shows as interrupted in the runs list; nothing else is disturbed.
    records = {r.run_id: r for r in RunStore(runs).runs()}
    assert records[victim.user_attrs["run"]].status == "interrupted"

    assert main(["sweep", *command[command.index("--example"):]]) == 0
    trials = load_trials(storage)
    by_number = {t.number: t for t in trials}
    for number, (params, value) in kept.items():  # finished trials are kept as they were
        assert (by_number[number].params, by_number[number].value) == (params, value)
    assert by_number[victim.number].state.name == "FAIL"
    assert "killed" in by_number[victim.number].user_attrs["interrupted"]
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(complete) == 3, "the resumed sweep ran only the missing trials"
    assert all(t.state.name in ("COMPLETE", "FAIL") for t in trials) and len(trials) == 3 + 1
    assert len({tuple(sorted(t.params.items())) for t in complete}) == 3, "no finished trial was repeated"
    runs_of_trials = [t.user_attrs["run"] for t in trials]
    assert len(set(runs_of_trials)) == len(trials)
    listed = {r.run_id: r.status for r in RunStore(runs).runs()}
    assert sorted(listed.values()).count("finished") == 3 and listed[victim.user_attrs["run"]] == "interrupted"


def test_two_worker_processes_share_one_study(tmp_path, capsys):
    runs = tmp_path / "runs"
    code = main(["sweep", *sweep_command(runs)[4:], "--trials", "8", "--epochs", "6", "--workers", "2"])
    assert code == 0, capsys.readouterr().err
    trials = load_trials(f"journal:{runs}/sweeps.journal")
    assert [t.state.name for t in trials] == ["COMPLETE"] * 8, "exactly the trials asked, none extra"
    workers = {t.user_attrs["worker"]["pid"] for t in trials}
    assert len(workers) == 2 and os.getpid() not in workers, "both worker processes trained trials"
    params = [tuple(sorted(t.params.items())) for t in trials]
    assert len(set(params)) == 8, "no trial was done twice"
    records = RunStore(runs).runs()
    assert sorted(r.sweep["trial"] for r in records) == list(range(8))
    assert all(r.status == "finished" for r in records)


@pytest.mark.skipif(os.name == "nt", reason="sends SIGINT")
def test_ctrl_c_ends_the_running_trial_as_interrupted_and_exits_130(tmp_path):
    runs = tmp_path / "runs"
    storage = f"sqlite:///{runs}/sweeps.db"
    proc = subprocess.Popen(sweep_command(runs, "--trials", "4", "--epochs", "200"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"}, text=True)

    def training():
        if not (runs / "sweeps.db").exists():
            return None
        try:
            trials = load_trials(storage)
        except Exception:  # noqa: BLE001 - the study is still being created
            return None
        return next((t for t in trials if t.state.name == "RUNNING" and t.intermediate_values), None)

    try:
        trial = wait_for(training, timeout=240, proc=proc)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "run the same command again to resume" in err
    (after,) = [t for t in load_trials(storage) if t.number == trial.number]
    assert after.state.name == "FAIL" and "stopped" in after.user_attrs["interrupted"]
    record = {r.run_id: r for r in RunStore(runs).runs()}[trial.user_attrs["run"]]
    assert record.status == "stopped" and record.epochs, "the record keeps the epochs it trained"

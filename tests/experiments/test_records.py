"""Run records: written while a run goes, closed with how it ended, readable after a crash."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from nnstudio.core.examples import load_example
from nnstudio.core.project import loads_project
from nnstudio.experiments import RunRecorder, RunStore, read_run
from nnstudio.experiments.records import RECORD_FILE, graph_fingerprint
from nnstudio.train.project_run import build_training_run
from nnstudio.train.trainer import TrainingRun


def moons(epochs=3):
    project = load_example("logistic-moons")
    project.settings.epochs = epochs
    project.settings.device = "cpu"
    return project


def test_a_finished_run_leaves_a_complete_record(tmp_path):
    project = moons(epochs=3)
    run = build_training_run(project)
    folder = tmp_path / "run1"
    folder.mkdir()
    with RunRecorder(run, project, folder, source="cli", example="logistic-moons"):
        run.run()
    record = read_run(folder)
    assert record.status == "finished" and record.reason == "trained 3 epochs"
    assert [row["epoch"] for row in record.epochs] == [1, 2, 3]
    assert record.final["val_loss"] == pytest.approx(run.history[-1].val_loss)
    assert record.best["val_loss"] == min(m.val_loss for m in run.history)
    assert record.best["val_acc"] == max(m.val_acc for m in run.history)
    assert record.settings["epochs"] == 3 and record.settings["optimizer"] == project.settings.optimizer
    assert record.device == "cpu" and record.duration_s > 0
    assert record.output_folder == str(folder.resolve())
    # The graph itself is kept: it opens as a project again, with the same network.
    again = loads_project(json.dumps(record.graph))
    assert again.graph.same_as(project.graph)
    assert record.fingerprint == graph_fingerprint(record.graph)


def test_the_fingerprint_follows_the_network_not_the_layout():
    project = moons()
    from nnstudio.core.project import project_to_dict

    before = graph_fingerprint(project_to_dict(project))
    node = project.graph.nodes()[1]
    node.position = (500.0, 500.0)
    project.settings.lr = 0.5
    assert graph_fingerprint(project_to_dict(project)) == before
    from nnstudio.core.commands import SetParam

    linear = next(n for n in project.graph.nodes() if n.type_id == "linear")
    SetParam(project.graph, linear.id, "bias", not linear.params["bias"]).redo()
    assert graph_fingerprint(project_to_dict(project)) != before


class Explodes(nn.Module):
    """Raises in its second epoch of training."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 1)
        self.calls = 0

    def forward(self, x):
        self.calls += self.training
        if self.calls > 12:
            raise RuntimeError("boom")
        return torch.sigmoid(self.fc(x))


def test_a_failed_and_a_stopped_run_say_so_and_why(tmp_path):
    project = moons(epochs=4)
    bundle = build_training_run(project).data
    run = TrainingRun(Explodes(), bundle, project.settings, project=project)
    (tmp_path / "failed").mkdir()
    with RunRecorder(run, project, tmp_path / "failed", source="window") as recorder:
        run.run()
    record = read_run(tmp_path / "failed")
    assert record.status == "failed" and "boom" in record.reason, recorder.problems
    assert len(record.epochs) == len(run.history)

    stopped = build_training_run(project)
    stopped.events.epoch_end.connect(lambda m: stopped.stop())
    (tmp_path / "stopped").mkdir()
    with RunRecorder(stopped, project, tmp_path / "stopped", source="window"):
        stopped.run()
    record = read_run(tmp_path / "stopped")
    assert (record.status, record.reason) == ("stopped", "stopped after epoch 1")


CRASH = textwrap.dedent("""
    import os, sys, time
    from nnstudio.core.examples import load_example
    from nnstudio.experiments import RunRecorder
    from nnstudio.train.project_run import build_training_run
    project = load_example("logistic-moons")
    project.settings.epochs = 50
    project.settings.device = "cpu"
    run = build_training_run(project)
    recorder = RunRecorder(run, project, sys.argv[1], source="cli").start()
    recorder_module = sys.modules["nnstudio.experiments.recorder"]
    recorder_module.WRITE_INTERVAL_S = 0
    def die(metrics):
        if metrics.epoch == 2:
            time.sleep(1.0)  # the crash comes a moment after the epoch (its files are written meanwhile)
            os._exit(9)   # like a crash or SIGKILL: no cleanup, no end event
    run.events.epoch_end.connect(die)
    run.run()
""")


def test_a_crashed_run_is_listed_as_interrupted_and_breaks_nothing(tmp_path):
    runs = tmp_path / "net.runs"
    crashed = runs / "crashed"
    crashed.mkdir(parents=True)
    done = subprocess.run([sys.executable, "-c", CRASH, str(crashed)], capture_output=True, timeout=240)
    assert done.returncode == 9, done.stderr.decode()
    # Neighbours in every bad state: a record that is not JSON, and a folder with events but no record.
    (runs / "damaged").mkdir()
    (runs / "damaged" / RECORD_FILE).write_text('{"format": "nnstudio-run", "vers')
    (runs / "no-record").mkdir()
    (runs / "no-record" / "events.out.tfevents.1.host.1.0").write_bytes(b"")
    (runs / "sweeps.db").write_bytes(b"not a run")
    records = {r.run_id: r for r in RunStore(runs).runs()}
    assert set(records) == {"crashed", "damaged", "no-record"}
    crash = records["crashed"]
    assert crash.status == "interrupted"
    assert [row["epoch"] for row in crash.epochs] == [1, 2], "epochs up to the crash are kept"
    assert "after epoch 2" in crash.reason
    assert records["damaged"].status == "damaged" and "run.json" in records["damaged"].reason
    assert records["no-record"].status == "interrupted"


def test_a_run_still_training_in_a_live_process_is_running(tmp_path):
    project = moons(epochs=2)
    run = build_training_run(project)
    folder = tmp_path / "live"
    folder.mkdir()
    seen = []
    run.events.epoch_end.connect(lambda m: seen.append(read_run(folder).status))
    with RunRecorder(run, project, folder, source="cli"):
        run.run()
    assert seen[0] == "running"
    assert read_run(folder).status == "finished"


def test_rename_notes_and_delete(tmp_path):
    runs = tmp_path / "p.runs"
    project = moons(epochs=1)
    for name in ("a", "b"):
        run = build_training_run(project)
        (runs / name).mkdir(parents=True)
        (runs / name / "model.pth").write_bytes(b"x" * 100_000)  # weights are freed too
        with RunRecorder(run, project, runs / name, source="cli"):
            run.run()
    store = RunStore(runs)
    store.rename("a", "baseline")
    store.set_notes("a", "lr looks high")
    record = store.get("a")
    assert (record.title, record.notes) == ("baseline", "lr looks high")
    assert record.status == "finished", "metadata never disturbs the record"
    freed = store.delete("b")
    assert freed > 100_000 and not (runs / "b").exists()
    assert store.run_ids() == ["a"]
    from nnstudio.experiments import RunNotFoundError

    with pytest.raises(RunNotFoundError, match="no run 'b'"):
        store.get("b")
    with pytest.raises(RunNotFoundError):
        store.delete("../p.runs")
    assert os.path.isdir(runs)

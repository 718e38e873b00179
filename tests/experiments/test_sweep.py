"""Sweeps from the command line: a 6-trial sweep finishes, reads back in TensorBoard, and its best
values go into a project; bad input is one line before any trial; grids, pruning, resuming."""

import math

import pytest
from sweep_helpers import load_trials, states
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import metadata

from nnstudio.cli import main
from nnstudio.core.project import load_project

COMMON = ["--device", "cpu", "--epochs", "2"]


def test_a_six_trial_learning_rate_sweep_of_digits_mlp(tmp_path, capsys):
    runs = tmp_path / "mlp.runs"
    best_file = tmp_path / "best.nns"
    code = main(["sweep", "--example", "digits-mlp", "--trials", "6", "--param", "lr=1e-4:1e-1:log",
                 "--sampler", "tpe", "--seed", "3", *COMMON, "--out", str(runs), "-o", str(best_file)])
    out, err = capsys.readouterr()
    assert code == 0, err
    trials = load_trials(f"sqlite:///{runs}/sweeps.db")
    assert states(trials) == ["COMPLETE"] * 6
    lrs = [t.params["lr"] for t in trials]
    assert len(set(lrs)) == 6 and all(1e-4 <= lr <= 1e-1 for lr in lrs)
    assert out.count("trial ") >= 6 and "best: trial" in out
    # Every trial is a recorded run whose TensorBoard events TensorBoard itself reads, hparams included.
    for trial in trials:
        folder = runs / trial.user_attrs["run"]
        events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
        events.Reload()
        val_loss = [e.value for e in events.Scalars("val/loss")]
        assert len(val_loss) == 2 and min(val_loss) == pytest.approx(trial.value, rel=1e-6)
        content = events.PluginTagToContent(metadata.PLUGIN_NAME)
        start = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
        assert start.hparams["lr"].number_value == pytest.approx(trial.params["lr"])
        assert start.hparams["sweep/lr"].number_value == pytest.approx(trial.params["lr"])
    # The best trial's learning rate went into the written project; the sweep's --epochs did not.
    best = min(trials, key=lambda t: t.value)
    improved = load_project(best_file)
    assert improved.settings.lr == pytest.approx(best.params["lr"])
    original = load_project(_example("digits-mlp"))
    assert improved.settings.epochs == original.settings.epochs != 2, "only the searched values are applied"
    assert improved.graph.same_as(load_project(_example("digits-mlp")).graph)
    # ... and the runs list shows the six trials.
    assert main(["runs", "--out", str(runs)]) == 0
    listing = capsys.readouterr().out
    assert listing.count("finished") == 6 and "lr " in listing


def _example(name):
    from nnstudio.core.examples import example_path

    return example_path(name)


@pytest.mark.parametrize(("args", "message"), [
    (["--example", "digits-mlp", "--param", "fc9.out_features=32:64"], "--param fc9.out_features=32:64: there is no layer 'fc9'"),
    (["--example", "digits-mlp", "--param", "lr=1e-1:1e-4:log"], "the range is inverted (low 0.1 > high 0.0001)"),
    (["--example", "digits-mlp", "--param", "lr=0.01:0.01"], "the range is empty"),
    (["--example", "digits-cnn", "--param", "conv1.kernel_size=1:20:int"],
     "--param conv1.kernel_size=1:20:int: with conv1.kernel_size = 20 the network does not work"),
    (["--example", "digits-mlp", "--param", "fc3.out_features=5:20"],
     "--param fc3.out_features=5:20:int: with fc3.out_features = 5 the network does not work: fc3.out_features: "
     "fc3 returns 5 class scores per sample, but the digits dataset has 10 classes"),
    (["--example", "linear-regression", "--param", "lr=1e-3:1e-1", "--objective", "val_acc"],
     "--objective val_acc: linear-regression regresses"),
    (["--example", "digits-mlp", "--param", "lr=1e-3:1e-1", "--storage", "sqlite:////proc/no/such/sweeps.db"],
     "cannot open the study storage sqlite:////proc/no/such/sweeps.db"),
    (["--example", "digits-mlp", "--param", "lr=1e-3:1e-1", "--storage", "postgresql://me:secret@127.0.0.1:9/lab"],
     "cannot open the study storage postgresql://me:***@127.0.0.1:9/lab"),
    (["--example", "digits-mlp", "--param", "lr=1e-3:1e-1", "--storage", "lab-server"],
     "cannot open the study storage 'lab-server'"),
    (["--example", "digits-mlp", "--param", "lr=1e-3:1e-1", "--trials", "0"], "--trials 0"),
])
def test_bad_input_is_one_line_before_any_trial(tmp_path, capsys, args, message):
    runs = tmp_path / "runs"
    code = main(["sweep", *args, *COMMON, "--out", str(runs)])
    err = capsys.readouterr().err
    assert code == 1
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err
    assert "secret" not in err
    assert not list(runs.glob("*trial*")), "no trial ran"


def test_a_grid_visits_each_point_once_and_stops(tmp_path, capsys):
    runs = tmp_path / "runs"
    assert main(["sweep", "--example", "digits-mlp", "--param", "optimizer=adam,sgd", "--param",
                 "batch_size=32,128", "--sampler", "grid", "--trials", "10", *COMMON, "--out", str(runs)]) == 0
    trials = load_trials(f"sqlite:///{runs}/sweeps.db")
    assert sorted((t.params["optimizer"], t.params["batch_size"]) for t in trials) == [
        ("adam", 32), ("adam", 128), ("sgd", 32), ("sgd", 128)]
    assert "4 trials of digits-mlp" in capsys.readouterr().err


def test_more_trials_later_continue_the_study_and_another_search_is_refused(tmp_path, capsys):
    runs = tmp_path / "runs"
    first = ["sweep", "--example", "digits-mlp", "--param", "lr=1e-3:1e-1:log", "--sampler", "random",
             *COMMON, "--out", str(runs)]
    assert main([*first, "--trials", "2"]) == 0
    before = {t.number: t.params for t in load_trials(f"sqlite:///{runs}/sweeps.db")}
    assert main([*first, "--trials", "3"]) == 0
    after = load_trials(f"sqlite:///{runs}/sweeps.db")
    assert len(after) == 3 and {t.number: t.params for t in after[:2]} == before
    assert "2 finished already" in capsys.readouterr().err
    study = after[0].user_attrs["run"].rsplit("-trial-", 1)[0]
    code = main(["sweep", "--example", "digits-mlp", "--param", "lr=1e-4:1e-1:log", "--study", study,
                 *COMMON, "--out", str(runs)])
    err = capsys.readouterr().err
    assert code == 1 and f"the study {study}" in err and "searches --param lr=0.001:0.1:log" in err


def test_a_poor_trial_is_pruned_from_its_validation_loss(tmp_path):
    from nnstudio.core.examples import load_example
    from nnstudio.core.project import project_to_dict
    from nnstudio.experiments import read_run
    from nnstudio.experiments.sweep import SweepSpec, prepare_sweep
    from nnstudio.experiments.trials import SweepWorker

    spec = SweepSpec(document=project_to_dict(load_example("digits-mlp")), params=["lr=1e-7:1e-1:log"],
                     trials=5, runs_folder=str(tmp_path), epochs=4, device="cpu", pruner="median",
                     prune_warmup=1)
    sweep = prepare_sweep(spec)
    study = sweep.load_study()
    for lr in (1e-2, 2e-2, 3e-2, 4e-2, 1e-7):  # four that learn, then one that cannot
        study.enqueue_trial({"lr": lr})
    SweepWorker(sweep).run()
    rows = sweep.trial_rows()
    assert [r.state for r in rows] == ["complete"] * 4 + ["pruned"]
    poor = rows[-1]
    assert poor.epochs == 2, "pruned as soon as the warm-up epoch was over"
    record = read_run(tmp_path / poor.run)
    assert record.status == "pruned" and "worse than the median" in record.reason
    assert len(record.epochs) == 2
    assert sweep.finished() == 5 and sweep.best().params["lr"] in (1e-2, 2e-2, 3e-2, 4e-2)
    assert math.isfinite(sweep.best().value)


def test_layers_with_dotted_names_are_searched_by_their_full_path(tmp_path, capsys):
    from nnstudio.core.commands import RenameNode
    from nnstudio.core.examples import load_example
    from nnstudio.core.project import save_project

    project = load_example("digits-mlp")
    RenameNode(project.graph, "fc1", "encoder.fc1").redo()
    path = tmp_path / "nested.nns"
    save_project(project, path)
    runs = tmp_path / "nested.runs"
    assert main(["sweep", str(path), "--param", "encoder.fc1.out_features=16:48:int", "--trials", "2",
                 "--sampler", "random", *COMMON, "-o", str(tmp_path / "best.nns")]) == 0, capsys.readouterr().err
    trials = load_trials(f"sqlite:///{runs}/sweeps.db")
    assert [sorted(t.params) for t in trials] == [["encoder.fc1.out_features"]] * 2
    best = min(trials, key=lambda t: t.value)
    improved = load_project(tmp_path / "best.nns")
    assert improved.graph.node("encoder.fc1").params["out_features"] == best.params["encoder.fc1.out_features"]
    assert main(["sweep", str(path), "--param", "encoder.fc9.out_features=16:48", *COMMON]) == 1
    assert "there is no layer 'encoder.fc9'" in capsys.readouterr().err


def test_a_project_with_stored_weights_is_swept_from_them(tmp_path, capsys):
    import json

    import numpy as np
    from safetensors.numpy import save as save_numpy

    from nnstudio.core.examples import load_example
    from nnstudio.core.project import loads_project, save_project
    from nnstudio.core.weights import TensorSource, bind_weights
    from nnstudio.experiments import RunStore

    project = load_example("digits-mlp")
    rng = np.random.default_rng(0)
    tensors = {"fc1.weight": rng.normal(0, 0.1, (128, 64)).astype(np.float32),
               "fc1.bias": np.zeros(128, np.float32)}
    bind_weights(project.graph, TensorSource.from_bytes(save_numpy(tensors)))
    path = tmp_path / "pretrained.nns"
    save_project(project, path)
    assert json.loads(path.read_text())["weights"] == "pretrained.safetensors"
    code = main(["sweep", str(path), "--param", "lr=1e-3:1e-2:log", "--trials", "1", *COMMON])
    assert code == 0, capsys.readouterr().err
    (record,) = RunStore(tmp_path / "pretrained.runs").runs()
    assert record.status == "finished"
    assert "weights" not in record.graph, "the run's copy of the project names no weights file it lacks"
    assert loads_project(json.dumps(record.graph)).graph.node("fc1").params["out_features"] == 128

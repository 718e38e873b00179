import pytest

from nnstudio.compile import CompileError
from nnstudio.core.commands import Disconnect, SetParam
from nnstudio.core.examples import load_example
from nnstudio.core.settings import DatasetSettings
from nnstudio.train.data import DatasetError
from nnstudio.train.faults import DataMismatchError
from nnstudio.train.project_run import build_training_run


def example(name, **settings):
    project = load_example(name)
    for field, value in settings.items():
        setattr(project.settings, field, value)
    return project


def test_digits_mlp_learns_in_a_few_epochs():
    result = build_training_run(example("digits-mlp", epochs=8), device="cpu").run()
    assert result.status == "finished" and result.last.val_acc >= 0.9


def test_digits_cnn_learns_in_a_few_epochs():
    result = build_training_run(example("digits-cnn", epochs=4), device="cpu").run()
    assert result.status == "finished" and result.last.val_acc >= 0.85


def test_linear_regression_learns_the_slope_two():
    run = build_training_run(example("linear-regression"), device="cpu")
    assert run.run().status == "finished"
    weight = float(run.weights()["fc1.weight"])
    assert abs(weight - 2.0) < 0.05


def test_logistic_moons_trains_a_binary_classifier():
    result = build_training_run(example("logistic-moons", epochs=5), device="cpu").run()
    assert result.last.val_acc > 0.8 and len(result.last.confusion) == 2


def test_a_project_run_is_reproducible():
    first = build_training_run(example("digits-mlp", epochs=2), device="cpu").run()
    second = build_training_run(example("digits-mlp", epochs=2), device="cpu").run()
    assert [m.val_loss for m in first.history] == [m.val_loss for m in second.history]


def test_input_shape_mismatch_names_the_input_node():
    project = example("digits-mlp")
    project.settings.dataset = DatasetSettings(kind="moons")
    project.settings.loss = "cross_entropy"
    with pytest.raises(DataMismatchError, match=r"image takes samples of shape \[1, 8, 8\].*gives \[2\]") as info:
        build_training_run(project, device="cpu")
    assert info.value.node_id == "image"


def test_output_width_versus_class_count_names_the_output(tmp_path):
    # A CSV's class count is only known once it is read, so this check runs after loading the data.
    table = tmp_path / "three.csv"
    table.write_text("a,b,label\n" + "".join(f"{i},{i % 5},{i % 3}\n" for i in range(30)))
    project = example("logistic-moons", loss="cross_entropy")
    project.settings.dataset = DatasetSettings(kind="csv", options={"path": str(table)})
    with pytest.raises(DataMismatchError, match=r"sigmoid1 returns 1 class score per sample, but the csv dataset "
                                                r"has 3 classes.*set fc1.out_features to 3") as info:
        build_training_run(project, device="cpu")
    assert info.value.node_id == "fc1"


def test_compile_errors_name_the_node_too():
    project = example("digits-mlp")
    SetParam(project.graph, "fc2", "in_features", 100).redo()
    with pytest.raises(CompileError) as info:
        build_training_run(project, device="cpu")
    assert info.value.node_id == "fc2"


def test_an_output_width_that_differs_from_the_class_count_is_refused_before_loading():
    project = example("digits-mlp")
    SetParam(project.graph, "fc3", "out_features", 12).redo()
    with pytest.raises(DataMismatchError, match="fc3 returns 12 class scores per sample, but the digits dataset "
                                                "has 10 classes") as info:
        build_training_run(project, device="cpu")
    assert info.value.node_id == "fc3"


def test_regression_loss_on_class_labels_is_refused():
    project = example("digits-mlp", loss="mse")
    with pytest.raises(DataMismatchError, match="MSELoss cannot learn the digits dataset: its targets are class labels"):
        build_training_run(project, device="cpu")


def test_classification_loss_on_real_targets_is_refused():
    project = example("linear-regression", loss="cross_entropy")
    with pytest.raises(DataMismatchError, match="its targets are real values, not class labels; use MSELoss"):
        build_training_run(project, device="cpu")


def test_graph_errors_come_before_the_data():
    project = example("digits-mlp")
    Disconnect(project.graph, next(e for e in project.graph.edges() if e.target == "fc2")).redo()
    with pytest.raises(CompileError):
        build_training_run(project, device="cpu")


def test_bad_dataset_options_are_reported_before_training():
    project = example("logistic-moons")
    project.settings.dataset = DatasetSettings(kind="moons", options={"noise": -1})
    with pytest.raises(DatasetError, match="noise"):
        build_training_run(project, device="cpu")


def test_whole_number_csv_targets_under_a_regression_loss_say_both_ways_out(tmp_path):
    # Issue 14 item 6: "auto" took the grades as classes; the person may have meant to regress them.
    table = tmp_path / "grades.csv"
    table.write_text("hours,grade\n" + "".join(f"{i},{i % 4}\n" for i in range(40)))
    project = example("linear-regression")
    project.settings.dataset = DatasetSettings(kind="csv", options={"path": str(table)})
    with pytest.raises(DataMismatchError) as info:
        build_training_run(project, device="cpu")
    assert "its targets are class labels" in str(info.value)
    assert "use CrossEntropyLoss, or set the dataset's task option to regression" in str(info.value)
    project.settings.dataset = DatasetSettings(kind="csv", options={"path": str(table), "task": "regression"})
    assert build_training_run(project, device="cpu").data.task == "regression"

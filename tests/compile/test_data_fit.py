"""The network against its data: every disagreement is an error naming the layer, with the fix."""

from __future__ import annotations

import pytest
from graph_builders import chain

from nnstudio.compile import analyze
from nnstudio.compile.lints import dataset_classes
from nnstudio.core.commands import UndoStack
from nnstudio.core.examples import load_example
from nnstudio.core.project import Project
from nnstudio.core.settings import DatasetSettings, TrainingSettings


def project_of(graph, loss="cross_entropy", dataset="digits", **options):
    return Project(graph, TrainingSettings(loss=loss, dataset=DatasetSettings(kind=dataset, options=options)))


def problems(project):
    return {p.code: p for p in analyze(project.graph, project.settings).problems}


def fix(project, problem):
    UndoStack().push(problem.fix.make_command(project))


def test_output_wider_than_the_class_count_is_an_error_with_a_fix():
    project = project_of(chain("flatten", ("linear", {"out_features": 12})))
    problem = problems(project)["class-count-mismatch"]
    assert problem.is_error and problem.node_id == "l2" and problem.field == "out_features"
    assert problem.message == ("l2 returns 12 class scores per sample, but the digits dataset has 10 classes (the "
                               "extra 2 scores could never be right); set l2.out_features to 10")
    fix(project, problem)
    assert project.graph.node("l2").params["out_features"] == 10
    assert analyze(project.graph, project.settings).problems == []


def test_too_few_class_scores_is_an_error_whose_fix_looks_through_the_activation():
    project = project_of(chain("flatten", ("linear", {"out_features": 3}), "relu", shape=(2,)), dataset="spirals",
                         classes=5)
    problem = problems(project)["class-count-mismatch"]
    assert problem.is_error and "5 classes" in problem.message and "labels 3 and up would crash" in problem.message
    fix(project, problem)
    assert project.graph.node("l2").params["out_features"] == 5


def test_classifier_output_must_be_two_dimensional():
    problem = problems(project_of(chain(("conv2d", {"out_channels": 10}))))["classifier-output-rank"]
    assert problem.is_error and "[N, 10]" in problem.message and "[N, 10, 6, 6]" in problem.message


def test_binary_losses_want_one_score_and_two_classes():
    project = project_of(chain(("linear", {"out_features": 2}), shape=(2,)), loss="bce_with_logits", dataset="moons")
    problem = problems(project)["binary-output-width"]
    assert problem.is_error
    fix(project, problem)
    assert project.graph.node("l1").params["out_features"] == 1
    many = project_of(chain(("linear", {"out_features": 1}), shape=(2,)), loss="bce_with_logits",
                      dataset="blobs", classes=4)
    assert problems(many)["binary-loss-many-classes"].is_error


def test_a_loss_that_cannot_take_the_data_is_an_error_with_the_loss_fix():
    regression = project_of(chain("flatten", ("linear", {"out_features": 10})), loss="mse")
    problem = problems(regression)["regression-loss-on-classes"]
    assert problem.is_error and problem.message.endswith("; use CrossEntropyLoss")
    fix(regression, problem)
    assert regression.settings.loss == "cross_entropy"
    values = project_of(chain(("linear", {"out_features": 1}), shape=(1,)), loss="cross_entropy", dataset="linear")
    problem = problems(values)["classification-loss-on-values"]
    assert problem.is_error
    fix(values, problem)
    assert values.settings.loss == "mse"


def test_class_labels_of_a_kind_with_a_task_option_name_both_ways_out(tmp_path):
    # Issue 14 item 6: a CSV whose whole-number targets were taken as classes says how to regress them.
    project = project_of(chain(("linear", {"out_features": 1}), shape=(2,)), loss="mse", dataset="csv",
                         path=str(tmp_path / "t.csv"), task="classification")
    message = problems(project)["regression-loss-on-classes"].message
    assert "use CrossEntropyLoss, or set the dataset's task option to regression" in message


def test_regression_output_width_follows_the_forecast_horizon():
    project = project_of(chain(("lstm", {"hidden_size": 8}), ("linear", {"out_features": 1}), shape=(32, 1)),
                         loss="mse", dataset="sine_forecast", horizon=3)
    problem = problems(project)["regression-output-width"]
    assert problem.node_id == "l2" and "3 target value(s)" in problem.message
    fix(project, problem)
    assert analyze(project.graph, project.settings).ok


def test_the_input_must_take_one_sample_of_the_data():
    project = load_example("digits-mlp")
    project.settings.dataset = DatasetSettings(kind="moons")
    problem = problems(project)["input-shape-mismatch"]
    assert problem.is_error and problem.node_id == "image" and problem.field == "shape"
    assert problem.message == ("image takes samples of shape [1, 8, 8], but the moons dataset gives [2]; set "
                               "image.shape to [2]")
    fix(project, problem)
    assert tuple(project.graph.node("image").params["shape"]) == (2,)


def test_token_data_needs_an_int64_input_and_an_embedding_with_a_row_per_token():
    project = project_of(chain(("embedding", {"num_embeddings": 3, "embedding_dim": 8}), ("lstm", {"hidden_size": 8}),
                               ("linear", {"out_features": 5}), shape=(16,)), dataset="most_frequent", symbols=5)
    found = problems(project)
    assert found["input-dtype-mismatch"].message == ("x_in takes float32 values, but the most_frequent dataset gives "
                                                     "token ids (int64); set x_in.dtype to int64")
    fix(project, found["input-dtype-mismatch"])
    problem = problems(project)["embedding-vocabulary"]
    assert problem.node_id == "l1" and "token ids up to 4" in problem.message
    fix(project, problem)
    assert analyze(project.graph, project.settings).problems == []


def test_a_bad_dataset_option_is_an_error_naming_the_dataset_and_option():
    project = project_of(chain("flatten", ("linear", {"out_features": 2}), shape=(2,)), dataset="moons", noise=-1)
    problem = problems(project)["dataset-option"]
    assert problem.is_error and problem.message == "dataset moons.noise: -1 is below the minimum 0"
    # The option no loader ever had (the lints once read it) is now refused like any unknown option.
    project = project_of(chain(("linear", {"out_features": 4}), shape=(2,)), dataset="blobs", n_classes=4)
    assert "unknown option(s) n_classes" in problems(project)["dataset-option"].message


def test_dataset_class_counts_come_from_the_registry():
    def classes(kind, **options):
        return dataset_classes(TrainingSettings(dataset=DatasetSettings(kind=kind, options=options)))

    assert classes("digits") == 10 and classes("cifar10") == 10
    assert classes("moons") == 2 and classes("spirals") == 3 and classes("blobs", classes=6) == 6
    assert classes("parity") == 2 and classes("most_frequent", symbols=7) == 7
    assert classes("csv", path="x.csv") is None and classes("sine") is None
    assert classes("blobs", classes="six") is None  # a bad option: nothing is known


@pytest.mark.parametrize("name", ["digits-mlp", "digits-cnn", "logistic-moons", "linear-regression"])
def test_the_examples_fit_their_data(name):
    project = load_example(name)
    assert analyze(project.graph, project.settings).ok


def test_every_data_fit_message_is_one_sentence_naming_the_layer_and_the_remedy(tmp_path):
    cases = [
        project_of(chain("flatten", ("linear", {"out_features": 12}))),
        project_of(chain(("conv2d", {"out_channels": 10}))),
        project_of(chain(("linear", {"out_features": 2}), shape=(2,)), loss="bce_with_logits", dataset="moons"),
        project_of(chain(("linear", {"out_features": 1}), shape=(2,)), loss="bce", dataset="blobs", classes=4),
        project_of(chain("flatten", ("linear", {"out_features": 10})), loss="mse"),
        project_of(chain(("linear", {"out_features": 1}), shape=(1,)), loss="cross_entropy", dataset="linear"),
        project_of(chain(("lstm", {"hidden_size": 8}), ("linear", {"out_features": 1}), shape=(32, 1)),
                   loss="mse", dataset="sine_forecast", horizon=3),
        project_of(chain(("embedding", {"num_embeddings": 3, "embedding_dim": 8}), "flatten",
                         ("linear", {"out_features": 5}), shape=(4,), dtype="int64"), dataset="most_frequent",
                   symbols=5),
        project_of(chain(("linear", {"out_features": 2}), shape=(3,)), dataset="parity"),
    ]
    seen = set()
    for project in cases:
        for problem in analyze(project.graph, project.settings).errors:
            seen.add(problem.code)
            text = problem.message
            assert ". " not in text and not text.endswith("."), text
            assert ";" in text, f"no remedy in: {text}"
            if problem.node_id is not None:
                assert problem.node_id in text, text
    assert {"class-count-mismatch", "classifier-output-rank", "binary-output-width", "binary-loss-many-classes",
            "regression-loss-on-classes", "classification-loss-on-values", "regression-output-width",
            "embedding-vocabulary", "input-shape-mismatch", "input-dtype-mismatch"} <= seen

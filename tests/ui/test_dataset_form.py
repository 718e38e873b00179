"""The Data box: its kind list and option forms come from the dataset registry, one entry per kind.

The first test is issue 12's proof that a dataset is one entry: a kind registered here, with its
loader, shows up in the window's kind list and option form, in the lints' class count (and so in
the status bar), and in training.
"""

from __future__ import annotations

import math

import pytest
import torch
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QSpinBox

from nnstudio.compile.lints import dataset_classes
from nnstudio.core.commands import SetParam
from nnstudio.core.datasets import DATASETS, DatasetFacts, DatasetSpec
from nnstudio.core.fields import ParamKind, ParamSpec
from nnstudio.core.settings import DatasetSettings
from nnstudio.train.data import tensor_bundle
from nnstudio.train.datasets import LOADERS, register_loader
from nnstudio.train.project_run import build_training_run
from nnstudio.ui.param_editors import ParamEditor


@pytest.fixture
def rings_kind():
    """A dataset kind that exists only in this test: points on concentric rings, one class per ring."""
    spec = DatasetSpec(
        "rings", "Rings (test)", "points on concentric rings, one class per ring", "Synthetic",
        options=(ParamSpec("n_samples", ParamKind.INT, 300, "points to make", minimum=10, maximum=10_000),
                 ParamSpec("rings", ParamKind.INT, 3, "number of rings (classes)", minimum=2, maximum=10)),
        facts=lambda options: DatasetFacts("classification", (2,), classes=options["rings"]), cheap_preview=True)
    DATASETS.register(spec)

    @register_loader("rings")
    def rings(options, request):
        n, count = options["n_samples"], options["rings"]
        g = torch.Generator().manual_seed(request.seed_of(options))
        y = torch.arange(n) % count
        angle = torch.rand(n, generator=g) * 2 * math.pi
        radius = 1.0 + y + 0.1 * torch.randn(n, generator=g)
        x = torch.stack([radius * angle.cos(), radius * angle.sin()], 1)
        return tensor_bundle(x, y, natural="classification", num_classes=count, loss=request.loss,
                             val_fraction=request.val_fraction, split_seed=0, dataset=request.kind,
                             description=f"rings: {n} points on {count} rings")

    yield spec
    DATASETS.unregister("rings")
    LOADERS.pop("rings")


@pytest.fixture
def panel(window, wait_analysis):
    assert window.files.open_example("logistic-moons")
    wait_analysis(window)
    return window.training_panel


def _choose(chooser, kind):
    chooser.kind.setCurrentIndex(chooser.kind.findData(kind))
    chooser.kind.activated.emit(chooser.kind.currentIndex())  # what a person's choice emits


def test_a_dataset_kind_registered_with_one_entry_and_a_loader_is_everywhere(rings_kind, window, panel,
                                                                               wait_analysis):
    chooser = panel.dataset
    chooser.refresh()
    assert chooser.kind.findData("rings") >= 0 and "Rings (test)" in [chooser.kind.itemText(i)
                                                                      for i in range(chooser.kind.count())]
    _choose(chooser, "rings")
    assert chooser.preview_view.summary.input_shape == (2,)  # cheap: previewed at once, through its loader
    rings = chooser.findChild(QSpinBox, "option_rings")
    assert rings is not None and (rings.minimum(), rings.maximum(), rings.value()) == (2, 10, 3)
    rings.setValue(4)
    settings = window.document.project.settings
    assert settings.dataset.options == {"rings": 4} and dataset_classes(settings) == 4

    project = window.document.project
    project.settings.loss = "cross_entropy"
    window.document.push(SetParam(project.graph, "fc1", "out_features", 3))
    analysis = wait_analysis(window)
    problem = next(p for p in analysis.errors if p.code == "class-count-mismatch")
    assert "the rings dataset has 4 classes" in problem.message and "error" in window.status_bar.validity_label.text()
    window.document.push(problem.fix.make_command(project))
    assert wait_analysis(window).ok

    run = build_training_run(project.copy(), device="cpu")
    assert run.data.description == "rings: 300 points on 4 rings"
    project.settings.epochs = 1
    result = build_training_run(project, device="cpu").run()
    assert result.status == "finished" and len(result.last.confusion) == 4


@pytest.mark.parametrize("kind", DATASETS.kinds())
def test_every_kind_gets_one_editor_per_option_with_the_fields_label(kind, panel):
    chooser = panel.dataset
    chooser._loading = True  # show the form without loading anything
    chooser._build_editors(DATASETS.get(kind))
    chooser._loading = False
    spec = DATASETS.get(kind)
    editors = chooser.findChildren(ParamEditor)
    assert [e.objectName() for e in editors] == [f"optionEditor_{o.name}" for o in spec.options]
    labels = [chooser.options_form.itemAt(i, chooser.options_form.ItemRole.LabelRole).widget().text()
              for i in range(chooser.options_form.rowCount())]
    assert labels == [o.title for o in spec.options]
    expected = {ParamKind.BOOL: QCheckBox, ParamKind.CHOICE: QComboBox}
    for option in spec.options:
        widget = chooser.findChild(QLineEdit if option.kind in (ParamKind.PATH, ParamKind.FLOAT) else
                                   expected.get(option.kind, object), f"option_{option.name}")
        if option.kind in expected or option.kind in (ParamKind.PATH, ParamKind.FLOAT):
            assert widget is not None, f"{kind}.{option.name}"


def test_a_refused_value_is_said_below_the_form_and_never_reaches_the_undo_stack(window, panel):
    chooser = panel.dataset
    _choose(chooser, "spirals")
    noise = chooser.findChild(QLineEdit, "option_noise")
    noise.setFocus()
    noise.setText("")
    noise.textEdited.emit("-1")
    assert not chooser.option_error.isHidden() and "below the minimum 0" in chooser.option_error.text()
    assert "noise" not in window.document.project.settings.dataset.options
    noise.textEdited.emit("x")
    assert "'x' is not a number" in chooser.option_error.text()
    window.document_undo()  # the refused values left nothing to undo: this undoes the choice of spirals
    assert window.document.project.settings.dataset.kind == "moons"
    window.document_redo()
    noise = chooser.findChild(QLineEdit, "option_noise")  # the form was rebuilt for the kind
    noise.textEdited.emit("0.3")
    assert window.document.project.settings.dataset.options["noise"] == 0.3 and chooser.option_error.isHidden()


def test_consecutive_edits_of_one_option_are_one_undo_step(window, panel):
    chooser = panel.dataset
    _choose(chooser, "blobs")
    features = chooser.findChild(QSpinBox, "option_features")
    for value in (3, 4, 5):
        features.setValue(value)
    assert window.document.project.settings.dataset.options == {"features": 5}
    window.document_undo()
    assert window.document.project.settings.dataset == DatasetSettings(kind="blobs")


def test_image_folder_options_take_a_pair_and_one_of_the_allowed_channel_counts(window, panel, tmp_path,
                                                                                 monkeypatch):
    chooser = panel.dataset
    monkeypatch.setattr(chooser, "ask_folder", lambda title, start: str(tmp_path))
    _choose(chooser, "image_folder")
    options = lambda: window.document.project.settings.dataset.options  # noqa: E731
    assert options() == {"path": str(tmp_path)}
    channels = chooser.findChild(QComboBox, "option_channels")
    assert [channels.itemText(i) for i in range(channels.count())] == ["3", "1"]
    channels.activated.emit(1)
    assert options()["channels"] == 1
    size = chooser.findChild(QLineEdit, "option_size")
    size.textEdited.emit("12x10")
    assert options()["size"] == [12, 10]


def test_token_data_sets_the_input_shape_and_dtype_in_one_step(window, panel, wait_analysis):
    chooser = panel.dataset
    _choose(chooser, "parity")  # cheap: previewed as soon as chosen
    summary = chooser.preview_view.summary
    assert summary.dtype == "int64" and summary.texts and set(summary.texts[0]) <= {"0", "1"}
    assert "token ids (int64)" in chooser.preview_view.facts.text()
    assert any(p.code == "input-dtype-mismatch" for p in wait_analysis(window).errors)
    assert chooser.apply_input_shape()
    node = window.document.graph.node("x_in")
    assert (tuple(node.params["shape"]), node.params["dtype"]) == ((12,), "int64")
    window.document_undo()
    assert (tuple(node.params["shape"]), node.params["dtype"]) == ((2,), "float32")


def test_text_columns_are_offered_from_the_files_header(window, panel, tmp_path, monkeypatch):
    table = tmp_path / "reviews.csv"
    table.write_text("id;review;stars\n" + "".join(f"{i};good {i};{i % 2}\n" for i in range(20)))
    chooser = panel.dataset
    monkeypatch.setattr(chooser, "ask_file", lambda start: str(table))
    _choose(chooser, "text_csv")
    text = chooser.findChild(QComboBox, "option_text")
    assert [text.itemText(i) for i in range(text.count())] == ["id", "review", "stars"]
    text.textActivated.emit("review")
    assert window.document.project.settings.dataset.options["text"] == "review"
    summary = chooser.preview()
    assert summary.texts[0].startswith("good") and summary.class_names == ["0", "1"]

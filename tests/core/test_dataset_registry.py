"""The dataset registry: one entry per kind, typed options, facts known without loading, old files read."""

from __future__ import annotations

from collections import defaultdict

import pytest
from pydantic import ValidationError

from nnstudio.core.datasets import DATASETS, DatasetError, DatasetFacts, DatasetSpec, DuplicateDatasetError
from nnstudio.core.examples import load_example
from nnstudio.core.fields import ParamKind
from nnstudio.core.project import dumps_project, loads_project
from nnstudio.core.settings import DatasetSettings


def test_every_kind_is_one_entry_with_typed_options():
    kinds = DATASETS.kinds()
    assert len(kinds) == len(set(kinds)) >= 15
    for spec in DATASETS:
        assert spec.title and spec.summary and spec.group
        names = [option.name for option in spec.options]
        assert len(names) == len(set(names)) and all(name.isidentifier() for name in names), spec.kind
        for option in spec.options:
            assert option.help, f"{spec.kind}.{option.name} needs help text"
            if option.default is not None:
                assert option.validate(option.default) is not None or option.nullable


def test_an_option_means_one_thing_in_every_kind():
    kinds_of = defaultdict(set)
    for spec in DATASETS:
        for option in spec.options:
            kinds_of[option.name].add(option.kind)
    mixed = {name: kinds for name, kinds in kinds_of.items() if len(kinds) > 1}
    assert not mixed, f"options with different types in different kinds: {mixed}"
    assert DATASETS.get("mnist").option("normalize").kind is DATASETS.get("image_folder").option("normalize").kind


def test_options_are_checked_by_their_fields_and_errors_name_kind_and_option():
    spec = DATASETS.get("moons")
    assert spec.validate_options({}) == {"n_samples": 1000, "noise": 0.1, "seed": None}
    with pytest.raises(DatasetError) as info:
        spec.validate_options({"noise": "lots"})
    assert (info.value.dataset, info.value.option) == ("moons", "noise")
    assert str(info.value) == "dataset moons.noise: expected a number, got 'lots'"
    with pytest.raises(DatasetError, match="dataset csv.path: required: the CSV file to read"):
        DATASETS.get("csv").validate_options({})
    with pytest.raises(DatasetError, match="dataset image_folder.mean: custom normalisation needs 3 number"):
        DATASETS.get("image_folder").validate_options({"path": "x", "normalize": "custom", "mean": [0.5],
                                                       "std": [0.2, 0.2, 0.2]})
    with pytest.raises(DatasetError, match="channels: 2 is not one of 3, 1"):
        DATASETS.get("image_folder").validate_options({"path": "x", "channels": 2})


def test_facts_follow_the_options():
    assert DATASETS.get("blobs").facts_for({"features": 5, "classes": 7}) == DatasetFacts(
        "classification", (5,), classes=7)
    assert DATASETS.get("image_folder").facts_for({"path": "x", "size": [12, 10], "channels": 1}).sample_shape == (
        1, 12, 10)
    parity = DATASETS.get("parity").facts_for({"length": 20})
    assert (parity.sample_shape, parity.dtype, parity.classes, parity.vocabulary) == ((20,), "int64", 2, 2)
    assert DATASETS.get("sine_forecast").facts_for({"horizon": 4}).target_width == 4
    assert DATASETS.get("csv").facts_for({"path": "t.csv"}).task is None  # "auto": known once read
    assert DATASETS.get("csv").facts_for({"path": "t.csv", "task": "regression"}).task == "regression"


def test_settings_accept_registered_kinds_only():
    with pytest.raises(ValidationError, match="unknown dataset kind 'imagenet'; the kinds are: digits, moons"):
        DatasetSettings(kind="imagenet")
    assert DatasetSettings(kind="text_csv").kind == "text_csv"


def test_older_spellings_of_options_load_and_save_in_the_new_one():
    project = load_example("mnist-mlp")
    text = dumps_project(project)
    old = text.replace('"options": {}', '"options": {"normalize": false, "download": false}')
    assert old != text
    loaded = loads_project(old)
    assert loaded.settings.dataset.options == {"normalize": "none", "download": False}
    assert '"normalize": "none"' in dumps_project(loaded)
    assert DatasetSettings(kind="cifar10", options={"normalize": True}).options == {"normalize": "dataset"}
    assert DatasetSettings(kind="csv", options={"path": "t.tsv", "delimiter": "\t"}).options["delimiter"] == "tab"


def test_a_kind_registers_once():
    spec = DatasetSpec("digits", "Again", "a second digits", "Bundled")
    with pytest.raises(DuplicateDatasetError):
        DATASETS.register(spec)
    with pytest.raises(DatasetError, match="unknown dataset kind 'nope'"):
        DATASETS.get("nope")
    assert all(option.kind in ParamKind for spec in DATASETS for option in spec.options)

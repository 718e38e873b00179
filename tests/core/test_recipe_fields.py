"""The Recipe form's description: one typed field for every training setting, agreeing with the model."""

from __future__ import annotations

import typing

import pytest
from pydantic import ValidationError

from nnstudio.core.fields import ParamKind
from nnstudio.core.recipe_fields import RECIPE, recipe_field
from nnstudio.core.settings import DatasetSettings, TrainingSettings

FIELDS = {entry.name: entry for entry in RECIPE}


def test_every_training_setting_but_the_dataset_has_exactly_one_field():
    assert len(FIELDS) == len(RECIPE)
    assert set(FIELDS) == set(TrainingSettings.model_fields) - {"dataset"}


@pytest.mark.parametrize("name", sorted(FIELDS))
def test_a_fields_default_kind_and_range_agree_with_the_settings_model(name):
    spec = FIELDS[name].spec
    model_field = TrainingSettings.model_fields[name]
    assert spec.default == model_field.default
    assert spec.validate(spec.default) == spec.default
    assert spec.help and spec.label
    annotation = model_field.annotation
    if spec.kind is ParamKind.CHOICE:
        assert set(spec.choices) == set(typing.get_args(annotation))
        assert set(FIELDS[name].titles) == set(spec.choices)
    for bound in (spec.minimum, spec.maximum):
        if bound is not None:  # every value the form accepts, the settings accept
            value = int(bound) if spec.kind is ParamKind.INT else float(bound)
            TrainingSettings(**{name: value})
    if spec.optional:
        TrainingSettings(**{name: None})


def _settings(**values) -> TrainingSettings:
    return TrainingSettings(**values)


def test_fields_that_do_not_apply_say_why():
    momentum, nesterov, gamma = recipe_field("momentum"), recipe_field("nesterov"), recipe_field("gamma")
    assert "Adam has no momentum setting" in momentum.reason_not_applicable(_settings(optimizer="adam"))
    assert momentum.reason_not_applicable(_settings(optimizer="sgd")) is None
    assert "SGD only" in nesterov.reason_not_applicable(_settings(optimizer="adamw"))
    assert "needs a momentum above 0" in nesterov.reason_not_applicable(_settings(optimizer="sgd"))
    assert nesterov.reason_not_applicable(_settings(optimizer="sgd", momentum=0.9)) is None
    assert "Cosine annealing" in gamma.reason_not_applicable(_settings(scheduler="cosine"))
    assert gamma.reason_not_applicable(_settings(scheduler="plateau")) is None
    amp = recipe_field("amp")
    assert "CUDA GPUs only" in amp.reason_not_applicable(_settings(device="cpu"))
    assert "this machine has none" in amp.reason_not_applicable(_settings(), ("auto", "cpu"))
    assert amp.reason_not_applicable(_settings(), ("auto", "cuda", "cpu")) is None
    mnist = _settings(dataset=DatasetSettings(kind="mnist"))
    assert "own validation" in recipe_field("val_fraction").reason_not_applicable(mnist)
    with pytest.raises(ValidationError):
        TrainingSettings(momentum=1.0)  # the form's range stops below it
    assert recipe_field("momentum").spec.maximum < 1

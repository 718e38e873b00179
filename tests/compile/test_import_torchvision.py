"""Every torchvision classifier imports, exports and reloads exactly (see import_roundtrip.py).

CI runs the smallest model of every family at the smallest input it accepts; the whole list (80 models,
about five billion parameters) is the ``long`` test, whose latest result is in docs/importing.md.
"""

from __future__ import annotations

import shutil
import time

import pytest
from import_roundtrip import TOLERANCE, all_classifiers, input_size, round_trip

#: One model per family (the smallest), so every kind of block is checked on every run.
CI_MODELS = [
    "resnet18", "resnext50_32x4d", "wide_resnet50_2", "densenet121", "vgg11", "alexnet", "squeezenet1_1",
    "googlenet", "inception_v3", "mobilenet_v2", "mobilenet_v3_small", "mnasnet0_5", "shufflenet_v2_x0_5",
    "efficientnet_b0", "efficientnet_v2_s", "regnet_x_400mf", "regnet_y_400mf", "convnext_tiny", "vit_b_32",
    "swin_t", "swin_v2_t", "maxvit_t",
]


@pytest.fixture(scope="module")
def ci_outcomes(tmp_path_factory):
    return round_trip([(name, input_size(name)) for name in CI_MODELS], tmp_path_factory.mktemp("torchvision"))


def test_the_ci_models_cover_every_family():
    families = ["resnet", "resnext", "wide_resnet", "densenet", "vgg", "alexnet", "squeezenet", "googlenet",
                "inception", "mobilenet_v2", "mobilenet_v3", "mnasnet", "shufflenet", "efficientnet_b",
                "efficientnet_v2", "regnet", "convnext", "vit", "swin", "maxvit"]
    assert len(CI_MODELS) >= 20
    assert all(any(name.startswith(family) for name in CI_MODELS) for family in families)
    assert set(CI_MODELS) <= set(all_classifiers())


@pytest.mark.timeout(1500)
@pytest.mark.parametrize("name", CI_MODELS)
def test_a_torchvision_classifier_round_trips_exactly(name, ci_outcomes):
    outcome = ci_outcomes[name]
    assert outcome.error is None, outcome.error
    assert outcome.diff is not None and outcome.diff <= TOLERANCE


@pytest.mark.long
@pytest.mark.timeout(14400)
def test_every_torchvision_classifier_round_trips_exactly(tmp_path, capsys):
    names = all_classifiers()
    start = time.perf_counter()
    failed = {}
    for name in names:  # one at a time, each folder removed after: the largest models hold gigabytes
        outcome = round_trip([(name, input_size(name))], tmp_path / name)[name]
        shutil.rmtree(tmp_path / name, ignore_errors=True)
        if outcome.error is not None or outcome.diff is None or outcome.diff > TOLERANCE:
            failed[name] = outcome.error or f"max abs difference {outcome.diff}"
    minutes = (time.perf_counter() - start) / 60
    with capsys.disabled():
        print(f"\n{len(names) - len(failed)} of {len(names)} torchvision classifiers round-trip exactly "
              f"({minutes:.0f} min)")
    assert not failed, failed

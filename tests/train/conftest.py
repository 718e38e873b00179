import pytest
import torch
from torch import nn

from nnstudio.core.settings import DatasetSettings, TrainingSettings
from nnstudio.train.datasets import load_dataset


@pytest.fixture(autouse=True)
def _few_threads():
    # The test machines have 2 cores shared with other suites; small models train fastest on one.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def blob_settings() -> TrainingSettings:
    return TrainingSettings(dataset=DatasetSettings(kind="blobs", options={"n_samples": 300, "classes": 3}),
                            epochs=3, batch_size=32, lr=0.01, device="cpu")


@pytest.fixture
def blob_data(blob_settings):
    return load_dataset(blob_settings.dataset, 0, loss=blob_settings.loss)


def _small_classifier(features: int = 2, classes: int = 3) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(features, 16), nn.ReLU(), nn.Linear(16, classes))


@pytest.fixture
def small_classifier():
    """A factory of a seeded two-layer classifier (same weights each call)."""
    return _small_classifier

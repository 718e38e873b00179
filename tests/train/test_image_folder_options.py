"""The image folder's transfer-learning options: centre crop, the data's own statistics, augmentation."""

import pytest
import torch
from transfer_helpers import write_image_folder

from nnstudio.core.datasets import DatasetError, dataset_facts
from nnstudio.core.settings import DatasetSettings
from nnstudio.train.datasets import load_dataset


def _load(folder, **options):
    settings = DatasetSettings(kind="image_folder", options={"path": str(folder), **options})
    return load_dataset(settings, 0)


def test_centre_crop_sets_the_input_and_the_facts_agree(tmp_path):
    folder = write_image_folder(tmp_path / "pets", per_class=4)
    bundle = _load(folder, size=36, crop=[32, 30])
    assert bundle.input_shape == (3, 32, 30) and bundle.train[0][0].shape == (3, 32, 30)
    assert dataset_facts("image_folder", {"path": str(folder), "size": 36, "crop": [32, 30]}).sample_shape == (3, 32, 30)
    assert bundle.preprocessing == {"kind": "image", "size": [36, 36], "crop": [32, 30], "channels": 3,
                                    "mean": None, "std": None}
    with pytest.raises(DatasetError, match="crop 40x40 is larger than the resized image 36x36"):
        dataset_facts("image_folder", {"path": str(folder), "size": 36, "crop": 40})


def test_dataset_normalisation_uses_the_training_images_own_statistics(tmp_path):
    folder = write_image_folder(tmp_path / "pets", per_class=5)
    raw = _load(folder, size=16)
    pixels = torch.stack([raw.train[i][0] for i in range(len(raw.train))]).double()
    mean = pixels.mean((0, 2, 3))
    std = pixels.permute(1, 0, 2, 3).reshape(3, -1).std(1, unbiased=False)
    normalised = _load(folder, size=16, normalize="dataset")
    assert normalised.preprocessing["mean"] == pytest.approx(mean.tolist(), abs=1e-6)
    assert normalised.preprocessing["std"] == pytest.approx(std.tolist(), abs=1e-6)
    x = torch.stack([normalised.train[i][0] for i in range(len(normalised.train))]).double()
    assert x.mean((0, 2, 3)).abs().max() < 1e-5
    assert (x.permute(1, 0, 2, 3).reshape(3, -1).std(1, unbiased=False) - 1).abs().max() < 1e-4


def test_augmentation_varies_training_images_only(tmp_path):
    folder = write_image_folder(tmp_path / "pets", per_class=4)
    bundle = _load(folder, size=32, random_crop=True, flip=True, jitter=0.4)
    torch.manual_seed(0)
    first = bundle.train[0][0]
    assert any(not torch.equal(first, bundle.train[0][0]) for _ in range(5))
    assert torch.equal(bundle.val[0][0], bundle.val[0][0])
    assert bundle.train[0][0].shape == (3, 32, 32)
    assert "training with random resized crops, flips, colour jitter" in bundle.description
    plain = _load(folder, size=32)
    assert torch.equal(plain.train[0][0], plain.train[0][0])

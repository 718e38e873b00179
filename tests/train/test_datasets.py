import pickle

import numpy as np
import pytest
import torch

from nnstudio.core.datasets import DATASETS, DatasetFacts, DatasetSpec
from nnstudio.core.settings import DatasetSettings
from nnstudio.train.data import DatasetError, TensorData
from nnstudio.train.datasets import LOADERS, load_dataset, register_loader


def load(kind, loss="cross_entropy", seed=0, **options):
    return load_dataset(DatasetSettings(kind=kind, options=options), seed, loss=loss)


def test_digits_are_scaled_and_split_stratified_80_20():
    bundle = load("digits")
    assert bundle.input_shape == (1, 8, 8) and bundle.num_classes == 10 and bundle.in_memory
    assert len(bundle.train) + len(bundle.val) == 1797
    assert abs(len(bundle.val) / 1797 - 0.2) < 0.01
    assert 0.0 <= float(bundle.train.x.min()) and float(bundle.train.x.max()) == 1.0
    counts = torch.bincount(bundle.val.y, minlength=10)
    assert int(counts.min()) >= 34 and int(counts.max()) <= 38  # every digit held out in proportion
    again = load("digits", seed=7)
    assert torch.equal(bundle.val.y, again.val.y), "the validation split must not depend on the run's seed"


@pytest.mark.parametrize("kind", ["moons", "spirals", "blobs"])
def test_synthetic_classification_sets_follow_size_and_seed(kind):
    first = load(kind, n_samples=200, noise=0.1, seed=3)
    same = load(kind, n_samples=200, noise=0.1, seed=3)
    other = load(kind, n_samples=200, noise=0.1, seed=4)
    assert len(first.train) + len(first.val) == 200
    assert first.task == "classification" and first.train.y.dtype == torch.long
    assert torch.equal(first.train.x, same.train.x)
    assert not torch.equal(first.train.x, other.train.x)


def test_moons_under_bce_give_float_column_targets():
    bundle = load("moons", loss="bce", n_samples=100)
    assert bundle.task == "binary"
    assert bundle.train.y.shape == (80, 1) and bundle.train.y.dtype == torch.float32


def test_linear_set_follows_slope_and_noise():
    bundle = load("linear", loss="mse", n_samples=500, noise=0.0, slope=-3.0)
    assert bundle.task == "regression" and bundle.input_shape == (1,)
    assert torch.allclose(bundle.train.y, -3.0 * bundle.train.x)


def test_sine_set_is_regression():
    bundle = load("sine", loss="mse", n_samples=100, noise=0.0)
    assert torch.allclose(bundle.val.y, torch.sin(bundle.val.x), atol=1e-6)


def test_unknown_option_and_bad_value_name_the_option():
    with pytest.raises(DatasetError, match="unknown option.*sampels") as info:
        load("moons", sampels=10)
    assert info.value.option == "sampels"
    with pytest.raises(DatasetError, match="moons.noise: expected a number, got 'lots'") as info:
        load("moons", noise="lots")
    assert info.value.option == "noise"


# --- torchvision sets, written in torchvision's own file formats ---------------------------------

def _write_idx(path, array):
    dims = array.shape
    code = 0x08  # unsigned byte
    header = bytes([0, 0, code, len(dims)]) + b"".join(int(d).to_bytes(4, "big") for d in dims)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _write_mnist(folder, n_train=40, n_test=20):
    raw = folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)


def test_mnist_reads_idx_files_through_torchvision(tmp_path):
    _write_mnist(tmp_path / "MNIST")
    bundle = load("mnist", root=str(tmp_path), download=False)
    assert bundle.input_shape == (1, 28, 28) and bundle.num_classes == 10
    assert len(bundle.train) == 40 and len(bundle.val) == 20
    assert bundle.train.x.dtype == torch.uint8  # kept compact; scaled per batch
    x, y = bundle.train.batch(torch.arange(4))
    assert x.dtype == torch.float32 and x.shape == (4, 1, 28, 28)
    assert -1 < float(x.mean()) < 3  # normalised with MNIST's mean and std
    assert y.tolist() == [0, 1, 2, 3]


def test_fashion_mnist_uses_its_own_folder(tmp_path):
    _write_mnist(tmp_path / "FashionMNIST")
    bundle = load("fashion_mnist", root=str(tmp_path), download=False)
    assert bundle.class_names[0] == "T-shirt/top"


def test_cifar10_reads_pickled_batches_through_torchvision(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    names = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]
    for name in names:
        batch = {"data": rng.integers(0, 256, (6, 3072)).astype(np.uint8), "labels": list(range(6))}
        (folder / name).write_bytes(pickle.dumps(batch))
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": classes}))
    bundle = load("cifar10", root=str(tmp_path), download=False)
    assert bundle.input_shape == (3, 32, 32) and bundle.class_names == classes
    assert len(bundle.train) == 30 and len(bundle.val) == 6


def test_missing_offline_set_names_the_folder_and_files(tmp_path):
    with pytest.raises(DatasetError) as info:
        load("mnist", root=str(tmp_path), download=False)
    message = str(info.value)
    assert str(tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte") in message
    assert "t10k-labels-idx1-ubyte" in message and info.value.option == "root"


# --- image folders and CSV files -----------------------------------------------------------------

def _write_image_folder(root):
    from PIL import Image

    for label, colour in (("cats", (200, 30, 30)), ("dogs", (30, 30, 200))):
        (root / label).mkdir(parents=True)
        for i in range(5):
            Image.new("RGB", (20 + i, 16), colour).save(root / label / f"{i}.png")


def test_image_folder_resizes_converts_and_labels(tmp_path):
    _write_image_folder(tmp_path)
    bundle = load("image_folder", path=str(tmp_path), size=[12, 10], channels=1)
    assert not bundle.in_memory
    assert bundle.class_names == ["cats", "dogs"] and bundle.input_shape == (1, 12, 10)
    assert len(bundle.train) + len(bundle.val) == 10
    image, target = bundle.train[0]
    assert image.shape == (1, 12, 10) and target.dtype == torch.long


def test_image_folder_custom_normalisation_needs_one_value_per_channel(tmp_path):
    _write_image_folder(tmp_path)
    with pytest.raises(DatasetError, match="custom normalisation needs 3") as info:
        load("image_folder", path=str(tmp_path), normalize="custom", mean=[0.5], std=[0.5])
    assert info.value.option == "mean"


def test_image_folder_missing_folder_is_named(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load("image_folder", path=str(tmp_path / "nowhere"))


def test_csv_classification_with_text_labels(tmp_path):
    path = tmp_path / "iris.csv"
    rows = ["length,width,species"] + [f"{i % 7},{i % 3},{'setosa' if i % 2 else 'virginica'}" for i in range(20)]
    path.write_text("\n".join(rows) + "\n")
    bundle = load("csv", path=str(path), target="species")
    assert bundle.task == "classification" and bundle.class_names == ["setosa", "virginica"]
    assert bundle.input_shape == (2,)
    assert abs(float(bundle.train.x.mean())) < 1e-5  # standardised with the training rows' statistics


def test_csv_regression_target(tmp_path):
    path = tmp_path / "house.csv"
    path.write_text("rooms,price\n" + "".join(f"{i},{i * 1.5 + 0.25}\n" for i in range(30)))
    bundle = load("csv", loss="mse", path=str(path), target="price", task="regression")
    assert bundle.task == "regression" and bundle.train.y.shape[1] == 1


def test_csv_auto_task_regresses_fractional_targets_and_classifies_few_whole_numbers(tmp_path):
    prices = tmp_path / "prices.csv"
    prices.write_text("rooms,price\n" + "".join(f"{i},{i * 1.5 + 0.25}\n" for i in range(30)))
    assert load("csv", loss="mse", path=str(prices)).task == "regression"
    grades = tmp_path / "grades.csv"
    grades.write_text("hours,grade\n" + "".join(f"{i},{i % 3}\n" for i in range(30)))
    bundle = load("csv", path=str(grades))
    assert bundle.task == "classification" and bundle.class_names == ["0", "1", "2"]


def test_csv_non_numeric_feature_names_line_and_column(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b,label\n1,2,0\n3,oops,1\n4,5,0\n")
    with pytest.raises(DatasetError, match="line 3, column 'b': 'oops' is not a number"):
        load("csv", path=str(path))


def test_csv_unknown_target_lists_columns(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n3,4\n5,6\n")
    with pytest.raises(DatasetError, match="t.csv has no column 'c'; its columns: a, b"):
        load("csv", path=str(path), target="c")


def test_tensor_data_moves_once_and_batches_by_index():
    data = TensorData(torch.arange(10.0).view(10, 1), torch.arange(10))
    x, y = data.to(torch.device("cpu")).batch(torch.tensor([3, 1]))
    assert x.flatten().tolist() == [3.0, 1.0] and y.tolist() == [3, 1]


# --- the registry's promises -----------------------------------------------------------------------

@pytest.mark.parametrize("spec", [s for s in DATASETS if s.cheap_preview], ids=lambda s: s.kind)
def test_what_a_cheap_kind_promises_is_what_it_loads(spec):
    options = {"n_samples": 200} if "n_samples" in spec.option_names else {}
    regression = spec.facts_for(options).task == "regression"
    bundle = load(spec.kind, loss="mse" if regression else "cross_entropy", **options)
    promised, found = spec.facts_for(options), bundle.facts
    for name in ("task", "sample_shape", "dtype", "classes", "target_width", "vocabulary"):
        if getattr(promised, name) is not None:
            assert getattr(found, name) == getattr(promised, name), name


def test_a_loader_that_breaks_its_entrys_promise_is_caught():
    spec = DatasetSpec("liar", "Liar", "claims 3 classes, loads 2", "Synthetic",
                       facts=DatasetFacts("classification", (2,), classes=3))
    DATASETS.register(spec)
    try:
        register_loader("liar")(lambda options, request: LOADERS["moons"](
            {"n_samples": 40, "noise": 0.1, "seed": None}, request))
        with pytest.raises(DatasetError, match="the loader gave classes 2 but the registry entry says 3"):
            load("liar")
    finally:
        DATASETS.unregister("liar")
        LOADERS.pop("liar", None)


def test_a_kind_without_a_loader_says_so():
    DATASETS.register(DatasetSpec("orphan", "Orphan", "no loader", "Synthetic"))
    try:
        with pytest.raises(DatasetError, match="dataset orphan: has no loader"):
            load("orphan")
    finally:
        DATASETS.unregister("orphan")

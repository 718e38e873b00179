"""Image datasets: torchvision's MNIST, FashionMNIST and CIFAR-10, and a folder of images per class.

The torchvision sets live in ``<user data dir>/nnstudio/datasets`` (or the ``root`` option). They are
read with torchvision's own loaders, then held as uint8 tensors and scaled per batch on the device.
When the files are missing and downloading is not possible, the error names the exact folder and files.
An image folder is checked before training: every file must be a regular file Pillow can read, within
the size limits; a bad one is named (see :mod:`nnstudio.train.image_files`). The image folder's
loader is :mod:`nnstudio.train.image_folder`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from nnstudio.train.data import (
    DatasetBundle,
    DatasetError,
    TensorData,
    targets_for_loss,
    task_for,
)
from nnstudio.train.loaders import LoadRequest, register_loader

# (mean, std) per channel of each training set, the values the PyTorch examples normalise with.
_STATS = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
}

_MNIST_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
_CIFAR_FILES = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
                "test_batch", "batches.meta"]


def data_root() -> Path:
    """Return the folder torchvision datasets are kept in (``NNSTUDIO_DATA_DIR`` overrides it)."""
    override = os.environ.get("NNSTUDIO_DATA_DIR")
    if override:
        return Path(override)
    from platformdirs import user_data_dir

    return Path(user_data_dir("nnstudio")) / "datasets"


class PixelScaler:
    """Turns a uint8 batch into floats in [0, 1], normalised per channel (runs on the batch's device)."""

    def __init__(self, mean: tuple[float, ...] | None, std: tuple[float, ...] | None) -> None:
        self.mean = mean
        self.std = std
        self._cache: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        x = batch.float() / 255.0  # a new tensor: the stored uint8 set is never changed in place
        if self.mean is None or self.std is None:
            return x
        if x.device not in self._cache:
            shape = (1, len(self.mean), 1, 1)
            self._cache[x.device] = (torch.tensor(self.mean, device=x.device).view(shape),
                                     torch.tensor(self.std, device=x.device).view(shape))
        mean, std = self._cache[x.device]
        return x.sub_(mean).div_(std)


def _missing_files_error(kind: str, folder: Path, files: list[str], cause: str) -> DatasetError:
    listing = "\n".join(f"  {folder / name}" for name in files)
    return DatasetError(
        f"the {kind} files are not on this computer and could not be downloaded ({cause}).\n"
        f"Place these files (from the official distribution, uncompressed) there:\n{listing}\n"
        f"or connect to the internet and try again.", option="root", dataset=kind)


#: ImageNet's per-channel statistics, the values pretrained torchvision models expect.
IMAGENET_STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def normalisation(options: dict[str, Any], channels: int, own: tuple[tuple[float, ...], tuple[float, ...]] | None
                  ) -> tuple[tuple[float, ...], tuple[float, ...]] | tuple[None, None]:
    """Return the (mean, std) the ``normalize`` option asks for, one value per channel, or (None, None).

    ``own`` is the dataset's own statistics (for "dataset"); ImageNet's are averaged for grey images.
    The registry entry has already checked that "custom" has one mean and std per channel.
    """
    choice = options["normalize"]
    if choice == "none":
        return None, None
    if choice == "custom":
        return tuple(options["mean"]), tuple(options["std"])
    mean, std = own if choice == "dataset" and own is not None else IMAGENET_STATS
    if channels == 1 and len(mean) == 3:
        return (sum(mean) / 3,), (sum(std) / 3,)
    return mean, std


def _torchvision_set(kind: str, options: dict[str, Any], request: LoadRequest) -> DatasetBundle:
    from nnstudio.train.dataset_files import check_present_files, damaged_files_error, read_cifar10

    root = Path(options["root"]).expanduser() if options["root"] else data_root()
    if root.exists() and not root.is_dir():
        raise DatasetError(f"{root} is a file; choose the folder that holds the dataset folders", "root", kind)
    download = options["download"]
    if kind == "cifar10":
        folder, files = root / "cifar-10-batches-py", _CIFAR_FILES
    else:
        folder, files = root / ("MNIST" if kind == "mnist" else "FashionMNIST") / "raw", _MNIST_FILES
    check_present_files(folder, files, kind)
    if not all((folder / name).is_file() for name in files):
        _download(kind, root, folder, files, download)
    try:
        if kind == "cifar10":
            train_images, train_labels, test_images, test_labels, classes = read_cifar10(folder, kind)
        else:
            train_images, train_labels, test_images, test_labels, classes = _read_mnist(kind, root)
    except DatasetError:
        raise
    except Exception as exc:  # noqa: BLE001 - torchvision's readers fail in many ways on a damaged file
        raise damaged_files_error(kind, folder, exc) from None
    x_train, y_train = _as_uint8_nchw(train_images), torch.as_tensor(train_labels, dtype=torch.long)
    x_val, y_val = _as_uint8_nchw(test_images), torch.as_tensor(test_labels, dtype=torch.long)
    mean, std = normalisation(options, int(x_train.shape[1]), _STATS[kind])
    scaler = PixelScaler(mean, std)
    task = task_for("classification", request.loss)
    return DatasetBundle(
        train=TensorData(x_train, targets_for_loss(y_train, task), scaler),
        val=TensorData(x_val, targets_for_loss(y_val, task), scaler),
        input_shape=tuple(x_train.shape[1:]), task=task, num_classes=len(classes), class_names=classes,
        description=f"{kind}: {len(x_train)} training and {len(x_val)} test images from {root}",
    )


def _read_mnist(kind: str, root: Path) -> tuple[Any, Any, Any, Any, list[str]]:
    """Return MNIST's or FashionMNIST's images and labels, read by torchvision from the raw idx files."""
    from torchvision import datasets

    loader_class = datasets.MNIST if kind == "mnist" else datasets.FashionMNIST
    train, test = (loader_class(str(root), train=flag, download=False) for flag in (True, False))
    return train.data, train.targets, test.data, test.targets, list(train.classes)


def _download(kind: str, root: Path, folder: Path, files: list[str], allowed: bool) -> None:
    """Fetch the dataset's files with torchvision (it checks the archives' MD5 sums), or say where to put them."""
    if not allowed:
        raise _missing_files_error(kind, folder, files, "downloading is switched off")
    from torchvision import datasets

    loader_class = {"mnist": datasets.MNIST, "fashion_mnist": datasets.FashionMNIST,
                    "cifar10": datasets.CIFAR10}[kind]
    try:
        if kind == "cifar10":
            # Only fetch (MD5 checked) and unpack: nnstudio's own reader reads the batches, no pickle code.
            from torchvision.datasets.utils import download_and_extract_archive

            cifar = datasets.CIFAR10
            download_and_extract_archive(cifar.url, str(root), filename=cifar.filename, md5=cifar.tgz_md5)
        else:
            loader_class(str(root), train=True, download=True)
    except Exception as exc:  # noqa: BLE001 - any network/IO failure means "offline" to the person
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        cause = lines[0].rstrip(":") + (f": {lines[-1]}" if len(lines) > 1 else "") if lines else ""
        raise _missing_files_error(kind, folder, files, cause or type(exc).__name__) from None
    if not all((folder / name).is_file() for name in files):
        raise _missing_files_error(kind, folder, files, "the download did not give every file")


def _as_uint8_nchw(data: Any) -> torch.Tensor:
    """Return images as a uint8 tensor [N, C, H, W] (MNIST stores [N, H, W], CIFAR [N, H, W, C])."""
    x = torch.as_tensor(data)
    if x.dim() == 3:
        return x.unsqueeze(1).contiguous()
    return x.permute(0, 3, 1, 2).contiguous()


@register_loader("mnist")
def mnist(options: dict[str, Any], request: LoadRequest) -> DatasetBundle:
    """MNIST handwritten digits (its own 60,000 / 10,000 split)."""
    return _torchvision_set("mnist", options, request)


@register_loader("fashion_mnist")
def fashion_mnist(options: dict[str, Any], request: LoadRequest) -> DatasetBundle:
    """Fashion-MNIST clothing images (its own 60,000 / 10,000 split)."""
    return _torchvision_set("fashion_mnist", options, request)


@register_loader("cifar10")
def cifar10(options: dict[str, Any], request: LoadRequest) -> DatasetBundle:
    """CIFAR-10 colour images (its own 50,000 / 10,000 split)."""
    return _torchvision_set("cifar10", options, request)

"""The torchvision sets' files on disk, read safely: regular files within size limits, CIFAR without pickle code.

CIFAR-10's "python version" stores its batches as pickles. A plain ``pickle.load`` (what torchvision
does) runs whatever code a planted file names, so the batches are read with an unpickler that only
rebuilds numpy arrays, lists, dicts, numbers and strings; anything else is refused with the file
named. MNIST's idx files hold no code; they are checked for being regular files of sane size before
torchvision reads them, and a damaged one is named instead of surfacing torchvision's internals.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from nnstudio.core.data_files import require_regular_file
from nnstudio.core.datasets import DatasetError
from nnstudio.core.files import FileReadError, read_bytes

#: The largest dataset file read (MNIST's training images are 47 MB, a CIFAR batch 31 MB).
MAX_DATASET_FILE_BYTES = 1 << 30

_ARRAY_GLOBALS = {
    (module, name)
    for package in ("numpy.core", "numpy._core")
    for module, name in ((f"{package}.multiarray", "_reconstruct"), (f"{package}.multiarray", "scalar"),
                         (f"{package}.numeric", "_frombuffer"))
} | {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}


class _ArraysOnly(pickle.Unpickler):
    """An unpickler that rebuilds numpy arrays and plain containers, and refuses every other global."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ARRAY_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"it asks for {module}.{name}, which a data batch never needs")


def check_present_files(folder: Path, files: list[str], kind: str) -> None:
    """Refuse a present dataset file that is not a regular file or is too large (missing ones are fine)."""
    for name in files:
        path = folder / name
        if os.path.lexists(path):
            require_regular_file(path, f"{kind} file", "root", kind, MAX_DATASET_FILE_BYTES)


def damaged_files_error(kind: str, folder: Path, exc: BaseException) -> DatasetError:
    """Return the error for dataset files that exist but cannot be read."""
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return DatasetError(f"the {kind} files in {folder} cannot be read ({reason}); they may be damaged or cut "
                        "short: delete them to download them again", "root", kind)


def _read_batch(path: Path, kind: str) -> dict[str, Any]:
    require_regular_file(path, f"{kind} file", "root", kind, MAX_DATASET_FILE_BYTES)
    try:
        data = read_bytes(path, MAX_DATASET_FILE_BYTES, f"{kind} file")
    except FileReadError as exc:
        raise DatasetError(str(exc), "root", kind) from None
    try:
        batch = _ArraysOnly(io.BytesIO(data), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise DatasetError(f"{path} cannot be read as a CIFAR batch: {exc}", "root", kind) from None
    if not isinstance(batch, dict):
        raise DatasetError(f"{path} is not a CIFAR batch (it holds a {type(batch).__name__})", "root", kind)
    return batch


def read_cifar10(folder: Path, kind: str = "cifar10") -> tuple[np.ndarray, list[int], np.ndarray, list[int],
                                                                list[str]]:
    """Return (train images [N, 32, 32, 3] uint8, labels, test images, labels, class names) of ``folder``."""
    def images_and_labels(names: list[str]) -> tuple[np.ndarray, list[int]]:
        images, labels = [], []
        for name in names:
            batch = _read_batch(folder / name, kind)
            data = np.asarray(batch.get("data"))
            found = batch.get("labels", batch.get("fine_labels"))
            if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or not isinstance(found, list) \
                    or len(found) != len(data) or not all(isinstance(v, int) and 0 <= v < 10 for v in found):
                raise DatasetError(f"{folder / name} is not a CIFAR-10 batch (uint8 data [N, 3072] and N labels "
                                   "0 to 9)", "root", kind)
            images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            labels.extend(found)
        return np.concatenate(images), labels

    x_train, y_train = images_and_labels([f"data_batch_{i}" for i in range(1, 6)])
    x_test, y_test = images_and_labels(["test_batch"])
    meta = _read_batch(folder / "batches.meta", kind)
    names = meta.get("label_names")
    if not (isinstance(names, list) and len(names) == 10 and all(isinstance(n, str) for n in names)):
        raise DatasetError(f"{folder / 'batches.meta'} does not list the 10 class names", "root", kind)
    return x_train, y_train, x_test, y_test, names

"""An image folder's files, checked before training, and read one by one during it.

:func:`scan_image_folder` lists the class subfolders and their image files (the extensions
torchvision's ImageFolder takes) and opens each image's header with Pillow: a file that is not
regular, larger than :data:`MAX_IMAGE_BYTES`, not an image Pillow reads, or more than
:data:`MAX_IMAGE_PIXELS` pixels is a :class:`DatasetError` naming it, before the first step rather
than as a crash in epoch 3. :class:`ImageFiles` decodes the images while training and names the file
if one still fails (a truncated body the header did not show).
"""

from __future__ import annotations

import os
import stat
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from nnstudio.core.data_files import IMAGE_EXTENSIONS
from nnstudio.core.datasets import DatasetError
from nnstudio.core.files import IMAGE_BYTES, FileReadError, check_regular_file

#: The largest image file read: the project's limit for images.
MAX_IMAGE_BYTES = IMAGE_BYTES
#: The most pixels an image may have (a 8,000 x 8,000 photo); bigger ones are refused unread.
MAX_IMAGE_PIXELS = 64_000_000


@dataclass
class FolderContents:
    folder: Path
    classes: list[str]
    files: list[str]
    labels: list[int]


def _image_problem(path: str) -> str | None:
    """Return why the file at ``path`` cannot be used as an image (None: it can)."""
    from PIL import Image, UnidentifiedImageError

    try:
        check_regular_file(path, MAX_IMAGE_BYTES, "picture")
    except FileReadError as exc:
        return exc.reason
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
    except UnidentifiedImageError:
        return "is not an image Pillow can read (damaged, or not an image at all)"
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return f"has more than {MAX_IMAGE_PIXELS:,} pixels"
    except (OSError, ValueError, SyntaxError) as exc:
        return f"cannot be read as an image ({exc})"
    if width * height > MAX_IMAGE_PIXELS:
        return f"is {width}x{height} pixels, more than the {MAX_IMAGE_PIXELS:,} pixels an image may have"
    if width < 1 or height < 1:
        return f"is {width}x{height} pixels (empty)"
    return None


def scan_image_folder(folder: Path, dataset: str) -> FolderContents:
    """Return the classes (sorted subfolder names) and image files of ``folder``, every file checked."""
    try:
        info = os.stat(folder)
    except FileNotFoundError:
        raise DatasetError(f"folder {folder} does not exist", "path", dataset) from None
    except OSError as exc:
        raise DatasetError(f"folder {folder} cannot be read ({exc.strerror or exc})", "path", dataset) from None
    if not stat.S_ISDIR(info.st_mode):
        raise DatasetError(f"{folder} is a file, not a folder; choose the folder that holds one subfolder per "
                           "class", "path", dataset)
    try:
        classes = sorted(entry.name for entry in os.scandir(folder)
                         if entry.is_dir() and not entry.name.startswith("."))
    except OSError as exc:
        raise DatasetError(f"folder {folder} cannot be read ({exc.strerror or exc})", "path", dataset) from None
    if not classes:
        raise DatasetError(f"{folder} has no subfolders; put the images of each class in a subfolder named "
                           "after the class", "path", dataset)
    files: list[str] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        for root, dirs, names in os.walk(folder / name):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for file_name in sorted(names):
                if file_name.lower().endswith(IMAGE_EXTENSIONS) and not file_name.startswith("."):
                    files.append(os.path.join(root, file_name))
                    labels.append(label)
    if not files:
        raise DatasetError(f"{folder} holds no images ({', '.join(IMAGE_EXTENSIONS)}) in its class subfolders",
                           "path", dataset)
    for path in files:
        problem = _image_problem(path)
        if problem is not None:
            raise DatasetError(f"image {path}: {problem}; remove or replace it", "path", dataset)
    return FolderContents(folder, classes, files, labels)


class ImageFiles(Dataset):
    """Images read from disk as they are asked for, each with its class (a float 0/1 for binary losses)."""

    def __init__(self, files: list[str], labels: list[int], transform: Callable[[Any], torch.Tensor],
                 binary: bool = False, dataset: str = "image_folder") -> None:
        self.files = files
        self.targets = labels
        self.transform = transform
        self.binary = binary
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        from PIL import Image

        path = self.files[i]
        try:
            with Image.open(path) as image:
                x = self.transform(image)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            raise DatasetError(f"image {path} cannot be read ({exc}); remove or replace it", "path",
                               self.dataset) from None
        target = torch.tensor(self.targets[i], dtype=torch.long)
        if self.binary:
            target = target.float().reshape(1)
        return x, target

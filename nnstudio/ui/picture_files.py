"""Saving Qt pictures (plots, screenshots, the autograd drawing) through the one atomic writer."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from PySide6.QtGui import QImage, QPixmap

from nnstudio.core.files import verify_png, write_atomic


def save_picture(picture: QImage | QPixmap, path: str | os.PathLike[str]) -> Path:
    """Write ``picture`` as a PNG at ``path`` atomically (checked to be a PNG); return the path.

    Raises FileWriteError (an OSError too; the previous file kept) when Qt or the disk refuses.
    """
    def write(staged: Path) -> None:
        if not picture.save(str(staged), "PNG"):
            raise OSError(errno.EIO, "Qt could not write the PNG image", str(staged))

    return write_atomic(path, write, verify=verify_png)

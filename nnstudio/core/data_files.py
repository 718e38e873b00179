"""Data files read safely for the datasets (torch-free): regular files only, CSV headers and delimiters.

:func:`require_regular_file` is the project's guarded reader check (``core.files``) with its refusal
worded as a dataset error; :func:`sniff_delimiter` and :func:`csv_header` let the dataset form offer
a CSV file's column names.
"""

from __future__ import annotations

import csv
import os

from nnstudio.core.dataset_spec import DatasetError
from nnstudio.core.files import TABLE_BYTES, FileReadError, check_regular_file

#: The most bytes of a file read to find its header row.
HEADER_BYTES = 1 << 16
#: Delimiters recognised when a CSV file's ``delimiter`` option is "auto", and the option's names for them.
#: The picture files image folders (and ``nnstudio predict``, and drops on the window) read: torchvision's.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
DELIMITERS = {",": ",", ";": ";", "tab": "\t", "|": "|", ":": ":", "space": " "}


def require_regular_file(path: str | os.PathLike[str], what: str, option: str, dataset: str,
                         max_bytes: int) -> int:
    """Return the size of the regular file at ``path``; raise DatasetError naming what is wrong.

    The check is :func:`nnstudio.core.files.check_regular_file` (the project's one guarded reader):
    a folder, a FIFO or a device is refused before it is opened, and so is a file larger than
    ``max_bytes``. The error names the dataset and the option that gave the path.
    """
    if not os.path.lexists(path):
        raise DatasetError(f"{what} {path} does not exist", option, dataset)
    try:
        return check_regular_file(path, max_bytes, what)
    except FileReadError as exc:
        raise DatasetError(str(exc), option, dataset) from None


def sniff_delimiter(sample: str) -> str | None:
    """Return the delimiter the first lines of a CSV file use (one of :data:`DELIMITERS`), or None."""
    lines = [line for line in sample.splitlines()[:20] if line.strip()]
    if not lines:
        return None
    best, best_columns = None, 1
    for delimiter in DELIMITERS.values():
        counts = {len(row) for row in csv.reader(lines[:-1] if len(lines) > 1 else lines, delimiter=delimiter)}
        # The delimiter that splits every line into the same number (>1) of columns, and the most.
        if len(counts) == 1 and (columns := counts.pop()) > best_columns:
            best, best_columns = delimiter, columns
    return best


def csv_header(path: str, delimiter: str = "auto") -> list[str]:
    """Return the column names of the CSV file at ``path`` (empty when it cannot be read)."""
    try:
        check_regular_file(os.path.expanduser(path), TABLE_BYTES, "CSV file")
        with open(os.path.expanduser(path), encoding="utf-8-sig", errors="replace", newline="") as handle:
            sample = handle.read(HEADER_BYTES)
    except OSError:  # FileReadError is one too
        return []
    separator = DELIMITERS.get(delimiter) or sniff_delimiter(sample) or ","
    try:
        return [name.strip() for name in next(csv.reader(sample.splitlines()[:1], delimiter=separator), [])]
    except csv.Error:
        return []

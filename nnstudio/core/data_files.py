"""Small, safe reads of data files for the registry (torch-free): regular files only, CSV headers.

:func:`require_regular_file` refuses folders, pipes, devices and files over a size limit before
anything is opened (a FIFO would block, ``/dev/zero`` never end); :func:`sniff_delimiter` and
:func:`csv_header` let the dataset form offer a CSV file's column names.
"""

from __future__ import annotations

import csv
import os
import stat

from nnstudio.core.dataset_spec import DatasetError

#: The most bytes of a file read to find its header row.
HEADER_BYTES = 1 << 16
#: Delimiters recognised when a CSV file's ``delimiter`` option is "auto", and the option's names for them.
DELIMITERS = {",": ",", ";": ";", "tab": "\t", "|": "|", ":": ":", "space": " "}


def require_regular_file(path: str | os.PathLike[str], what: str, option: str, dataset: str,
                         max_bytes: int) -> int:
    """Return the size of the regular file at ``path``; raise DatasetError naming what is wrong.

    Only regular files are read: a folder, a FIFO or a device is refused before it is opened (a FIFO
    would block, ``/dev/zero`` never end), and so is a file larger than ``max_bytes``.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise DatasetError(f"{what} {path} does not exist", option, dataset) from None
    except OSError as exc:
        raise DatasetError(f"{what} {path} cannot be read ({exc.strerror or exc})", option, dataset) from None
    if stat.S_ISDIR(info.st_mode):
        raise DatasetError(f"{path} is a folder; choose the {what} inside it", option, dataset)
    if not stat.S_ISREG(info.st_mode):
        raise DatasetError(f"{path} is not a regular file (a device, pipe or socket); choose a {what}",
                           option, dataset)
    if info.st_size > max_bytes:
        from nnstudio.core.formatting import format_bytes

        raise DatasetError(f"{path} is {format_bytes(info.st_size)}, more than the {format_bytes(max_bytes)} "
                           f"a {what} may have", option, dataset)
    return info.st_size


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
        if not stat.S_ISREG(os.stat(os.path.expanduser(path)).st_mode):
            return []
        with open(os.path.expanduser(path), encoding="utf-8-sig", errors="replace", newline="") as handle:
            sample = handle.read(HEADER_BYTES)
    except OSError:
        return []
    separator = DELIMITERS.get(delimiter) or sniff_delimiter(sample) or ","
    try:
        return [name.strip() for name in next(csv.reader(sample.splitlines()[:1], delimiter=separator), [])]
    except csv.Error:
        return []

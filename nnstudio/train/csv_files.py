"""Reading CSV files safely: regular files only, a size limit, UTF-8 (or UTF-16 with a BOM), delimiters.

The bytes come through the project's one guarded reader (``nnstudio.core.files.read_bytes``).

:func:`read_table` returns the header and the rows with their line numbers, or raises a
:class:`DatasetError` that names the file, and the line where the problem is: a folder or a device
given as the file, a file too large, text that is not UTF-8, a NUL byte, a cell longer than the
csv module's limit, a row with the wrong number of values, a header whose names repeat, or a file
whose values are separated by something other than the delimiter asked for.
:func:`parse_number` reads one numeric cell, refusing empty cells, NaN and infinities.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

from nnstudio.core.data_files import DELIMITERS, require_regular_file, sniff_delimiter
from nnstudio.core.datasets import DatasetError
from nnstudio.core.files import TABLE_BYTES, FileReadError, read_bytes

#: The largest CSV file read: the project's limit for tables.
MAX_CSV_BYTES = TABLE_BYTES
#: float32's largest finite value: bigger numbers would become infinities in the tensors.
FLOAT32_MAX = 3.4028234663852886e38


@dataclass
class Table:
    """A CSV file's header and data rows; ``lines[i]`` is the file line of ``rows[i]`` (1-based)."""

    path: Path
    header: list[str]
    rows: list[list[str]]
    lines: list[int]

    def column(self, name: str | None, default_index: int, option: str, dataset: str) -> int:
        """Return the index of column ``name`` (``None``: the column at ``default_index``)."""
        if name is None:
            return default_index % len(self.header)
        if name not in self.header:
            raise DatasetError(f"{self.path.name} has no column {name!r}; its columns: {', '.join(self.header)}",
                               option, dataset)
        return self.header.index(name)


def _decode(data: bytes, path: Path, dataset: str) -> str:
    """Return the file's text: UTF-8 (a BOM allowed) or UTF-16 with a BOM; else name the line."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise DatasetError(f"{path} starts like UTF-16 text but is not valid UTF-16", "path", dataset) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DatasetError(f"{path} line {line}: byte 0x{data[exc.start]:02x} is not UTF-8 text; save the file "
                           "as UTF-8 (most spreadsheet programs offer \"CSV UTF-8\")", "path", dataset) from None


def read_table(path_text: str, delimiter: str, dataset: str, min_rows: int = 2) -> Table:
    """Return the header and data rows of the CSV file at ``path_text`` (blank lines skipped).

    ``delimiter`` is a key of :data:`DELIMITERS` or "auto" (found from the first lines).
    """
    path = Path(path_text).expanduser()
    require_regular_file(path, "CSV file", "path", dataset, MAX_CSV_BYTES)
    try:
        data = read_bytes(path, MAX_CSV_BYTES, "CSV file")
    except FileReadError as exc:
        raise DatasetError(str(exc), "path", dataset) from None
    text = _decode(data, path, dataset)
    nul = text.find("\0")
    if nul >= 0:
        raise DatasetError(f"{path} line {text.count(chr(10), 0, nul) + 1} holds a NUL byte: this is not a text "
                           "(CSV) file", "path", dataset)
    separator = DELIMITERS[delimiter] if delimiter != "auto" else (sniff_delimiter(text[:1 << 16]) or ",")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
    rows: list[list[str]] = []
    lines: list[int] = []
    ends: list[int] = []
    while True:
        start = reader.line_num + 1  # a quoted cell may run over several lines: name where the row starts
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            reason = str(exc)
            if "field larger than field limit" in reason:
                reason = f"a cell is longer than {csv.field_size_limit():,} characters (an unclosed quote?)"
            raise DatasetError(f"{path} line {start}: {reason}", "path", dataset) from None
        if any(cell.strip() for cell in row):
            rows.append(row)
            lines.append(start)
            ends.append(reader.line_num)
    if not rows:
        raise DatasetError(f"{path} is empty", "path", dataset)
    header = [name.strip() for name in rows[0]]
    if len(header) == 1 and delimiter != "auto":
        other = sniff_delimiter(text[:1 << 16])
        if other is not None and other != separator:
            name = next(k for k, v in DELIMITERS.items() if v == other)
            raise DatasetError(f"{path}: the header has a single column when split at {delimiter!r}, but the "
                               f"values seem to be separated by {name!r}; set the delimiter option to {name} "
                               "(or auto)", "delimiter", dataset)
    for index, name in enumerate(header):
        if not name:
            header[index] = f"column {index + 1}"
        elif header.index(name) != index:
            raise DatasetError(f"{path} line {lines[0]}: the column name {name!r} appears twice", "path", dataset)
    if len(rows) - 1 < min_rows:
        raise DatasetError(f"{path} needs a header row and at least {min_rows} data rows; it has {len(rows) - 1}",
                           "path", dataset)
    for row, line, end in zip(rows[1:], lines[1:], ends[1:]):
        if len(row) != len(header):
            count = f"{len(row)} value{'s' if len(row) != 1 else ''}"
            spans = f" (the row runs to line {end}: an unclosed quote?)" if end > line else ""
            raise DatasetError(f"{path} line {line}: {count}, but the header has {len(header)} columns{spans}",
                               "path", dataset)
    return Table(path, header, rows[1:], lines[1:])


def parse_number(cell: str) -> float | None:
    """Return the number in ``cell``, or None when it is not one (NaN and infinities are numbers here)."""
    try:
        return float(cell)
    except ValueError:
        return None


def finite_number(cell: str, table: Table, row: int, column: int, what: str, option: str, dataset: str) -> float:
    """Return the finite number in ``cell``; raise DatasetError naming the file, line and column."""
    text = cell.strip()
    where = f"{table.path.name} line {table.lines[row]}, column {table.header[column]!r}"
    if not text:
        raise DatasetError(f"{where} is empty (a missing value); fill it in or remove the row", option, dataset)
    number = parse_number(text)
    if number is None:
        raise DatasetError(f"{where}: {cell!r} is not a number ({what} must be numeric)", option, dataset)
    if not math.isfinite(number) or abs(number) > FLOAT32_MAX:
        raise DatasetError(f"{where}: {text} is not a finite number that fits in float32; {what} must be finite",
                           option, dataset)
    return number

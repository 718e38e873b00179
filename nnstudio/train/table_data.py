"""CSV tables: numeric feature columns and one target column, for classification or regression."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import torch

from nnstudio.train.data import DatasetBundle, DatasetError

CSV_OPTIONS = {"path", "target", "task", "standardize", "seed", "delimiter"}
#: With task "auto", an integer target with at most this many distinct values is taken as class labels.
AUTO_CLASS_LIMIT = 20


def _parse_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def csv_table(options: Any, seed: int, loss: str | None, val_fraction: float) -> DatasetBundle:
    """A CSV file with a header row; every column but ``target`` must be numeric."""
    from nnstudio.train.datasets import _tensor_bundle

    path_text = options.text("path", "")
    if not path_text:
        raise DatasetError("give the CSV file to read", option="path", dataset="csv")
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise DatasetError(f"file {path} does not exist", option="path", dataset="csv")
    delimiter = options.text("delimiter", ",")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle, delimiter=delimiter))
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if len(rows) < 3:
        raise DatasetError(f"{path} needs a header row and at least 2 data rows", option="path", dataset="csv")
    header = [name.strip() for name in rows[0]]
    target = options.text("target", header[-1])
    if target not in header:
        raise DatasetError(f"{path} has no column {target!r}; columns: {', '.join(header)}", option="target",
                           dataset="csv")
    target_at = header.index(target)
    features: list[list[float]] = []
    labels: list[str] = []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise DatasetError(f"{path} line {line}: {len(row)} values, the header has {len(header)}",
                               option="path", dataset="csv")
        values = []
        for column, cell in enumerate(row):
            if column == target_at:
                continue
            number = _parse_float(cell.strip())
            if number is None:
                raise DatasetError(f"{path} line {line}, column {header[column]!r}: {cell!r} is not a number "
                                   "(feature columns must be numeric)", option="path", dataset="csv")
            values.append(number)
        features.append(values)
        labels.append(row[target_at].strip())
    x = torch.tensor(features, dtype=torch.float32)
    task = options.text("task", "auto", ("auto", "classification", "regression"))
    numeric = [_parse_float(label) for label in labels]
    if task == "auto":
        whole = all(v is not None and v == int(v) for v in numeric)
        # Whole numbers with few distinct values are class labels; other numbers are values to regress.
        task = "classification" if whole and len(set(labels)) <= AUTO_CLASS_LIMIT else "regression"
        if any(v is None for v in numeric):
            task = "classification"
    if options.flag("standardize", True):
        std = x.std(0, unbiased=False)
        x = (x - x.mean(0)) / torch.where(std > 0, std, torch.ones_like(std))
    split_seed = options.number("seed", seed, 0, 2**63 - 1, integer=True)
    description = f"csv {path.name}: {len(x)} rows, {x.shape[1]} features, target {target!r} ({task})"
    if task == "regression":
        if any(v is None for v in numeric):
            bad = labels[[v is None for v in numeric].index(True)]
            raise DatasetError(f"target {target!r} holds {bad!r}, not a number, so it cannot be regressed",
                               option="target", dataset="csv")
        y = torch.tensor(numeric, dtype=torch.float32).reshape(-1, 1)
        return _tensor_bundle(x, y, natural="regression", num_classes=None, loss=loss,
                              val_fraction=val_fraction, split_seed=split_seed, description=description)
    if all(v is not None for v in numeric):
        names = sorted(set(labels), key=lambda s: float(s))
    else:
        names = sorted(set(labels))
    index = {name: i for i, name in enumerate(names)}
    y = torch.tensor([index[label] for label in labels], dtype=torch.long)
    return _tensor_bundle(x, y, natural="classification", num_classes=len(names), loss=loss,
                          val_fraction=val_fraction, split_seed=split_seed, description=description,
                          class_names=names)

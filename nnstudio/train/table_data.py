"""The ``csv`` loader: numeric feature columns and one target column, for classification or regression.

Every cell is checked as it is read: a feature or regression target that is empty, not a number,
NaN or infinite is refused with the file, line and column, before any training starts.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from nnstudio.core.input_scaling import InputScaling
from nnstudio.train.csv_files import finite_number, parse_number, read_table
from nnstudio.train.data import DatasetBundle, DatasetError, split_indices, tensor_bundle
from nnstudio.train.loaders import LoadRequest, register_loader

#: With task "auto", an integer target with at most this many distinct values is taken as class labels.
AUTO_CLASS_LIMIT = 20


def class_index(labels: list[str]) -> list[str]:
    """Return the class names of ``labels``: sorted numerically when they are all finite numbers, else as text."""
    distinct = set(labels)
    numbers = [parse_number(label) for label in distinct]
    if all(v is not None and math.isfinite(v) for v in numbers):
        return sorted(distinct, key=float)
    return sorted(distinct)


@register_loader("csv")
def csv_table(options: dict[str, Any], request: LoadRequest) -> DatasetBundle:
    """A CSV file with a header row; every column but ``target`` must be numeric."""
    kind = request.kind
    table = read_table(options["path"], options["delimiter"], kind)
    target_at = table.column(options["target"], -1, "target", kind)
    target = table.header[target_at]
    feature_columns = [i for i in range(len(table.header)) if i != target_at]
    if not feature_columns:
        raise DatasetError(f"{table.path.name} has no feature columns: its only column, {target!r}, is the target",
                           "path", kind)
    features = [[finite_number(row[c], table, r, c, "feature columns", "path", kind) for c in feature_columns]
                for r, row in enumerate(table.rows)]
    labels = [row[target_at].strip() for row in table.rows]
    missing = next((r for r, label in enumerate(labels) if not label), None)
    if missing is not None:
        raise DatasetError(f"{table.path.name} line {table.lines[missing]}, column {target!r} is empty (a missing "
                           "target); fill it in or remove the row", "target", kind)
    x = torch.tensor(features, dtype=torch.float64)
    task = options["task"]
    numeric = [parse_number(label) for label in labels]
    if task == "auto":
        whole = all(v is not None and math.isfinite(v) and v == int(v) for v in numeric)
        # Whole numbers with few distinct values are class labels; other numbers are values to regress.
        task = "classification" if whole and len(set(labels)) <= AUTO_CLASS_LIMIT else "regression"
        if any(v is None for v in numeric):
            task = "classification"
    seed = request.seed_of(options)
    description = f"csv {table.path.name}: {len(x)} rows, {x.shape[1]} features, target {target!r} ({task})"
    if task == "regression":
        values = [finite_number(row[target_at], table, r, target_at, "a regression target", "target", kind)
                  for r, row in enumerate(table.rows)]
        y: torch.Tensor = torch.tensor(values, dtype=torch.float32).reshape(-1, 1)
        names: list[str] | None = None
        classes = None
    else:
        names = class_index(labels)
        if len(names) < 2:
            raise DatasetError(f"the target column {target!r} holds one value only ({names[0]!r}); a classifier "
                               "needs at least 2 classes", "target", kind)
        index = {name: i for i, name in enumerate(names)}
        y = torch.tensor([index[label] for label in labels], dtype=torch.long)
        classes = len(names)
    split = split_indices(y, task == "classification", request.val_fraction, seed)
    scaling = None
    preprocessing: dict[str, Any] = {"kind": "table", "columns": [table.header[c] for c in feature_columns],
                                     "mean": None, "std": None}
    if options["standardize"]:
        # Statistics of the training rows only: validation must not leak into what training sees.
        # They go with the run, so the exported model can standardise raw rows the same way.
        train_x = x[split[0]]
        std = train_x.std(0, unbiased=False)
        mean, std = train_x.mean(0), torch.where(std > 0, std, torch.ones_like(std))
        x = (x - mean) / std
        scaling = InputScaling(tuple(mean.tolist()), tuple(std.tolist()),
                               tuple(table.header[c] for c in feature_columns))
        preprocessing.update(mean=mean.tolist(), std=std.tolist())
    bundle = tensor_bundle(x.float(), y, natural=task, num_classes=classes, loss=request.loss,
                           val_fraction=request.val_fraction, split_seed=seed, description=description,
                           class_names=names, dataset=kind, split=split, input_scaling=scaling)
    bundle.preprocessing = preprocessing
    return bundle

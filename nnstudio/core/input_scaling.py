"""How raw input rows are standardised before the network sees them (a CSV dataset's ``standardize``).

The statistics come from the training rows only. A run keeps them (its checkpoint's
``input_scaling``) and the run's exported ``model.py`` applies them first thing in ``forward``, so
the exported model takes raw rows, as they stand in the file, and predicts what the app predicts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class InputScaling:
    """Per feature: ``(x - mean) / std``; ``columns`` names the features (a CSV's column names)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    columns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if len(self.mean) != len(self.std) or (self.columns and len(self.columns) != len(self.mean)):
            raise ValueError(f"input scaling: {len(self.mean)} means, {len(self.std)} deviations and "
                             f"{len(self.columns)} column names do not match")
        if not all(math.isfinite(v) for v in self.mean) or not all(math.isfinite(v) and v > 0 for v in self.std):
            raise ValueError("input scaling: every mean must be finite and every deviation finite and above 0")

    def as_dict(self) -> dict[str, Any]:
        """Returns plain lists (what a checkpoint stores)."""
        return {"mean": list(self.mean), "std": list(self.std), "columns": list(self.columns)}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> InputScaling:
        """Reads :meth:`as_dict`'s form back; raises ValueError saying what does not fit."""
        try:
            return cls(tuple(float(v) for v in raw["mean"]), tuple(float(v) for v in raw["std"]),
                       tuple(str(c) for c in raw.get("columns") or ()))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"input scaling: {exc!r} is missing or not a list of numbers") from None

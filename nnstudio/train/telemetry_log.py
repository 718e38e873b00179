"""A run's telemetry kept for later: ``telemetry.csv`` in the run folder, one row per layer per sample.

Columns (empty where a statistic does not apply to the layer):

========================  ==========================================================================
``epoch``, ``step``       the sampled step: epoch (from 1) and step within it (from 1)
``global_step``           steps since the run started
``layer``                 the editor node id (dotted for layers nested in blocks)
``mean``, ``std``         of the layer's output over the batch
``zeros``, ``dead``       ReLU-like layers: share of zero outputs; share of units zero for every sample
``saturated``             Sigmoid / Tanh: share of outputs within 1% of the ends of their range
``output_grad_norm``      L2 norm of the loss gradient arriving at the layer's output
``grad_norm``             L2 norm of the gradients of the layer's parameters
``update_ratio``          norm of the step's weight update / norm of the weights
========================  ==========================================================================
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from nnstudio.core.files import write_text_atomic
from nnstudio.core.problems import Problem
from nnstudio.train.telemetry import TelemetrySample

COLUMNS = ("epoch", "step", "global_step", "layer", "mean", "std", "zeros", "dead", "saturated",
           "output_grad_norm", "grad_norm", "update_ratio")
FILE_NAME = "telemetry.csv"
_STATS = COLUMNS[4:]


class TelemetryLog:
    """Collects the samples of a run (connect :meth:`add` to ``run.events.telemetry``) and remembers
    which problems have been seen, so each is announced once."""

    def __init__(self) -> None:
        self.rows: list[tuple[object, ...]] = []
        self.samples = 0
        self._seen: set[tuple[str, str | None]] = set()

    def add(self, sample: TelemetrySample) -> list[Problem]:
        """Keeps the sample's rows; returns its problems not seen before in this run."""
        self.samples += 1
        for name, stats in sample.layers.items():
            self.rows.append((sample.epoch, sample.step, sample.global_step, name,
                              *(getattr(stats, column) for column in _STATS)))
        new = [p for p in sample.problems if (p.code, p.node_id) not in self._seen]
        self._seen.update((p.code, p.node_id) for p in new)
        return new

    def csv_text(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in self.rows:
            writer.writerow(["" if v is None else (repr(v) if isinstance(v, float) else v) for v in row])
        return out.getvalue()

    def write(self, folder: str | os.PathLike[str]) -> Path:
        """Writes ``telemetry.csv`` into ``folder`` (atomically); returns its path."""
        path = Path(folder) / FILE_NAME
        write_text_atomic(path, self.csv_text())
        return path

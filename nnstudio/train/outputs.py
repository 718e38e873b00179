"""A run's output folder (model.pth, model.py, project.nns, metrics.csv, checkpoint.pth, preprocessing.json)
and torch files.

Every file goes through the one atomic writer (:mod:`nnstudio.core.files`); a torch file is checked
before it replaces anything by reading it back with ``torch.load(weights_only=True)`` and comparing
its tensors' names, shapes and dtypes with what was saved. When the run's folder cannot take the
files (a full disk, no permission, a file in the way), :func:`write_outputs_or_rescue` writes them to
a rescue folder instead and says where, so trained epochs are never thrown away.

Reading weights and checkpoints lives in :mod:`nnstudio.train.weights_files` (re-exported here).
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nnstudio.compile.results import Analysis
from nnstudio.core.errors import NnstudioError
from nnstudio.core.files import FileWriteError, check_output_folder, write_atomic, write_text_atomic
from nnstudio.core.project import Project, save_project
from nnstudio.train.preprocessing import python_block, write_preprocessing
from nnstudio.train.trainer import EpochMetrics, TrainingRun
from nnstudio.train.weights_files import (  # noqa: F401 - re-exported: the loaders' historic home
    UnsafeWeightsError,
    WeightsFileError,
    first_unsafe_global,
    load_state_dict_file,
    load_weights_file,
)

#: metrics.csv's columns; new ones are only ever appended, so scripts reading by position keep working.
METRICS_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_time_s",
                   "samples_per_s", "train_mae", "val_mae")
OUTPUT_FILES = ("model.pth", "model.py", "project.nns", "metrics.csv", "checkpoint.pth", "preprocessing.json")
#: Formats a run's outputs can add to OUTPUT_FILES, and the file each one writes.
EXTRA_OUTPUTS = {"safetensors": "model.safetensors", "onnx": "model.onnx", "pt2": "model.pt2"}


def _tensors(value: Any, where: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    if isinstance(value, torch.Tensor):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _tensors(item, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _tensors(item, f"{where}[{index}]")


def save_torch_file(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``obj`` with ``torch.save`` atomically, checked by reading it back with ``weights_only=True``.

    Raises FileWriteError (previous file kept) when the disk refuses or the read-back differs.
    """
    expected = {name: (tuple(t.shape), t.dtype) for name, t in _tensors(obj)}

    def verify(staged: Path) -> None:
        # mmap: a multi-gigabyte state dict is checked without a second copy in memory
        loaded = torch.load(staged, map_location="cpu", weights_only=True, mmap=True)
        found = {name: (tuple(t.shape), t.dtype) for name, t in _tensors(loaded)}
        if found != expected:
            differing = sorted(set(found.items()) ^ set(expected.items()))
            raise ValueError(f"reading it back gave other tensors (first difference: {differing[0][0]})")

    return write_atomic(path, lambda staged: torch.save(obj, staged), verify=verify)


def metrics_csv_text(history: list[EpochMetrics]) -> str:
    """Return metrics.csv: one row per epoch; accuracy cells are empty for regression, MAE cells for
    classification."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(METRICS_COLUMNS)
    for m in history:
        row = m.as_dict()
        writer.writerow(["" if row[c] is None else (repr(row[c]) if isinstance(row[c], float) else row[c])
                         for c in METRICS_COLUMNS])
    return out.getvalue()


def expected_output_bytes(run: TrainingRun) -> int:
    """Return about how many bytes the output folder takes: weights twice (model.pth, checkpoint.pth),
    the optimizer's state, and a megabyte for the text files."""
    weights = sum(t.numel() * t.element_size() for t in run.model.state_dict().values())
    optimizer = sum(t.numel() * t.element_size() for _, t in _tensors(run.optimizer.state_dict()))
    return 2 * weights + optimizer + 2**20


def write_outputs(run: TrainingRun, out_dir: str | os.PathLike[str], project: Project | None = None, *,
                  analysis: Analysis | None = None, extra_formats: Sequence[str] = ()) -> Path:
    """Write the run's last good epoch to ``out_dir`` (created); return the folder.

    model.py and project.nns need the project (``project`` or ``run.project``); the rest does not.
    ``analysis`` (the project's current one) spares analysing it again; ``extra_formats`` adds the
    :data:`EXTRA_OUTPUTS` named (safetensors, onnx, pt2) with the trained weights.
    Raises FileWriteError naming the file and the reason when the folder cannot take them.
    """
    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise FileWriteError(folder, "is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FileWriteError(folder, f"cannot create the folder ({exc.strerror or exc})", exc.errno) from None
    project = project or run.project
    save_torch_file(run.weights(), folder / "model.pth")
    save_torch_file(run.checkpoint(), folder / "checkpoint.pth")
    write_text_atomic(folder / "metrics.csv", metrics_csv_text(run.history))
    write_preprocessing(run.data, run.settings.loss, folder)
    if project is not None:
        from nnstudio.compile import generate_source

        # A run on standardised data: model.py takes raw rows and standardises them as the data was.
        source = generate_source(project.graph, analysis=analysis, input_scaling=run.input_scaling)
        write_text_atomic(folder / "model.py", source + python_block(run.data, run.settings.loss))
        trained = project.copy()
        trained.settings = run.settings.model_copy(deep=True)
        try:
            save_project(trained, folder / "project.nns")
        except NnstudioError as exc:
            raise FileWriteError(folder / "project.nns", getattr(exc, "reason", str(exc))) from None
    if extra_formats:
        if project is None:
            raise NnstudioError("exports in other formats need the run's project")
        from nnstudio.train.export import export_model

        weights = run.weights()
        for fmt in extra_formats:
            export_model(project, fmt, folder / EXTRA_OUTPUTS[fmt], weights=weights, analysis=analysis,
                         input_scaling=run.input_scaling)
    return folder


def rescue_folder_root() -> Path:
    """Return where outputs go when their own folder cannot take them (the per-user data directory)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("nnstudio", appauthor=False)) / "rescued-runs"


@dataclass(frozen=True)
class OutputsWritten:
    """Where a run's outputs went: ``folder``; ``problem`` says why it is not the folder asked for."""

    folder: Path
    problem: FileWriteError | None = None

    @property
    def rescued(self) -> bool:
        return self.problem is not None

    def message(self, asked: str | os.PathLike[str]) -> str:
        """Return one line for people: where the files are, and why there when it was not ``asked``."""
        if self.problem is None:
            return f"wrote {self.folder}"
        return (f"could not write the outputs to {asked} ({self.problem.reason}); "
                f"wrote them to {self.folder} instead")


def write_outputs_or_rescue(run: TrainingRun, out_dir: str | os.PathLike[str],
                            project: Project | None = None, *, analysis: Analysis | None = None) -> OutputsWritten:
    """Write the outputs to ``out_dir``; if that fails, to a rescue folder the result names.

    Raises FileWriteError (naming both places) only when the rescue folder fails too.
    """
    try:
        return OutputsWritten(write_outputs(run, out_dir, project, analysis=analysis))
    except FileWriteError as first:
        name = (project or run.project).name if (project or run.project) else "run"
        safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:40] or "run"
        candidates = [rescue_folder_root(), Path(tempfile.gettempdir()) / "nnstudio-rescued-runs"]
        for root in candidates:
            target = root / f"{safe}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
            try:
                check_output_folder(target)
                return OutputsWritten(write_outputs(run, target, project, analysis=analysis), first)
            except FileWriteError:
                continue
        raise FileWriteError(out_dir, f"{first.reason}; the rescue folders ({', '.join(map(str, candidates))}) "
                                      "refused the files too", first.errno) from None

"""A run's output folder (model.pth, model.py, project.nns, metrics.csv, checkpoint.pth) and safe loading.

Every weights or checkpoint file is read with ``torch.load(weights_only=True)``; a file that needs
anything more (arbitrary pickled objects) is refused with :class:`UnsafeWeightsError` naming the
global it wanted, and is never unpickled.
"""

from __future__ import annotations

import csv
import io
import os
import pickle
import re
import tempfile
from pathlib import Path
from typing import Any

import torch

from nnstudio.core.errors import NnstudioError
from nnstudio.core.project import Project, save_project, write_text_atomic
from nnstudio.train.trainer import EpochMetrics, TrainingRun

METRICS_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_time_s",
                   "samples_per_s")
OUTPUT_FILES = ("model.pth", "model.py", "project.nns", "metrics.csv", "checkpoint.pth")


class WeightsFileError(NnstudioError):
    """A weights/checkpoint file could not be read; ``path`` names it."""

    def __init__(self, path: str | os.PathLike[str], message: str) -> None:
        self.path = str(path)
        super().__init__(f"{path}: {message}")


class UnsafeWeightsError(WeightsFileError):
    """A file that only full unpickling could read; ``global_name`` is what it asked for."""

    def __init__(self, path: str | os.PathLike[str], global_name: str | None) -> None:
        self.global_name = global_name
        wanted = f" (it needs {global_name})" if global_name else ""
        super().__init__(path, f"refused: this file holds Python objects beyond tensors{wanted}, and "
                               "loading it could run arbitrary code. Save a plain state dict instead: "
                               "torch.save(model.state_dict(), 'model.pth')")


def load_weights_file(path: str | os.PathLike[str]) -> Any:
    """Return the contents of a ``.pth`` file read with ``weights_only=True`` onto the CPU."""
    path = Path(path)
    if not path.is_file():
        raise WeightsFileError(path, "no such file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        match = re.search(r"GLOBAL ([\w.]+)", str(exc)) or re.search(r"global ['`]?([\w.]+)", str(exc))
        raise UnsafeWeightsError(path, match.group(1) if match else None) from None
    except Exception as exc:  # noqa: BLE001 - a damaged file fails deep inside the unpickler in many ways
        raise WeightsFileError(path, f"not a PyTorch weights file ({type(exc).__name__}: {exc})") from None


def load_state_dict_file(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Return the state dict in ``path``: a plain one, or the ``model`` entry of a checkpoint."""
    content = load_weights_file(path)
    if isinstance(content, dict) and "model" in content and isinstance(content["model"], dict):
        content = content["model"]
    if not isinstance(content, dict) or not all(isinstance(v, torch.Tensor) for v in content.values()):
        raise WeightsFileError(path, "does not hold a state dict (a mapping of names to tensors)")
    return content


def _save_atomic(obj: Any, path: Path) -> None:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(buffer.getvalue())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def metrics_csv_text(history: list[EpochMetrics]) -> str:
    """Return metrics.csv: one row per epoch; accuracy cells are empty for regression."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(METRICS_COLUMNS)
    for m in history:
        row = m.as_dict()
        writer.writerow(["" if row[c] is None else (repr(row[c]) if isinstance(row[c], float) else row[c])
                         for c in METRICS_COLUMNS])
    return out.getvalue()


def write_outputs(run: TrainingRun, out_dir: str | os.PathLike[str], project: Project | None = None) -> Path:
    """Write the run's last good epoch to ``out_dir`` (created); return the folder.

    model.py and project.nns need the project (``project`` or ``run.project``); the rest does not.
    """
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    project = project or run.project
    _save_atomic(run.weights(), folder / "model.pth")
    _save_atomic(run.checkpoint(), folder / "checkpoint.pth")
    write_text_atomic(folder / "metrics.csv", metrics_csv_text(run.history))
    if project is not None:
        from nnstudio.compile import generate_source

        write_text_atomic(folder / "model.py", generate_source(project.graph))
        trained = project.copy()
        trained.settings = run.settings.model_copy(deep=True)
        save_project(trained, folder / "project.nns")
    return folder

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
import pickletools
import re
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from nnstudio.core.errors import NnstudioError
from nnstudio.core.project import Project, save_project, write_text_atomic
from nnstudio.train.trainer import EpochMetrics, TrainingRun

#: metrics.csv's columns; new ones are only ever appended, so scripts reading by position keep working.
METRICS_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_time_s",
                   "samples_per_s", "train_mae", "val_mae")
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
        if global_name and _is_module_class(global_name):
            what = (f"refused: this file is a whole pickled model ({global_name}), not a state dict; loading "
                    "it would run the code it names, which could be anything.")
        else:
            wanted = f" (it needs {global_name})" if global_name else ""
            what = (f"refused: this file holds Python objects beyond tensors{wanted}, and loading it could run "
                    "arbitrary code.")
        super().__init__(path, f"{what} Save a plain state dict instead: "
                               "torch.save(model.state_dict(), 'model.pth')")


def _is_module_class(global_name: str) -> bool:
    """Return True when ``global_name`` names an ``nn.Module`` subclass (without importing anything new)."""
    import sys

    module_name, _, attribute = global_name.rpartition(".")
    owner = sys.modules.get(module_name)
    candidate = getattr(owner, attribute, None) if owner is not None else None
    return isinstance(candidate, type) and issubclass(candidate, torch.nn.Module)


def _pickle_bytes(path: Path) -> bytes:
    """Return the pickle stream of a torch file: ``data.pkl`` of a zip archive, else the file itself."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith("data.pkl")]
            return archive.read(names[0]) if names else b""
    return path.read_bytes()


def first_unsafe_global(path: Path) -> str | None:
    """Return the first global a pickle asks for that ``weights_only`` loading does not allow.

    Reads the opcodes with :mod:`pickletools`, which never executes them, so naming the culprit is
    as safe as refusing it.
    """
    try:
        from torch._weights_only_unpickler import _get_allowed_globals

        allowed = set(_get_allowed_globals())
    except (ImportError, AttributeError):  # a private helper of torch; without it name the first global
        allowed = set()
    strings: list[str] = []
    try:
        for opcode, argument, _position in pickletools.genops(_pickle_bytes(path)):
            if isinstance(argument, str):
                strings.append(argument)
            if opcode.name in ("GLOBAL", "INST") and isinstance(argument, str):
                name = argument.replace(" ", ".")
            elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                name = f"{strings[-2]}.{strings[-1]}"
            else:
                continue
            if name not in allowed:
                return name
    except (ValueError, OSError, zipfile.BadZipFile, pickle.UnpicklingError, IndexError, KeyError, EOFError):
        return None
    return None


def load_weights_file(path: str | os.PathLike[str]) -> Any:
    """Return the contents of a ``.pth`` file read with ``weights_only=True`` onto the CPU."""
    path = Path(path)
    if not path.is_file():
        raise WeightsFileError(path, "no such file")
    if path.stat().st_size == 0:
        raise WeightsFileError(path, "the file is empty")
    try:
        with warnings.catch_warnings():
            # torch warns about pickle protocols it reads anyway; the refusal below says what matters.
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        match = re.search(r"GLOBAL ([\w.]+)", str(exc)) or re.search(r"global ['`]?([\w.]+)", str(exc))
        raise UnsafeWeightsError(path, match.group(1) if match else first_unsafe_global(path)) from None
    except Exception as exc:  # noqa: BLE001 - a damaged file fails deep inside the unpickler in many ways
        raise WeightsFileError(path, f"not a PyTorch weights file, or a damaged one ({type(exc).__name__}: "
                                     f"{str(exc).splitlines()[0] if str(exc) else 'no details'})") from None


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

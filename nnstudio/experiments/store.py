"""``RunStore``: the runs of one runs folder, listed, renamed, annotated, compared and deleted.

Usage::

    store = RunStore(runs_folder_for("digits.nns"))
    for record in store.runs():                 # oldest first; never raises for a broken run
        print(record.title, record.status, record.best.get("val_acc"))
    store.rename(run_id, "wider fc1"); store.set_notes(run_id, "lr too high?")
    diff = store.compare(a_id, b_id)            # settings and network differences
    store.delete(run_id)                        # removes the folder: logs, weights, everything

A run is any sub-folder holding ``run.json`` or TensorBoard events; other folders and files
(sweep storage, stray files) are not runs.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from nnstudio.core.errors import NnstudioError
from nnstudio.experiments.compare import RunDiff, compare_runs
from nnstudio.experiments.records import RECORD_FILE, RunRecord, read_run, write_meta


class RunNotFoundError(NnstudioError):
    """No run of that id in the runs folder; ``run_id`` names it."""

    def __init__(self, run_id: str, folder: Path) -> None:
        self.run_id = run_id
        super().__init__(f"there is no run {run_id!r} in {folder}")


def _is_run_folder(path: Path) -> bool:
    if not path.is_dir() or path.name.startswith("."):
        return False
    if (path / RECORD_FILE).is_file():
        return True
    return any(child.name.startswith("events.out.tfevents") for child in path.iterdir())


def folder_size(path: Path) -> int:
    """Return the bytes held by the files under ``path``."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += (Path(root) / name).stat().st_size
            except OSError:
                pass
    return total


class RunStore:
    """The runs in ``folder`` (a runs folder: one sub-folder per run)."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def runs(self) -> list[RunRecord]:
        """Return every run's record, oldest first (a broken one as ``damaged``, never an exception)."""
        if not self.folder.is_dir():
            return []
        try:
            children = [p for p in self.folder.iterdir() if _is_run_folder(p)]
        except OSError:
            return []
        return sorted((read_run(p) for p in children), key=_order_key)

    def run_ids(self) -> list[str]:
        """Return the ids (folder names) of the runs, oldest first."""
        return [record.run_id for record in self.runs()]

    def get(self, run_id: str) -> RunRecord:
        """Return the record of ``run_id``; raises RunNotFoundError."""
        return read_run(self._path(run_id))

    def _path(self, run_id: str) -> Path:
        path = self.folder / run_id
        if not run_id or Path(run_id).name != run_id or not _is_run_folder(path):
            raise RunNotFoundError(run_id, self.folder)
        return path

    def rename(self, run_id: str, name: str) -> None:
        """Give ``run_id`` a name to show (the folder keeps its own; "" goes back to it)."""
        write_meta(self._path(run_id), name=name)

    def set_notes(self, run_id: str, notes: str) -> None:
        """Replace the notes of ``run_id``."""
        write_meta(self._path(run_id), notes=notes)

    def delete(self, run_id: str) -> int:
        """Delete the folder of ``run_id`` with everything in it; return the bytes freed.

        A run still training cannot be deleted (its process would write into a missing folder).
        """
        path = self._path(run_id)
        record = read_run(path)
        if record.status == "running":
            raise NnstudioError(f"run {record.title!r} is still training; stop it before deleting it")
        size = folder_size(path)
        try:
            shutil.rmtree(path)
        except OSError as exc:
            raise NnstudioError(f"could not delete {path}: {exc.strerror or exc}") from None
        return size

    def compare(self, a: str, b: str) -> RunDiff:
        """Return what changed from run ``a`` to run ``b``."""
        return compare_runs(self.get(a), self.get(b))

    def previous(self, run_id: str) -> RunRecord | None:
        """Return the run made just before ``run_id`` (None for the first)."""
        records = self.runs()
        ids = [r.run_id for r in records]
        index = ids.index(run_id) if run_id in ids else -1
        return records[index - 1] if index > 0 else None


def _order_key(record: RunRecord) -> tuple[float, str]:
    """Order runs by when they started, then by folder name (sweep trials started in one second)."""
    return (record.started_unix, record.run_id)

"""Where runs live: a project's runs folder and one new sub-folder per run.

``NAME.runs/`` sits beside ``NAME.nns``; a bundled example (or a project never saved) keeps its runs in
the user data directory, and ``--out DIR`` puts them anywhere. Each run gets a folder of its own
(its outputs, TensorBoard events and ``run.json``); sweeps keep their study storage beside the runs.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from platformdirs import user_data_dir

from nnstudio.core.errors import NnstudioError

RUNS_SUFFIX = ".runs"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str, fallback: str = "untitled") -> str:
    """Return ``text`` as a file name made of letters, digits, dots, dashes and underscores."""
    cleaned = _UNSAFE.sub("-", text.strip()).strip("-.")
    return cleaned[:80] or fallback


def user_runs_root() -> Path:
    """Return the folder holding the runs of examples and unsaved projects (in the user data dir)."""
    return Path(user_data_dir("nnstudio", appauthor=False)) / "runs"


def runs_folder_for(project_path: str | os.PathLike[str] | None = None, *, example: str | None = None,
                    name: str | None = None) -> Path:
    """Return the runs folder of a project file, a bundled example, or an unsaved project ``name``."""
    if project_path is not None:
        path = Path(project_path)
        return path.with_name(path.stem + RUNS_SUFFIX)
    if example is not None:
        return user_runs_root() / "examples" / f"{safe_name(example)}{RUNS_SUFFIX}"
    return user_runs_root() / "unsaved" / f"{safe_name(name or 'untitled')}{RUNS_SUFFIX}"


def runs_folder_for_document(path: str | os.PathLike[str] | None, name: str) -> Path:
    """Return the runs folder of a project open in the window: beside its file, else by its name.

    A document never saved that carries a bundled example's name shares that example's runs with
    ``nnstudio train --example NAME``.
    """
    if path is not None:
        return runs_folder_for(path)
    from nnstudio.core.examples import list_examples

    if name in {info.name for info in list_examples()}:
        return runs_folder_for(example=name)
    return runs_folder_for(name=name)


def new_run_folder(runs_folder: str | os.PathLike[str], stem: str | None = None) -> Path:
    """Create and return a fresh, empty run folder in ``runs_folder`` (named after the time, or ``stem``).

    The folder is made with an exclusive ``mkdir``, so two processes starting runs in the same second
    get two folders (``...-2``, ``-3``), never one shared.
    """
    root = Path(runs_folder)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NnstudioError(f"cannot create the runs folder {root}: {exc.strerror or exc}") from None
    base = safe_name(stem) if stem else time.strftime("%Y%m%d-%H%M%S")
    for attempt in range(1, 10_000):
        folder = root / (base if attempt == 1 else f"{base}-{attempt}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            raise NnstudioError(f"cannot create a run folder in {root}: {exc.strerror or exc}") from None
        return folder
    raise NnstudioError(f"{root} already holds 10,000 runs named {base}; choose another name")


def ensure_folder(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` (and its parents) when missing and return it; a clear NnstudioError otherwise."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NnstudioError(f"cannot create the folder {folder}: {exc.strerror or exc}") from None
    return folder

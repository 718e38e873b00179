"""Run records: what one training run was and how it went, as ``run.json`` in the run's folder.

A record holds the settings, the graph's fingerprint (the graph itself, the whole project, is
``project.nns`` beside it: a listing need not read it, and it opens as a project), every epoch's metrics, the final and best metrics, the duration, the device, the output
folder and how the run ended (``finished``, ``stopped``, ``failed``, ``pruned``: with the reason).
The recorder rewrites it atomically while the run goes, so a crash leaves a whole file that still
says ``running``; :func:`read_run` shows such a record as ``interrupted`` once the process that wrote
it is gone. Names and notes people give a run live in ``meta.json`` beside it, so editing them never
races the recorder.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnstudio.core.files import verify_json, write_json_atomic, write_text_atomic

RECORD_FILE = "run.json"
META_FILE = "meta.json"
#: The project the run trained (network and settings), a plain ``.nns`` file.
PROJECT_FILE = "project.nns"
RECORD_FORMAT = "nnstudio-run"
RECORD_VERSION = 1
#: A record larger than this is not a run record (they are kilobytes; a megabyte per 10,000 epochs).
MAX_RECORD_BYTES = 64 * 1024 * 1024

#: How a run ended, as written by the recorder.
ENDED = ("finished", "stopped", "failed", "pruned")
#: Every status a listed run can have: ``running`` while it goes, ``interrupted`` when the process
#: that wrote it died mid-run, ``damaged`` when its record cannot be read.
STATUSES = ("running", *ENDED, "interrupted", "damaged")

#: The per-epoch numbers a record keeps (the trainer's EpochMetrics, less the confusion matrix).
EPOCH_FIELDS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_time_s",
                "samples_per_s", "train_mae", "val_mae")
#: Metrics where lower is better; the others (accuracies) are better higher.
LOWER_IS_BETTER = frozenset({"train_loss", "val_loss", "train_mae", "val_mae"})
BEST_FIELDS = ("train_loss", "val_loss", "train_acc", "val_acc", "train_mae", "val_mae")


def graph_fingerprint(document: dict[str, Any]) -> str:
    """Return a short hash of a project document's network: layers, their parameters and the wiring.

    Positions, names and training settings do not count: moving a layer leaves the same network.
    """
    nodes = sorted((str(n.get("id")), str(n.get("type")), json.dumps(n.get("params", {}), sort_keys=True))
                   for n in document.get("nodes", []))
    edges = sorted(json.dumps(e, sort_keys=True) for e in document.get("edges", []))
    blocks = json.dumps(document.get("blocks", {}), sort_keys=True)
    text = json.dumps([nodes, edges, blocks], separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def this_process() -> dict[str, Any]:
    """Return what identifies the running process later: host, pid and the process's start time."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "started": _process_start(os.getpid())}


def _process_start(pid: int) -> float | None:
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.Error, OSError):
        return None


def process_alive(process: dict[str, Any] | None) -> bool | None:
    """Return whether the process described by :func:`this_process` still runs (None: cannot tell).

    Only processes of this host can be checked; the start time guards against a reused pid.
    """
    if not isinstance(process, dict) or process.get("host") != socket.gethostname():
        return None
    pid = process.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool):
        return None
    started = _process_start(pid)
    if started is None:
        return False
    recorded = process.get("started")
    return not isinstance(recorded, (int, float)) or abs(started - recorded) < 1.0


def best_metrics(epochs: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the best value of every metric over ``epochs`` and the epoch it came from.

    Keys are ``val_loss`` and ``val_loss_epoch`` and so on; losses and MAEs count lower as better,
    accuracies higher.
    """
    best: dict[str, Any] = {}
    for name in BEST_FIELDS:
        scored = [(row[name], row["epoch"]) for row in epochs
                  if isinstance(row.get(name), (int, float)) and math.isfinite(row[name])]
        if not scored:
            continue
        value, epoch = (min if name in LOWER_IS_BETTER else max)(scored, key=lambda pair: pair[0])
        best[name], best[f"{name}_epoch"] = value, epoch
    return best


@dataclass
class RunRecord:
    """One run. ``run_id`` is its folder's name; ``folder`` the folder itself (not stored)."""

    run_id: str
    folder: Path
    status: str = "running"
    reason: str = ""
    created: str = ""
    #: When the run started (seconds since the epoch); orders the runs list.
    started_unix: float = 0.0
    project_name: str = ""
    project_path: str | None = None
    example: str | None = None
    source: str = "cli"
    settings: dict[str, Any] = field(default_factory=dict)
    #: The project document when it is at hand (the recorder's); else ``graph`` reads project.nns.
    document: dict[str, Any] | None = field(default=None, repr=False)
    fingerprint: str = ""
    epochs: list[dict[str, Any]] = field(default_factory=list)
    final: dict[str, Any] = field(default_factory=dict)
    best: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0
    device: str = ""
    output_folder: str = ""
    notes_from_run: list[str] = field(default_factory=list)
    sweep: dict[str, Any] | None = None
    resumed_from: str | None = None
    process: dict[str, Any] = field(default_factory=dict)
    #: From meta.json: the name people gave the run ("" shows the folder name) and their notes.
    name: str = ""
    notes: str = ""

    @property
    def title(self) -> str:
        """The name shown for the run: the one given, else its folder's name."""
        return self.name or self.run_id

    @property
    def graph(self) -> dict[str, Any]:
        """Return the project document the run trained (``{}`` when its project.nns is missing or bad)."""
        if self.document is None:
            self.document = _read_document(self.folder / PROJECT_FILE)
        return self.document

    @property
    def ended(self) -> bool:
        return self.status in ENDED

    def series(self) -> dict[str, tuple[list[float], list[float]]]:
        """Return each per-epoch metric as ``(epochs, values)``, keyed like the training plots' series."""
        out: dict[str, tuple[list[float], list[float]]] = {}
        for name in EPOCH_FIELDS[1:]:
            points = [(float(row["epoch"]), float(row[name])) for row in self.epochs
                      if isinstance(row.get(name), (int, float)) and isinstance(row.get("epoch"), (int, float))
                      and math.isfinite(row[name])]
            if points:
                out[name] = ([x for x, _ in points], [y for _, y in points])
        return out

    def to_dict(self) -> dict[str, Any]:
        """Return the record as ``run.json`` stores it (meta fields and the folder left out)."""
        return {
            "format": RECORD_FORMAT, "version": RECORD_VERSION, "status": self.status, "reason": self.reason,
            "created": self.created, "started_unix": self.started_unix, "project": {"name": self.project_name, "path": self.project_path,
                                                 "example": self.example},
            "source": self.source, "device": self.device, "duration_s": self.duration_s,
            "output_folder": self.output_folder, "fingerprint": self.fingerprint, "settings": self.settings,
            "best": self.best, "final": self.final, "epochs": self.epochs, "notes": self.notes_from_run,
            "sweep": self.sweep, "resumed_from": self.resumed_from, "process": self.process,
        }

    @classmethod
    def from_dict(cls, folder: Path, raw: dict[str, Any]) -> RunRecord:
        """Return the record in ``raw`` (as ``to_dict`` made it); raises ValueError when it is not one."""
        if raw.get("format") != RECORD_FORMAT:
            raise ValueError(f"not an nnstudio run record (format {raw.get('format')!r})")
        version = raw.get("version")
        if not isinstance(version, int) or version > RECORD_VERSION:
            raise ValueError(f"written by a newer nnstudio (version {version!r})")
        status = raw.get("status")
        if status not in ("running", *ENDED):
            raise ValueError(f"unknown status {status!r}")
        project = raw.get("project") if isinstance(raw.get("project"), dict) else {}
        epochs = [row for row in raw.get("epochs", []) if isinstance(row, dict)]
        return cls(
            run_id=folder.name, folder=folder, status=status, reason=str(raw.get("reason", "")),
            created=str(raw.get("created", "")), started_unix=_number(raw.get("started_unix")),
            project_name=str(project.get("name", "")),
            project_path=project.get("path"), example=project.get("example"),
            source=str(raw.get("source", "")), settings=_dict(raw.get("settings")),
            fingerprint=str(raw.get("fingerprint", "")), epochs=epochs, final=_dict(raw.get("final")),
            best=_dict(raw.get("best")), duration_s=_number(raw.get("duration_s")),
            device=str(raw.get("device", "")), output_folder=str(raw.get("output_folder", "")),
            notes_from_run=[str(n) for n in raw.get("notes", []) if isinstance(n, str)],
            sweep=raw.get("sweep") if isinstance(raw.get("sweep"), dict) else None,
            resumed_from=raw.get("resumed_from"), process=_dict(raw.get("process")),
        )


def _read_document(path: Path) -> dict[str, Any]:
    try:
        if path.stat().st_size > MAX_RECORD_BYTES:
            return {}
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    return raw if isinstance(raw, dict) else {}


def write_document(record: RunRecord) -> None:
    """Write the project the run trains as ``project.nns`` in its folder (atomically)."""
    write_json_atomic(record.folder / PROJECT_FILE, record.graph)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def write_record(record: RunRecord) -> None:
    """Replace the record's ``run.json`` atomically (readers see the old or the new file, never a part)."""
    text = json.dumps(record.to_dict(), ensure_ascii=False, allow_nan=False, default=_plain)
    write_text_atomic(record.folder / RECORD_FILE, text + "\n", verify=verify_json)


def _plain(value: Any) -> Any:
    """Make numpy numbers, tuples and paths JSON-friendly (anything else: its text)."""
    if isinstance(value, (tuple, set)):
        return list(value)
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    return str(value)


def read_run(folder: str | os.PathLike[str]) -> RunRecord:
    """Return the record of the run in ``folder``; never raises for a bad or missing record.

    A record a dead process left ``running`` comes back ``interrupted``; one that cannot be read
    comes back ``damaged`` with the reason, so one broken run never hides the others.
    """
    folder = Path(folder)
    path = folder / RECORD_FILE
    try:
        if not path.is_file():
            record = RunRecord(folder.name, folder, status="interrupted",
                               reason="the run ended before its first record was written")
        else:
            size = path.stat().st_size
            if size > MAX_RECORD_BYTES:
                raise ValueError(f"the record is {size / 2**20:.0f} MB, too large to be a run record")
            raw = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(raw, dict):
                raise ValueError("the record is not a JSON object")
            record = RunRecord.from_dict(folder, raw)
    except (OSError, ValueError, TypeError, RecursionError) as exc:
        record = RunRecord(folder.name, folder, status="damaged", reason=f"{RECORD_FILE}: {exc}")
    if record.status == "running" and process_alive(record.process) is False:
        record.status = "interrupted"
        done = f"after epoch {record.epochs[-1].get('epoch')}" if record.epochs else "before its first epoch"
        record.reason = f"the process training it ended without finishing the run ({done})"
    if not record.started_unix:  # no record to say when: the folder's own time stands in
        try:
            record.started_unix = folder.stat().st_mtime
        except OSError:
            pass
    meta = read_meta(folder)
    record.name, record.notes = meta.get("name", ""), meta.get("notes", "")
    return record


def read_meta(folder: Path) -> dict[str, str]:
    """Return the name and notes people gave the run in ``folder`` (empty when none)."""
    try:
        raw = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    return {key: raw[key] for key in ("name", "notes") if isinstance(raw.get(key), str)}


def write_meta(folder: Path, *, name: str | None = None, notes: str | None = None) -> None:
    """Change the name and/or the notes of the run in ``folder`` (``None`` leaves one as it is)."""
    meta = read_meta(folder)
    if name is not None:
        meta["name"] = name.strip()
    if notes is not None:
        meta["notes"] = notes
    write_json_atomic(folder / META_FILE, meta)

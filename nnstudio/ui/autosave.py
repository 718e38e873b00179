"""Autosave and crash recovery for open projects: one autosave per window, recovered only after a crash.

While a window's document has unsaved changes, a copy is written every ``interval_ms`` (2 minutes by
default) into ``<user data dir>/autosave/`` under the window's own slot name: ``SLOT.nns`` (the
project), ``SLOT.json`` (which file it belongs to) and ``SLOT.lock``, a :class:`QLockFile` the
window holds for as long as it lives. The operating system's view of the lock owner decides what is
offered at start-up: a lock whose process is gone (a crash, a kill) is stale, so its slot is
offered for recovery; a lock held by a running window is live, so a second window never offers (nor
deletes) the first one's work. A clean exit, or a save that makes the document clean, removes the
window's slot. A failing autosave never raises inside the timer: it is logged and reported through
:attr:`Autosaver.failed` so the window can show it, and the timer keeps trying.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from platformdirs import user_data_dir
from PySide6.QtCore import QLockFile, QObject, QTimer, Signal

from nnstudio.core.errors import NnstudioError
from nnstudio.core.files import JSON_BYTES, read_text, write_json_atomic
from nnstudio.core.project import Project, load_project, save_project
from nnstudio.ui.document import Document

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_MS = 2 * 60 * 1000
_PROJECT_SUFFIX = ".nns"
_INFO_SUFFIX = ".json"
_LOCK_SUFFIX = ".lock"
#: The single slot of nnstudio versions before per-window autosaves (offered like a crashed window's).
_LEGACY_SLOT = "recovery"


def default_folder() -> Path:
    """Return the folder autosaves go to (inside the per-user data directory)."""
    return Path(user_data_dir("nnstudio", appauthor=False)) / "autosave"


def _lock(folder: Path, slot: str) -> QLockFile:
    lock = QLockFile(str(folder / (slot + _LOCK_SUFFIX)))
    lock.setStaleLockTime(0)  # stale only when its process is gone, never by age: a window may run for days
    return lock


def _remove_slot(folder: Path, slot: str) -> None:
    for suffix in (_PROJECT_SUFFIX, _INFO_SUFFIX):
        try:
            (folder / (slot + suffix)).unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("could not remove the autosave %s: %s", folder / (slot + suffix), exc)


@dataclass
class Recovery:
    """An autosave left by a window that did not exit cleanly; held (locked) until discarded or adopted."""

    project: Project
    #: The file the autosaved document was opened from or last saved to, if any.
    original_path: Path | None
    folder: Path
    slot: str
    _lock: QLockFile | None = field(default=None, repr=False)

    def discard(self) -> None:
        """Delete this autosave (the person declined it) and let go of its lock."""
        _remove_slot(self.folder, self.slot)
        self.release()

    def release(self) -> None:
        """Let go of the lock without deleting anything (the autosave is offered again next start)."""
        if self._lock is not None:
            self._lock.unlock()
            self._lock = None


def find_recoveries(folder: Path | None = None) -> list[Recovery]:
    """Return the autosaves of crashed windows in ``folder``, newest first; live windows' are skipped.

    Each returned recovery holds its slot's lock, so two windows starting together never offer the
    same work. Unreadable autosaves are logged and skipped.
    """
    folder = folder or default_folder()
    try:
        candidates = sorted(folder.glob("*" + _PROJECT_SUFFIX), key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return []
    found: list[Recovery] = []
    for project_file in candidates:
        slot = project_file.name.removesuffix(_PROJECT_SUFFIX)
        lock = _lock(folder, slot)
        if not lock.tryLock(0):
            continue  # a running window's autosave (or another window is offering it right now)
        try:
            project = load_project(project_file)
        except NnstudioError as exc:
            log.warning("ignoring an unreadable autosave %s: %s", project_file, exc)
            lock.unlock()
            continue
        found.append(Recovery(project, _original_path(folder, slot), folder, slot, lock))
    return found


def _original_path(folder: Path, slot: str) -> Path | None:
    try:
        info = json.loads(read_text(folder / (slot + _INFO_SUFFIX), JSON_BYTES, "autosave note"))
    except (OSError, ValueError):
        return None
    if isinstance(info, dict) and isinstance(info.get("path"), str):
        return Path(info["path"])
    return None


def find_recovery(folder: Path | None = None) -> Recovery | None:
    """Return the newest autosave of a crashed window, or None; older ones wait for the next start."""
    recoveries = find_recoveries(folder)
    for later in recoveries[1:]:
        later.release()
    return recoveries[0] if recoveries else None


def discard_recovery(target: Recovery | Path | None = None) -> None:
    """Delete a declined recovery; given a folder, every crashed window's autosave there (never a live one's)."""
    if isinstance(target, Recovery):
        target.discard()
        return
    for recovery in find_recoveries(target):
        recovery.discard()


class Autosaver(QObject):
    """Writes the document to this window's autosave slot on a timer while it has unsaved changes."""

    #: An autosave failed: the reason, for the window to show (the timer keeps trying).
    failed = Signal(str)
    #: An autosave succeeded (after a failure the window can clear its warning).
    saved = Signal()

    def __init__(self, document: Document, folder: Path | None = None,
                 interval_ms: int = DEFAULT_INTERVAL_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.folder = folder or default_folder()
        #: This window's slot: unique per window and process, so windows never share an autosave.
        self.slot = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self._lock: QLockFile | None = None
        self._locked_folder: Path | None = None
        self.last_error: str | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.save_now)
        document.state_changed.connect(self._follow_state)

    @property
    def project_file(self) -> Path:
        """Return the file this window autosaves to."""
        return self.folder / (self.slot + _PROJECT_SUFFIX)

    @property
    def owns_files(self) -> bool:
        """True while this window has an autosave on disk (it holds the slot's lock)."""
        return self._lock is not None

    @property
    def interval_ms(self) -> int:
        return self._timer.interval()

    def set_interval(self, interval_ms: int) -> None:
        self._timer.setInterval(interval_ms)

    @property
    def is_running(self) -> bool:
        return self._timer.isActive()

    def _hold_lock(self) -> None:
        if self._lock is not None and self._locked_folder == self.folder:
            return
        self._release(discard=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        lock = _lock(self.folder, self.slot)
        if not lock.tryLock(0):
            raise OSError(f"cannot lock {self.folder / (self.slot + _LOCK_SUFFIX)} ({lock.error().name})")
        self._lock, self._locked_folder = lock, self.folder

    def save_now(self) -> bool:
        """Write the autosave now; return False (logged, ``failed`` emitted) when it cannot be written."""
        try:
            self._hold_lock()
            save_project(self.document.project, self.project_file)
            path = str(self.document.path) if self.document.path else None
            write_json_atomic(self.folder / (self.slot + _INFO_SUFFIX), {"path": path, "pid": os.getpid()})
        except Exception as exc:  # noqa: BLE001 - called from a timer: nothing may escape into Qt
            reason = str(exc) or type(exc).__name__
            log.warning("autosave failed: %s", reason)
            self.last_error = reason
            self.failed.emit(reason)
            return False
        if self.last_error is not None:
            self.last_error = None
        self.saved.emit()
        return True

    def adopt(self, recovery: Recovery) -> None:
        """Take a recovered autosave over as this window's own (the crashed window's slot is removed)."""
        try:
            self._hold_lock()
            for suffix in (_PROJECT_SUFFIX, _INFO_SUFFIX):
                source = recovery.folder / (recovery.slot + suffix)
                if source.exists():
                    os.replace(source, self.folder / (self.slot + suffix))
        except OSError as exc:
            log.warning("could not take over the autosave %s: %s", recovery.slot, exc)
            return
        recovery.discard()

    def stop(self, *, discard: bool) -> None:
        """Stop the timer; ``discard`` removes this window's autosave (a clean exit or a save).

        Without ``discard`` the files stay and the lock is let go: what a crash leaves behind.
        """
        self._timer.stop()
        self._release(discard)

    def _release(self, discard: bool) -> None:
        if self._lock is None:
            return
        if discard and self._locked_folder is not None:
            _remove_slot(self._locked_folder, self.slot)
        self._lock.unlock()
        self._lock = self._locked_folder = None

    def _follow_state(self) -> None:
        if self.document.is_modified:
            if not self._timer.isActive():
                self._timer.start()
        else:
            # Saved (or undone back to the saved state): this window's autosave is no longer needed.
            self.stop(discard=True)

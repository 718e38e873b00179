"""Returns nothing lost after a crash: periodic autosave of the open document and its recovery.

While the document has unsaved changes, a copy is written every ``interval_ms`` (2 minutes by
default) to ``<user data dir>/autosave/recovery.nns``, next to ``recovery.json`` that remembers which
file it belongs to. A clean exit (or a save that makes the document clean) removes both, so finding
them at start-up means the previous session ended without saving: the window offers to recover.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from platformdirs import user_data_dir
from PySide6.QtCore import QObject, QTimer

from nnstudio.core.errors import NnstudioError
from nnstudio.core.project import Project, load_project, save_project, write_text_atomic
from nnstudio.ui.document import Document

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_MS = 2 * 60 * 1000
_PROJECT_FILE = "recovery.nns"
_INFO_FILE = "recovery.json"


def default_folder() -> Path:
    """Returns the folder autosaves go to (inside the per-user data directory)."""
    return Path(user_data_dir("nnstudio", appauthor=False)) / "autosave"


@dataclass(frozen=True)
class Recovery:
    """An autosave left by a session that did not exit cleanly."""

    project: Project
    #: The file the autosaved document was opened from or last saved to, if any.
    original_path: Path | None


def find_recovery(folder: Path | None = None) -> Recovery | None:
    """Returns the autosave left behind by a crashed session, or None (also for an unreadable one)."""
    folder = folder or default_folder()
    project_file = folder / _PROJECT_FILE
    if not project_file.is_file():
        return None
    try:
        project = load_project(project_file)
    except NnstudioError as exc:
        log.warning("ignoring an unreadable autosave %s: %s", project_file, exc)
        return None
    original: Path | None = None
    try:
        info = json.loads((folder / _INFO_FILE).read_text(encoding="utf-8"))
        if isinstance(info, dict) and isinstance(info.get("path"), str):
            original = Path(info["path"])
    except (OSError, ValueError):
        pass
    return Recovery(project, original)


def discard_recovery(folder: Path | None = None) -> None:
    """Deletes the autosave files (after a clean exit, or when the person declines recovery)."""
    folder = folder or default_folder()
    for name in (_PROJECT_FILE, _INFO_FILE):
        try:
            (folder / name).unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("could not remove the autosave %s: %s", folder / name, exc)


class Autosaver(QObject):
    """Writes the document to the autosave folder on a timer while it has unsaved changes."""

    def __init__(self, document: Document, folder: Path | None = None,
                 interval_ms: int = DEFAULT_INTERVAL_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.folder = folder or default_folder()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.save_now)
        # Only files this window wrote (or recovered) are removed on a clean exit: a second window,
        # or one started while a crash's autosave awaits recovery, must not delete someone else's.
        self.owns_files = False
        document.state_changed.connect(self._follow_state)

    @property
    def interval_ms(self) -> int:
        return self._timer.interval()

    def set_interval(self, interval_ms: int) -> None:
        self._timer.setInterval(interval_ms)

    @property
    def is_running(self) -> bool:
        return self._timer.isActive()

    def save_now(self) -> bool:
        """Writes the autosave now; returns False (and logs) when the disk refuses."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            save_project(self.document.project, self.folder / _PROJECT_FILE)
            path = str(self.document.path) if self.document.path else None
            write_text_atomic(self.folder / _INFO_FILE, json.dumps({"path": path}) + "\n")
        except (OSError, NnstudioError) as exc:
            log.warning("autosave failed: %s", exc)
            return False
        self.owns_files = True
        return True

    def stop(self, *, discard: bool) -> None:
        """Stops the timer; ``discard`` also removes this window's autosave (a clean exit)."""
        self._timer.stop()
        if discard and self.owns_files:
            discard_recovery(self.folder)
            self.owns_files = False

    def _follow_state(self) -> None:
        if self.document.is_modified:
            if not self._timer.isActive():
                self._timer.start()
        else:
            # Saved (or undone back to the saved state): this window's autosave is no longer needed.
            self.stop(discard=True)

"""The window's files: New, Open, Save, recent files, examples, dropped files, recovery, model.py export.

:class:`FilesController` (``window.files``) replaces or writes the window's document and nothing
else: a file that cannot be read shows its problem and leaves the open document as it was, a failed
save keeps the document marked modified, and every replacement goes through the unsaved-changes
prompt. Questions are asked through the window's :class:`~nnstudio.ui.dialogs.WindowDialogs`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QSettings, QTimer
from PySide6.QtWidgets import QMenu, QMessageBox, QStatusBar

from nnstudio.core.errors import NnstudioError
from nnstudio.core.examples import list_examples, load_example
from nnstudio.core.files import write_text_atomic
from nnstudio.core.project import SUFFIX, Project, load_project, save_project
from nnstudio.ui.autosave import Autosaver, find_recovery
from nnstudio.ui.dialogs import WindowDialogs
from nnstudio.ui.document import Document

MAX_RECENT_FILES = 10
RECENT_KEY = "recentFiles"
Button = QMessageBox.StandardButton


class FilesController(QObject):
    """Opens, saves and exports ``document``; tells ``status_bar`` what happened."""

    def __init__(self, document: Document, autosaver: Autosaver, dialogs: WindowDialogs,
                 status_bar: QStatusBar, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.autosaver = autosaver
        self.dialogs = dialogs
        self._status = status_bar

    # --- replacing the document ----------------------------------------------------------------------

    def new_document(self) -> bool:
        """Replaces the document by an empty project (after the unsaved-changes prompt)."""
        if not self.confirm_discard():
            return False
        self.document.replace(Project(), None)
        return True

    def open_dialog(self) -> bool:
        start = str(self.document.path.parent) if self.document.path else ""
        path = self.dialogs.ask_open_path(start)
        return self.open_path(path) if path else False

    def open_path(self, path: str | Path) -> bool:
        """Opens a project file; a bad file shows its problem and leaves the open document untouched."""
        path = Path(path)
        try:
            project = load_project(path)
        except NnstudioError as exc:
            self.dialogs.show_error("Could not open the project", f"{path.name}: {exc}")
            return False
        if not self.confirm_discard():
            return False
        self.document.replace(project, path.resolve())
        self._remember_recent(path.resolve())
        self._status.showMessage(f"Opened {path}", 4000)
        return True

    def open_example(self, name: str) -> bool:
        """Opens a bundled example as a new, unsaved document (Save asks where to put it)."""
        try:
            project = load_example(name)
        except NnstudioError as exc:
            self.dialogs.show_error("Could not open the example", str(exc))
            return False
        if not self.confirm_discard():
            return False
        self.document.replace(project, None)
        return True

    def open_project_copy(self, project: Project) -> bool:
        """Opens ``project`` (a recorded run's network) as a new, unsaved document."""
        if not self.confirm_discard():
            return False
        self.document.replace(project, None, modified=True)
        self._status.showMessage(f"Opened the network of a recorded run ({project.name}); save it to keep it", 6000)
        return True

    def confirm_discard(self) -> bool:
        """Returns True when the open document may be replaced (saved, discarded or unmodified)."""
        if not self.document.is_modified:
            return True
        answer = self.dialogs.ask_unsaved_changes(self.document.display_name)
        if answer == Button.Save:
            return self.save()
        return answer == Button.Discard

    def offer_recovery(self) -> bool:
        """Offers the autosave of a session that crashed; returns True when it was recovered."""
        recovery = find_recovery(self.autosaver.folder)
        if recovery is None:
            return False
        if self.dialogs.ask_recover(recovery.original_path) != Button.Yes:
            recovery.discard()  # only that crashed window's autosave; live windows' are never touched
            return False
        self.document.replace(recovery.project, recovery.original_path, modified=True)
        self.autosaver.adopt(recovery)
        self._status.showMessage("Recovered unsaved work from the last session", 8000)
        return True

    # --- writing -------------------------------------------------------------------------------------

    def save(self) -> bool:
        """Saves to the document's file (asking for one if it has none); returns True on success."""
        if self.document.path is None:
            return self.save_as()
        return self.save_to(self.document.path)

    def save_as(self) -> bool:
        document = self.document
        start = str(document.path) if document.path else f"{document.project.name}{SUFFIX}"
        path = self.dialogs.ask_save_path(start)
        return self.save_to(path) if path else False

    def save_to(self, path: str | Path) -> bool:
        """Writes the project atomically; on failure shows why and keeps the document modified."""
        path = Path(path)
        if not path.suffix:
            path = path.with_suffix(SUFFIX)
        try:
            save_project(self.document.project, path)
        except NnstudioError as exc:
            self.dialogs.show_error("Could not save the project", str(exc))
            return False
        self.document.mark_saved(path.resolve())
        self._remember_recent(path.resolve())
        self._status.showMessage(f"Saved {path}", 4000)
        return True

    def export_model(self, on_done: Callable[[bool], None] | None = None) -> None:
        """Asks where to write the network as a standalone ``model.py`` (only ``torch`` needed to use it).

        The file is generated from the document's analysis: at once when it is current, else when the
        pending one arrives. ``on_done(written)`` is told the outcome.
        """
        document = self.document
        finish = on_done or (lambda _written: None)
        if document.analysis is not None and document.analysis_is_current and not document.analysis.ok:
            self._refuse_export(document.analysis)
            finish(False)
            return
        start = document.path.with_name("model.py") if document.path else Path("model.py")
        target = self.dialogs.ask_export_path("Export model.py", str(start), "Python files (*.py)")
        if not target:
            finish(False)
            return
        def write(analysis: Any) -> None:
            if not analysis.ok:
                self._refuse_export(analysis)
                finish(False)
                return
            try:
                from nnstudio.compile.codegen import generate_source  # torch: loaded on demand

                # The analysis describes the graph as it is at this moment (the GUI thread's, unchanged).
                write_text_atomic(Path(target), generate_source(document.graph, analysis=analysis))
            except NnstudioError as exc:
                self.dialogs.show_error("Could not export the model", str(exc))
                finish(False)
                return
            self._status.showMessage(f"Exported {target}", 6000)
            finish(True)

        def failed(reason: str) -> None:
            self.dialogs.show_error("Could not export the model", reason)
            finish(False)
        document.when_analysed(write, failed)

    def _refuse_export(self, analysis: Any) -> None:
        self.dialogs.show_error("Cannot export yet", "Fix the errors in the Problems list first:\n\n"
                                + "\n".join(str(p) for p in analysis.errors[:8]))

    # --- recent files, examples, drops ---------------------------------------------------------------

    def recent_files(self) -> list[str]:
        """Returns the recently opened or saved files, newest first (only those that still exist)."""
        stored = QSettings().value(RECENT_KEY, [])
        if isinstance(stored, str):
            stored = [stored]
        return [p for p in (stored or []) if Path(p).is_file()]

    def _remember_recent(self, path: Path) -> None:
        files = [str(path)] + [p for p in self.recent_files() if p != str(path)]
        QSettings().setValue(RECENT_KEY, files[:MAX_RECENT_FILES])

    def fill_recent_menu(self, menu: QMenu) -> None:
        """Lists the recent files in ``menu`` (called as it is about to show)."""
        menu.clear()
        files = self.recent_files()
        for path in files:
            action = menu.addAction(Path(path).name)
            action.setStatusTip(path)
            action.setToolTip(path)
            action.triggered.connect(lambda _checked=False, p=path: self.open_path(p))
        if not files:
            menu.addAction("No recent files").setEnabled(False)
        else:
            menu.addSeparator()
            menu.addAction("Clear list", lambda: QSettings().remove(RECENT_KEY))

    def fill_examples_menu(self, menu: QMenu) -> None:
        """Lists the bundled examples in ``menu``."""
        for info in list_examples():
            action = menu.addAction(info.name)
            action.setObjectName(f"example_{info.name}")
            action.setStatusTip(info.description)
            action.setToolTip(info.description)
            action.triggered.connect(lambda _checked=False, name=info.name: self.open_example(name))

    @staticmethod
    def dropped_project(event: Any) -> Path | None:
        """Returns the first project file a drag-and-drop event carries, or None."""
        mime = event.mimeData()
        if not mime.hasUrls():
            return None
        for url in mime.urls():
            if url.isLocalFile() and url.toLocalFile().lower().endswith(SUFFIX):
                return Path(url.toLocalFile())
        return None

    def accept_drag(self, event: Any) -> None:
        """Accepts a drag that carries a project file, ignores any other."""
        if self.dropped_project(event) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def drop(self, event: Any) -> None:
        """Opens the project file dropped on the window."""
        path = self.dropped_project(event)
        if path is None:
            event.ignore()
            return
        event.acceptProposedAction()
        # Open after the drop returns, so a dialog does not run inside the platform's drag loop.
        QTimer.singleShot(0, self, lambda: self.open_path(path))

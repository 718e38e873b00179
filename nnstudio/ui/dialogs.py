"""The window's questions and messages to the person, in one replaceable place.

Every modal dialog the window, its files controller and its tabs open goes through a method of
:class:`WindowDialogs`; tests replace those methods (``window.dialogs.ask_unsaved_changes = ...``)
instead of clicking through real dialogs.
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from nnstudio import __version__
from nnstudio.core.project import SUFFIX

Button = QMessageBox.StandardButton
PROJECT_FILTER = f"nnstudio projects (*{SUFFIX});;All files (*)"


class WindowDialogs:
    """Modal questions asked over ``parent`` (the main window)."""

    def __init__(self, parent: QWidget) -> None:
        self.parent = parent

    def ask_unsaved_changes(self, name: str) -> QMessageBox.StandardButton:
        """Asks Save / Discard / Cancel about unsaved changes of the document called ``name``."""
        return QMessageBox.warning(
            self.parent, "Unsaved changes", f"“{name}” has changes that are not saved.\nSave them first?",
            Button.Save | Button.Discard | Button.Cancel, Button.Save)

    def ask_stop_training(self) -> QMessageBox.StandardButton:
        """Asks whether to stop the run in progress so the window can close."""
        return QMessageBox.question(
            self.parent, "Training in progress",
            "A training run is in progress. Stop it and close?\nThe weights of the last complete epoch are "
            "lost unless you export them first.", Button.Yes | Button.No, Button.No)

    def ask_recover(self, original_path: Path | None) -> QMessageBox.StandardButton:
        """Asks whether to recover the autosave of a session that did not close normally."""
        where = f" of {original_path.name}" if original_path else ""
        return QMessageBox.question(
            self.parent, "Recover unsaved work?",
            f"nnstudio did not close normally last time. Recover the unsaved version{where}?",
            Button.Yes | Button.No, Button.Yes)

    def ask_open_path(self, start: str) -> str:
        """Returns the project file chosen to open ("" when cancelled)."""
        path, _ = QFileDialog.getOpenFileName(self.parent, "Open project", start, PROJECT_FILTER)
        return path

    def ask_save_path(self, start: str) -> str:
        """Returns the file chosen to save the project to ("" when cancelled)."""
        path, _ = QFileDialog.getSaveFileName(self.parent, "Save project", start, PROJECT_FILTER)
        return path

    def ask_export_path(self, title: str, start: str, file_filter: str) -> str:
        """Returns the file chosen to export to ("" when cancelled)."""
        path, _ = QFileDialog.getSaveFileName(self.parent, title, start, file_filter)
        return path

    def show_error(self, title: str, message: str) -> None:
        QMessageBox.critical(self.parent, title, message)

    def show_about(self) -> None:
        QMessageBox.about(
            self.parent, "About nnstudio",
            f"<h3>nnstudio {html.escape(__version__)}</h3>"
            "<p>Design, train and understand PyTorch networks with the mouse.</p>"
            "<p>Networks leave the app as plain PyTorch: a generated <code>model.py</code> and a "
            "state dict.</p><p>MIT licence.</p>")

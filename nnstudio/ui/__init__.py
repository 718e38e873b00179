"""The desktop interface (PySide6): the main window and its panels. The only package that imports Qt.

Importing the package loads nothing: ``from nnstudio.ui import MainWindow`` loads the window (and
its panels) on first use, so a module that needs only the application object
(:mod:`nnstudio.ui.application`) or one view stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nnstudio.ui.main_window import MainWindow

__all__ = ["MainWindow"]


def __getattr__(name: str) -> Any:
    if name == "MainWindow":
        from nnstudio.ui.main_window import MainWindow

        return MainWindow
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

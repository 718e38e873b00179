"""The desktop interface (PySide6): the main window and its panels. The only package that imports Qt."""

from nnstudio.ui.main_window import MainWindow

__all__ = ["MainWindow"]

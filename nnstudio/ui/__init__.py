"""The desktop interface (PySide6): the main window and its panels. The only package that imports Qt."""

from nnstudio.ui.pyside_refcount_guard import protect_singletons

protect_singletons()  # before any Qt call: PySide6 6.12 over-releases None/True/False on Python 3.11

from nnstudio.ui.main_window import MainWindow  # noqa: E402

__all__ = ["MainWindow"]

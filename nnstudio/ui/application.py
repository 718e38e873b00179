"""``Application``: the QApplication every nnstudio process runs in (the window, a PNG export, the tests).

Kept apart from ``nnstudio.ui.app`` so that code which only needs an application object (rasterising
an autograd graph from the CLI) does not import the main window. It collects Python's cyclic garbage
only at safe points on the GUI thread (:mod:`nnstudio.ui.garbage`).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QTimer
from PySide6.QtGui import QFileOpenEvent
from PySide6.QtWidgets import QApplication

from nnstudio.ui.garbage import SafePointCollector

__all__ = ["Application"]


class Application(QApplication):
    """nnstudio's QApplication: it also opens the project files the system hands it.

    macOS's Finder does not pass a double-clicked ``.nns`` file on the command line but sends the
    application a ``QFileOpenEvent`` (at launch too, before any window exists). It is taken here, in
    ``event()`` of the application object, which sees only the application's own events: an event
    filter installed on the application would run Python for every event of every widget, and
    each of those calls takes the GIL from a training run (see benchmarks/bench_gui.py).

    From its creation on, Python's automatic garbage collection is off and :attr:`garbage_collector`
    collects from a timer on the GUI thread instead (a collection inside a Qt call can deadlock).
    """

    def __init__(self, argv: list[str]) -> None:
        super().__init__(argv)
        self._file_open_handler: Callable[[str], None] | None = None
        self._held_files: list[str] = []
        self.garbage_collector = SafePointCollector(self)
        self.garbage_collector.start()

    def set_file_open_handler(self, handler: Callable[[str], None] | None) -> None:
        """Send handed-over files to ``handler(path)``, starting with those that came before it."""
        self._file_open_handler = handler
        held, self._held_files = self._held_files, []
        for path in held:
            self._deliver(path)

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.FileOpen and isinstance(event, QFileOpenEvent) and event.file():
            path = event.file()
            if self._file_open_handler is None:
                self._held_files.append(path)
            else:
                self._deliver(path)
            return True
        return super().event(event)

    def _deliver(self, path: str) -> None:
        # After the event returns, so a dialog does not run inside the platform's event delivery.
        QTimer.singleShot(0, self, lambda: self._file_open_handler and self._file_open_handler(path))

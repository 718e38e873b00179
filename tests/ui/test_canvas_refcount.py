"""PySide6 6.12.0 over-releases None/True on Python 3.11 and aborts the interpreter; pyproject excludes it.

This test guards the dependency range: the Qt binding that gets installed must survive many void calls.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_many_void_qt_calls_and_signal_emits_do_not_abort_the_interpreter():
    # In a child process: with PySide6 6.12.0 on 3.11 this aborts with "Fatal Python error: none_dealloc".
    script = textwrap.dedent("""
        import os
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        import nnstudio.ui.canvas
        from PySide6.QtCore import QObject, QRectF, Signal
        from PySide6.QtGui import QColor, QImage, QPainter
        from PySide6.QtWidgets import QApplication

        class Emitter(QObject):
            fired = Signal(int)

        app = QApplication([])
        image = QImage(8, 8, QImage.Format.Format_ARGB32)
        painter = QPainter(image)
        emitter = Emitter()
        emitter.fired.connect(lambda value: None)
        for _ in range(30000):
            painter.fillRect(QRectF(0, 0, 4, 4), QColor("red"))
            emitter.fired.emit(1)
        painter.end()
        print("alive")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "alive"

"""The desktop application's entry point: ``run_gui`` (what ``nnstudio`` runs) returns its exit status.

Start-up is kept short: only Qt and nnstudio's pure-Python core load before the window is on screen;
torch is imported afterwards, in the analysis worker. ``nnstudio --screenshot FILE`` shows the
window (the offscreen platform works), waits until the first analysis reached every view, saves a
picture of the window and exits.

Setting ``NNSTUDIO_STARTUP_PROBE=1`` makes the window print ``nnstudio-shown <unix time>
torch=<loaded?>`` at its first show and quit at once; ``benchmarks/bench_startup.py`` uses it.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication
from shiboken6 import Shiboken

from nnstudio.core.examples import DEFAULT_EXAMPLE, example_path
from nnstudio.core.project import load_project
from nnstudio.ui.application import Application
from nnstudio.ui.icons import app_icon
from nnstudio.ui.main_window import MainWindow
from nnstudio.ui.picture_files import save_picture
from nnstudio.ui.theme import apply_application_style

STARTUP_PROBE_ENV = "NNSTUDIO_STARTUP_PROBE"
#: How long ``--screenshot`` waits for the first analysis before giving up.
SCREENSHOT_TIMEOUT_S = 120
#: The id of packaging/linux/io.github.nnstudio.desktop: Wayland compositors match windows to it.
DESKTOP_FILE_ID = "io.github.nnstudio"


def application() -> QApplication:
    """Returns the running QApplication, creating and styling it on first use."""
    app = QApplication.instance()
    if app is None:
        app = Application(sys.argv[:1])
        app.setApplicationName("nnstudio")
        app.setOrganizationName("nnstudio")
        app.setDesktopFileName(DESKTOP_FILE_ID)
        app.setWindowIcon(app_icon())
        apply_application_style(app)
    return app  # type: ignore[return-value]


def run_gui(path: str | None = None, example: str | None = None, screenshot: str | None = None) -> int:
    """Runs the window until it closes and returns the exit status.

    ``path`` opens a project file, ``example`` a bundled example, neither the default example.
    ``screenshot`` saves a PNG of the loaded window there and exits (status 1 if analysis failed).
    Raises NnstudioError (the CLI prints it) for an unknown example, and with ``screenshot`` for a
    project file that cannot be read, since no one is there to read a dialog.
    """
    if example is not None:
        example_path(example)  # an unknown name fails here, with the list of known ones
    if screenshot is not None and path is not None:
        load_project(path)
    app = application()
    unattended = screenshot is not None or os.environ.get(STARTUP_PROBE_ENV) == "1"
    window = MainWindow(remember_layout=not unattended)
    if os.environ.get(STARTUP_PROBE_ENV) == "1":
        return _probe_startup(app, window)
    if screenshot is not None:
        _open(window, path, (example or DEFAULT_EXAMPLE) if path is None else None)
        return _take_screenshot(app, window, Path(screenshot))
    window.show()
    if not window.files.offer_recovery():
        _open(window, path, example or (DEFAULT_EXAMPLE if path is None else None))
    if isinstance(app, Application):
        app.set_file_open_handler(lambda handed: open_handed_file(window, handed))
    status = app.exec()
    if isinstance(app, Application):
        app.set_file_open_handler(None)
    release_clipboard(app)
    return status


def open_handed_file(window: MainWindow, path: str) -> None:
    """Bring the window forward and open ``path`` as a dropped file (unsaved-changes prompt and all)."""
    window.raise_()
    window.activateWindow()
    window.files.open_path(path)


def release_clipboard(app: QApplication) -> None:
    """Hands the clipboard's contents back to Qt as plain text before Python shuts down.

    Layers copied on the canvas sit on the clipboard as a QMimeData made in Python. Qt deletes it
    from a static destructor after the interpreter is gone, which crashes the process on exit; plain
    text set here is owned by Qt alone, and stays pasteable in other applications.
    """
    clipboard = app.clipboard()
    data = clipboard.mimeData() if clipboard is not None else None
    if data is None or not Shiboken.createdByPython(data):
        return  # empty, or another application's data: nothing of ours to hand back
    text = clipboard.text()
    clipboard.clear()
    if text:
        clipboard.setText(text)


def _open(window: MainWindow, path: str | None, example: str | None) -> None:
    if path is not None:
        window.files.open_path(path)
    elif example is not None:
        window.files.open_example(example)


def _probe_startup(app: QApplication, window: MainWindow) -> int:
    def on_first_show() -> None:
        # Read at the show itself: right after it the analysis worker starts importing torch.
        print(f"nnstudio-shown {time.time():.6f} torch={'torch' in sys.modules}", flush=True)
        QTimer.singleShot(0, finish)

    def finish() -> None:
        window.shutdown()
        window.close()
        app.quit()

    window.first_shown.connect(on_first_show)
    window.files.open_example(DEFAULT_EXAMPLE)
    window.show()
    return app.exec()


def _show_whole_network(app: QApplication, window: MainWindow) -> None:
    """Enlarges the window until its canvas shows every layer at a readable zoom, then frames them all.

    A screenshot documents the whole network; a long one would otherwise lose its last layers below
    the fold, which is fine on screen (the person scrolls) but not in a picture."""
    growth = window.canvas.growth_to_show_all()
    if growth.width() or growth.height():
        window.resize(window.width() + growth.width(), window.height() + growth.height())
        app.processEvents()
    window.canvas.fit_to_view()
    app.processEvents()


def _take_screenshot(app: QApplication, window: MainWindow, target: Path) -> int:
    # A local event loop, not app.exec(): quitting it leaves a QApplication shared with the caller
    # (tests, scripts) usable afterwards.
    loop = QEventLoop()
    status = {"code": 1}
    deadline = QTimer(window)
    deadline.setSingleShot(True)

    def grab() -> None:
        deadline.stop()
        app.processEvents()
        _show_whole_network(app, window)
        picture = window.grab()
        try:
            save_picture(picture, target)
            status["code"] = 0 if status.get("analysed") else 1
        except OSError as exc:
            print(f"error: could not write the screenshot: {exc}", file=sys.stderr)
            status["code"] = 1
        window.shutdown()
        window.close()
        loop.quit()

    def on_analysis(_analysis: object) -> None:
        if window.document.analysis_is_current and "analysed" not in status:
            status["analysed"] = True
            QTimer.singleShot(100, grab)  # let the views repaint with the new shapes first

    def on_failure(message: str) -> None:
        print(f"error: shape analysis failed: {message}", file=sys.stderr)
        QTimer.singleShot(100, grab)

    def on_timeout() -> None:
        if "analysed" not in status:
            print(f"error: no analysis after {SCREENSHOT_TIMEOUT_S} s", file=sys.stderr)
            grab()

    window.document.analysis_ready.connect(on_analysis)
    window.document.analysis_failed.connect(on_failure)
    window.show()
    deadline.timeout.connect(on_timeout)
    deadline.start(SCREENSHOT_TIMEOUT_S * 1000)
    loop.exec()
    return status["code"]


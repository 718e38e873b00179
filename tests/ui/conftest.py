"""Fixtures of the UI tests: a configured QApplication, isolation from the person's files, and guards.

Guards (autouse): a test fails when it leaves a QThread running, a QTimer active or a Python thread
alive after its windows were closed (as napari's test suite does), or when a modal dialog would have
opened without the test expecting it (it would hang the run on a headless machine).
"""

from __future__ import annotations

import gc
import threading

import pytest
from PySide6.QtCore import QEventLoop, QSettings, QThread, QTimer
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox, QWidget


@pytest.fixture(scope="session")
def qapp_args():
    return ["nnstudio-tests"]


@pytest.fixture(scope="session", autouse=True)
def _isolated_settings(tmp_path_factory):
    """QSettings (recent files) go to a temporary folder, never to the person's configuration."""
    folder = str(tmp_path_factory.mktemp("qsettings"))
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, folder)
    return folder


@pytest.fixture(scope="session", autouse=True)
def _clipboard_released_at_exit(qapp):
    """Canvas copies leave a Python-made QMimeData on the clipboard; Qt would delete it after the
    interpreter finished and crash the test process on exit (see nnstudio.ui.app.release_clipboard)."""
    yield
    from nnstudio.ui.app import release_clipboard

    release_clipboard(qapp)
    qapp.processEvents()


@pytest.fixture(autouse=True)
def _app_identity(qapp):
    qapp.setOrganizationName("nnstudio")
    qapp.setApplicationName("nnstudio-tests")
    QSettings().clear()
    yield qapp


@pytest.fixture(autouse=True)
def autosave_folder(tmp_path, monkeypatch):
    """Every window of a test autosaves into the test's own folder."""
    folder = tmp_path / "autosave"
    monkeypatch.setattr("nnstudio.ui.autosave.default_folder", lambda: folder)
    return folder


class UnexpectedDialog(AssertionError):
    pass


@pytest.fixture(autouse=True)
def _no_unexpected_dialogs(monkeypatch):
    """Opening a modal dialog a test did not replace fails the test instead of hanging it."""
    def refuse(name):
        def dialog(*args, **kwargs):
            texts = [a for a in args if isinstance(a, str)]
            raise UnexpectedDialog(f"unexpected dialog QMessageBox/QFileDialog.{name}: {texts}")
        return staticmethod(dialog)
    for name in ("critical", "warning", "question", "information", "about"):
        monkeypatch.setattr(QMessageBox, name, refuse(name))
    for name in ("getOpenFileName", "getSaveFileName", "getExistingDirectory"):
        monkeypatch.setattr(QFileDialog, name, refuse(name))


def _running_qthreads() -> set[int]:
    return {id(o) for o in gc.get_objects() if issubclass(type(o), QThread) and _alive(o, "isRunning")}


def _active_qtimers() -> set[int]:
    # pytest-qt's own wait loops (waitSignal) own their timeout timers: not the test's doing.
    return {id(o) for o in gc.get_objects() if issubclass(type(o), QTimer) and _alive(o, "isActive")
            and not isinstance(o.parent(), QEventLoop)}


def _alive(obj, method: str) -> bool:
    try:
        return bool(getattr(obj, method)())
    except RuntimeError:  # the C++ object is already gone
        return False


def _describe(ids: set[int], kind: type) -> list[str]:
    found = [o for o in gc.get_objects() if issubclass(type(o), kind) and id(o) in ids]
    out = []
    for o in found:
        try:
            parent = o.parent()
            out.append(f"{kind.__name__}({o.objectName()!r}, parent={type(parent).__name__ if parent else None})")
        except RuntimeError:
            pass
    return out


@pytest.fixture(autouse=True)
def _no_leaked_threads_or_timers(qapp):
    """Fails a test that leaves threads running or timers active once its windows are closed."""
    widgets_before = {id(w) for w in QApplication.topLevelWidgets()}
    threads_before = _running_qthreads()
    timers_before = _active_qtimers()
    py_threads_before = set(threading.enumerate())
    yield
    for widget in QApplication.topLevelWidgets():
        if id(widget) in widgets_before or not isinstance(widget, QWidget):
            continue
        shutdown = getattr(widget, "shutdown", None)
        if callable(shutdown):
            shutdown()  # what a real close does after the unsaved-changes prompt
        widget.close()
    qapp.processEvents()
    threads = _running_qthreads() - threads_before
    timers = _active_qtimers() - timers_before
    # Dummy entries stand for threads Python did not start (a QThread that logged something): those
    # are checked as QThreads above, and Python never removes their entries. tqdm's monitor is one
    # daemon thread per process, started by the first progress bar (torch.fx's interpreter makes one).
    py_threads = [t for t in threading.enumerate() if t not in py_threads_before and t.is_alive()
                  and type(t).__name__ != "_DummyThread" and t.name != "tqdm_monitor"]
    problems = []
    if threads:
        problems.append(f"QThreads still running: {_describe(threads, QThread)}")
    if timers:
        problems.append(f"QTimers still active: {_describe(timers, QTimer)}")
    if py_threads:
        problems.append(f"threads still alive: {[t.name for t in py_threads]}")
    assert not problems, "; ".join(problems)


# --- windows -------------------------------------------------------------------------------------

ANALYSIS_TIMEOUT_MS = 60_000  # the first analysis of a session imports torch


@pytest.fixture
def make_window(qtbot, autosave_folder):
    """Returns a factory of shown main windows; each is shut down and closed after the test.

    The windows are not handed to ``qtbot.addWidget``: its close would ask about unsaved edits.
    """
    from nnstudio.ui import MainWindow

    windows = []

    def make(**kwargs):
        kwargs.setdefault("autosave_folder", autosave_folder)
        window = MainWindow(**kwargs)
        windows.append(window)
        window.show()
        return window

    yield make
    for window in windows:
        window.shutdown()  # what closing does once the person answered the unsaved-changes prompt
        window.close()
        window.deleteLater()


@pytest.fixture
def window(make_window):
    return make_window()


@pytest.fixture
def wait_analysis(qtbot):
    """Returns a function that waits until the window's views show an analysis of the current graph."""
    def wait(window, timeout: int = ANALYSIS_TIMEOUT_MS):
        qtbot.waitUntil(lambda: window.document.analysis_is_current, timeout=timeout)
        return window.document.analysis
    return wait


@pytest.fixture
def example_window(window, wait_analysis):
    """Returns a shown window with the digits-cnn example open and analysed."""
    assert window.files.open_example("digits-cnn")
    wait_analysis(window)
    return window

"""The launcher: ``nnstudio --screenshot``, start-up without torch, and clear errors for bad input."""

from __future__ import annotations

import os
import subprocess
import sys

from PySide6.QtGui import QImage

from nnstudio.cli import main
from nnstudio.core.examples import example_path
from nnstudio.ui.app import run_gui


def _isolated_env(tmp_path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path / "data"),
               XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_CACHE_HOME=str(tmp_path / "cache"))
    env.pop("NNSTUDIO_STARTUP_PROBE", None)
    return env


def test_screenshot_opens_the_default_example_and_writes_a_png(tmp_path):
    target = tmp_path / "window.png"
    done = subprocess.run([sys.executable, "-m", "nnstudio", "--screenshot", str(target)],
                          env=_isolated_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    image = QImage(str(target))
    assert not image.isNull() and image.width() >= 800 and image.height() >= 600
    # not a blank grab: a real window has many distinct colours
    colours = {image.pixel(x, y) for x in range(0, image.width(), 23) for y in range(0, image.height(), 23)}
    assert len(colours) > 20


def test_the_window_is_shown_before_torch_is_imported(tmp_path):
    env = _isolated_env(tmp_path) | {"NNSTUDIO_STARTUP_PROBE": "1"}
    done = subprocess.run([sys.executable, "-m", "nnstudio"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if line.startswith("nnstudio-shown"))
    assert line.endswith("torch=False")


def test_screenshot_of_a_project_file_in_process(qapp, tmp_path, autosave_folder):
    target = tmp_path / "residual.png"
    assert run_gui(path=str(example_path("residual-block")), screenshot=str(target)) == 0
    assert not QImage(str(target)).isNull()


def test_an_unknown_example_is_an_error_naming_the_known_ones(capsys):
    assert main(["--example", "no-such-net"]) == 1
    err = capsys.readouterr().err
    assert "no-such-net" in err and "digits-cnn" in err


def test_a_screenshot_of_a_bad_file_fails_with_the_files_problem(capsys, tmp_path):
    bad = tmp_path / "bad.nns"
    bad.write_text("{", encoding="utf-8")
    assert main([str(bad), "--screenshot", str(tmp_path / "x.png")]) == 1
    assert "not valid JSON" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_copied_layers_are_handed_back_to_qt_as_text_before_exit(qapp):
    from PySide6.QtCore import QMimeData
    from shiboken6 import Shiboken

    from nnstudio.ui.app import release_clipboard

    data = QMimeData()
    data.setData("application/x-nnstudio-fragment", b"{}")
    data.setText("conv1")
    qapp.clipboard().setMimeData(data)
    release_clipboard(qapp)
    assert qapp.clipboard().text() == "conv1"
    assert not Shiboken.createdByPython(qapp.clipboard().mimeData())


def test_a_screenshot_shows_every_layer_of_a_long_network_at_a_readable_zoom(
        qapp, tmp_path, autosave_folder, monkeypatch):
    import nnstudio.ui.app as app_module
    from nnstudio.ui.canvas import READABLE_ZOOM

    seen: dict[str, object] = {}
    frame = app_module._show_whole_network

    def frame_and_look(app, window):
        frame(app, window)
        view = window.canvas
        visible = view.viewport().rect()
        seen["zoom"] = view.zoom()
        seen["outside"] = [node_id for node_id, item in view.canvas_scene.node_items.items()
                           if not visible.contains(view.mapFromScene(item.sceneBoundingRect()).boundingRect())]
        seen["layers"] = len(view.canvas_scene.node_items)

    monkeypatch.setattr(app_module, "_show_whole_network", frame_and_look)
    assert run_gui(example="digits-cnn", screenshot=str(tmp_path / "long.png")) == 0
    assert seen["layers"] == 12
    assert seen["outside"] == []  # the Output at the bottom included
    assert seen["zoom"] >= READABLE_ZOOM * 0.9


def test_a_file_the_system_hands_over_is_opened_like_a_dropped_one(qapp, qtbot, window, tmp_path):
    """macOS's Finder sends a double-clicked .nns file as a QFileOpenEvent, not on the command line."""
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtGui import QFileOpenEvent

    from nnstudio.ui.app import Application, open_handed_file

    assert isinstance(qapp, Application)
    early = tmp_path / "at-launch.nns"
    early.write_bytes(example_path("digits-mlp").read_bytes())
    target = tmp_path / "handed-over.nns"
    target.write_bytes(example_path("residual-block").read_bytes())
    opened: list[str] = []
    try:
        # At launch the event can come before the window exists: it is held until a handler is set.
        assert QCoreApplication.sendEvent(qapp, QFileOpenEvent(str(early)))
        qapp.set_file_open_handler(lambda path: (opened.append(path), open_handed_file(window, path)))
        qtbot.waitUntil(lambda: window.document.path == early.resolve(), timeout=5000)
        assert QCoreApplication.sendEvent(qapp, QFileOpenEvent(str(target)))
        qtbot.waitUntil(lambda: window.document.path == target.resolve(), timeout=5000)
    finally:
        qapp.set_file_open_handler(None)
    assert opened == [str(early), str(target)]
    assert "skip_add" in window.document.project.graph.node_ids()


def test_the_desktop_file_name_is_the_id_of_the_packaged_desktop_entry():
    from pathlib import Path

    from nnstudio.ui.app import DESKTOP_FILE_ID

    linux = Path(__file__).resolve().parents[2] / "packaging" / "linux"
    assert (linux / f"{DESKTOP_FILE_ID}.desktop").is_file()
    assert (linux / f"{DESKTOP_FILE_ID}.metainfo.xml").is_file()


def test_the_application_module_loads_neither_the_window_nor_torch():
    """``nnstudio.ui`` is lazy: code that needs only the application object (a PNG export from the
    CLI) does not pay for the window, its panels or torch."""
    import subprocess
    import sys

    probe = ("import sys, nnstudio.ui, nnstudio.ui.application; "
             "print(sorted(m for m in ('nnstudio.ui.main_window', 'torch', 'pyqtgraph') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]", done.stdout

"""Pressing Train in the first moments after start, while torch still loads, in a fresh process.

The window says "Loading PyTorch…" while it waits and starts the run once torch is ready; what it
can do away from the GUI thread (mapping torch's libraries, importing the curves' modules) it does
there. The test runs a real window in a new interpreter, where torch is not loaded yet.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent("""
    import json, sys, tempfile, threading

    importing = {}

    class WhoImports:
        # Notes which thread starts importing these modules (and lets the normal import go on).
        def find_spec(self, name, path=None, target=None):
            if name in ("pyqtgraph", "torch") and name not in importing:
                importing[name] = threading.current_thread() is threading.main_thread()
            return None

    sys.meta_path.insert(0, WhoImports())

    from PySide6.QtCore import QTimer
    from nnstudio.ui.application import Application

    app = Application(["test"])
    from nnstudio.ui import MainWindow

    window = MainWindow(autosave_folder=tempfile.mkdtemp())
    window.files.open_example("digits-mlp")
    settings = window.document.project.settings
    settings.epochs, settings.device = 1, "cpu"
    panel = window.training_panel
    states = []
    seen = {"torch_at_press": None, "started": None}
    original = panel.set_state

    def record(text, colour):
        states.append(text)
        original(text, colour)

    panel.set_state = record
    built = {}
    original_plots = panel.ensure_plots

    def ensure_plots():
        # Whether torch was loaded when the curves were first built (the GIL is not shared then).
        if panel.loss_plot is None and "torch_loaded" not in built:
            built["torch_loaded"] = "torch" in sys.modules and not getattr(
                sys.modules["torch"].__spec__, "_initializing", False)
        original_plots()

    panel.ensure_plots = ensure_plots

    def press():
        seen["torch_at_press"] = "torch" in sys.modules and not getattr(
            sys.modules["torch"].__spec__, "_initializing", False)
        seen["started"] = panel.presenter.start()

    def ended(outcome):
        print("child-result " + json.dumps({
            "states": states, "status": outcome.status, "message": outcome.message, **seen,
            "main_thread_imported": importing, "log": panel.log.toPlainText(), "plots_built": built}),
            flush=True)
        window.shutdown()
        app.quit()

    panel.presenter.run_ended.connect(ended)
    window.show()
    QTimer.singleShot(0, press)
    QTimer.singleShot(240_000, app.quit)
    app.exec()
""")


def test_train_pressed_while_torch_loads_says_so_and_starts_when_ready(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path),
           "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=280)
    line = next((line for line in done.stdout.splitlines() if line.startswith("child-result ")), None)
    assert line is not None, done.stderr[-3000:]
    result = json.loads(line.removeprefix("child-result "))

    assert result["torch_at_press"] is False  # the press came before torch was ready
    assert result["started"] is True
    assert result["states"][0] == "Loading PyTorch…", result["states"]
    assert "loading PyTorch; the run starts as soon as it is ready" in result["log"]
    assert result["states"][-2:] == ["Training", "Finished"], result["states"]
    assert result["status"] == "finished", result["message"]
    # Neither torch nor the curves' pyqtgraph is imported on the GUI thread.
    assert result["main_thread_imported"] == {"torch": False, "pyqtgraph": False}
    # The curves are built once torch is in, not while its import competes for the GIL.
    assert result["plots_built"] == {"torch_loaded": True}


def test_torchs_libraries_are_mapped_before_its_import_which_then_works(tmp_path):
    script = textwrap.dedent("""
        import sys
        from nnstudio.ui.torch_loading import preload_torch_libraries, torch_is_loaded
        mapped = preload_torch_libraries()
        assert "torch" not in sys.modules and not torch_is_loaded()
        import torch
        assert torch_is_loaded()
        assert float(torch.ones(3).sum()) == 3.0
        print("mapped", mapped)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    mapped = int(done.stdout.split()[-1])
    assert mapped >= (1 if sys.platform.startswith("linux") else 0)

"""Runs the real main window in a child process for the crash-recovery test, the way ``nnstudio`` does.

Usage (the parent sets HOME / XDG_DATA_HOME to a temporary folder and QT_QPA_PLATFORM=offscreen):

- ``recovery_driver.py edit PROJECT.nns``: open PROJECT, set ``fc1.out_features`` to 77, wait until the
  autosave holds the edit, print ``autosaved``, then keep running until killed.
- ``recovery_driver.py recover``: start as the app does (offering recovery, answered Yes), print what
  the window shows as one JSON line, then close normally (unsaved changes discarded) and exit.
- ``recovery_driver.py decline``: like ``recover``, but the offer (if any) is answered No.
- ``recovery_driver.py quit PROJECT.nns``: like ``edit``, then close normally and exit.
"""

from __future__ import annotations

import json
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QMessageBox

from nnstudio.core.commands import SetParam
from nnstudio.core.project import load_project
from nnstudio.ui.app import application
from nnstudio.ui.main_window import MainWindow

AUTOSAVE_INTERVAL_MS = 300
EDITED_VALUE = 77
Button = QMessageBox.StandardButton


def autosave_holds_the_edit(path) -> bool:
    try:
        return load_project(path).graph.node("fc1").params["out_features"] == EDITED_VALUE
    except Exception:  # noqa: BLE001 - not written yet, or being replaced right now
        return False


def main() -> int:
    mode = sys.argv[1]
    app = application()
    window = MainWindow(autosave_interval_ms=AUTOSAVE_INTERVAL_MS, remember_layout=False)
    offers: list[object] = []
    answer = Button.No if mode == "decline" else Button.Yes
    window.dialogs.ask_recover = lambda original: offers.append(str(original)) or answer
    window.dialogs.ask_unsaved_changes = lambda *_: Button.Discard
    window.show()
    recovered = window.files.offer_recovery()

    def close_cleanly() -> None:
        window.close()
        app.quit()

    if mode in ("recover", "decline"):
        document = window.document
        fc1 = document.graph.node("fc1").params["out_features"] if "fc1" in document.graph else None
        print(json.dumps({"offered": offers, "recovered": recovered, "out_features": fc1,
                          "modified": document.is_modified, "path": str(document.path)}), flush=True)
        QTimer.singleShot(0, close_cleanly)
        return app.exec()

    if recovered or offers:
        print("error: recovery was offered to a fresh session", file=sys.stderr)
        return 3
    assert window.files.open_path(sys.argv[2])
    window.document.push(SetParam(window.document.graph, "fc1", "out_features", EDITED_VALUE))
    poll = QTimer(window)

    def check() -> None:
        if autosave_holds_the_edit(window.autosaver.project_file):
            poll.stop()
            print("autosaved", flush=True)
            if mode == "quit":
                QTimer.singleShot(0, close_cleanly)

    poll.timeout.connect(check)
    poll.start(50)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())

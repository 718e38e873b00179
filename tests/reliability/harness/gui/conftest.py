"""The window's side of the bad-input harness runs under the fixtures and guards of ``tests/ui``.

Shared rather than copied (as ``tests/reliability/gui`` does): a test fails when it leaves a QThread
running, a QTimer active or a Python thread alive, or when an unexpected modal dialog would open.
The harness's own helpers (the corpus, the verdicts) are put on the path.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for _folder in (HERE.parent, HERE.parents[1]):  # the harness, and the reliability helpers it reuses
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

_UI_FIXTURES = Path(__file__).resolve().parents[3] / "ui" / "conftest.py"
_spec = importlib.util.spec_from_file_location("nnstudio_ui_test_fixtures_for_harness", _UI_FIXTURES)
assert _spec is not None and _spec.loader is not None
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
globals().update({name: value for name, value in vars(_module).items() if not name.startswith("__")})

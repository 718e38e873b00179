"""The GUI reliability tests run under the very fixtures and guards of ``tests/ui``.

Shared rather than copied: a test here fails, as in ``tests/ui``, when it leaves a QThread running,
a QTimer active or a Python thread alive, or when an unexpected modal dialog would open.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

# The helpers beside the non-GUI reliability tests (hostile files) serve these tests too.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

_UI_FIXTURES = Path(__file__).resolve().parents[2] / "ui" / "conftest.py"
_spec = importlib.util.spec_from_file_location("nnstudio_ui_test_fixtures", _UI_FIXTURES)
assert _spec is not None and _spec.loader is not None
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
globals().update({name: value for name, value in vars(_module).items() if not name.startswith("__")})

import os

import pytest

# Qt must never try to open a real display in tests.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session")
def qapp_cls():
    """Every Qt test runs in nnstudio's own QApplication subclass, as the app does (pytest-qt makes
    one application per session, for whichever test asks first)."""
    from nnstudio.ui.application import Application

    return Application


def pytest_collection_modifyitems(config, items):
    if os.environ.get("NNSTUDIO_LONG") == "1":
        return
    skip_long = pytest.mark.skip(reason="long test: run with NNSTUDIO_LONG=1")
    for item in items:
        if "long" in item.keywords:
            item.add_marker(skip_long)

import os

import pytest

# Qt must never try to open a real display in tests.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def pytest_collection_modifyitems(config, items):
    if os.environ.get("NNSTUDIO_LONG") == "1":
        return
    skip_long = pytest.mark.skip(reason="long test: run with NNSTUDIO_LONG=1")
    for item in items:
        if "long" in item.keywords:
            item.add_marker(skip_long)

import os
import sys

import pytest
from hypothesis import HealthCheck, settings

# Qt must never try to open a real display in tests.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# torch.fx's Interpreter makes a (disabled) tqdm bar whenever tqdm is installed (Optuna brings it);
# tqdm's monitor thread would then outlive the test that first ran an interpreter.
try:
    import tqdm

    tqdm.tqdm.monitor_interval = 0
except ImportError:  # pragma: no cover - tqdm comes with optuna
    pass

# Hypothesis profiles, chosen with HYPOTHESIS_PROFILE: "dev" (the default: fresh examples each run),
# "ci" (what .ci/run asks for: derandomized, so a red CI run reproduces on any machine) and "long"
# (many more examples, for a patient look). Tests that need their own example counts scale them
# from the active profile's max_examples.
_SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile("dev", max_examples=50, deadline=None, suppress_health_check=_SLOW_IS_FINE)
settings.register_profile("ci", max_examples=50, deadline=None, derandomize=True, database=None,
                          print_blob=True, suppress_health_check=_SLOW_IS_FINE)
settings.register_profile("long", max_examples=1000, deadline=None, suppress_health_check=_SLOW_IS_FINE)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(scope="session")
def qapp_cls():
    """Every Qt test runs in nnstudio's own QApplication subclass, as the app does (pytest-qt makes
    one application per session, for whichever test asks first)."""
    from nnstudio.ui.application import Application

    return Application


@pytest.fixture(autouse=True)
def _runs_in_a_private_folder(tmp_path_factory, monkeypatch):
    """Runs recorded for examples and unsaved projects (the window records every run) go to a test's
    own folder, never to the person's user data folder."""
    folder = tmp_path_factory.mktemp("user-runs")
    monkeypatch.setattr("nnstudio.experiments.folders.user_runs_root", lambda: folder)
    return folder


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """Once a Qt test made nnstudio's Application, automatic garbage collection is off for the rest of
    the session (nnstudio.ui.garbage) and its timer runs only while some test spins the event loop:
    between two tests, where no Qt call is in progress, the garbage due is collected."""
    yield
    application = sys.modules.get("nnstudio.ui.application")
    if application is not None:
        app = application.Application.instance()
        if isinstance(app, application.Application):
            app.garbage_collector.collect_due()


def pytest_collection_modifyitems(config, items):
    if os.environ.get("NNSTUDIO_LONG") == "1":
        return
    skip_long = pytest.mark.skip(reason="long test: run with NNSTUDIO_LONG=1")
    for item in items:
        if "long" in item.keywords:
            item.add_marker(skip_long)

"""Never frozen by the garbage collector: cyclic garbage is collected only at safe points.

Python's cyclic collector once ran inside a Qt call that held a signal-connection lock and collected
a Python-owned QMenu whose destructor waited for that lock: the test suite hung for good. The
application therefore switches automatic collection off and collects from a GUI-thread timer
(nnstudio.ui.garbage). These tests build and drop plots, menus, panels and windows many times with
the collector's threshold at 1 (Python would collect on nearly every allocation) and check that
every collection ran on the GUI thread, from the safe-point collector, and that the garbage does go.
The short version runs in CI; the long one (thousands of each) is marked ``long``.
"""

from __future__ import annotations

import gc
import threading
import weakref

import numpy as np
import pytest
from PySide6.QtCore import QCoreApplication, QEvent
from PySide6.QtWidgets import QApplication, QMenu, QWidget

from nnstudio.ui.application import Application
from nnstudio.ui.document import Document


class CollectionLog:
    """Records, for every collection Python runs, whether it ran at a safe point."""

    def __init__(self, app: Application) -> None:
        self.collector = app.garbage_collector
        self.safe = 0
        self.unsafe: list[str] = []

    def __call__(self, phase: str, info: dict) -> None:
        if phase != "start":
            return
        on_gui_thread = threading.current_thread() is threading.main_thread()
        if on_gui_thread and self.collector.is_collecting:
            self.safe += 1
        else:
            self.unsafe.append(f"generation {info['generation']} on {threading.current_thread().name}")


@pytest.fixture
def collections(qapp, qtbot):
    """Threshold 1 for the test (the collector's cadence and Python's own, if it were on).

    One warm-up round first: what it imports is frozen (nnstudio.ui.garbage), so the rounds measured
    import nothing and all their garbage must be collected.
    """
    assert isinstance(qapp, Application), "the session must run in nnstudio's Application"
    churn(qtbot, plots=2, menus=1, panels=3, windows=1)
    qapp.garbage_collector.collect_due(force=True)
    log = CollectionLog(qapp)
    thresholds = gc.get_threshold()
    gc.set_threshold(1, 1, 1)
    gc.callbacks.append(log)
    try:
        yield log
    finally:
        gc.callbacks.remove(log)
        gc.set_threshold(*thresholds)
        qapp.garbage_collector.collect_due(force=True)


def _drop(widget: QWidget) -> None:
    widget.close()
    widget.deleteLater()


def _flush_deletes() -> None:
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QApplication.processEvents()


def _build_plot(i: int) -> QWidget:
    from nnstudio.ui.plots import AccuracyPlot, LossPlot

    plot = LossPlot() if i % 2 == 0 else AccuracyPlot()
    if isinstance(plot, LossPlot):
        xs = np.linspace(0.01, 1.0, 50)
        plot.add_batches(xs, 1.0 / (1.0 + xs), np.full(50, 1e-3))
        plot.add_epoch(1, train_loss=0.6, val_loss=0.7)
        plot.add_overlay("earlier", plot.snapshot())
    else:
        plot.add_epoch(1, train=0.5, val=0.4)
    plot.flush()
    plot.remove_overlay("earlier")
    return plot


def _build_menu(i: int) -> QMenu:
    menu = QMenu()  # Python-owned, as pyqtgraph makes its context menus
    for j in range(3):
        menu.addAction(f"action {i}.{j}", lambda: None)
    menu.addMenu("sub").addAction("leaf")
    return menu


def _build_panel(i: int, document: Document) -> QWidget:
    from nnstudio.ui.inspector import Inspector
    from nnstudio.ui.problems import ProblemsPanel
    from nnstudio.ui.training_panel import TrainingPanel

    kinds = (Inspector, ProblemsPanel, TrainingPanel)
    return kinds[i % len(kinds)](document)


def churn(qtbot, plots: int, menus: int, panels: int, windows: int) -> list[weakref.ref]:
    """Builds and drops the widgets, spinning the event loop now and then; returns weak references."""
    from nnstudio.ui.main_window import MainWindow

    dropped: list[weakref.ref] = []
    document = Document()
    for i in range(max(plots, menus, panels)):
        if i < plots:
            plot = _build_plot(i)
            dropped.append(weakref.ref(plot))
            _drop(plot)
        if i < menus:
            menu = _build_menu(i)
            dropped.append(weakref.ref(menu))
            del menu  # Python owns it: dropping the last reference destroys it
        if i < panels:
            panel = _build_panel(i, document)
            dropped.append(weakref.ref(panel))
            _drop(panel)
        if i % 25 == 0:
            _flush_deletes()
    for _ in range(windows):
        window = MainWindow(remember_layout=False)
        window.show()
        qtbot.waitExposed(window)
        window.shutdown()
        dropped.append(weakref.ref(window))
        _drop(window)
        _flush_deletes()
    document.shutdown()
    _flush_deletes()
    return dropped


def _check(collections: CollectionLog, dropped: list[weakref.ref], qtbot) -> None:
    # The timer's own collections happened while the loop spun; one more forced at a safe point:
    collections.collector.collect_due(force=True)
    alive = [ref() for ref in dropped if ref() is not None]
    print(f"{len(dropped)} widgets dropped, {collections.safe} collections, all at safe points: "
          f"{not collections.unsafe}")  # the figures in docs/reliability.md (run with -s)
    assert not collections.unsafe, f"collections outside the safe point: {collections.unsafe[:5]}"
    assert collections.safe > 0, "the safe-point collector never collected"
    assert not alive, f"{len(alive)} dropped widgets are still alive: {[type(w).__name__ for w in alive[:5]]}"


@pytest.mark.timeout(240)
def test_building_and_dropping_widgets_collects_only_at_safe_points(qtbot, collections, autosave_folder):
    assert not gc.isenabled(), "automatic collection must be off while the application runs"
    dropped = churn(qtbot, plots=150, menus=300, panels=30, windows=2)
    qtbot.wait(1200)  # let the collector's timer run at least once on its own
    _check(collections, dropped, qtbot)


@pytest.mark.long
@pytest.mark.timeout(1800)
def test_thousands_of_widgets_never_freeze_the_application(qtbot, collections, autosave_folder):
    dropped = churn(qtbot, plots=2000, menus=5000, panels=600, windows=100)
    qtbot.wait(1200)
    _check(collections, dropped, qtbot)


def test_pyqtgraph_menus_have_a_qt_parent(qtbot):
    """Context menus pyqtgraph creates without a parent are given the plot as parent, so Python's
    collector never destroys one on its own schedule."""
    from shiboken6 import Shiboken

    from nnstudio.ui.plots import LossPlot

    plot = LossPlot()
    qtbot.addWidget(plot)
    for item in (plot.main_plot, plot.lr_plot):
        for menu in (item.getViewBox().menu, item.ctrlMenu):
            assert menu.parent() is plot and not Shiboken.ownedByPython(menu)


def test_the_collector_collects_cycles_when_they_are_due(qapp):
    collector = qapp.garbage_collector

    class Cycle:
        def __init__(self) -> None:
            self.me = self

    collector.collect_due(force=True)
    thresholds = gc.get_threshold()
    gc.set_threshold(100, 10, 10)
    try:
        cycles = [Cycle() for _ in range(500)]
        refs = [weakref.ref(c) for c in cycles]
        del cycles
        assert all(r() is not None for r in refs), "automatic collection is off: the cycles wait"
        collector.collect_due()
        assert all(r() is None for r in refs)
    finally:
        gc.set_threshold(*thresholds)


def test_what_an_import_leaves_alive_is_frozen_not_scanned_again(qapp):
    """After imports (torch loads on the analysis thread) the objects alive move to the permanent
    generation, so the GUI thread never scans those hundreds of thousands of objects."""
    import sys
    import types

    collector = qapp.garbage_collector
    collector.collect_due(force=True)
    frozen = gc.get_freeze_count()
    sys.modules["nnstudio_test_fresh_module"] = types.ModuleType("nnstudio_test_fresh_module")
    try:
        kept = [[i] for i in range(2000)]
        collector.collect_due()
        assert gc.get_freeze_count() >= frozen + len(kept)
    finally:
        del sys.modules["nnstudio_test_fresh_module"]

"""Python's cyclic garbage collection, run only at safe points on the GUI thread.

Left automatic, the collector runs whenever enough objects were allocated: inside any Qt call that
happens to call back into Python, on any thread. It once ran inside ``QObject::disconnect`` (which
holds a signal-connection lock while it looks up a Python override) and collected a Python-owned
``QMenu`` whose destructor waited for that same lock: the application froze for good. Here automatic
collection is switched off and a timer on the GUI thread collects instead, from the event loop,
where no Qt call is in progress (the approach of pyqtgraph's ``GarbageCollector``). Reference
counting still frees everything that is not in a cycle at once; only cycles wait for the timer.

With automatic collection off, what an import creates (torch alone is some 400,000 objects, loaded
on the analysis thread) would stay in the youngest generation until the timer's next collection,
which would then take a few hundred milliseconds on the GUI thread, and every later full collection
would scan it again (over a second). So when modules were imported since the last look, the
collector first moves everything alive into Python's permanent generation (``gc.freeze()``: modules,
classes and functions live as long as the process anyway); collections then only scan what the
application made since, and take well under a millisecond.

:class:`~nnstudio.ui.application.Application` starts one, so the window, a PNG export and the test
session all run with it.
"""

from __future__ import annotations

import gc
import sys
import threading

from PySide6.QtCore import QObject, QTimer

#: How often the GUI thread looks at the allocation counts (a look that finds nothing to do costs
#: a few microseconds).
CHECK_INTERVAL_MS = 1000


class SafePointCollector(QObject):
    """Collects cyclic garbage from a GUI-thread timer, generation by generation, as Python would.

    Python's own thresholds (``gc.get_threshold()``) decide what is due: the youngest generation
    when more objects were allocated than its threshold, an older one when the younger was
    collected more often than its threshold.
    """

    def __init__(self, parent: QObject | None = None, interval_ms: int = CHECK_INTERVAL_MS) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setObjectName("nnstudio-garbage-collector")
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.collect_due)
        self._was_enabled = gc.isenabled()
        self._collecting = False
        self._modules_seen = 0
        self.collections = 0
        #: How often the objects alive were frozen after imports.
        self.freezes = 0

    @property
    def is_collecting(self) -> bool:
        """Returns True while this collector runs a collection (gc callbacks can tell its own runs)."""
        return self._collecting

    def start(self) -> None:
        """Switches automatic collection off and starts collecting from the timer."""
        self._was_enabled = self._was_enabled or gc.isenabled()
        gc.disable()
        self._timer.start()

    def stop(self) -> None:
        """Stops the timer, collects once more, and gives collection back to Python."""
        self._timer.stop()
        self.collect_due(force=True)
        if self._was_enabled:
            gc.enable()

    def collect_due(self, force: bool = False) -> int:
        """Collects the generations that are due (all of them with ``force``); returns objects freed.

        Call it only where no Qt call is in progress on this thread (a timer slot, between tests).
        """
        if self._collecting or threading.current_thread() is not threading.main_thread():
            return 0
        self._collecting = True
        try:
            if len(sys.modules) != self._modules_seen:
                self._modules_seen = len(sys.modules)
                self.freezes += 1
                gc.freeze()  # imports made long-lived objects: never scan them again (module docstring)
            if force:
                self.collections += 1
                return gc.collect()
            counts, thresholds = gc.get_count(), gc.get_threshold()
            generation = -1
            for level in range(3):
                if counts[level] > thresholds[level]:
                    generation = level
                else:
                    break
            if generation < 0:
                return 0
            self.collections += 1
            return gc.collect(generation)
        finally:
            self._collecting = False

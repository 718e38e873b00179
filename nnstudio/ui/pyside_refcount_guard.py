"""Keep PySide6's over-released ``None``/``True``/``False`` from being freed on Python < 3.12.

PySide6 6.12 (the only version on this project's index) returns ``None`` from every void method
(``QPainter.drawPath``, ``QWidget.setWindowTitle``, ...) and ``True`` from ``Signal.emit`` without
taking a reference: each call drops one reference the caller never had. From Python 3.12 on these
objects are immortal and nothing happens; on 3.11 their count reaches zero after a few thousand calls
(a few seconds of panning the canvas) and the interpreter aborts with
``Fatal Python error: none_dealloc``. Giving the three singletons a practically endless reference
count makes 3.11 behave like 3.12. It must run before Qt is used, so the ``nnstudio.ui`` package
does it on import.
"""

from __future__ import annotations

import ctypes
import sys

#: Added to each singleton's count: ~10^18 over-released calls before trouble (centuries of use).
_RESERVE = 1 << 60


def protect_singletons() -> bool:
    """Give None, True and False an endless reference count; True if done (False on 3.12+)."""
    if sys.version_info >= (3, 12) or not hasattr(sys, "getrefcount"):
        return False  # immortal already (or not CPython)
    for singleton in (None, True, False):
        refcount = ctypes.c_ssize_t.from_address(id(singleton))
        if refcount.value < _RESERVE // 2:
            refcount.value += _RESERVE
    return True

"""Loading PyTorch in the background without freezing the window, and knowing when it is loaded.

The window shows before torch is imported; the analysis worker imports it afterwards (seconds on a
CUDA build). Importing a native extension holds Python's GIL while the dynamic linker maps its
libraries, and torch's are hundreds of megabytes (libtorch, and on a CUDA build cuBLAS, cuDNN and
the rest, which ``import torch`` opens through ``ctypes.CDLL``, also under the GIL): the GUI thread
then cannot run a line of Python (a paint, a timer, a click) for as long as half a second.

:func:`preload_torch_libraries` maps the same libraries first through a foreign call of ``dlopen``,
which ctypes makes with the GIL released, so the window keeps running while the linker works; the
``import torch`` that follows finds them loaded. What is left under the GIL is torch's own module
initialisation. :func:`torch_is_loaded` says whether ``import torch`` has finished.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import sys
from pathlib import Path


def torch_is_loaded() -> bool:
    """Returns True once ``import torch`` has finished (in any thread); False before or while it runs."""
    module = sys.modules.get("torch")
    if module is None:
        return False
    spec = getattr(module, "__spec__", None)
    return not getattr(spec, "_initializing", False)


def torch_library_files() -> list[Path]:
    """Returns the native files ``import torch`` maps first, in its order (Linux; else none).

    ``libtorch_global_deps`` (with its CUDA dependencies), then the ``torch._C`` extension, whose
    dependencies are the rest of libtorch. Found from torch's location, without importing it.
    """
    if not sys.platform.startswith("linux") or torch_is_loaded():
        return []
    try:
        spec = importlib.util.find_spec("torch")
    except (ImportError, ValueError):
        return []
    if spec is None or spec.origin is None:
        return []
    root = Path(spec.origin).parent
    files = [root / "lib" / "libtorch_global_deps.so", *sorted(root.glob("_C.*.so"))]
    return [path for path in files if path.is_file()]


def preload_torch_libraries() -> int:
    """Maps torch's native libraries with the GIL released; returns how many it mapped.

    Best effort: anything that does not map is left to ``import torch``, which reports its own
    errors. Call it on a worker thread just before that thread imports torch.
    """
    files = torch_library_files()
    if not files:
        return 0
    try:
        dlopen = ctypes.CDLL(None).dlopen  # a foreign call: ctypes releases the GIL around it
    except (OSError, AttributeError):
        return 0
    dlopen.restype = ctypes.c_void_p
    dlopen.argtypes = [ctypes.c_char_p, ctypes.c_int]
    mapped = 0
    for path in files:
        # The flags torch itself uses: its global dependencies' symbols are made global.
        scope = os.RTLD_GLOBAL if path.name.startswith("libtorch_global_deps") else os.RTLD_LOCAL
        if dlopen(os.fsencode(path), os.RTLD_NOW | scope):
            mapped += 1
    return mapped

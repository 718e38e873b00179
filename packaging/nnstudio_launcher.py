"""Start nnstudio from a frozen build: the script PyInstaller turns into the ``nnstudio`` executable.

PyInstaller needs a script rather than the ``nnstudio.cli:main`` entry point that pip installs.
"""

import importlib.util
import logging
import multiprocessing
import sys

from nnstudio.cli import main

if __name__ == "__main__":
    # DataLoader workers start new processes by spawning (Windows, macOS); in a frozen app each one
    # re-runs this executable, and freeze_support turns it into the worker instead of a second window.
    multiprocessing.freeze_support()
    if getattr(sys, "frozen", False) and importlib.util.find_spec("triton") is None:
        # The build leaves Triton out on purpose (see nnstudio.spec); a CUDA torch would otherwise warn
        # about it on every start, although nnstudio's FLOP counts never involve Triton kernels.
        logging.getLogger("torch.utils.flop_counter").setLevel(logging.ERROR)
    sys.exit(main())

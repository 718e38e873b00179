"""Child process of the SIGKILL test: saves two versions of a project to one file, alternately, forever.

Usage: ``python save_under_fire.py BASE.nns TARGET.nns``. Prints ``ready SECONDS`` (one save's time)
once both versions are built, then ``saved NAME`` after each finished save; the parent kills it (SIGKILL)
at a random moment after some finished saves and checks TARGET is whole.
"""

from __future__ import annotations

import sys
import time

from nnstudio.core.project import load_project, save_project


def main() -> None:
    base = load_project(sys.argv[1])
    target = sys.argv[2]
    first, second = base.copy(), base.copy()
    first.name, second.name = "version A", "version B"
    # One save beforehand, to another file: the first save of a process pays for lazy imports and
    # caches (tens of milliseconds), which would otherwise swallow the parent's whole kill window.
    started = time.perf_counter()
    save_project(first, str(target) + ".warm-up.nns")
    save_project(second, str(target) + ".warm-up.nns")
    # The parent spreads its kills over a few save cycles, however fast this machine saves.
    print(f"ready {(time.perf_counter() - started) / 2:.4f}", flush=True)
    while True:
        for version in (second, first):
            save_project(version, target)
            print(f"saved {version.name}", flush=True)


if __name__ == "__main__":
    main()

"""Child process of the SIGKILL test: saves two versions of a project to one file, alternately, forever.

Usage: ``python save_under_fire.py BASE.nns TARGET.nns``. Prints ``ready`` once both versions are
built; the parent kills it (SIGKILL) at a random moment and checks TARGET is whole.
"""

from __future__ import annotations

import sys

from nnstudio.core.project import load_project, save_project


def main() -> None:
    base = load_project(sys.argv[1])
    target = sys.argv[2]
    first, second = base.copy(), base.copy()
    first.name, second.name = "version A", "version B"
    print("ready", flush=True)
    while True:
        save_project(second, target)
        save_project(first, target)


if __name__ == "__main__":
    main()

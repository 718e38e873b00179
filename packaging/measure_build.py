"""Print the size of a frozen nnstudio build and its start-up time beside the same app run from a venv.

    .venv/bin/python packaging/measure_build.py [--app dist/nnstudio/nnstudio] [--repeats 5]

Start-up is launch -> main window shown, read from the app's ``NNSTUDIO_STARTUP_PROBE=1`` switch
(the window prints the moment of its first show and quits). The command line is timed too, with
``nnstudio examples`` start to exit. Frozen and venv runs alternate and medians are compared; the first
run of each warms the disk cache and is not counted. Figures go into packaging/README.md by hand.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class MeasureError(RuntimeError):
    """A run of the app that did not behave as the measurement needs, with its command and output."""

    def __init__(self, command: list[str], detail: str) -> None:
        super().__init__(f"{' '.join(command)}: {detail}")
        self.command = command


def folder_size(folder: Path) -> tuple[int, int]:
    """Returns (bytes, number of files) under the folder, not following links."""
    total = count = 0
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            total += path.stat().st_size
            count += 1
    return total, count


def largest_parts(folder: Path, top: int = 6) -> list[tuple[str, int]]:
    """Returns the biggest entries of the folder's ``_internal`` (or the folder), biggest first."""
    inner = folder / "_internal" if (folder / "_internal").is_dir() else folder
    sizes = []
    for entry in inner.iterdir():
        if entry.is_symlink():  # PyInstaller links shared libraries to where their users look for them
            continue
        size = folder_size(entry)[0] if entry.is_dir() else entry.stat().st_size
        sizes.append((entry.name, size))
    return sorted(sizes, key=lambda item: -item[1])[:top]


def _environment(home: str, probe: bool) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    # a private home, so no settings or autosave of a real session are read or written
    env.update(HOME=home, XDG_DATA_HOME=f"{home}/data", XDG_CONFIG_HOME=f"{home}/config",
               XDG_CACHE_HOME=f"{home}/cache")
    if probe:
        env["NNSTUDIO_STARTUP_PROBE"] = "1"
    return env


def window_shown_after(command: list[str], home: str) -> float:
    """Returns seconds from launch until the main window was first shown."""
    start = time.time()
    done = subprocess.run(command, env=_environment(home, True), capture_output=True, text=True, timeout=300)
    shown = [line for line in done.stdout.splitlines() if line.startswith("nnstudio-shown")]
    if done.returncode != 0 or not shown:
        raise MeasureError(command, f"exit {done.returncode}, no 'nnstudio-shown' line\n{done.stderr[-2000:]}")
    return float(shown[0].split()[1]) - start


def command_line_run(command: list[str], home: str) -> float:
    """Returns seconds that ``nnstudio examples`` takes from launch to exit."""
    start = time.perf_counter()
    done = subprocess.run([*command, "examples"], env=_environment(home, False), capture_output=True,
                          text=True, timeout=300)
    if done.returncode != 0:
        raise MeasureError([*command, "examples"], f"exit {done.returncode}\n{done.stderr[-2000:]}")
    return time.perf_counter() - start


def compare(label: str, measure: Callable[[list[str], str], float], frozen: list[str], venv: list[str],
            repeats: int, home: str) -> None:
    measure(frozen, home), measure(venv, home)  # warm-up: both read their files from disk once
    frozen_times, venv_times = [], []
    for _ in range(repeats):
        frozen_times.append(measure(frozen, home))
        venv_times.append(measure(venv, home))
    frozen_median, venv_median = statistics.median(frozen_times), statistics.median(venv_times)
    print(f"{label:<28} frozen {frozen_median:6.2f} s   venv {venv_median:6.2f} s   "
          f"frozen/venv {frozen_median / venv_median:4.2f}x   (medians of {repeats})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", type=Path, default=ROOT / "dist" / "nnstudio" / "nnstudio")
    parser.add_argument("--repeats", type=int, default=5)
    options = parser.parse_args(argv)
    if not options.app.is_file():
        parser.error(f"no frozen app at {options.app}; build it with packaging/build.sh")
    venv_script = Path(sys.executable).parent / "nnstudio"
    venv = [str(venv_script)] if venv_script.is_file() else [sys.executable, "-m", "nnstudio"]
    frozen = [str(options.app.resolve())]

    size, files = folder_size(options.app.parent)
    print(f"build folder {options.app.parent}: {size / 2**30:.2f} GiB in {files:,} files")
    for name, part in largest_parts(options.app.parent):
        print(f"  {name:<24} {part / 2**20:9.0f} MiB")
    with tempfile.TemporaryDirectory() as home:
        compare("window shown (GUI)", window_shown_after, frozen, venv, options.repeats, home)
        compare("nnstudio examples (CLI)", command_line_run, frozen, venv, options.repeats, home)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except MeasureError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)

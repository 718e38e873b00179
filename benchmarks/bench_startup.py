"""Start-up time: ``nnstudio`` until its main window is shown, beside ``python -c "import torch"``.

Each run is a fresh process. The window reports the moment of its first show (the app's
``NNSTUDIO_STARTUP_PROBE=1`` switch prints a timestamp and whether torch was loaded, then quits), so
the figure is launch -> window on screen, the wait a person sees. Runs of the two commands alternate
and the medians are compared. Target: <= 2.0 s, with torch not yet imported.

    .venv/bin/python benchmarks/bench_startup.py [--repeats N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def _env(home: str, probe: bool) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    # A private home: no autosave or settings of the person's sessions are read or touched.
    env.update(HOME=home, XDG_DATA_HOME=os.path.join(home, "data"), XDG_CONFIG_HOME=os.path.join(home, "cfg"))
    if probe:
        env["NNSTUDIO_STARTUP_PROBE"] = "1"
    return env


def _nnstudio_command() -> list[str]:
    script = os.path.join(os.path.dirname(sys.executable), "nnstudio")
    return [script] if os.path.isfile(script) else [sys.executable, "-m", "nnstudio"]


def time_window_shown(home: str) -> tuple[float, bool]:
    """Returns (seconds from launch until the window was shown, whether torch was loaded by then)."""
    start = time.time()
    done = subprocess.run(_nnstudio_command(), env=_env(home, True), capture_output=True,
                          text=True, timeout=120, check=True)
    line = next(line for line in done.stdout.splitlines() if line.startswith("nnstudio-shown"))
    _, stamp, torch_flag = line.split()
    return float(stamp) - start, torch_flag == "torch=True"


def time_import_torch(home: str) -> float:
    """Returns the seconds a fresh ``python -c "import torch"`` takes, start to exit."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], env=_env(home, False), check=True, timeout=120)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        time_window_shown(home)  # warm the disk cache for both, so neither pays the cold read alone
        time_import_torch(home)
        window, torch_import, torch_loaded = [], [], []
        for _ in range(args.repeats):
            seconds, loaded = time_window_shown(home)
            window.append(seconds)
            torch_loaded.append(loaded)
            torch_import.append(time_import_torch(home))
    window_median, torch_median = statistics.median(window), statistics.median(torch_import)
    print(f"nnstudio until the window is shown: median {window_median:.3f} s "
          f"(min {min(window):.3f}, max {max(window):.3f}, {args.repeats} runs)")
    print(f'python -c "import torch":           median {torch_median:.3f} s '
          f"(min {min(torch_import):.3f}, max {max(torch_import):.3f})")
    print(f"ratio window / import torch: {window_median / torch_median:.2f}x")
    print(f"torch imported before the window showed: {'yes' if any(torch_loaded) else 'no'}")
    print(f"target <= 2.0 s: {'met' if window_median <= 2.0 and not any(torch_loaded) else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""One sweep worker process: ``nnstudio sweep-worker SPEC INDEX PARENT THREADS`` (an internal verb).

Started by :class:`~nnstudio.experiments.runner.SweepRunner`. It imports torch and loads the data
once, then trains trials until the study has enough. Ctrl+C or SIGTERM ends the current trial as
interrupted; so does the parent process going away (checked every second), so a killed sweep never
leaves workers training on their own.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

#: How often (seconds) a worker checks that the process that started it is still there.
PARENT_CHECK_S = 1.0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    spec_path, index, parent, threads = Path(args[0]), int(args[1]), int(args[2]), int(args[3])
    import torch

    from nnstudio.core.errors import NnstudioError
    from nnstudio.experiments.sweep import SweepSpec, prepare_sweep
    from nnstudio.experiments.trials import SweepWorker

    torch.set_num_threads(threads)
    try:
        # The parent checked the network and the data; a worker loads the data once, for its trials.
        sweep = prepare_sweep(SweepSpec.from_json(spec_path.read_text(encoding="utf-8")), check=False)
    except (OSError, NnstudioError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    worker = SweepWorker(sweep, index)

    def on_signal(signum: int, frame: object) -> None:
        worker.stop()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    done = threading.Event()

    def watch_parent() -> None:
        while not done.wait(PARENT_CHECK_S):
            if os.getppid() != parent:
                print("the sweep's main process is gone; stopping", file=sys.stderr)
                worker.stop()
                return

    threading.Thread(target=watch_parent, name="nnstudio-parent-watch", daemon=True).start()
    try:
        count = worker.run()
    except NnstudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        done.set()
    print(f"worker {index}: ran {count} trial(s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

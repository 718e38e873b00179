"""Running ``nnstudio VERB ...`` on one bad input: in this process (bounded), or as a real process.

In-process, :func:`run_in_process` calls ``nnstudio.cli.main(argv)`` with file descriptors 1 and 2
sent to files and ``sys.stdout`` / ``sys.stderr`` encoding UTF-8 strictly, as a terminal in a UTF-8
locale does: a message holding a character the terminal cannot take fails here as it would there,
and what C libraries write (Qt, torch) is caught beside what Python prints. Time and memory are
bounded by :class:`limits.Bounded`. An exception leaving ``main`` is what a person would have seen
as a traceback.

:func:`run_in_subprocess` starts the real command (``python -c 'from nnstudio.cli import main; ...'``,
what the ``nnstudio`` script does) to prove the exit paths: status codes, the interpreter's own
printing, nothing swallowed by the in-process capture.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

from limits import Bounded, InputLimitExceeded, Usage

#: What the ``nnstudio`` console script runs.
ENTRY = "import sys; from nnstudio.cli import main; sys.exit(main())"


@dataclass
class Outcome:
    """What one run gave back: exit status, both streams, the resources it took, an escaped exception."""

    argv: list[str]
    code: int | None
    stdout: str
    stderr: str
    usage: Usage = field(default_factory=Usage)
    #: The traceback of an exception that left ``main()`` (in-process), else None.
    escaped: str | None = None
    in_subprocess: bool = False

    @property
    def output(self) -> str:
        return self.stdout + "\n" + self.stderr


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="backslashreplace")


@contextlib.contextmanager
def _captured_fds() -> contextlib.AbstractContextManager:
    """Send fds 1 and 2 (and sys.stdout/stderr, strict UTF-8) to files; yields a function reading both."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    files = {fd: tempfile.TemporaryFile() for fd in (1, 2)}
    streams = (sys.stdout, sys.stderr)
    try:
        for fd, handle in files.items():
            os.dup2(handle.fileno(), fd)
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", errors="strict",
                                      write_through=True)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="strict",
                                      write_through=True)

        def read() -> tuple[str, str]:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            texts = []
            for fd in (1, 2):
                files[fd].seek(0)
                texts.append(_text(files[fd].read()))
            return texts[0], texts[1]

        yield read
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        sys.stdout, sys.stderr = streams
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        for handle in files.values():
            handle.close()


@contextlib.contextmanager
def _plain_warnings() -> contextlib.AbstractContextManager:
    """Warnings shown as a plain ``python`` run shows them (on stderr), not recorded by pytest."""
    with warnings.catch_warnings():
        warnings.resetwarnings()
        for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
            warnings.simplefilter("ignore", category)
        warnings.showwarning = _show_warning  # pytest's recorder would hide them from the verdict
        yield


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def run_in_process(argv: Sequence[str], *, seconds: float, memory_bytes: int, cwd: Path,
                   around: Callable[[], AbstractContextManager[object]] | None = None) -> Outcome:
    """Run ``nnstudio.cli.main(argv)`` here, bounded; ``around`` wraps the call (a fault to inject)."""
    from nnstudio.cli import main

    code: int | None = None
    escaped = None
    previous = os.getcwd()
    bound = Bounded(seconds, memory_bytes)
    stdin = sys.stdin
    sys.stdin = io.StringIO("")  # a verb that reads standard input gets an empty one, never a hang
    modules_before = set(sys.modules)
    os.chdir(cwd)
    try:
        with _captured_fds() as read:
            try:
                with bound, _plain_warnings(), (around() if around is not None else contextlib.nullcontext()):
                    try:
                        code = main(list(argv))
                    except SystemExit as exc:  # argparse's usage errors and --help
                        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except InputLimitExceeded:
                # Interrupted inside an import (a loaded machine can be that slow), a module stays half
                # initialised in sys.modules and fails every later input: the next one imports it afresh.
                for name in set(sys.modules) - modules_before:
                    sys.modules.pop(name, None)
            except BaseException:  # noqa: BLE001 - exactly what would have reached the person
                escaped = traceback.format_exc()
            stdout, stderr = read()
    finally:
        os.chdir(previous)
        sys.stdin = stdin
    return Outcome(list(argv), code, stdout, stderr, bound.usage, escaped)


def run_in_subprocess(argv: Sequence[str], *, seconds: float, cwd: Path,
                      env: dict[str, str] | None = None) -> Outcome:
    """Run the real ``nnstudio`` command in a new process; its peak memory from ``wait4``'s rusage."""
    environment = {**os.environ, "PYTHONIOENCODING": "utf-8:strict", "PYTHONDONTWRITEBYTECODE": "1",
                   "QT_QPA_PLATFORM": "offscreen", **(env or {})}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = _popen([sys.executable, "-c", ENTRY, *argv], out, err, environment, cwd)
        usage = Usage()
        status = None
        rusage = None
        while status is None:
            pid, wait_status, rusage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                status = wait_status
                break
            if time.perf_counter() - start > seconds:
                usage.exceeded = "time"
                process.kill()
                _, status, rusage = os.wait4(process.pid, 0)
                break
            time.sleep(0.02)
        process.returncode = 0  # reaped above: keep Popen from waiting for it again
        usage.seconds = time.perf_counter() - start
        usage.peak_growth = rusage.ru_maxrss * 1024 if rusage is not None else 0
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Outcome(list(argv), code, _text(out.read()), _text(err.read()), usage, in_subprocess=True)


def _popen(command: list[str], out, err, env: dict[str, str], cwd: Path):
    import subprocess

    return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, cwd=cwd)


__all__ = ["ENTRY", "InputLimitExceeded", "Outcome", "run_in_process", "run_in_subprocess"]

"""Writing and reading files safely: the one atomic writer and the one guarded reader of nnstudio.

Writing. Every file nnstudio writes whole (projects, autosaves, exports of every format, a run's
outputs, checkpoints, plots and pictures) goes through :func:`write_atomic`: the content is written
into a staging folder beside the target, flushed and fsynced, checked where its format can be checked,
and only then renamed over the target. A failure at any step (a full disk, a refused permission, a
check that fails) raises :class:`FileWriteError`, keeps the previous file exactly as it was and
leaves no temporary behind. Files that belong together (an ONNX model and its external-data file)
are written into the same staging folder and renamed together: the companions first, the main file
last, and if a rename fails the ones already made are rolled back from hard-link backups.

New files get the mode a plain ``open()`` gives under the user's umask; a replaced file keeps its mode.

Reading. A user-named file is read only through :func:`check_regular_file`, :func:`read_bytes` or
:func:`read_text`: only regular files (a FIFO would block for ever, ``/dev/zero`` never ends), each kind
with its size limit, checked from ``stat`` before a byte is read and enforced again while reading.

Faults can be injected at each step of a write (:func:`simulate_fault`), so tests show for every
format that a full disk or a refused permission never costs the previous good file.
"""

from __future__ import annotations

import errno as errno_codes
import glob
import json
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from nnstudio.core.errors import NnstudioError
from nnstudio.core.formatting import format_bytes

#: A file writer: puts the whole file at the (staging) path it is given; companions go beside it.
Writer = Callable[[Path], None]
#: A format check of a written file (at its staging path); raises to refuse it.
Verifier = Callable[[Path], None]

#: Size limits of the kinds of file nnstudio reads (bytes). Real projects are kilobytes, imported
#: ones a few megabytes; state dicts of real networks reach several gigabytes.
PROJECT_BYTES = 20 * 2**20
WEIGHTS_BYTES = 32 * 2**30
TABLE_BYTES = 2 * 2**30
IMAGE_BYTES = 256 * 2**20
JSON_BYTES = 16 * 2**20

#: A staging folder this old belongs to a write that was killed, not to one still writing.
STALE_TEMPORARY_S = 600
_STAGING_SUFFIX = ".tmp"
_BACKUP_PREFIX = ".backup-"


class FileWriteError(NnstudioError, OSError):
    """A file could not be written; the previous one (if any) is unchanged. ``errno`` when the OS refused.

    Also an OSError, so code that guards a write with ``except OSError`` keeps catching it.
    """

    def __init__(self, path: str | os.PathLike[str], reason: str, errno: int | None = None) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason
        self.errno = errno

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class FileReadError(NnstudioError, OSError):
    """A file could not be read or was refused before reading; ``path`` names it (also an OSError)."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


# --------------------------------------------------------------------------- fault injection

_faults: list[tuple[str, int, str | None, int]] = []  # (stage, errno, name filter, partial-write fraction)
STAGES = ("create", "write", "fsync", "verify", "rename")


@contextmanager
def simulate_fault(stage: str, error: int = errno_codes.ENOSPC, *, name: str | None = None) -> Iterator[None]:
    """While active, every write (of files called ``name``, or all) fails at ``stage`` with ``error``.

    ``"write"`` leaves half of the staged file behind first, as a disk that fills up mid-write does.
    For tests and fault drills: the same code path a real failure takes, for every file format.
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; one of {', '.join(STAGES)}")
    entry = (stage, error, name, 0)
    _faults.append(entry)
    try:
        yield
    finally:
        _faults.remove(entry)


def _fault_point(stage: str, path: Path) -> None:
    for where, code, name, _ in _faults:
        if where == stage and (name is None or name == path.name):
            if stage == "write" and path.is_file():
                with open(path, "r+b") as handle:  # a disk that fills up mid-write leaves a fragment
                    handle.truncate(path.stat().st_size // 2)
            raise OSError(code, os.strerror(code), str(path))


# --------------------------------------------------------------------------- writing

def write_atomic(target: str | os.PathLike[str], write: Writer, *, verify: Verifier | None = None) -> Path:
    """Write a file through ``write(staging_path)`` and put it in place only once it is whole; return the target.

    ``write`` may put companion files beside the staged file (an ONNX model's external data); every
    file it leaves in the staging folder is committed with the target, as one unit. ``verify`` checks
    the staged file before anything replaces the old one. Raises :class:`FileWriteError` (old files
    kept, nothing left behind) when the OS refuses or the check fails; an :class:`NnstudioError` raised
    by ``write`` or ``verify`` (a failed export, a comparison that differs) passes through unchanged.
    """
    target = Path(target)
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise FileWriteError(target, "is a folder, not a file")
    try:
        _fault_point("create", target)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=_STAGING_SUFFIX, dir=folder))
    except OSError as exc:
        raise FileWriteError(target, f"cannot write in {folder}: {_reason(exc)}", exc.errno) from None
    staged = staging / target.name
    try:
        try:
            write(staged)
            _fault_point("write", staged)
            if not staged.is_file():
                raise FileWriteError(target, "the writer produced no file")
            parts = [p for p in staging.iterdir() if p.is_file()]
            _fault_point("fsync", staged)
            for part in parts:
                _fsync_file(part)
        except NnstudioError:
            raise
        except OSError as exc:
            raise FileWriteError(target, f"could not be written ({_reason(exc)}); {_kept(target)}",
                                 exc.errno) from None
        try:
            _fault_point("verify", staged)
            if verify is not None:
                verify(staged)
        except NnstudioError:
            raise
        except Exception as exc:  # noqa: BLE001 - format checkers raise their own types
            detail = _reason(exc) if isinstance(exc, OSError) else _first_line(exc)
            raise FileWriteError(target, f"the written file failed its check ({type(exc).__name__}: "
                                         f"{detail}); {_kept(target)}", getattr(exc, "errno", None)) from None
        for part in parts:
            _give_mode(part, folder / part.name)
        _commit(staging, staged, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _fsync_folder(folder)
    _remove_stale_staging(folder, target.name)
    return target


def write_bytes_atomic(target: str | os.PathLike[str], data: bytes, *, verify: Verifier | None = None) -> Path:
    """Write ``data`` as the whole of ``target`` atomically (see :func:`write_atomic`); return the target."""
    def write(path: Path) -> None:
        # 0o666 through os.open: the kernel applies the umask exactly as a plain open() would
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        if path.stat().st_size != len(data):
            raise OSError(errno_codes.EIO, "the file on disk is shorter than what was written", str(path))

    return write_atomic(target, write, verify=verify)


def write_text_atomic(target: str | os.PathLike[str], text: str, *, verify: Verifier | None = None) -> Path:
    """Write ``text`` as UTF-8 to ``target`` atomically; a character UTF-8 cannot hold is a FileWriteError."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        line = text.count("\n", 0, exc.start) + 1
        raise FileWriteError(target, f"line {line} holds a character that cannot be written as UTF-8 "
                                     f"({text[exc.start]!r}, a lone surrogate); nothing was written") from None
    return write_bytes_atomic(target, data, verify=verify)


def write_json_atomic(target: str | os.PathLike[str], value: object) -> Path:
    """Write ``value`` as JSON (non-ASCII escaped where UTF-8 cannot hold it); checked by parsing it back."""
    try:
        text = json.dumps(value, indent=2, ensure_ascii=False) + "\n"
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(value, indent=2, ensure_ascii=True) + "\n"
    return write_text_atomic(target, text, verify=verify_json)


def _commit(staging: Path, main: Path, folder: Path) -> None:
    """Rename the staged files over their targets: companions first, ``main`` last, all or none."""
    parts = sorted((p for p in staging.iterdir() if p.is_file() and not p.name.startswith(_BACKUP_PREFIX)),
                   key=lambda p: (p == main, p.name))
    if len(parts) == 1:
        try:
            _fault_point("rename", main)
            os.replace(main, folder / main.name)
        except OSError as exc:
            raise FileWriteError(folder / main.name, f"could not be replaced ({_reason(exc)}); "
                                                     f"{_kept(folder / main.name)}", exc.errno) from None
        return
    done: list[tuple[Path, Path | None]] = []  # (destination, backup of what it replaced)
    try:
        for part in parts:
            destination = folder / part.name
            backup: Path | None = None
            if destination.exists():
                backup = staging / (_BACKUP_PREFIX + part.name)
                os.link(destination, backup)
            _fault_point("rename", part)
            os.replace(part, destination)
            done.append((destination, backup))
    except OSError as exc:
        for destination, backup in reversed(done):
            try:
                if backup is not None:
                    os.replace(backup, destination)
                else:
                    destination.unlink()
            except OSError:
                pass  # best effort: the staging folder still holds the backup until it is removed
        target = folder / main.name
        raise FileWriteError(target, f"could not be replaced ({_reason(exc)}); {_kept(target)}", exc.errno) from None


def _give_mode(staged: Path, target: Path) -> None:
    """Give a staged file the mode it will keep: the replaced file's, or a plain open()'s under the umask.

    Libraries choose their own (mkstemp-based writers make 0600 files); the person's umask decides.
    """
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except OSError:
        mode = 0o666 & ~current_umask()
    try:
        os.chmod(staged, mode)
    except OSError:
        pass


def current_umask() -> int:
    """Return the process's umask (read from /proc where it can be, without changing it)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere the only way to read it is to set it, then put it back at once
    os.umask(mask)
    return mask


def _kept(target: Path) -> str:
    return "the previous file is unchanged" if target.exists() else "nothing was written"


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no details"


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # not supported on this platform (Windows)
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_stale_staging(folder: Path, name: str) -> None:
    """Delete what killed writes of ``name`` left behind (hidden clutter otherwise)."""
    cutoff = time.time() - STALE_TEMPORARY_S
    for leftover in folder.glob(f".{glob.escape(name)}.*{_STAGING_SUFFIX}"):
        try:
            if leftover.lstat().st_mtime >= cutoff:
                continue
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover)
            else:
                leftover.unlink()
        except OSError:
            pass  # gone already, or not ours to delete: harmless either way


# --------------------------------------------------------------------------- format checks

def verify_json(path: Path) -> None:
    """Refuse a staged file that is not valid UTF-8 JSON."""
    json.loads(path.read_bytes().decode("utf-8"))


def verify_png(path: Path) -> None:
    """Refuse a staged file that is not a non-empty PNG."""
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG image" if head else "the image is empty")


def verify_svg(path: Path) -> None:
    """Refuse a staged file that is not a non-empty SVG document."""
    with open(path, "rb") as handle:
        text = handle.read(4096).decode("utf-8", errors="replace")
    if "<svg" not in text:
        raise ValueError("not an SVG document" if text.strip() else "the drawing is empty")


def verify_not_empty(path: Path) -> None:
    """Refuse an empty staged file."""
    if path.stat().st_size == 0:
        raise ValueError("the file is empty")


# --------------------------------------------------------------------------- the output folder

def check_output_folder(folder: str | os.PathLike[str], needed_bytes: int = 0) -> Path:
    """Return ``folder`` once it is known that it can be made (if missing) and take ``needed_bytes``.

    Creates nothing: the nearest existing folder on the way is probed with a file made and removed at
    once. Raises :class:`FileWriteError` naming the reason: a file stands where the folder (or one of
    its parents) should be, the place refuses writes, or its disk has less than ``needed_bytes`` free.
    Checked before training, so epochs are never trained for a place that cannot keep them.
    """
    folder = Path(folder)
    existing = folder
    while not (existing.exists() or existing.is_symlink()) and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        what = "is a file" if existing == folder else f"cannot be made: {existing} is a file"
        raise FileWriteError(folder, f"{what}, not a folder", errno_codes.ENOTDIR)
    probe = ".nnstudio-write-check"
    try:
        _fault_point("create", existing / probe)
        fd, name = tempfile.mkstemp(prefix=probe, dir=existing)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        where = "this folder" if existing == folder else f"{existing}"
        raise FileWriteError(folder, f"cannot write in {where} ({_reason(exc)})", exc.errno) from None
    if needed_bytes:
        free = shutil.disk_usage(existing).free
        if free < needed_bytes:
            raise FileWriteError(folder, f"its disk has {format_bytes(free)} free; the outputs need about "
                                         f"{format_bytes(needed_bytes)}", errno_codes.ENOSPC)
    return folder


# --------------------------------------------------------------------------- reading

def check_regular_file(path: str | os.PathLike[str], limit: int, what: str = "file") -> int:
    """Return the size of ``path`` once it is known to be a regular file of at most ``limit`` bytes.

    For libraries that open the path themselves (``torch.load``, image decoders). Raises
    :class:`FileReadError`: missing, a folder, a device or a pipe (never opened: opening a FIFO blocks),
    or too large (refused from its size, nothing read).
    """
    try:
        info = os.stat(path)
    except OSError as exc:
        raise FileReadError(path, f"cannot read the file: {_reason(exc)}") from None
    if stat.S_ISDIR(info.st_mode):
        raise FileReadError(path, f"is a folder, not a {what}")
    if not stat.S_ISREG(info.st_mode):
        kind = ("a pipe (FIFO)" if stat.S_ISFIFO(info.st_mode) else "a device" if
                stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) else
                "a socket" if stat.S_ISSOCK(info.st_mode) else "not a regular file")
        raise FileReadError(path, f"is {kind}, not a {what}; only regular files are read")
    if info.st_size > limit:
        raise FileReadError(path, f"the file is {format_bytes(info.st_size)}; a {what} is at most "
                                  f"{format_bytes(limit)}")
    return info.st_size


def read_bytes(path: str | os.PathLike[str], limit: int, what: str = "file") -> bytes:
    """Return the bytes of a regular file of at most ``limit`` bytes; FileReadError otherwise.

    Opened without blocking and checked again on the open descriptor, then read to at most
    ``limit + 1`` bytes, so neither a swapped-in pipe nor a file that grows meanwhile can hang or
    exhaust the reader.
    """
    check_regular_file(path, limit, what)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise FileReadError(path, f"cannot read the file: {_reason(exc)}") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise FileReadError(path, f"is not a regular file, not a {what}")
        try:
            data = handle.read(limit + 1)
        except OSError as exc:
            raise FileReadError(path, f"cannot read the file: {_reason(exc)}") from None
    if len(data) > limit:
        raise FileReadError(path, f"the file grew past {format_bytes(limit)} while being read")
    return data


def read_text(path: str | os.PathLike[str], limit: int, what: str = "file", encoding: str = "utf-8-sig") -> str:
    """Return the text of a regular file of at most ``limit`` bytes; undecodable bytes are named."""
    data = read_bytes(path, limit, what)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise FileReadError(path, f"not {encoding.removesuffix('-sig').upper()} text (byte {exc.start}, "
                                  f"line {line})") from None

"""How numbers and shapes are written for people, the same way in the window, the CLI and the docs.

One formatter per thing: a tensor shape (``[N, 32, 8, 8]``, ``?`` when unknown), a count with a
short suffix (``18.5k``, ``1.2M``), a byte size (``97.7 KB``) and a duration (``1:05``); and
:func:`printable`, the one escaping of text from files, names and paths before a terminal shows it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

#: Written where a value is not known (a layer in error has no parameter count).
UNKNOWN = "–"


#: Dimensions a shape shows in full; a longer one (a damaged file's) shows its ends and its rank.
MAX_SHOWN_DIMS = 16


def format_shape(shape: Sequence[object] | None) -> str:
    """Return a shape as ``[N, 64, 2, 2]``; ``?`` when it is unknown.

    A shape of more than :data:`MAX_SHOWN_DIMS` dimensions reads ``[N, 1, 1, ..., 1] (200,001
    dimensions)``, so one message stays one line.
    """
    if shape is None:
        return "?"
    dims = [str(d) for d in shape]
    if len(dims) > MAX_SHOWN_DIMS:
        return "[" + ", ".join(dims[:8]) + ", ..., " + ", ".join(dims[-2:]) + f"] ({len(dims):,} dimensions)"
    return "[" + ", ".join(dims) + "]"


_COUNT_STEPS = ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "k"))


def format_count(count: float | None) -> str:
    """Return a count in at most four characters and a suffix: ``320``, ``18.5k``, ``1.2M``, ``3G``.

    ``None`` (not known) gives :data:`UNKNOWN`.
    """
    if count is None:
        return UNKNOWN
    value = float(count)
    for factor, suffix in _COUNT_STEPS:
        if abs(value) >= factor * 0.9995:
            scaled = value / factor
            text = f"{scaled:.0f}" if abs(scaled) >= 100 else f"{scaled:.1f}".removesuffix(".0")
            return text + suffix
    return f"{value:.0f}" if value == int(value) else f"{value:.3g}"


_BYTE_UNITS = ("bytes", "KB", "MB", "GB", "TB", "PB")


def format_bytes(count: float | None) -> str:
    """Return a size in bytes for people (binary multiples): ``512 bytes``, ``97.7 KB``, ``3.6 GB``."""
    if count is None:
        return UNKNOWN
    size, unit = float(count), 0
    while abs(size) >= 1024 and unit < len(_BYTE_UNITS) - 1:
        size /= 1024
        unit += 1
    return f"{int(count)} bytes" if unit == 0 else f"{size:.1f} {_BYTE_UNITS[unit]}"


def format_duration(seconds: float | None) -> str:
    """Return a duration as ``0:42``, ``12:05`` or ``1:02:03``."""
    if seconds is None:
        return UNKNOWN
    total = max(0, int(round(seconds)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


# Characters a terminal acts on instead of showing: C0 and C1 controls and DEL (colours, cursor moves,
# clearing the screen, the bell), lone surrogates (file names that are not UTF-8 arrive as U+DC80-U+DCFF;
# a UTF-8 terminal cannot even be sent them) and the invisible marks that reorder or break lines
# (bidirectional overrides and isolates, line and paragraph separators).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
                     "\ud800-\udfff]")
_UNSAFE_LINES = re.compile(_UNSAFE.pattern[:-1] + "\n\t]")
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape): shown as that byte
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: object, *, keep_lines: bool = True) -> str:
    """Return ``text`` safe to print to a terminal: control characters shown escaped (``\\x1b``).

    Lone surrogates (a file name's non-UTF-8 bytes) come out as the bytes they stand for (``\\xff``),
    bidirectional and line-separator marks as ``\\u202e``. Newlines and tabs are kept, unless
    ``keep_lines`` is false (for one name or path printed inside a line). Every message the command
    line prints that carries text from a file, a name or a path goes through here.
    """
    text = str(text)
    pattern = _UNSAFE if keep_lines else _UNSAFE_LINES
    return text if pattern.search(text) is None else pattern.sub(_escaped, text)

"""One bad input for the command line, and the verdict on what the command did with it.

A :class:`Case` is the argv of one run, the strings of which at least one must appear in what the
command printed when it refuses the input (the file, field, option or layer at fault), and what is
expected: refused (exit status 1, or 2 for wrong usage), or either (a bad-looking input that may
well be accepted, such as a name full of control characters). :func:`defects` lists what is wrong
with an :class:`~cli_runner.Outcome`: a traceback, a status other than 0/1/2, a hang or a memory
blow-up (past the case's bounds), a bad input accepted, a refusal that does not name the culprit,
an empty message or one of thousands of characters, a control character or lone surrogate printed
raw, a Python warning printed raw.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from cli_runner import Outcome

from nnstudio.core.formatting import printable

REFUSED, USAGE, EITHER, OK = "refused", "usage", "either", "ok"
#: Exit statuses the command documents: 0 done, 1 refused or failed, 2 wrong usage.
DOCUMENTED_STATUSES = (0, 1, 2)
MIB = 2**20
#: The longest line a refusal may print: a message lists a few names and counts the rest.
MAX_LINE_CHARS = 2_000


@dataclass(frozen=True)
class Case:
    """One bad input: ``argv`` (verb first); ``culprits``: one must be printed when it is refused."""

    label: str
    argv: tuple[str, ...]
    culprits: tuple[str, ...]
    expect: str = REFUSED
    #: Wraps the run (a fault injected into the atomic writer); in-process only.
    around: Callable[[], AbstractContextManager[object]] | None = None
    seconds: float = 30.0
    memory_bytes: int = 768 * MIB

    @property
    def verb(self) -> str:
        return self.argv[0]


_TRACEBACK = "Traceback (most recent call last)"
_WARNING = re.compile(r"^\S+\.py:\d+: \w*Warning: ", re.MULTILINE)
_ALLOWED_CONTROLS = {"\n", "\t", "\r"}


def raw_controls(text: str) -> list[str]:
    """Return the control characters and lone surrogates in ``text`` (newlines and tabs allowed)."""
    found = []
    for char in text:
        if char in _ALLOWED_CONTROLS:
            continue
        if unicodedata.category(char) in ("Cc", "Cs") or char in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069":
            found.append(char)
    return found


def forms(culprit: str) -> set[str]:
    """The ways a message may show ``culprit``: as given, escaped for the terminal, or as Python's repr."""
    return {culprit, printable(culprit), printable(culprit, keep_lines=False), repr(culprit)[1:-1]}


def names_culprit(output: str, culprits: tuple[str, ...]) -> bool:
    return any(form in output for culprit in culprits for form in forms(culprit))


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(nothing)"


def defects(case: Case, outcome: Outcome) -> list[str]:
    """Return what is wrong with how the command took ``case`` (empty: nothing)."""
    found = []
    if outcome.usage.exceeded == "time":
        found.append(f"ran past {case.seconds:.0f} s (a hang)")
    elif outcome.usage.exceeded == "memory":
        found.append(f"took {outcome.usage.peak_growth / MIB:.0f} MB, past {case.memory_bytes / MIB:.0f} MB")
    if outcome.escaped is not None:
        found.append("traceback: " + _last_line(outcome.escaped))
    if _TRACEBACK in outcome.output:
        found.append("printed a traceback: " + _last_line(outcome.output.split(_TRACEBACK, 1)[1]))
    if outcome.usage.exceeded or outcome.escaped is not None:
        return found
    code = outcome.code
    if code not in DOCUMENTED_STATUSES:
        found.append(f"exit status {code} (documented: 0, 1, 2)")
    if case.expect in (REFUSED, USAGE) and code == 0:
        found.append("accepted a bad input (exit status 0): " + _last_line(outcome.output))
    if case.expect == USAGE and code == 1:
        found.append("wrong usage ended with status 1, not 2: " + _last_line(outcome.stderr))
    if case.expect == OK and code != 0:
        found.append(f"refused a good input (status {code}): " + _last_line(outcome.stderr))
    if code in (1, 2):
        if not outcome.stderr.strip():
            found.append(f"status {code} with nothing on stderr")
        elif case.culprits and not names_culprit(outcome.output, case.culprits):
            found.append(f"the message names none of {list(case.culprits)}: " + _last_line(outcome.stderr))
        longest = max((len(line) for line in outcome.stderr.splitlines()), default=0)
        if longest > MAX_LINE_CHARS:
            found.append(f"printed a line of {longest:,} characters (one clear line is at most {MAX_LINE_CHARS:,})")
    controls = raw_controls(outcome.output)
    if controls:
        found.append(f"printed {len(controls)} control character(s) raw, e.g. {controls[0]!r}")
    warning = _WARNING.search(outcome.output)
    if warning:
        found.append("printed a Python warning raw: " + outcome.output[warning.start():].splitlines()[0][:200])
    return found

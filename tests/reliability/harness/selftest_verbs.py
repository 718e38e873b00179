"""Verbs that misbehave on purpose, to show the harness catches each kind of fault it looks for.

Registered in ``nnstudio.cli.COMMANDS`` by ``test_bad_input_cli.py`` for one test only. ``--do``
picks the fault: a traceback, a hang in Python or in a blocking system call, a memory blow-up, a
raw control character, an exit status outside 0/1/2, a message that names nothing, a message
of a hundred thousand names.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from nnstudio.core.errors import NnstudioError

FAULTS = ("fine", "traceback", "spin", "fifo", "memory", "control", "status", "vague", "warning", "flood")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--do", choices=FAULTS, required=True)
    parser.add_argument("--path", default="")


def run(args: argparse.Namespace) -> int:
    if args.do == "traceback":
        return {}["missing"]
    if args.do == "spin":
        while True:
            time.sleep(0.001)
    if args.do == "fifo":
        with open(args.path, "rb") as handle:  # blocks: no writer will ever come
            handle.read()
    if args.do == "memory":
        hog = [bytearray(2**20) for _ in range(4096)]  # 4 GiB, a MiB at a time
        return len(hog)
    if args.do == "control":
        print("wrote \x1b[2Jsomething")
        return 0
    if args.do == "status":
        return 3
    if args.do == "flood":  # names the culprit, in a line nobody can read
        raise NnstudioError("the-culprit: unknown option(s) " + ", ".join(f"k{i}" for i in range(100_000)))
    if args.do == "vague":
        raise NnstudioError("something went wrong")
    if args.do == "warning":
        import warnings

        warnings.warn("raw library text", UserWarning, stacklevel=1)
        sys.stderr.flush()
        return 0
    os.environ.get("HOME")
    return 0

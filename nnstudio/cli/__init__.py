"""The ``nnstudio`` command: the GUI launcher and the headless verbs (check, train, export, ...).

Each verb lives in its own module here with ``add_arguments(parser)`` and ``run(args) -> int``, and is
imported only when used, so ``nnstudio examples`` stays instant and the GUI starts before torch loads.

What the command prints for people goes through :func:`say` (and argparse's messages and the error
lines through the same escaping): text from files, names and paths may hold control characters or
lone surrogates, which a terminal would act on, or could not even be sent.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import re
import sys
from collections.abc import Callable, Sequence

from nnstudio import __version__
from nnstudio.core.errors import NnstudioError
from nnstudio.core.formatting import printable

#: verb -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "examples": ("nnstudio.cli.examples", "list the bundled example projects"),
    "check": ("nnstudio.cli.check", "check a project: shapes, parameters, FLOPs, lints and errors"),
    "train": ("nnstudio.cli.train", "train a project headless and write model.pth, model.py, metrics.csv"),
    "export": ("nnstudio.cli.export", "export a project as model.py, weights, safetensors, pt2 or ONNX"),
    "autograd": ("nnstudio.cli.autograd", "draw the autograd graph of a project or any PyTorch model"),
    "sweep": ("nnstudio.cli.sweep", "search training settings and layer parameters with Optuna"),
    "runs": ("nnstudio.cli.runs", "list a project's recorded runs, or compare two"),
    "lr-find": ("nnstudio.cli.lr_find", "suggest a learning rate: loss against a rising rate on a copy"),
    "import": ("nnstudio.cli.import_model", "import a PyTorch model as a project (runs the model's code)"),
    "predict": ("nnstudio.cli.predict", "print a trained run's top classes for pictures or CSV rows"),
}


#: Verbs of nnstudio's own child processes (not listed in the help): verb -> module with main(argv) -> int.
#: They go through the command, not ``python -m``, so a frozen build (no Python beside it) starts them too.
INTERNAL_COMMANDS: dict[str, str] = {
    "sweep-worker": "nnstudio.experiments.worker_process",
}


class UsageError(NnstudioError):
    """Wrong command-line usage (exit status 2)."""


def say(text: object = "", *, err: bool = False, end: str = "\n", flush: bool = False) -> None:
    """Print ``text`` for a person on stdout (stderr with ``err``), control characters escaped."""
    print(printable(text), file=sys.stderr if err else sys.stdout, end=end, flush=flush)


class Parser(argparse.ArgumentParser):
    """argparse, with its messages (usage errors quote what was typed) escaped and shortened like every
    error line: a pasted 5,000-digit value is named by its start and length, not printed whole."""

    def _print_message(self, message: str, file=None) -> None:  # noqa: ANN001 - argparse's signature
        super()._print_message(one_line(printable(message)) if message else message, file)


def finite_number(text: str) -> float:
    """argparse type: a finite real number; ``nan``, ``inf`` and text are refused saying so."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def positive_number(text: str) -> float:
    """argparse type: a finite number greater than 0."""
    value = finite_number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return value


def whole_number(low: int, high: int) -> Callable[[str], int]:
    """argparse type: a whole number from ``low`` to ``high``; anything else is refused saying which bound."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text if len(text) < 30 else text[:27] + '...'} is out of range; "
                                             f"give a whole number from {low:,} to {high:,}")
        return value

    return parse


def _gui_parser() -> argparse.ArgumentParser:
    verbs = "\n".join(f"  {name:<10} {help}" for name, (_, help) in COMMANDS.items())
    parser = Parser(
        prog="nnstudio",
        description="Design, train and understand PyTorch networks with the mouse.",
        epilog=f"commands (nnstudio COMMAND --help for details):\n{verbs}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", nargs="?", help="a project file (.nns) to open")
    parser.add_argument("--example", metavar="NAME", help="open a bundled example (see 'nnstudio examples')")
    parser.add_argument("--screenshot", metavar="FILE.png",
                        help="open the window, save a picture of it to FILE.png and exit")
    parser.add_argument("--version", action="version", version=f"nnstudio {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in INTERNAL_COMMANDS:
        return int(importlib.import_module(INTERNAL_COMMANDS[args[0]]).main(args[1:]))
    if args and args[0] in COMMANDS:
        verb = args.pop(0)
        module_name, help = COMMANDS[verb]
        module = importlib.import_module(module_name)
        parser = Parser(prog=f"nnstudio {verb}", description=help)
        module.add_arguments(parser)
        options = parser.parse_args(args)
        return _run(module.run, options, parser)
    gui_parser = _gui_parser()
    options = gui_parser.parse_args(args)
    if options.path and options.example:
        gui_parser.error("give a project file or --example, not both")
    return _run(_open_window, options, gui_parser)


def _open_window(options: argparse.Namespace) -> int:
    from nnstudio.cli.display import check_display

    check_display()  # name missing X11 libraries before Qt aborts with a message that names none
    from nnstudio.ui.app import run_gui  # imported late: Qt only loads for the GUI

    return run_gui(path=options.path, example=options.example, screenshot=options.screenshot)


#: A run of text without spaces longer than this (a pasted name, a 5,000-digit number) is shortened
#: in an error line: its start names the culprit, and the line stays readable.
MAX_WORD_CHARS = 200
_LONG_WORD = re.compile(rf"[^\s;,]{{{MAX_WORD_CHARS + 1},}}")


def one_line(message: object) -> str:
    """Return ``message`` with every over-long word shortened to its start and its length."""
    return _LONG_WORD.sub(lambda m: f"{m.group()[:100]}...({len(m.group()):,} characters)", str(message))


def _run(function: Callable[[argparse.Namespace], int | None], options: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        return int(function(options) or 0)
    except UsageError as exc:
        parser.print_usage(sys.stderr)
        say(f"{parser.prog}: error: {one_line(exc)}", err=True)
        return 2
    except NnstudioError as exc:
        say(f"error: {one_line(exc)}", err=True)
        return 1
    except KeyboardInterrupt:
        say("interrupted", err=True)
        return 130
    except BrokenPipeError:
        # The reader went away (`nnstudio check --json | head`): stop quietly, like other Unix tools.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def gui_main() -> int:
    """Entry point of the windowed launcher (no console on Windows)."""
    return main()

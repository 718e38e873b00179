"""``nnstudio examples``: one bundled example per line, with its description."""

from __future__ import annotations

import argparse

from nnstudio.cli import say
from nnstudio.core.examples import list_examples


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--paths", action="store_true", help="also print each example's file path")


def run(args: argparse.Namespace) -> int:
    infos = list_examples()
    width = max((len(e.name) for e in infos), default=0)
    for info in infos:
        line = f"{info.name:<{width}}  {info.description}"
        say(f"{line}  ({info.path})" if args.paths else line)
    return 0

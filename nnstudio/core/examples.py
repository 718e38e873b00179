"""The bundled example projects in ``resources/examples`` (one ``.nns`` file each)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from nnstudio.core.errors import NnstudioError
from nnstudio.core.project import Project, load_project
from nnstudio.core.resources import resource_path

DEFAULT_EXAMPLE = "digits-cnn"


@dataclass(frozen=True)
class ExampleInfo:
    name: str
    description: str
    path: Path


class UnknownExampleError(NnstudioError):
    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        super().__init__(f"there is no example named {name!r}; the examples are: {', '.join(known)}")


def examples_folder() -> Path:
    return resource_path("examples")


def list_examples() -> list[ExampleInfo]:
    """Every bundled example, sorted by name; reads only the files' descriptions."""
    infos = []
    for path in sorted(examples_folder().glob("*.nns")):
        try:
            description = json.loads(path.read_text(encoding="utf-8")).get("description", "")
        except (OSError, ValueError):
            description = ""
        infos.append(ExampleInfo(path.stem, description, path))
    return infos


def example_path(name: str) -> Path:
    path = examples_folder() / f"{name}.nns"
    if not path.is_file():
        raise UnknownExampleError(name, [e.name for e in list_examples()])
    return path


def load_example(name: str) -> Project:
    return load_project(example_path(name))

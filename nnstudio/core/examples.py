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
    """Return the file of the bundled example ``name``; UnknownExampleError for any other name.

    The name is looked up among the files, never joined into a path: ``../x``, a name too long for
    the file system or one holding a NUL byte is simply not an example.
    """
    names = sorted(path.stem for path in examples_folder().glob("*.nns"))
    if name not in names:
        raise UnknownExampleError(name, names)
    return examples_folder() / f"{name}.nns"


def load_example(name: str) -> Project:
    return load_project(example_path(name))

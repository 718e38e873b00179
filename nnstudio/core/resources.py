"""Paths of the data files shipped in ``resources/`` (installed as the package ``nnstudio.resources``)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def resource_path(*parts: str) -> Path:
    """The path of a shipped file, e.g. ``resource_path("examples", "digits-cnn.nns")``."""
    base = Path(str(files("nnstudio.resources")))
    return base.joinpath(*parts)

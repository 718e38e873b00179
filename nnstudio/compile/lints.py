"""Lints: warnings about networks that work but are probably not what the person meant."""

from __future__ import annotations

from nnstudio.compile.results import Analysis
from nnstudio.core.graph import Graph
from nnstudio.core.problems import Problem
from nnstudio.core.settings import TrainingSettings


def run_lints(graph: Graph, analysis: Analysis, settings: TrainingSettings | None = None) -> list[Problem]:
    """Return the warnings for ``graph``."""
    return []

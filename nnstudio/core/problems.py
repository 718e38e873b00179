"""Problems found in a network: errors (block training) and lint warnings, each tied to a node."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from nnstudio.core.commands import Command, RenameNode
from nnstudio.core.names import clash_reason, clashing_part, suggest_name

if TYPE_CHECKING:
    from nnstudio.core.graph import Graph
    from nnstudio.core.project import Project

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Fix:
    """A one-click repair: ``make_command(project)`` returns the undoable command that applies it."""

    description: str
    make_command: Callable[[Project], Command] = field(compare=False)


@dataclass(frozen=True)
class Problem:
    severity: Severity
    #: A stable short id, e.g. ``shape-mismatch``, ``softmax-before-cross-entropy``.
    code: str
    message: str
    node_id: str | None = None
    #: The parameter concerned, when there is one (``in_features``).
    field: str | None = None
    fix: Fix | None = None

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def __str__(self) -> str:
        where = self.node_id + (f".{self.field}" if self.field else "") if self.node_id else "network"
        return f"{self.severity}: {where}: {self.message}"


def name_problems(graph: Graph) -> list[Problem]:
    """An error for each layer whose name clashes with a module attribute, with a rename as its fix.

    Such names are refused wherever a name is given; they reach a graph only from files written
    before the rule (``train``, ``eval``, ``float``...), which load so that the person can fix them.
    """
    found = []
    for node_id in graph.node_ids():
        part = clashing_part(node_id)
        if part is None:
            continue
        suggestion = suggest_name(node_id, lambda name, old=node_id: graph.is_free(name, ignore=old))
        found.append(Problem(
            "error", "name-clash",
            f"{clash_reason(part)}, so a layer named `{node_id}` breaks training and export; rename it "
            "(its state-dict keys change with the name)",
            node_id, None,
            Fix(f"Rename to {suggestion} (state-dict keys become {suggestion}.*)", _renamer(node_id, suggestion))))
    return found


def _renamer(node_id: str, new_id: str) -> Callable[[Project], Command]:
    def make_command(project: Project) -> Command:
        return RenameNode(project.graph, node_id, new_id)

    return make_command

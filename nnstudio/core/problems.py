"""Problems found in a network: errors (block training) and lint warnings, each tied to a node."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from nnstudio.core.commands import Command
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

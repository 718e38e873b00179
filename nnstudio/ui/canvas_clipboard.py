"""Copying parts of a network: the fragment format put on the clipboard and read back from it.

A fragment is JSON holding node and edge records in the project-file layout (``Graph.to_records``),
restricted to the chosen nodes and the wires among them, under nnstudio's own MIME type. The same
JSON also goes on the clipboard as plain text, so a copied block can be pasted into a message or a
bug report and read. What comes back from the clipboard is checked by a pydantic model
(:class:`Fragment`): anything else is refused with one line naming the record and field at fault.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError
from PySide6.QtCore import QMimeData

from nnstudio.core.errors import NnstudioError
from nnstudio.core.graph import Graph

MIME_FRAGMENT = "application/x-nnstudio-fragment"
FRAGMENT_FORMAT = "nnstudio-fragment"
FRAGMENT_VERSION = 1
#: Clipboard text longer than this is not read as layers (a project file is tens of MB at most).
MAX_FRAGMENT_CHARS = 16 * 1024 * 1024


class FragmentError(NnstudioError):
    """The clipboard holds something that is not a usable nnstudio fragment; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"cannot paste: {reason}")


class NodeRecord(BaseModel):
    """One copied layer, as a project file stores it (keys added by later formats are kept)."""

    model_config = ConfigDict(extra="allow", frozen=True, allow_inf_nan=False)

    id: StrictStr
    type: StrictStr
    position: tuple[float, float] = (0.0, 0.0)
    params: dict[str, Any] = Field(default_factory=dict)


class EdgeRecord(BaseModel):
    """One copied wire between two copied layers."""

    model_config = ConfigDict(extra="allow", frozen=True)

    source: StrictStr
    target: StrictStr
    port: StrictStr = "in"
    index: StrictInt = Field(default=0, ge=0)


class Fragment(BaseModel):
    """Node and edge records of part of a graph (positions as they were when copied)."""

    model_config = ConfigDict(frozen=True)

    format: Literal["nnstudio-fragment"] = FRAGMENT_FORMAT
    version: StrictInt = Field(default=FRAGMENT_VERSION, ge=1, le=FRAGMENT_VERSION)
    nodes: list[NodeRecord]
    edges: list[EdgeRecord] = Field(default_factory=list)

    @classmethod
    def of(cls, graph: Graph, node_ids: Iterable[str]) -> Fragment:
        """Returns the records of ``node_ids`` (in graph order) and of the wires joining two of them."""
        chosen = set(node_ids)
        nodes, edges = graph.to_records()
        return cls(nodes=[NodeRecord.model_validate(n) for n in nodes if n["id"] in chosen],
                   edges=[EdgeRecord.model_validate(e) for e in edges
                          if e["source"] in chosen and e["target"] in chosen])

    def node_records(self) -> list[dict[str, Any]]:
        """Returns the nodes as plain records (what ``paste_fragment`` takes)."""
        return [node.model_dump() for node in self.nodes]

    def edge_records(self) -> list[dict[str, Any]]:
        """Returns the edges as plain records."""
        return [edge.model_dump() for edge in self.edges]

    def to_json(self) -> str:
        return self.model_dump_json(indent=1)

    @classmethod
    def from_json(cls, text: str) -> Fragment:
        """Returns the fragment in ``text``; raises :class:`FragmentError` naming what is wrong."""
        if len(text) > MAX_FRAGMENT_CHARS:
            raise FragmentError(f"the clipboard holds {len(text):,} characters, more than layers ever take")
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise FragmentError(f"the clipboard does not hold valid JSON ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != FRAGMENT_FORMAT:
            raise FragmentError("the clipboard does not hold nnstudio layers")
        version = data.get("version")
        if isinstance(version, int) and version > FRAGMENT_VERSION:
            raise FragmentError(f"the layers were copied from a newer nnstudio (fragment version {version})")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise FragmentError(_first_problem(exc)) from None

    def to_mime(self) -> QMimeData:
        mime = QMimeData()
        text = self.to_json()
        mime.setData(MIME_FRAGMENT, text.encode("utf-8"))
        mime.setText(text)
        return mime

    @classmethod
    def from_mime(cls, mime: QMimeData | None) -> Fragment:
        """Returns the fragment in ``mime``: our own type first, else plain text holding its JSON."""
        if mime is None:
            raise FragmentError("the clipboard is empty")
        if mime.hasFormat(MIME_FRAGMENT):
            return cls.from_json(bytes(mime.data(MIME_FRAGMENT).data()).decode("utf-8", errors="replace"))
        if mime.hasText():
            return cls.from_json(mime.text())
        raise FragmentError("the clipboard holds no layers")


_RECORD_NAMES = {"nodes": "node record", "edges": "edge record"}


def _first_problem(error: ValidationError) -> str:
    """Returns the first validation problem as one line: ``node record 0, 'position': ...``."""
    problem = error.errors()[0]
    location = list(problem["loc"])
    parts = []
    if len(location) >= 2 and location[0] in _RECORD_NAMES and isinstance(location[1], int):
        parts.append(f"{_RECORD_NAMES[location[0]]} {location[1]}")
        location = location[2:]
    if location:
        parts.append("'" + ".".join(str(p) for p in location) + "'")
    return f"{', '.join(parts)}: {problem['msg']}" if parts else problem["msg"]

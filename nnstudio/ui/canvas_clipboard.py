"""Copying parts of a network: the fragment format put on the clipboard and read back from it.

A fragment is JSON holding node and edge records in the project-file layout (``Graph.to_records``),
restricted to the chosen nodes and the wires among them, under nnstudio's own MIME type. The same
JSON also goes on the clipboard as plain text, so a copied block can be pasted into a message or a
bug report and read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QMimeData

from nnstudio.core.errors import NnstudioError
from nnstudio.core.graph import Graph

MIME_FRAGMENT = "application/x-nnstudio-fragment"
FRAGMENT_FORMAT = "nnstudio-fragment"
FRAGMENT_VERSION = 1


class FragmentError(NnstudioError):
    """The clipboard holds something that is not a usable nnstudio fragment; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"cannot paste: {reason}")


@dataclass(frozen=True)
class Fragment:
    """Node and edge records of part of a graph (positions as they were when copied)."""

    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]

    @classmethod
    def of(cls, graph: Graph, node_ids: Iterable[str]) -> Fragment:
        """The records of ``node_ids`` (in graph order) and of the wires joining two of them."""
        chosen = set(node_ids)
        nodes, edges = graph.to_records()
        return cls([n for n in nodes if n["id"] in chosen],
                   [e for e in edges if e["source"] in chosen and e["target"] in chosen])

    def to_json(self) -> str:
        return json.dumps({"format": FRAGMENT_FORMAT, "version": FRAGMENT_VERSION,
                           "nodes": self.nodes, "edges": self.edges}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Fragment:
        """Parse and check a fragment; raises :class:`FragmentError` naming what is wrong."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise FragmentError(f"the clipboard does not hold valid JSON ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != FRAGMENT_FORMAT:
            raise FragmentError("the clipboard does not hold nnstudio layers")
        version = data.get("version")
        if not isinstance(version, int) or version > FRAGMENT_VERSION:
            raise FragmentError(f"the layers were copied from a newer nnstudio (fragment version {version})")
        nodes, edges = data.get("nodes"), data.get("edges", [])
        if not isinstance(nodes, list) or not isinstance(edges, list):
            raise FragmentError("'nodes' and 'edges' must be lists")
        for i, record in enumerate(nodes):
            if not isinstance(record, dict) or not isinstance(record.get("id"), str) \
                    or not isinstance(record.get("type"), str):
                raise FragmentError(f"node record {i} needs a string 'id' and 'type'")
            position = record.get("position", [0, 0])
            if (not isinstance(position, list) or len(position) != 2
                    or not all(isinstance(v, (int, float)) for v in position)):
                raise FragmentError(f"node {record['id']!r} has a malformed position {position!r}")
        for i, record in enumerate(edges):
            if not isinstance(record, dict) or not all(isinstance(record.get(k), str) for k in ("source", "target")):
                raise FragmentError(f"edge record {i} needs string 'source' and 'target'")
        return cls(nodes, edges)

    def to_mime(self) -> QMimeData:
        mime = QMimeData()
        text = self.to_json()
        mime.setData(MIME_FRAGMENT, text.encode("utf-8"))
        mime.setText(text)
        return mime

    @classmethod
    def from_mime(cls, mime: QMimeData | None) -> Fragment:
        """The fragment in ``mime``: our own type first, else plain text holding a fragment's JSON."""
        if mime is None:
            raise FragmentError("the clipboard is empty")
        if mime.hasFormat(MIME_FRAGMENT):
            return cls.from_json(bytes(mime.data(MIME_FRAGMENT).data()).decode("utf-8", errors="replace"))
        if mime.hasText():
            return cls.from_json(mime.text())
        raise FragmentError("the clipboard holds no layers")

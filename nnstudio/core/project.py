"""Projects and their ``.nns`` files: JSON with a ``format`` tag and an integer ``version``.

Loading runs in steps — parse, check the header, migrate older versions, validate, build — and any
failure becomes one :class:`ProjectFileError` that names the problem; the caller's open document is
never touched because nothing is built until every step has passed. Saving goes through the one
atomic writer (:mod:`nnstudio.core.files`), so a crash or a full disk mid-save leaves the previous
file whole.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nnstudio.core.catalog import CATALOG, Catalog
from nnstudio.core.errors import GraphError, NnstudioError, ParamError, ProjectFileError, UnknownLayerError
from nnstudio.core.files import (
    PROJECT_BYTES,
    STALE_TEMPORARY_S,  # noqa: F401 - re-exported: older callers import it from here
    FileReadError,
    FileWriteError,
    read_bytes,
    verify_json,
    write_text_atomic,
)
from nnstudio.core.graph import Graph
from nnstudio.core.settings import TrainingSettings

FORMAT = "nnstudio-project"
VERSION = 1
SUFFIX = ".nns"
#: Larger files are refused before parsing: real projects are kilobytes, imported ones megabytes.
MAX_FILE_BYTES = PROJECT_BYTES

#: Migrations from version N to N+1, each taking and returning the raw JSON dict.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


@dataclass
class Project:
    """A network and how to train it."""

    graph: Graph = field(default_factory=Graph)
    settings: TrainingSettings = field(default_factory=TrainingSettings)
    name: str = "Untitled"
    description: str = ""

    def copy(self) -> Project:
        return Project(self.graph.copy(), self.settings.model_copy(deep=True), self.name, self.description)


# --- the file schema (what a file must look like after migration) --------------------------------

class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class NodeRecord(_Record):
    id: str = Field(min_length=1, max_length=200)
    type: str = Field(min_length=1, max_length=200)
    position: list[float] = Field(default_factory=lambda: [0.0, 0.0], min_length=2, max_length=2)
    params: dict[str, Any] = Field(default_factory=dict)


class EdgeRecord(_Record):
    source: str
    target: str
    port: str = "in"
    index: int = Field(0, ge=0, le=100_000)


class ProjectRecord(_Record):
    format: str
    version: int
    name: str = "Untitled"
    description: str = ""
    nodes: list[NodeRecord] = Field(default_factory=list, max_length=100_000)
    edges: list[EdgeRecord] = Field(default_factory=list, max_length=400_000)
    training: dict[str, Any] = Field(default_factory=dict)


def project_to_dict(project: Project) -> dict[str, Any]:
    nodes, edges = project.graph.to_records()
    return {
        "format": FORMAT,
        "version": VERSION,
        "name": project.name,
        "description": project.description,
        "nodes": nodes,
        "edges": edges,
        "training": project.settings.model_dump(mode="json"),
    }


def dumps_project(project: Project) -> str:
    """Return the project file's text; characters UTF-8 cannot hold (lone surrogates) are escaped.

    Escaping keeps the document exactly as it was loaded (JSON reads ``\\ud800`` back as the same
    character), so a document that opened can always be saved and autosaved.
    """
    record = project_to_dict(project)
    text = json.dumps(record, indent=2, ensure_ascii=False) + "\n"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(record, indent=2, ensure_ascii=True) + "\n"
    return text


def save_project(project: Project, path: str | os.PathLike[str]) -> None:
    """Write ``project`` to ``path`` atomically; raises ProjectFileError (old file kept) on failure."""
    try:
        write_text_atomic(Path(path), dumps_project(project), verify=verify_json)
    except FileWriteError as exc:
        raise ProjectFileError(exc.reason, str(path)) from None


def load_project(path: str | os.PathLike[str], catalog: Catalog = CATALOG) -> Project:
    """Read a ``.nns`` file; raises ProjectFileError naming the problem (and nothing else)."""
    path = Path(path)
    try:
        raw = read_bytes(path, MAX_FILE_BYTES, "project file")
    except FileReadError as exc:
        raise ProjectFileError(exc.reason, str(path)) from None
    return loads_project(raw, catalog, source=str(path))


def loads_project(data: str | bytes, catalog: Catalog = CATALOG, source: str | None = None) -> Project:
    """Parse, migrate, validate and build a project from text; raises ProjectFileError."""
    try:
        raw = _parse(data, source)
        raw = _migrate(raw, source)
        record = _validate(raw, source)
        return _build(record, catalog, source)
    except ProjectFileError:
        raise
    except (RecursionError, MemoryError) as exc:
        raise ProjectFileError("the file is nested too deeply or too large to read", source) from exc
    except NnstudioError as exc:  # pragma: no cover - _build converts these; kept as a safety net
        raise ProjectFileError(str(exc), source) from exc


def _parse(data: str | bytes, source: str | None) -> dict[str, Any]:
    if isinstance(data, bytes):
        if len(data) > MAX_FILE_BYTES:
            raise ProjectFileError("the file is too large to be a project", source)
        try:
            data = data.decode("utf-8-sig")  # editors on Windows may start the file with a BOM
        except UnicodeDecodeError as exc:
            raise ProjectFileError(f"not a text file (byte {exc.start} is not UTF-8)", source) from None
    data = data.removeprefix("\ufeff")
    if not data.strip():
        raise ProjectFileError("the file is empty", source)
    try:
        raw = json.loads(data)
    except json.JSONDecodeError as exc:
        problem = "the file ends too early (it may be truncated)" if exc.pos >= len(data.rstrip()) else exc.msg
        raise ProjectFileError(f"not valid JSON: {problem}", source,
                               f"line {exc.lineno}, column {exc.colno}") from None
    except RecursionError:
        raise ProjectFileError("the file is nested too deeply to be a project", source) from None
    except ValueError as exc:  # Python refuses integers of more than 4,300 digits (a denial-of-service guard)
        raise ProjectFileError(f"a number in the file is absurdly long: {str(exc).split(';')[0]}", source) from None
    if not isinstance(raw, dict):
        raise ProjectFileError("not an nnstudio project (the top level is not an object)", source)
    if raw.get("format") != FORMAT:
        found = raw.get("format")
        raise ProjectFileError(f"not an nnstudio project (format is {found!r}, expected {FORMAT!r})", source,
                               "format")
    version = raw.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ProjectFileError(f"the version must be a whole number >= 1, not {version!r}", source, "version")
    if version > VERSION:
        raise ProjectFileError(f"the file is version {version}, made by a newer nnstudio; this one reads "
                               f"versions up to {VERSION}. Please update nnstudio.", source, "version")
    return raw


def _migrate(raw: dict[str, Any], source: str | None) -> dict[str, Any]:
    version = raw["version"]
    while version < VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise ProjectFileError(f"no migration from version {version}", source, "version")
        raw = step(dict(raw))
        version += 1
        raw["version"] = version
    return raw


def _location(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _validate(raw: dict[str, Any], source: str | None) -> ProjectRecord:
    try:
        record = ProjectRecord.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        location = _location(error["loc"])
        raise ProjectFileError(_describe(error, raw), source, location) from None
    try:
        TrainingSettings.model_validate(record.training)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise ProjectFileError(error["msg"], source, "training." + _location(error["loc"])) from None
    return record


def _describe(error: dict[str, Any], raw: dict[str, Any]) -> str:
    message = error["msg"]
    loc = error["loc"]
    if len(loc) >= 2 and loc[0] == "nodes" and isinstance(loc[1], int):
        try:
            node = raw["nodes"][loc[1]]
            if isinstance(node, dict) and isinstance(node.get("id"), str):
                return f"layer {node['id']!r}: {message}"
        except (IndexError, KeyError, TypeError):
            pass
    return message


def _build(record: ProjectRecord, catalog: Catalog, source: str | None) -> Project:
    seen: set[str] = set()
    for i, node in enumerate(record.nodes):
        if node.id in seen:
            raise ProjectFileError(f"two layers are named {node.id!r}", source, f"nodes[{i}].id")
        seen.add(node.id)
        if node.type not in catalog:
            raise ProjectFileError(f"layer {node.id!r} has unknown type {node.type!r}", source,
                                   f"nodes[{i}].type")
    for i, edge in enumerate(record.edges):
        for end in ("source", "target"):
            if getattr(edge, end) not in seen:
                raise ProjectFileError(f"a wire refers to a layer {getattr(edge, end)!r} that does not exist",
                                       source, f"edges[{i}].{end}")
    try:
        graph = Graph.from_records([n.model_dump() for n in record.nodes],
                                   [e.model_dump() for e in record.edges], catalog)
    except ParamError as exc:
        raise ProjectFileError(f"layer {exc.node_id!r}, parameter {exc.field!r}: {exc.reason}", source,
                               f"{exc.node_id}.params.{exc.field}") from None
    except (GraphError, UnknownLayerError) as exc:
        raise ProjectFileError(str(exc), source) from None
    settings = TrainingSettings.model_validate(record.training)
    return Project(graph, settings, record.name, record.description)

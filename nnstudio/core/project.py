"""Projects and their ``.nns`` files: JSON with a ``format`` tag and an integer ``version``.

Loading runs in steps — parse, check the header, migrate older versions, validate, build — and any
failure becomes one :class:`ProjectFileError` that names the problem; the caller's open document is
never touched because nothing is built until every step has passed. Saving goes through the one
atomic writer (:mod:`nnstudio.core.files`), so a crash or a full disk mid-save leaves the previous
file whole.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnstudio.core import names
from nnstudio.core.catalog import CATALOG, Catalog, LayerKind
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
from nnstudio.core.project_schema import (
    FORMAT,
    MIGRATIONS,
    VERSION,
    ProjectRecord,
    refuse_non_finite,
    validate_document,
)
from nnstudio.core.settings import TrainingSettings
from nnstudio.core.weights import SUFFIX as WEIGHTS_SUFFIX
from nnstudio.core.weights import TensorSource, WeightsFileError, bind_weights, save_weights, stored_tensors

__all__ = ["FORMAT", "MIGRATIONS", "SUFFIX", "VERSION", "Project", "dumps_project", "load_project",
           "loads_project", "project_to_dict", "save_project", "write_text_atomic"]

SUFFIX = ".nns"
#: Larger files are refused before parsing: real projects are kilobytes, imported ones megabytes.
MAX_FILE_BYTES = PROJECT_BYTES


@dataclass
class Project:
    """A network and how to train it."""

    graph: Graph = field(default_factory=Graph)
    settings: TrainingSettings = field(default_factory=TrainingSettings)
    name: str = "Untitled"
    description: str = ""
    #: The weights file (beside the project) last read or written; the layers hold the tensors.
    weights_name: str | None = None

    def copy(self) -> Project:
        return Project(self.graph.copy(), self.settings.model_copy(deep=True), self.name, self.description,
                       self.weights_name)


def project_to_dict(project: Project) -> dict[str, Any]:
    nodes, edges = project.graph.to_records()
    record = {
        "format": FORMAT,
        "version": VERSION,
        "name": project.name,
        "description": project.description,
        "nodes": nodes,
        "edges": edges,
        "training": project.settings.model_dump(mode="json"),
    }
    if project.weights_name and any(node.weights for node in project.graph.nodes()):
        record["weights"] = project.weights_name
    if project.graph.module_classes:
        record["module_classes"] = dict(sorted(project.graph.module_classes.items()))
    return record


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
    """Write ``project`` to ``path`` atomically; raises ProjectFileError (old file kept) on failure.

    Stored tensors go first into the weights file beside it (see :func:`save_weights`), so the
    project file never names a weights file that is not whole.
    """
    tensors = stored_tensors(project.graph)
    if tensors:
        try:
            project.weights_name = save_weights(tensors, Path(path))
        except WeightsFileError as exc:
            raise ProjectFileError(exc.reason, str(Path(path).with_name(exc.name)), "weights") from None
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
    return loads_project(raw, catalog, source=str(path), folder=path.parent)


def loads_project(data: str | bytes, catalog: Catalog = CATALOG, source: str | None = None,
                  folder: str | os.PathLike[str] | None = None) -> Project:
    """Parse, migrate, validate and build a project from text; raises ProjectFileError.

    ``folder`` is where the project's weights file is looked for (a project naming one cannot be
    read from text alone).
    """
    try:
        # Loading allocates a few objects per number in the file and frees none of them: the cyclic
        # collector would walk that growing heap again and again (half the time of a 40,000-layer load).
        with _collector_paused():
            raw = _parse(data, source)
            raw = _migrate(raw, source)
            refuse_non_finite(raw, catalog, source)
            record = validate_document(raw, source)
            return _build(record, catalog, source, None if folder is None else Path(folder))
    except ProjectFileError:
        raise
    except (RecursionError, MemoryError) as exc:
        raise ProjectFileError("the file is nested too deeply or too large to read", source) from exc
    except NnstudioError as exc:  # pragma: no cover - _build converts these; kept as a safety net
        raise ProjectFileError(str(exc), source) from exc


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Switch automatic cyclic garbage collection off for a while, if it is on (restored after)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


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


def _build(record: ProjectRecord, catalog: Catalog, source: str | None, folder: Path | None) -> Project:
    index: dict[str, int] = {}
    for i, node in enumerate(record.nodes):
        if node.id in index:
            raise ProjectFileError(f"two layers are named {node.id!r}", source, f"nodes[{i}].id")
        index[node.id] = i
        if node.type not in catalog:
            raise ProjectFileError(f"layer {node.id!r} has unknown type {node.type!r}", source,
                                   f"nodes[{i}].type")
        dotted = catalog.get(node.type).kind is not LayerKind.INPUT
        problem = names.name_problem(node.id, dotted=dotted)
        if problem and not names.only_clashes(node.id, dotted=dotted):
            # A name clashing with a module attribute loads (the analysis offers a rename); others cannot.
            raise ProjectFileError(f"layer name {node.id!r}: {problem}", source, f"nodes[{i}].id")
    for i, edge in enumerate(record.edges):
        for end in ("source", "target"):
            if getattr(edge, end) not in index:
                raise ProjectFileError(f"a wire refers to a layer {getattr(edge, end)!r} that does not exist",
                                       source, f"edges[{i}].{end}")
    try:
        graph = Graph.from_records([n.model_dump() for n in record.nodes],
                                   [e.model_dump() for e in record.edges], catalog, allow_clashes=True)
    except ParamError as exc:
        # ``init`` is a key of the node itself (version 2), every other field one of its parameters.
        key = "init" if exc.field == "init" else f"params.{exc.field}"
        where = f"nodes[{index[exc.node_id]}].{key}" if exc.node_id in index else None
        what = "init" if exc.field == "init" else f"parameter {exc.field!r}"
        raise ProjectFileError(f"layer {exc.node_id!r}, {what}: {exc.reason}", source, where) from None
    except GraphError as exc:
        where = f"nodes[{index[exc.node_id]}]" if exc.node_id in index else None
        raise ProjectFileError(exc.reason if where else str(exc), source, where) from None
    except UnknownLayerError as exc:
        raise ProjectFileError(str(exc), source) from None
    graph.module_classes = dict(record.module_classes)
    settings = TrainingSettings.model_validate(record.training)
    if record.weights is not None:
        _attach_weights(graph, record.weights, source, folder)
    return Project(graph, settings, record.name, record.description, record.weights)


def _attach_weights(graph: Graph, name: str, source: str | None, folder: Path | None) -> None:
    """Read the weights file ``name`` beside the project and give each layer its tensors."""
    if name != Path(name).name or name in (".", "..") or not name.endswith(WEIGHTS_SUFFIX):
        raise ProjectFileError(f"{name!r} is not the name of a {WEIGHTS_SUFFIX} file beside the project "
                               "(a plain file name, no folder)", source, "weights")
    if folder is None:
        raise ProjectFileError(f"the project keeps its weights in {name}, but it was read without its folder",
                               source, "weights")
    try:
        bind_weights(graph, TensorSource.open(folder / name))
    except WeightsFileError as exc:
        raise ProjectFileError(str(exc), source, "weights") from None

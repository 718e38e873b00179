"""Block files and the person's block library: block definitions kept outside any one project.

A block file (``.nnsblocks``) is JSON: ``{"format": "nnstudio-blocks", "version": 1, "blocks": {...}}``
whose ``blocks`` table is the project file's (see ``docs/project-format.md``): a saved block carries
the blocks it places. The block library is one such file in the user data directory, shared by every
project; all writes go through the one atomic writer, so a crash never leaves half a library.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nnstudio.core.blocks import (
    BLOCK_TYPE,
    BlockDefinition,
    BlockError,
    blocks_from_records,
    blocks_problem,
    blocks_to_records,
    free_definition_name,
)
from nnstudio.core.catalog import CATALOG, Catalog
from nnstudio.core.errors import NnstudioError
from nnstudio.core.files import FileReadError, FileWriteError, read_bytes, verify_json, write_text_atomic
from nnstudio.core.project_schema import BlockRecord, location

FORMAT = "nnstudio-blocks"
VERSION = 1
SUFFIX = ".nnsblocks"
#: Block files are small; anything larger is not one.
MAX_BYTES = 20 * 1024 * 1024
#: Overrides where the block library lives (tests, portable installs).
LIBRARY_ENV = "NNSTUDIO_BLOCK_LIBRARY"


class BlockFileError(NnstudioError):
    """A block file could not be read or written; the message names the file and the culprit."""


class _BlockFile(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    format: str
    version: int
    blocks: dict[str, BlockRecord] = Field(default_factory=dict, max_length=10_000)


def library_path() -> Path:
    """Where the person's block library lives (the user data directory, or ``$NNSTUDIO_BLOCK_LIBRARY``)."""
    override = os.environ.get(LIBRARY_ENV)
    if override:
        return Path(override)
    from platformdirs import user_data_dir

    return Path(user_data_dir("nnstudio", appauthor=False)) / f"block-library{SUFFIX}"


def with_inner_blocks(blocks: Mapping[str, BlockDefinition], names: Iterable[str]) -> dict[str, BlockDefinition]:
    """The definitions ``names`` and every definition they place, directly or deeper (copies)."""
    found: dict[str, BlockDefinition] = {}
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in found or name not in blocks:
            continue
        found[name] = blocks[name].copy()
        pending.extend(found[name].placed_blocks())
    return dict(sorted(found.items()))


def dumps_blocks(blocks: Mapping[str, BlockDefinition]) -> str:
    record = {"format": FORMAT, "version": VERSION, "blocks": blocks_to_records(blocks)}
    return json.dumps(record, indent=2, ensure_ascii=True) + "\n"


def loads_blocks(text: str | bytes, source: str, catalog: Catalog = CATALOG) -> dict[str, BlockDefinition]:
    """The definitions of a block file's text; raises BlockFileError naming ``source`` and the culprit."""
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError, ValueError) as exc:
        raise BlockFileError(f"{source}: not a block file (not valid JSON: {exc})") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        found = raw.get("format") if isinstance(raw, dict) else None
        raise BlockFileError(f"{source}: not an nnstudio block file (format is {found!r}, expected {FORMAT!r})")
    version = raw.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise BlockFileError(f"{source}: the version must be a whole number >= 1, not {version!r}")
    if version > VERSION:
        raise BlockFileError(f"{source}: the file is version {version}, made by a newer nnstudio; this one reads "
                             f"versions up to {VERSION}. Please update nnstudio.")
    try:
        record = _BlockFile.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise BlockFileError(f"{source}: {location(error['loc'])}: {error['msg']}") from None
    try:
        blocks = blocks_from_records({n: b.model_dump() for n, b in record.blocks.items()}, catalog)
    except BlockError as exc:
        raise BlockFileError(f"{source}: {exc}") from None
    problem = blocks_problem(blocks, [])
    if problem:
        raise BlockFileError(f"{source}: {problem}")
    return blocks


def read_blocks_file(path: str | os.PathLike[str], catalog: Catalog = CATALOG) -> dict[str, BlockDefinition]:
    """The definitions of the block file at ``path``; raises BlockFileError."""
    try:
        data = read_bytes(path, MAX_BYTES, "block file")
    except FileReadError as exc:
        raise BlockFileError(f"{path}: {exc.reason}") from None
    return loads_blocks(data, str(path), catalog)


def write_blocks_file(path: str | os.PathLike[str], blocks: Mapping[str, BlockDefinition]) -> None:
    """Write ``blocks`` to ``path`` atomically (the old file stays whole on failure); raises BlockFileError."""
    try:
        write_text_atomic(Path(path), dumps_blocks(blocks), verify=verify_json)
    except FileWriteError as exc:
        raise BlockFileError(f"{path}: {exc.reason}") from None


def read_library(path: Path | None = None) -> dict[str, BlockDefinition]:
    """The block library's definitions (empty when there is no library yet); raises BlockFileError."""
    path = path or library_path()
    if not path.exists():
        return {}
    return read_blocks_file(path)


def add_to_library(blocks: Mapping[str, BlockDefinition], path: Path | None = None) -> Path:
    """Save ``blocks`` into the library (replacing definitions of the same name); returns its path."""
    path = path or library_path()
    library = read_library(path)
    library.update({name: definition.copy() for name, definition in blocks.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    write_blocks_file(path, library)
    return path


def remove_from_library(name: str, path: Path | None = None) -> None:
    """Take ``name`` out of the library; refused (BlockFileError) while another saved block places it."""
    path = path or library_path()
    library = read_library(path)
    users = sorted(other for other, d in library.items() if name in d.placed_blocks() and other != name)
    if users:
        raise BlockFileError(f"block {name!r} is placed by {', '.join(users)} in the library; remove those first")
    library.pop(name, None)
    write_blocks_file(path, library)


def fitted_for(project_blocks: Mapping[str, BlockDefinition], incoming: Mapping[str, BlockDefinition]
               ) -> tuple[dict[str, BlockDefinition], dict[str, str]]:
    """The ``incoming`` definitions to add to a project holding ``project_blocks``, and their new names.

    A definition the project already has under its name, unchanged, is not added again; one whose name
    the project uses for another definition is renamed (``ResBlock2``), and the blocks placing it follow.
    """
    renames: dict[str, str] = {}
    taken = set(project_blocks)
    for name, definition in incoming.items():
        existing = project_blocks.get(name)
        if existing is not None and existing.to_record() == definition.to_record():
            renames[name] = name
            continue
        new = name if name not in taken else free_definition_name({**project_blocks, **dict.fromkeys(taken)}, name)
        taken.add(new)
        renames[name] = new
    added: dict[str, BlockDefinition] = {}
    for name, definition in incoming.items():
        if name in project_blocks and renames[name] == name:
            continue
        copy = definition.copy(renames[name])
        for node in copy.graph.nodes():
            if node.type_id == BLOCK_TYPE and node.params["block"] in renames:
                copy.graph._set_param(node.id, "block", renames[node.params["block"]])
        added[copy.name] = copy
    return added, renames


__all__ = ["FORMAT", "LIBRARY_ENV", "SUFFIX", "VERSION", "BlockFileError", "add_to_library", "dumps_blocks",
           "fitted_for", "library_path", "loads_blocks", "read_blocks_file", "read_library", "remove_from_library",
           "with_inner_blocks", "write_blocks_file"]

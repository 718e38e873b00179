"""A project's weights file: tensors by state-dict key in a safetensors file beside the ``.nns``.

Imported, pretrained and fine-tuned tensors live here (format version 2's ``weights`` key). The
file is read and written without torch: a safetensors file is an 8-byte header length, a JSON header
naming each tensor's dtype, shape and byte range, then the raw bytes. Opening checks the header
against the file (every range inside it, sized for its dtype and shape, no overlaps) and maps the
file into memory, so a multi-gigabyte file costs nothing until a tensor is read; each layer node then
holds its own tensors (``Node.weights``, by local name such as ``weight``), so renaming, deleting and
undoing move them with the layer. ``nnstudio.compile`` turns them into torch tensors.

A memory map keeps the bytes it was opened on even after the file is replaced by a rename (which is
how every save replaces it), so tensors held by the undo history stay readable.
"""

from __future__ import annotations

import json
import math
import mmap
import os
import stat
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from nnstudio.core.catalog import LayerKind
from nnstudio.core.errors import NnstudioError
from nnstudio.core.files import WEIGHTS_BYTES, FileReadError, FileWriteError, check_regular_file, write_atomic

if TYPE_CHECKING:
    from nnstudio.core.graph import Graph

#: Bytes per element of each safetensors dtype.
DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
               "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}
SUFFIX = ".safetensors"
#: safetensors' own limit on the JSON header.
MAX_HEADER_BYTES = 100 * 2**20
#: Weights files up to this size are read (real state dicts reach several gigabytes).
MAX_WEIGHTS_BYTES = WEIGHTS_BYTES
#: Most dimensions a stored tensor may have (torch allows 64).
MAX_DIMENSIONS = 64
#: Layers that hold tensors: a module's by their names inside it, a Parameter layer its one tensor (name "").
HOLDS_TENSORS = frozenset({LayerKind.MODULE, LayerKind.PARAMETER})


class WeightsFileError(NnstudioError):
    """A weights file is missing, malformed or does not fit the project; ``key`` names the tensor, if one."""

    def __init__(self, name: str, reason: str, key: str | None = None) -> None:
        self.name = name
        self.reason = reason
        self.key = key
        super().__init__(f"weights file {name}: {reason}")


@dataclass(frozen=True, eq=False)
class StoredTensor:
    """One tensor of a weights file: its dtype (safetensors name), shape and bytes (read on demand)."""

    source: TensorSource = field(repr=False)
    #: The tensor's key in its file (the state-dict key it was saved under).
    key: str
    dtype: str
    shape: tuple[int, ...]
    begin: int = field(repr=False)
    end: int = field(repr=False)

    @property
    def nbytes(self) -> int:
        return self.end - self.begin

    def data(self) -> memoryview:
        """The tensor's raw little-endian bytes (a view into the mapped file, not a copy)."""
        return self.source.view[self.begin:self.end]


class TensorSource:
    """The bytes of one safetensors file, memory-mapped from disk or held in memory, and its index."""

    def __init__(self, buffer: bytes | mmap.mmap, name: str, path: Path | None = None,
                 identity: tuple[int, int, int, int] | None = None) -> None:
        self.name = name
        self.path = path
        self._buffer = buffer
        self.view = memoryview(buffer)
        #: (device, inode, size, modification time) of the file when it was opened.
        self.identity = identity
        self.metadata: dict[str, str] = {}
        self.tensors: dict[str, StoredTensor] = self._index()

    @classmethod
    def open(cls, path: str | os.PathLike[str], limit: int = MAX_WEIGHTS_BYTES) -> TensorSource:
        """Map the safetensors file at ``path``; raises WeightsFileError (missing, not a regular file,
        too large, malformed)."""
        path = Path(path)
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
        try:
            check_regular_file(path, limit, "weights file")
        except FileReadError as exc:
            raise WeightsFileError(path.name, exc.reason) from None
        try:
            fd = os.open(path, flags)
        except OSError as exc:
            raise WeightsFileError(path.name, f"cannot be read: {exc.strerror or exc}") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise WeightsFileError(path.name, "is not a regular file")
            if info.st_size < 8:
                raise WeightsFileError(path.name, f"is {info.st_size} bytes long, too short to be a safetensors file")
            buffer = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
        except OSError as exc:
            raise WeightsFileError(path.name, f"cannot be read: {exc.strerror or exc}") from None
        finally:
            os.close(fd)
        return cls(buffer, path.name, path, _identity(info))

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "weights") -> TensorSource:
        """Index the bytes of a safetensors file held in memory (``safetensors.torch.save(...)``)."""
        return cls(bytes(data), name)

    @classmethod
    def from_buffers(cls, buffers: Mapping[str, tuple[str, tuple[int, ...], Any]], name: str = "weights"
                     ) -> dict[str, StoredTensor]:
        """Stored tensors over byte buffers already in memory (key -> (dtype, shape, buffer)), not copied.

        An importer hands its model's tensors over this way; saving the project writes them out.
        Raises WeightsFileError when a buffer's size does not fit its dtype and shape.
        """
        stored: dict[str, StoredTensor] = {}
        for key, (dtype, shape, buffer) in buffers.items():
            view = memoryview(buffer).cast("B")
            if dtype not in DTYPE_BYTES or math.prod(shape) * DTYPE_BYTES[dtype] != len(view):
                raise WeightsFileError(name, f"tensor {key!r} ({dtype}, shape {list(shape)}) does not fit its "
                                             f"{len(view):,} bytes", key)
            source = cls.__new__(cls)
            source.name, source.path, source._buffer, source.view = name, None, buffer, view
            source.identity, source.metadata = None, {}
            source.tensors = {key: StoredTensor(source, key, dtype, tuple(shape), 0, len(view))}
            stored[key] = source.tensors[key]
        return stored

    def unchanged_on_disk(self) -> bool:
        """True when the file this source was opened from is still the same file (not replaced or edited)."""
        if self.path is None or self.identity is None:
            return False
        try:
            return _identity(os.stat(self.path)) == self.identity
        except OSError:
            return False

    def _index(self) -> dict[str, StoredTensor]:
        size = len(self.view)
        if size < 8:
            raise WeightsFileError(self.name, "too short to be a safetensors file")
        (header_size,) = struct.unpack("<Q", self.view[:8])
        if header_size > MAX_HEADER_BYTES or 8 + header_size > size:
            raise WeightsFileError(self.name, f"the header claims {header_size:,} bytes, the file has {size - 8:,}")
        try:
            header = json.loads(bytes(self.view[8:8 + header_size]).decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise WeightsFileError(self.name, "the header is not valid JSON (not a safetensors file?)") from None
        if not isinstance(header, dict):
            raise WeightsFileError(self.name, "the header is not a JSON object")
        metadata = header.pop("__metadata__", {})
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            raise WeightsFileError(self.name, "__metadata__ must map names to text")
        self.metadata = dict(metadata)
        start = 8 + header_size
        tensors = {key: self._entry(key, entry, start, size - start) for key, entry in header.items()}
        spans = sorted((t.begin, t.end, t.key) for t in tensors.values() if t.end > t.begin)
        for (_, end, key), (begin, _, other) in zip(spans, spans[1:]):
            if begin < end:
                raise WeightsFileError(self.name, f"tensors {key!r} and {other!r} share bytes", other)
        return tensors

    def _entry(self, key: str, entry: Any, start: int, data_size: int) -> StoredTensor:
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise WeightsFileError(self.name, f"tensor {key!r} needs exactly dtype, shape and data_offsets", key)
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in DTYPE_BYTES:
            raise WeightsFileError(self.name, f"tensor {key!r} has an unknown dtype {dtype!r}", key)
        if (not isinstance(shape, list) or len(shape) > MAX_DIMENSIONS
                or not all(type(d) is int and d >= 0 for d in shape)):
            raise WeightsFileError(self.name, f"tensor {key!r} has a malformed shape {shape!r}", key)
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(type(o) is int for o in offsets) or not 0 <= offsets[0] <= offsets[1] <= data_size):
            raise WeightsFileError(self.name, f"tensor {key!r} has byte range {offsets!r} outside the file's "
                                              f"{data_size:,} data bytes (a truncated file?)", key)
        expected = math.prod(shape) * DTYPE_BYTES[dtype]
        if offsets[1] - offsets[0] != expected:
            raise WeightsFileError(self.name, f"tensor {key!r} ({dtype}, shape {shape}) needs {expected:,} bytes, "
                                              f"its range holds {offsets[1] - offsets[0]:,}", key)
        return StoredTensor(self, key, dtype, tuple(shape), start + offsets[0], start + offsets[1])


def _identity(info: os.stat_result) -> tuple[int, int, int, int]:
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


# --- tensors and layers ------------------------------------------------------------------------------

def layer_of_key(graph: Graph, key: str) -> tuple[str, str] | None:
    """Split state-dict ``key`` into (the layer id owning it, the name inside the layer), or None.

    The owner is the longest dotted prefix that is a layer: ``layer1.0.conv1.weight`` belongs to
    ``layer1.0.conv1`` as ``weight``; ``encoder.self_attn.in_proj_weight`` to ``encoder``. A key that
    is a layer's id itself belongs to that layer (a Parameter layer such as ``class_token``) as ``""``.
    """
    if key in graph:
        return key, ""
    parts = key.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        owner = ".".join(parts[:cut])
        if owner in graph:
            return owner, ".".join(parts[cut:])
    return None


def bind_weights(graph: Graph, source: TensorSource) -> None:
    """Give each layer of ``graph`` its tensors from ``source``; WeightsFileError names a key no layer owns.

    Nothing is changed unless every key finds its layer.
    """
    bound: dict[str, dict[str, StoredTensor]] = {}
    for key, tensor in source.tensors.items():
        owner = layer_of_key(graph, key)
        if owner is None:
            raise WeightsFileError(source.name, f"holds {key!r}, but the project has no layer "
                                                f"{key.rsplit('.', 1)[0]!r} to own it", key)
        node = graph.node(owner[0])
        if node.spec.kind not in HOLDS_TENSORS or (node.spec.kind is LayerKind.PARAMETER) != (owner[1] == ""):
            raise WeightsFileError(source.name, f"holds {key!r}, but layer {owner[0]!r} ({node.spec.title}) "
                                                "has no weights", key)
        bound.setdefault(owner[0], {})[owner[1]] = tensor
    for node_id, tensors in bound.items():
        graph.node(node_id).weights = tensors


def stored_tensors(graph: Graph) -> dict[str, StoredTensor]:
    """Every tensor the layers of ``graph`` hold, by state-dict key (sorted)."""
    found = {f"{node.id}.{name}" if name else node.id: tensor
             for node in graph.nodes() for name, tensor in node.weights.items()}
    return dict(sorted(found.items()))


# --- writing -------------------------------------------------------------------------------------------

def write_safetensors(handle: IO[bytes], tensors: Mapping[str, StoredTensor]) -> None:
    """Write ``tensors`` (by key) as a safetensors file to ``handle``, streaming each tensor's bytes."""
    header: dict[str, Any] = {}
    offset = 0
    for key, tensor in tensors.items():
        header[key] = {"dtype": tensor.dtype, "shape": list(tensor.shape),
                       "data_offsets": [offset, offset + tensor.nbytes]}
        offset += tensor.nbytes
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)  # safetensors pads the header so the data starts 8-byte aligned
    handle.write(struct.pack("<Q", len(text)))
    handle.write(text)
    for tensor in tensors.values():
        handle.write(tensor.data())


def same_content(tensors: Mapping[str, StoredTensor], source: TensorSource) -> bool:
    """True when ``source`` holds exactly ``tensors``: the same keys, each the very tensor read from it."""
    return (len(tensors) == len(source.tensors)
            and all(t.source is source and source.tensors.get(k) is t for k, t in tensors.items()))


# What the latest save wrote to each weights file: the tensors (by identity) and the file it became.
_written: dict[Path, tuple[tuple[tuple[str, StoredTensor], ...], tuple[int, int, int, int]]] = {}


def weights_file_name(project_path: Path) -> str:
    """The weights file a project saved at ``project_path`` writes: ``net.nns`` -> ``net.safetensors``."""
    return project_path.stem + SUFFIX


def save_weights(tensors: Mapping[str, StoredTensor], project_path: Path) -> str:
    """Put ``tensors`` in a safetensors file beside ``project_path`` and return its name.

    Nothing is written when that folder already holds exactly these tensors: the file they were read
    from (unchanged on disk) or the one the previous save wrote. Otherwise the project's own file
    (:func:`weights_file_name`) is written atomically. Raises WeightsFileError when it cannot be.
    """
    folder = project_path.parent if str(project_path.parent) else Path(".")
    sources = {t.source for t in tensors.values()}
    if len(sources) == 1:
        source = next(iter(sources))
        if (source.path is not None and _same_folder(source.path.parent, folder) and same_content(tensors, source)
                and source.unchanged_on_disk()):
            return source.path.name
    target = folder / weights_file_name(project_path)
    fingerprint = tuple(tensors.items())
    previous = _written.get(target.absolute())
    if previous is not None and _same_tensors(previous[0], fingerprint) and _identity_of(target) == previous[1]:
        return target.name
    _write_atomically(target, tensors)
    _written[target.absolute()] = (fingerprint, _identity_of(target))
    return target.name


def _same_tensors(a: tuple[tuple[str, StoredTensor], ...], b: tuple[tuple[str, StoredTensor], ...]) -> bool:
    return len(a) == len(b) and all(ka == kb and ta is tb for (ka, ta), (kb, tb) in zip(a, b))


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


def _identity_of(path: Path) -> tuple[int, int, int, int] | None:
    try:
        return _identity(os.stat(path))
    except OSError:
        return None


def _write_atomically(target: Path, tensors: Mapping[str, StoredTensor]) -> None:
    """Write ``tensors`` to ``target`` through the one atomic writer, checked by reading its index back."""
    def write(staged: Path) -> None:
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        with os.fdopen(fd, "wb") as handle:
            write_safetensors(handle, tensors)

    def verify(staged: Path) -> None:
        written = TensorSource.open(staged)
        if [(k, t.dtype, t.shape) for k, t in written.tensors.items()] != [
                (k, t.dtype, t.shape) for k, t in tensors.items()]:
            raise ValueError("the written file does not list the tensors that were written")

    try:
        write_atomic(target, write, verify=verify)
    except FileWriteError as exc:
        raise WeightsFileError(target.name, exc.reason) from None

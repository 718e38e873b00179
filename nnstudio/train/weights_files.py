"""Reading weights and checkpoint files safely: sizes first, then ``torch.load(weights_only=True)``.

Before a byte is decompressed or unpickled, a file is checked from what it declares: a regular file
within :data:`~nnstudio.core.files.WEIGHTS_BYTES`; for torch's zip format, the central directory's
declared member sizes against that limit, the free memory and (when the caller knows the network)
what the network can plausibly need; and every storage record of the pickle (read by an inert
unpickler that builds nothing and calls nothing) against the member that holds its bytes. A 1 MB file
holding a deflated 1 GiB tensor is refused from those numbers, without inflating it.

Then ``torch.load(weights_only=True)``: a file that needs anything more (arbitrary pickled objects) is
refused with :class:`UnsafeWeightsError` naming the global it wanted, and is never unpickled. Tensors
torch can read but a network cannot use (meta, sparse, quantized) are refused by their key.
"""

from __future__ import annotations

import os
import pickle
import pickletools
import re
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from nnstudio.core.errors import NnstudioError
from nnstudio.core.files import WEIGHTS_BYTES, FileReadError, check_regular_file
from nnstudio.core.formatting import format_bytes

#: The pickle inside a torch file describes tensors; it is small next to their bytes.
PICKLE_BYTES = 256 * 2**20
#: torch.save never compresses; a member inflating this much beyond its stored size is a bomb.
MAX_COMPRESSION_RATIO = 50
#: ...unless it is small enough not to matter.
SMALL_MEMBER_BYTES = 16 * 2**20


class WeightsFileError(NnstudioError):
    """A weights/checkpoint file could not be read; ``path`` names it."""

    def __init__(self, path: str | os.PathLike[str], message: str) -> None:
        self.path = str(path)
        self.reason = message
        super().__init__(f"{path}: {message}")


class UnsafeWeightsError(WeightsFileError):
    """A file that only full unpickling could read; ``global_name`` is what it asked for."""

    def __init__(self, path: str | os.PathLike[str], global_name: str | None) -> None:
        self.global_name = global_name
        if global_name and _is_module_class(global_name):
            what = (f"refused: this file is a whole pickled model ({global_name}), not a state dict; loading "
                    "it would run the code it names, which could be anything.")
        else:
            wanted = f" (it needs {global_name})" if global_name else ""
            what = (f"refused: this file holds Python objects beyond tensors{wanted}, and loading it could run "
                    "arbitrary code.")
        super().__init__(path, f"{what} Save a plain state dict instead: "
                               "torch.save(model.state_dict(), 'model.pth')")


def _is_module_class(global_name: str) -> bool:
    """Return True when ``global_name`` names an ``nn.Module`` subclass (without importing anything new)."""
    import sys

    module_name, _, attribute = global_name.rpartition(".")
    owner = sys.modules.get(module_name)
    candidate = getattr(owner, attribute, None) if owner is not None else None
    return isinstance(candidate, type) and issubclass(candidate, torch.nn.Module)


# --------------------------------------------------------------------------- what a file declares

@dataclass
class ArchiveSizes:
    """What a torch zip archive declares, read without inflating or unpickling anything."""

    #: Declared (uncompressed) bytes of every tensor member, by its storage key.
    members: dict[str, int] = field(default_factory=dict)
    #: Bytes each storage record of the pickle says its member holds (None: records not readable).
    records: dict[str, int] | None = None

    @property
    def declared_bytes(self) -> int:
        return sum(self.members.values())


class _Opaque:
    """Whatever the inert unpickler meets: built from nothing, calls nothing, remembers its name."""

    qualified = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass

    def __setitem__(self, key: Any, value: Any) -> None:  # OrderedDict state dicts fill themselves
        pass

    def append(self, value: Any) -> None:
        pass

    def extend(self, values: Any) -> None:
        pass

    def __call__(self, *args: Any, **kwargs: Any) -> _Opaque:
        return _Opaque()


class _RecordReader(pickle.Unpickler):
    """Collects torch's storage records ``('storage', type, key, location, numel)``; runs no foreign code."""

    def __init__(self, data: bytes) -> None:
        import io

        super().__init__(io.BytesIO(data))
        self.records: dict[str, int] = {}

    def find_class(self, module: str, name: str) -> Any:
        return type(name, (_Opaque,), {"qualified": f"{module}.{name}"})

    def persistent_load(self, pid: Any) -> Any:
        if isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage":
            kind, key, numel = pid[1], str(pid[2]), pid[4]
            if isinstance(numel, int) and numel >= 0:
                self.records[key] = numel * _item_size(getattr(kind, "qualified", ""))
        return _Opaque()


def _item_size(qualified: str) -> int:
    name = qualified.rpartition(".")[2]
    storage = getattr(torch, name, None) if name.endswith("Storage") else None
    if storage is None or name == "UntypedStorage":
        return 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return int(storage.dtype.itemsize)
    except (AttributeError, RuntimeError, TypeError):
        return 1


def archive_sizes(path: Path) -> ArchiveSizes | None:
    """Return what the torch zip archive at ``path`` declares; None when it is not a zip archive.

    Refuses (WeightsFileError) members compressed like a bomb and pickles larger than any state
    dict's description, before either is inflated.
    """
    if not zipfile.is_zipfile(path):
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            sizes = ArchiveSizes()
            pickle_info = None
            for info in archive.infolist():
                folder, _, name = info.filename.rpartition("/")
                if info.compress_type != zipfile.ZIP_STORED and info.file_size > SMALL_MEMBER_BYTES and \
                        info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
                    raise WeightsFileError(path, f"refused: {info.filename} would inflate from "
                                                 f"{format_bytes(info.compress_size)} to "
                                                 f"{format_bytes(info.file_size)} (torch.save never "
                                                 "compresses tensors; this looks like a decompression bomb)")
                if name == "data.pkl":
                    pickle_info = info
                elif folder.endswith("/data") or folder == "data":
                    sizes.members[name] = info.file_size
            if pickle_info is not None and pickle_info.file_size <= PICKLE_BYTES:
                reader = _RecordReader(archive.read(pickle_info))
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        reader.load()
                    sizes.records = reader.records
                except Exception:  # noqa: BLE001 - a damaged pickle: torch.load below names the damage
                    sizes.records = None
            elif pickle_info is not None:
                raise WeightsFileError(path, f"refused: its description (data.pkl) declares "
                                             f"{format_bytes(pickle_info.file_size)}; a state dict's is far smaller")
            return sizes
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise WeightsFileError(path, f"not a PyTorch weights file, or a damaged one ({type(exc).__name__}: "
                                     f"{exc})") from None


def check_declared_sizes(path: Path, expected_bytes: int | None = None) -> ArchiveSizes | None:
    """Refuse (WeightsFileError) a file whose declared tensor bytes cannot be right or cannot fit.

    ``expected_bytes``: the most a file meant for the caller's network can hold (e.g. 4x its weights
    for a checkpoint with optimizer moments); a larger declaration is refused before inflating it.
    """
    sizes = archive_sizes(path)
    if sizes is None:
        return None
    declared = sizes.declared_bytes
    if declared > WEIGHTS_BYTES:
        raise WeightsFileError(path, f"refused: it declares {format_bytes(declared)} of tensors; weights files "
                                     f"are read up to {format_bytes(WEIGHTS_BYTES)}")
    if sizes.records is not None:
        for key, wanted in sizes.records.items():
            held = sizes.members.get(key)
            if held is None:
                raise WeightsFileError(path, f"damaged: tensor storage {key} is described but missing")
            if held != wanted:
                raise WeightsFileError(path, f"damaged: tensor storage {key} should hold {format_bytes(wanted)} "
                                             f"but declares {format_bytes(held)}")
    if expected_bytes is not None and declared > expected_bytes:
        raise WeightsFileError(path, f"refused: it holds {format_bytes(declared)} of tensors, far more than "
                                     f"this network's weights ({format_bytes(expected_bytes)} at most); "
                                     "it is not for this network")
    free = _free_memory()
    if free is not None and declared > free:
        raise WeightsFileError(path, f"refused: its tensors need {format_bytes(declared)} of memory; this "
                                     f"machine has {format_bytes(free)} free")
    return sizes


def _free_memory() -> int | None:
    try:
        import psutil
    except ImportError:
        return None
    return int(psutil.virtual_memory().available)


# --------------------------------------------------------------------------- loading

def _pickle_bytes(path: Path) -> bytes:
    """Return the pickle stream of a torch file: ``data.pkl`` of a zip archive, else the file itself."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith("data.pkl")]
            if not names or archive.getinfo(names[0]).file_size > PICKLE_BYTES:
                return b""
            return archive.read(names[0])
    with open(path, "rb") as handle:
        return handle.read(PICKLE_BYTES)


def first_unsafe_global(path: Path) -> str | None:
    """Return the first global a pickle asks for that ``weights_only`` loading does not allow.

    Reads the opcodes with :mod:`pickletools`, which never executes them, so naming the culprit is
    as safe as refusing it.
    """
    try:
        from torch._weights_only_unpickler import _get_allowed_globals

        allowed = set(_get_allowed_globals())
    except (ImportError, AttributeError):  # a private helper of torch; without it name the first global
        allowed = set()
    strings: list[str] = []
    try:
        for opcode, argument, _position in pickletools.genops(_pickle_bytes(path)):
            if isinstance(argument, str):
                strings.append(argument)
            if opcode.name in ("GLOBAL", "INST") and isinstance(argument, str):
                name = argument.replace(" ", ".")
            elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                name = f"{strings[-2]}.{strings[-1]}"
            else:
                continue
            if name not in allowed:
                return name
    except (ValueError, OSError, zipfile.BadZipFile, pickle.UnpicklingError, IndexError, KeyError, EOFError):
        return None
    return None


def unusable_tensor(content: Any, where: str = "") -> str | None:
    """Return a line naming the first tensor in ``content`` a network cannot load (meta, sparse, quantized)."""
    if isinstance(content, torch.Tensor):
        label = where or "the tensor"
        if content.is_meta:
            return f"{label} is a meta tensor (a shape without values: saved from a model never materialised)"
        if content.layout != torch.strided:
            return f"{label} is a sparse tensor ({content.layout}); save dense tensors (tensor.to_dense())"
        if content.is_quantized:
            return f"{label} is quantized ({content.dtype}); save the float weights (tensor.dequantize())"
        return None
    if isinstance(content, dict):
        items: Any = content.items()
    elif isinstance(content, (list, tuple)):
        items = enumerate(content)
    else:
        return None
    for key, value in items:
        problem = unusable_tensor(value, f"{where}.{key}" if where else str(key))
        if problem:
            return problem
    return None


def load_weights_file(path: str | os.PathLike[str], expected_bytes: int | None = None) -> Any:
    """Return the contents of a ``.pth`` file read with ``weights_only=True`` onto the CPU.

    Sizes are checked first (see the module docstring); ``expected_bytes`` is the most a file meant
    for the caller's network may declare. Raises WeightsFileError naming the problem.
    """
    path = Path(path)
    try:
        size = check_regular_file(path, WEIGHTS_BYTES, "weights file")
    except FileReadError as exc:
        raise WeightsFileError(path, exc.reason) from None
    if size == 0:
        raise WeightsFileError(path, "the file is empty")
    check_declared_sizes(path, expected_bytes)
    try:
        with warnings.catch_warnings():
            # torch warns about pickle protocols it reads anyway; the refusal below says what matters.
            warnings.simplefilter("ignore", UserWarning)
            content = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        match = re.search(r"GLOBAL ([\w.]+)", str(exc)) or re.search(r"global ['`]?([\w.]+)", str(exc))
        raise UnsafeWeightsError(path, match.group(1) if match else first_unsafe_global(path)) from None
    except Exception as exc:  # noqa: BLE001 - a damaged file fails deep inside the unpickler in many ways
        raise WeightsFileError(path, f"not a PyTorch weights file, or a damaged one ({type(exc).__name__}: "
                                     f"{str(exc).splitlines()[0] if str(exc) else 'no details'})") from None
    problem = unusable_tensor(content)
    if problem:
        raise WeightsFileError(path, f"cannot be used: {problem}")
    return content


def load_state_dict_file(path: str | os.PathLike[str], expected_bytes: int | None = None) -> dict[str, torch.Tensor]:
    """Return the state dict in ``path``: a plain one, or the ``model`` entry of a checkpoint."""
    content = load_weights_file(path, expected_bytes)
    if isinstance(content, dict) and "model" in content and isinstance(content["model"], dict):
        content = content["model"]
    if not isinstance(content, dict) or not all(isinstance(v, torch.Tensor) for v in content.values()):
        raise WeightsFileError(path, "does not hold a state dict (a mapping of names to tensors)")
    return content


def plausible_file_bytes(model: torch.nn.Module) -> int:
    """Return the most a weights or checkpoint file for ``model`` can sensibly declare.

    A checkpoint holds the weights, up to two optimizer moments per parameter and a little more:
    four times the state dict, plus a megabyte for the pickle, history and random-number state.
    """
    weights = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    return 4 * weights + 2**20

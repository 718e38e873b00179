"""Bad files to hand to any verb: special files in place of a file, damaged weights and checkpoints.

Each generator writes into a folder and returns :class:`BadFile` records: the path to pass, the
strings of which one must appear in the refusal (the file's name, the key or part at fault), and
whether the file must be refused or may be taken. Everything is made here from the bundled examples
and seeded generators: nothing is downloaded, nothing depends on the run before.
"""

from __future__ import annotations

import io
import math
import os
import random
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from reliability_payloads import PAYLOAD_WRITERS
from verdicts import EITHER, REFUSED


@dataclass(frozen=True)
class BadFile:
    label: str
    path: str
    culprits: tuple[str, ...]
    expect: str = REFUSED


def shown(path: str | Path) -> str:
    """The name of ``path``: what a refusal must show (as it is, or escaped: see ``verdicts.forms``)."""
    return Path(path).name


def special_files(folder: Path, suffix: str) -> list[BadFile]:
    """Things that are not a readable file of the kind, in place of one (``suffix``: ``.nns``, ``.pth``...)."""
    folder.mkdir(parents=True, exist_ok=True)
    made: list[BadFile] = []

    def add(label: str, path: Path | str, expect: str = REFUSED) -> None:
        made.append(BadFile(label, str(path), (shown(path),), expect))

    fifo = folder / f"pipe{suffix}"
    if not fifo.exists():
        os.mkfifo(fifo)  # opening it for reading would block until a writer came: never
    add("fifo", fifo)
    add("dev-zero", "/dev/zero")  # endless
    add("dev-null", "/dev/null")  # a device that reads empty
    directory = folder / f"folder{suffix}"
    directory.mkdir(exist_ok=True)
    add("folder", directory)
    add("missing", folder / f"missing{suffix}")
    empty = folder / f"empty{suffix}"
    empty.write_bytes(b"")
    add("empty", empty)
    garbage = folder / f"garbage{suffix}"
    garbage.write_bytes(random.Random(7).randbytes(4096))
    add("binary-garbage", garbage)
    for name, target in (("loop", None), ("zero-link", "/dev/zero"), ("dangling", folder / "nowhere"),
                         ("fifo-link", fifo)):
        link = folder / f"{name}{suffix}"
        if not link.is_symlink():
            link.symlink_to(target if target is not None else link)
        add(f"symlink-{name}", link)
    under_file = garbage / f"inside{suffix}"  # a path through a file, as if it were a folder
    add("under-a-file", under_file)
    add("control-characters", folder / f"evil\x1b[2J\x1b[31m\x07{suffix}")
    add("lone-surrogate", folder / f"latin1-caf\udce9{suffix}")
    add("newline-in-name", folder / f"two\nlines{suffix}")
    add("bidi-override", folder / f"txt.\u202egnp{suffix}")
    add("proc-mem", "/proc/self/mem")  # a "regular" file of size 0 whose reads fail
    return made


# --------------------------------------------------------------------------- weights

def _unusable_tensor(kind: str) -> torch.Tensor:
    with warnings.catch_warnings():  # torch's notes on beta and deprecated layouts: made on purpose here
        warnings.simplefilter("ignore", UserWarning)
        return _make_unusable(kind)


def _make_unusable(kind: str) -> torch.Tensor:
    if kind == "meta":
        return torch.empty(10, 64, device="meta")
    if kind == "sparse-coo":
        return torch.zeros(10, 64).to_sparse()
    if kind == "sparse-csr":
        return torch.zeros(10, 64).to_sparse_csr()
    return torch.quantize_per_tensor(torch.zeros(10, 64), 0.1, 0, torch.qint8)


def deflate_bomb(path: Path, megabytes: int) -> Path:
    """A torch zip whose one tensor's bytes are ``megabytes`` of zeros, deflated (about 1 MB per GiB)."""
    if path.exists():
        return path
    buffer = io.BytesIO()
    torch.save({"fc1.weight": torch.zeros(1)}, buffer)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as source, \
            zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as out:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith("/data/0"):
                with out.open(info.filename, "w", force_zip64=True) as handle:
                    chunk = bytes(2**20)
                    for _ in range(megabytes):
                        handle.write(chunk)
            else:
                out.writestr(info.filename, data)
    return path


def weights_files(folder: Path, good: dict[str, torch.Tensor], other: dict[str, torch.Tensor],
                  long: bool = False) -> list[BadFile]:
    """Weights files for the network whose state dict is ``good``: damaged, unsafe, unusable or misfit.

    ``other`` is the state dict of another network (refused listing the keys that do not fit).
    """
    folder.mkdir(parents=True, exist_ok=True)
    made: list[BadFile] = []
    key = next(k for k, v in good.items() if v.dim() == 2)

    def save(label: str, value: Any, culprits: tuple[str, ...] = (), expect: str = REFUSED) -> None:
        path = folder / f"{label}.pth"
        torch.save(value, path)
        made.append(BadFile(label, str(path), (shown(path), *culprits), expect))

    real = folder / "real.pth"
    torch.save(good, real)
    data = real.read_bytes()
    cuts = range(1, len(data), max(1, len(data) // (60 if long else 12)))
    for cut in cuts:
        path = folder / f"truncated-at-{cut}.pth"
        path.write_bytes(data[:cut])
        made.append(BadFile(f"truncated-at-{cut}", str(path), (shown(path),)))
    rng = random.Random(13)
    for index in range(30 if long else 6):  # a flip inside tensor bytes may load: then it is used
        flipped = bytearray(data)
        for _ in range(3):
            flipped[rng.randrange(len(flipped))] = rng.randrange(256)
        path = folder / f"flipped-{index}.pth"
        path.write_bytes(bytes(flipped))
        made.append(BadFile(f"flipped-{index}", str(path), (shown(path),), EITHER))
    save("bare-tensor", torch.zeros(3))
    save("list-of-tensors", [torch.zeros(3)])
    save("text-values", {k: "weights" for k in good})
    save("number", 42)
    save("nested-dict", {"state": good})
    save("other-network", other, tuple(other))
    save("missing-key", {k: v for k, v in good.items() if k != key}, (key,))
    save("extra-key", {**good, "stray.weight": torch.zeros(2)}, ("stray.weight",))
    save("wrong-shape", {**good, key: torch.zeros(3, 3)}, (key,))
    save("wrong-dtype-int", {**good, key: torch.zeros_like(good[key], dtype=torch.int64)}, (key,), EITHER)
    save("float64", {k: v.double() for k, v in good.items()}, (), EITHER)
    save("nan-values", {k: torch.full_like(v, math.nan) for k, v in good.items()}, (key,), EITHER)
    save("zero-dim", {**good, key: torch.tensor(1.0)}, (key,))
    save("complex", {**good, key: torch.zeros_like(good[key], dtype=torch.complex64)}, (key,))
    save("bool", {**good, key: torch.zeros_like(good[key], dtype=torch.bool)}, (key,), EITHER)
    for kind in ("meta", "sparse-coo", "sparse-csr", "quantized"):
        save(kind, {**good, key: _unusable_tensor(kind)}, (key,))
    save("far-too-big", {key: torch.zeros(2**22)})  # 16 MB, plainly stored: not for this network
    bomb = deflate_bomb(folder / "deflate-bomb.pth", 1024 if long else 256)
    made.append(BadFile("deflate-bomb", str(bomb), (shown(bomb),)))
    for kind, write in sorted(PAYLOAD_WRITERS.items()):
        path = write(folder / f"payload-{kind}.pth", folder / "payload-ran")
        made.append(BadFile(f"payload-{kind}", str(path), (shown(path),)))
    project = folder / "a-project.pth"
    project.write_text('{"format": "nnstudio-project", "version": 2, "nodes": []}')
    made.append(BadFile("project-as-weights", str(project), (shown(project),)))
    return made


# --------------------------------------------------------------------------- checkpoints

WRONG_VALUES: tuple[Any, ...] = ("text", -1, 2.5, math.nan, math.inf, None, True, [], {}, [1, "x"],
                                 torch.zeros(2))


def _parts(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every mapping entry and list item of a checkpoint (tensor data and random states excepted)."""
    found = []
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in list(items):
        where = (*path, key)
        found.append(where)
        if isinstance(item, (dict, list)) and where[0] not in ("model", "rng") and where[:2] != ("optimizer", "state"):
            found.extend(_parts(item, where))
    return found


def part_name(where: tuple[Any, ...]) -> str:
    """``("optimizer", "param_groups", 0, "lr")`` -> ``optimizer.param_groups[0].lr``."""
    text = ""
    for part in where:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def checkpoint_files(folder: Path, checkpoint: dict[str, Any], long: bool = False) -> list[BadFile]:
    """A real checkpoint with one part replaced by a value of another kind, and a few known faults."""
    import copy

    folder.mkdir(parents=True, exist_ok=True)
    made: list[BadFile] = []
    rng = random.Random(17)
    places = _parts(checkpoint)
    for index, where in enumerate(places):
        values = WRONG_VALUES if long else rng.sample(WRONG_VALUES, 2)
        for number, value in enumerate(values):
            broken = copy.deepcopy(checkpoint)
            owner = broken
            for part in where[:-1]:
                owner = owner[part]
            owner[where[-1]] = value
            path = folder / f"part-{index}-{number}.pth"
            torch.save(broken, path)
            # Accepted values (an int for a float) must then train: EITHER, but a refusal names the part
            # (or the list or mapping holding it).
            named = tuple(part_name(where[:end]) for end in range(len(where), min(2, len(where)) - 1, -1))
            made.append(BadFile(f"{part_name(where)}={value!r:.12}", str(path), (*named, shown(path)), EITHER))

    def save(label: str, changes: dict[str, Any], culprits: tuple[str, ...]) -> None:
        broken = copy.deepcopy(checkpoint)
        for dotted, value in changes.items():
            owner = broken
            parts = dotted.split("/")
            for part in parts[:-1]:
                owner = owner[int(part) if part.isdigit() else part]
            if value is _DELETE:
                del owner[parts[-1]]
            else:
                owner[parts[-1]] = value
        path = folder / f"{label}.pth"
        torch.save(broken, path)
        made.append(BadFile(label, str(path), (*culprits, shown(path))))

    save("lr-text", {"optimizer/param_groups/0/lr": "fast"}, ("optimizer.param_groups[0].lr",))
    save("lr-nan", {"optimizer/param_groups/0/lr": math.nan}, ("optimizer.param_groups[0].lr",))
    save("lr-list", {"optimizer/param_groups/0/lr": [0.1]}, ("optimizer.param_groups[0].lr",))
    save("history-text", {"history/0/val_loss": "low"}, ("history[0].val_loss",))
    save("other-format", {"format": "someone-else"}, ("format",))
    save("newer-version", {"version": 99}, ("version",))
    save("negative-epoch", {"epoch": -3}, ("epoch",))
    save("no-model", {"model": _DELETE}, ("model",))
    save("no-optimizer", {"optimizer": _DELETE}, ("optimizer",))
    save("settings-epochs-text", {"settings/epochs": "many"}, ("settings.epochs",))
    return made


_DELETE = object()

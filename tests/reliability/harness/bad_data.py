"""Bad training data: projects whose dataset is a hostile CSV table or image folder.

Each case is a small project (a one-Linear network) whose ``training.dataset`` points at a file made
here: NaN and infinite targets and features, text that is not UTF-8, cells past the csv module's
limit, NUL bytes, odd delimiters, no feature columns, a split that leaves nothing to validate on,
damaged, truncated, empty and decompression-bomb images, FIFOs and devices where files belong. The
refusal must name the file (or the option at fault), never a layer or the learning rate.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bad_files import BadFile, shown
from verdicts import EITHER, REFUSED

FEATURES = 3


def _project(name: str, dataset: dict[str, Any], *, shape: list[int], classes: int | None,
             flatten: bool = False) -> dict[str, Any]:
    """A project: Input(shape) [-> Flatten] -> Linear(classes or 1) -> Output, trained 1 epoch on ``dataset``."""
    nodes: list[dict[str, Any]] = [{"id": "x_in", "type": "input", "position": [0, 0],
                                    "params": {"shape": shape, "dtype": "float32"}}]
    if flatten:
        nodes.append({"id": "flat", "type": "flatten", "position": [0, 60], "params": {}})
    nodes += [{"id": "fc1", "type": "linear", "position": [0, 120],
               "params": {"in_features": None, "out_features": classes or 1, "bias": True}},
              {"id": "output1", "type": "output", "position": [0, 180], "params": {}}]
    ids = [n["id"] for n in nodes]
    return {"format": "nnstudio-project", "version": 1, "name": name, "nodes": nodes,
            "edges": [{"source": a, "target": b} for a, b in zip(ids, ids[1:])],
            "training": {"dataset": dataset, "loss": "cross_entropy" if classes else "mse", "optimizer": "sgd",
                         "lr": 0.01, "batch_size": 4, "epochs": 1, "device": "cpu"}}


def _rows(count: int, target: Callable[[int], str] = lambda i: str(i % 3)) -> str:
    lines = [",".join(f"f{j}" for j in range(FEATURES)) + ",label"]
    lines += [",".join(str((i * (j + 1)) % 7) for j in range(FEATURES)) + "," + target(i) for i in range(count)]
    return "\n".join(lines) + "\n"


#: Tables whose classes are not the usual three: the network is built to fit, so the fault is the data's.
CLASSES = {"two-rows": 2, "one-class": 1, "control-character-labels": 2, "many-text-classes": 60}


def csv_tables() -> list[tuple[str, bytes | str | None, dict[str, Any], str, tuple[str, ...]]]:
    """(label, file content (None: the path option is the fault), options, expect, extra culprits)."""
    good = _rows(30)
    lines = good.splitlines()
    cases: list[tuple[str, bytes | str | None, dict[str, Any], str, tuple[str, ...]]] = [
        ("nan-target", _rows(30, lambda i: "nan" if i == 5 else str(i % 3)), {}, REFUSED, ()),
        ("inf-target-regression", _rows(30, lambda i: "inf" if i == 5 else f"{i / 7:.3f}"),
         {"task": "regression"}, REFUSED, ()),
        ("nan-feature", good.replace("\n3,", "\nnan,", 1), {}, REFUSED, ()),
        ("inf-feature", good.replace("\n3,", "\n-inf,", 1), {}, REFUSED, ()),
        ("overflowing-feature", good.replace("\n3,", "\n1e999,", 1), {}, REFUSED, ()),
        ("latin-1-text", good.replace("label", "\xe9tiquette").encode("latin-1"), {}, REFUSED, ()),
        ("cell-past-the-csv-limit", good.replace("\n3,", "\n" + "1" * 200_000 + ",", 1), {}, REFUSED, ()),
        ("nul-bytes", good.replace("\n3,", "\n3\x00,", 1), {}, REFUSED, ()),
        ("semicolons-with-comma-option", good.replace(",", ";"), {"delimiter": ","}, REFUSED, ()),
        ("semicolons-auto", good.replace(",", ";"), {}, EITHER, ()),
        ("tabs", good.replace(",", "\t"), {}, EITHER, ()),
        ("header-only", lines[0] + "\n", {}, REFUSED, ()),
        ("one-row", "\n".join(lines[:2]) + "\n", {}, REFUSED, ()),
        # one row to train on and one to validate: the least a split can be (refused below that)
        ("two-rows", "\n".join(lines[:3]) + "\n", {}, EITHER, ()),
        ("ragged-rows", good.replace("\n3,", "\n3,4,5,6,7,", 1), {}, REFUSED, ()),
        ("only-the-target-column", "label\n" + "\n".join(str(i % 2) for i in range(30)) + "\n", {}, REFUSED, ()),
        ("one-class", _rows(30, lambda i: "1"), {}, EITHER, ()),
        ("text-in-a-feature", good.replace("\n3,", "\nthree,", 1), {}, REFUSED, ()),
        ("no-such-target-column", good, {"target": "price"}, REFUSED, ("price",)),
        ("two-char-delimiter", good.replace(",", ";;"), {"delimiter": ";;"}, REFUSED, ("delimiter",)),
        ("empty-delimiter", good, {"delimiter": ""}, REFUSED, ("delimiter",)),
        ("number-delimiter", good, {"delimiter": 5}, REFUSED, ("delimiter",)),
        ("quote-delimiter", good, {"delimiter": '"'}, REFUSED, ("delimiter",)),
        ("newline-delimiter", good, {"delimiter": "\n"}, REFUSED, ("delimiter",)),
        ("wide-header", ",".join(f"c{i}" for i in range(20_000)) + "\n" + ",".join("1" for _ in range(20_000))
         + "\n", {}, REFUSED, ()),
        ("duplicate-columns", good.replace("f1", "f0", 1), {}, EITHER, ()),
        ("bom-and-crlf", "\ufeff" + good.replace("\n", "\r\n"), {}, EITHER, ()),
        ("quoted-newlines", good.replace("\n3,", '\n"3\n",', 1), {}, EITHER, ()),
        ("control-character-labels", _rows(30, lambda i: "\x1b[31mred" if i % 2 else "\x1b[2Jclear"), {},
         EITHER, ()),
        ("many-text-classes", _rows(60, lambda i: f"class{i}"), {}, EITHER, ()),
        ("target-option-not-text", good, {"target": 3}, REFUSED, ("target",)),
        ("task-option-unknown", good, {"task": "clustering"}, REFUSED, ("task",)),
        ("standardize-option-text", good, {"standardize": "yes"}, REFUSED, ("standardize",)),
        ("unknown-option", good, {"colour": "blue"}, REFUSED, ("colour",)),
        ("path-not-text", None, {"path": 42}, REFUSED, ("path",)),
        ("path-empty", None, {"path": ""}, REFUSED, ("path",)),
        ("path-with-nul", None, {"path": "data\x00.csv"}, REFUSED, ("path",)),
    ]
    return cases


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(width: int, height: int, *, rows: int | None = None, colour: int = 2) -> bytes:
    """A PNG of ``width`` x ``height`` (RGB) whose data holds only ``rows`` rows (default all): a header can lie."""
    channels = 3 if colour == 2 else 1
    present = height if rows is None else rows
    raw = b"".join(b"\x00" + bytes([(y * 37) % 256]) * (width * channels) for y in range(present))
    header = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(raw))
            + _png_chunk(b"IEND", b""))


def image_folders(folder: Path) -> list[tuple[str, Path, str, tuple[str, ...]]]:
    """(label, folder to train on, expect, culprits): one fault per folder, beside good images."""
    made = []

    def build(label: str, files: dict[str, bytes | Callable[[Path], None]], expect: str = REFUSED,
              culprits: tuple[str, ...] = ()) -> None:
        root = folder / label
        if not root.exists():
            for name, content in {"cats/a.png": png(8, 8), "cats/b.png": png(8, 8), "dogs/c.png": png(8, 8),
                                  "dogs/d.png": png(8, 8), **files}.items():
                path = root / name
                path.parent.mkdir(parents=True, exist_ok=True)
                if callable(content):
                    content(path)
                else:
                    path.write_bytes(content)
        names = tuple(shown(name) for name in files) or (shown(root),)
        made.append((label, root, expect, names + culprits))

    good = png(8, 8)
    build("garbage-png", {"cats/broken.png": b"not a picture at all" * 10})
    build("truncated-png", {"dogs/half.png": good[: len(good) // 2]})
    build("empty-png", {"cats/empty.png": b""})
    build("text-named-jpg", {"dogs/notes.jpg": b"hello, I am text\n"})
    build("bomb-header", {"cats/huge.png": png(60_000, 60_000, rows=1)})  # 3.6 G pixels declared, 1 row sent
    # under Pillow's bomb limit, and short of data: Pillow may decode it padded; memory stays bounded
    build("big-and-truncated", {"cats/big.png": png(9_000, 9_000, rows=2)}, EITHER)
    build("fifo-named-png", {"cats/pipe.png": lambda p: os.mkfifo(p)})
    build("dev-zero-named-png", {"dogs/zero.png": lambda p: p.symlink_to("/dev/zero")})
    build("folder-named-png", {"dogs/dir.png/x.txt": b"x"}, EITHER, ("dir.png",))
    build("sparse-3GB-png", {"cats/sparse.png": lambda p: _sparse(p, 3 * 2**30)})
    build("control-character-class", {"cats/\x1b[31mred.png": good, "dogs/\x1b[2Jclear.png": good}, EITHER)
    build("one-pixel-and-grey", {"cats/tiny.png": png(1, 1), "dogs/grey.png": png(8, 8, colour=0)}, EITHER)
    for label, files in (("no-classes", {}), ("one-class", None)):
        root = folder / label
        root.mkdir(parents=True, exist_ok=True)
        if files is None:
            (root / "cats").mkdir(exist_ok=True)
            (root / "cats" / "a.png").write_bytes(good)
            (root / "cats" / "b.png").write_bytes(good)
        made.append((label, root, REFUSED, (shown(root),)))
    loose = folder / "images-without-class-folders"
    loose.mkdir(exist_ok=True)
    (loose / "a.png").write_bytes(good)
    made.append(("images-without-class-folders", loose, REFUSED, (shown(loose),)))
    return made


def _sparse(path: Path, size: int) -> None:
    with open(path, "wb") as handle:
        handle.write(png(8, 8))
        handle.truncate(size)


def data_projects(folder: Path, special: list[BadFile]) -> list[BadFile]:
    """Project files training on each bad table and image folder (``special``: non-files to point at)."""
    folder.mkdir(parents=True, exist_ok=True)
    made: list[BadFile] = []

    def write(label: str, project: dict[str, Any]) -> Path:
        path = folder / f"{label}.nns"
        path.write_text(json.dumps(project, allow_nan=True))
        return path

    for label, content, options, expect, culprits in csv_tables():
        table = folder / "tables" / f"{label}.csv"
        table.parent.mkdir(exist_ok=True)
        if content is not None:
            table.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        dataset = {"kind": "csv", "options": {"path": str(table), **options}}
        regression = options.get("task") == "regression"
        classes = None if regression else CLASSES.get(label, 3)
        path = write(f"csv-{label}", _project(label, dataset, shape=[FEATURES], classes=classes))
        names = (shown(table),) if content is not None else ()
        made.append(BadFile(f"csv/{label}", str(path), names + culprits, expect))
    for bad in special:
        dataset = {"kind": "csv", "options": {"path": bad.path}}
        path = write(f"csv-path-{bad.label}", _project(bad.label, dataset, shape=[FEATURES], classes=3))
        made.append(BadFile(f"csv/path-{bad.label}", str(path), (*bad.culprits, "path"), bad.expect))
    for label, root, expect, culprits in image_folders(folder / "images"):
        dataset = {"kind": "image_folder", "options": {"path": str(root), "size": 8, "channels": 3}}
        path = write(f"images-{label}", _project(label, dataset, shape=[3, 8, 8], classes=2, flatten=True))
        made.append(BadFile(f"images/{label}", str(path), culprits, expect))
    for bad in special:
        dataset = {"kind": "image_folder", "options": {"path": bad.path, "size": 8, "channels": 3}}
        path = write(f"images-path-{bad.label}", _project(bad.label, dataset, shape=[3, 8, 8], classes=2,
                                                          flatten=True))
        made.append(BadFile(f"images/path-{bad.label}", str(path), (*bad.culprits, "path"), bad.expect))
    return made

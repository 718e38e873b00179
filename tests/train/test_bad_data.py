"""A generated corpus of bad CSV files and image folders: each is a DatasetError naming the culprit.

Issue 13 (sections 3 and 4): NaN or infinite numbers, text that is not UTF-8, huge cells, odd
delimiters, no feature columns, a folder given as a file, a FIFO or a device, corrupt and oversized
images. Every case must end in one :class:`DatasetError` whose message names the file and, where
there is one, the line and column (never another exception, never a hang); the same inputs through
``nnstudio train`` print one line and no traceback.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from nnstudio.cli import main
from nnstudio.core.graph import Graph
from nnstudio.core.project import Project, save_project
from nnstudio.core.settings import DatasetSettings, TrainingSettings
from nnstudio.train.data import DatasetError
from nnstudio.train.datasets import load_dataset


@dataclass
class Case:
    """A bad input: how to make it under a folder, the options, and what the message must name."""

    make: Any
    names: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)
    kind: str = "csv"
    option: str | None = None
    #: The option that names the file or folder made by ``make``.
    path_option: str = "path"


def _rows(n=6, start=1):
    return "".join(f"{i},{i * 2 % 7},{i % 2}\n" for i in range(start, start + n))


def text(content, name="data.csv", encoding="utf-8"):
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(content.encode(encoding) if isinstance(content, str) else content)
        return path
    return make


def replace_cell(line_no, column, value, header="a,b,y\n"):
    lines = (header + _rows(8)).splitlines()
    cells = lines[line_no - 1].split(",")
    cells[column] = value
    lines[line_no - 1] = ",".join(cells)
    return text("\n".join(lines) + "\n")


def fifo(folder: Path) -> Path:
    path = folder / "pipe.csv"
    os.mkfifo(path)
    return path


def subfolder(folder: Path) -> Path:
    (folder / "tables").mkdir()
    return folder / "tables"


def link_to_folder(folder: Path) -> Path:
    (folder / "real").mkdir()
    (folder / "link.csv").symlink_to(folder / "real")
    return folder / "link.csv"


CSV_CASES = {
    "nan feature": Case(replace_cell(3, 1, "nan"), ("data.csv line 3, column 'b'", "not a finite number")),
    "NaN feature, capitals": Case(replace_cell(5, 0, "NaN"), ("data.csv line 5, column 'a'", "finite")),
    "inf feature": Case(replace_cell(2, 1, "inf"), ("line 2, column 'b'", "finite")),
    "-Infinity feature": Case(replace_cell(4, 0, "-Infinity"), ("line 4, column 'a'", "finite")),
    "1e999 overflows": Case(replace_cell(6, 1, "1e999"), ("line 6, column 'b'", "finite")),
    "too big for float32": Case(replace_cell(7, 0, "5e38"), ("line 7, column 'a'", "float32")),
    "empty feature": Case(replace_cell(3, 0, ""), ("line 3, column 'a' is empty",)),
    "text feature": Case(replace_cell(4, 1, "oops"), ("line 4, column 'b': 'oops' is not a number",)),
    "nan regression target": Case(replace_cell(5, 2, "nan"), ("line 5, column 'y'", "finite"),
                                  {"task": "regression"}, option="target"),
    "inf regression target": Case(replace_cell(2, 2, "inf"), ("line 2, column 'y'", "finite"),
                                  {"task": "regression"}, option="target"),
    "nan among auto targets": Case(text("a,y\n" + "".join(f"{i},{i * 0.5}\n" for i in range(8)) + "9,nan\n"),
                                   ("line 10, column 'y'", "finite"), option="target"),
    "empty class label": Case(replace_cell(6, 2, ""), ("line 6, column 'y' is empty",), option="target"),
    "latin-1 text": Case(text("a,b,y\n" + _rows(3) + "1,2,caf\xe9\n", encoding="latin-1"),
                         ("data.csv line 5: byte 0xe9 is not UTF-8",)),
    "binary garbage": Case(text(b"\x89PNG\r\n\x1a\n" + bytes(range(256))), ("data.csv line", "not UTF-8")),
    "NUL byte": Case(text("a,b,y\n1,2,0\n3,\x004,1\n" + _rows(3)), ("data.csv line 3 holds a NUL byte",)),
    "huge cell": Case(text('a,b,y\n1,2,0\n3,"' + "x" * 200_000 + '",1\n' + _rows(3)),
                      ("data.csv line", "a cell is longer than")),
    "unclosed quote": Case(text('a,b,y\n1,2,0\n3,"4,1\n' + _rows(3)),
                           ("data.csv line 3: 2 values, but the header", "runs to line 6: an unclosed quote?")),
    "semicolons read as commas": Case(text("a;b;y\n" + _rows(6).replace(",", ";")),
                                      ("the header has a single column", "set the delimiter option to ;"),
                                      {"delimiter": ","}, option="delimiter"),
    "tabs read as semicolons": Case(text("a\tb\ty\n" + _rows(6).replace(",", "\t")),
                                    ("set the delimiter option to tab",), {"delimiter": ";"}, option="delimiter"),
    "header only": Case(text("a,b,y\n"), ("needs a header row and at least 2 data rows",)),
    "one data row": Case(text("a,b,y\n1,2,0\n"), ("needs a header row and at least 2 data rows; it has 1",)),
    "empty file": Case(text(""), ("data.csv is empty",)),
    "blank lines only": Case(text("\n\n  \n"), ("data.csv is empty",)),
    "target column only": Case(text("y\n0\n1\n0\n1\n"), ("data.csv has no feature columns", "'y'")),
    "a folder": Case(subfolder, ("tables: is a folder, not a CSV file",)),
    "a link to a folder": Case(link_to_folder, ("link.csv: is a folder, not a CSV file",)),
    "missing file": Case(lambda folder: folder / "gone.csv", ("gone.csv does not exist",)),
    "a FIFO": Case(fifo, ("pipe.csv: is a pipe (FIFO), not a CSV file; only regular files are read",)),
    "a device": Case(lambda folder: Path("/dev/zero"), ("/dev/zero: is a device, not a CSV file",)),
    "too many values": Case(text("a,b,y\n1,2,0\n1,2,3,4\n" + _rows(3)), ("line 3: 4 values, but the header has 3",)),
    "too few values": Case(text("a,b,y\n1,2,0\n" + _rows(3) + "7\n"), ("line 6: 1 value, but the header has 3",)),
    "repeated column name": Case(text("a,a,y\n" + _rows(4)), ("the column name 'a' appears twice",)),
    "unknown target": Case(text("a,b,y\n" + _rows(4)), ("has no column 'label'; its columns: a, b, y",),
                           {"target": "label"}, option="target"),
    "one class": Case(text("a,b,y\n" + "".join(f"{i},{i},same\n" for i in range(6))),
                      ("'y' holds one value only ('same')",), option="target"),
    "bad delimiter option": Case(text("a,b,y\n" + _rows(4)), ("delimiter", "'#' is not one of"),
                                 {"delimiter": "#"}, option="delimiter"),
    "path not text": Case(text("a,b,y\n" + _rows(4)), ("path", "expected text"), {"path": 3}, option="path"),
}

TEXT_CASES = {
    "text: latin-1": Case(text("review,label\nfine,pos\ncaf\xe9,neg\nok,pos\n", encoding="latin-1"),
                          ("data.csv line 3: byte 0xe9",), kind="text_csv"),
    "text: empty label": Case(text("review,label\nfine,pos\nbad,\nok,pos\nmeh,neg\n"),
                              ("line 3, column 'label' is empty",), kind="text_csv", option="label"),
    "text: same column twice": Case(text("review,label\nfine,pos\nbad,neg\nok,pos\n"),
                                    ("the text and the label are the same column",), {"text": "label"},
                                    kind="text_csv", option="label"),
    "text: one class": Case(text("review,label\nfine,pos\nbad,pos\nok,pos\n"), ("holds one value only",),
                            kind="text_csv", option="label"),
    "text: a folder": Case(subfolder, ("tables: is a folder, not a CSV file",), kind="text_csv"),
    "text: huge cell": Case(text('review,label\n"' + "word " * 40_000 + '",pos\nok,neg\nfine,pos\n'),
                            ("a cell is longer than",), kind="text_csv"),
    "text: unknown column": Case(text("review,label\nfine,pos\nbad,neg\n"), ("has no column 'body'",),
                                 {"text": "body"}, kind="text_csv", option="text"),
}


def _png(width, height, body=True):
    """Return the bytes of a grey PNG (``body`` False: a valid header, the pixels cut off)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    if not body:
        return header + chunk(b"IDAT", zlib.compress(b"\x00" * 3)[:4])
    pixels = zlib.compress(b"".join(b"\x00" + bytes(width) for _ in range(height)))
    return header + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def image_folder(*bad: tuple[str, bytes | str]):
    """An image folder with two good classes, plus the ``(relative path, content)`` files given."""
    def make(folder: Path) -> Path:
        root = folder / "images"
        for label in ("cats", "dogs"):
            (root / label).mkdir(parents=True)
            for i in range(3):
                (root / label / f"{i}.png").write_bytes(_png(8, 8))
        for relative, content in bad:
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            if content == "fifo":
                os.mkfifo(path)
            else:
                path.write_bytes(content)
        return root
    return make


def _image_case(make, *names, **options):
    return Case(make, names, options, kind="image_folder")


IMAGE_CASES = {
    "image: garbage with a .png name": _image_case(image_folder(("cats/bad.png", b"not an image at all")),
                                                   "cats/bad.png: is not an image Pillow can read"),
    "image: empty file": _image_case(image_folder(("dogs/empty.jpg", b"")), "dogs/empty.jpg: is not an image"),
    "image: text named .jpeg": _image_case(image_folder(("dogs/notes.jpeg", b"hello\n" * 50)), "notes.jpeg"),
    "image: a FIFO": _image_case(image_folder(("cats/pipe.png", "fifo")), "cats/pipe.png: is a pipe (FIFO), not a picture"),
    "image: too many pixels": _image_case(image_folder(("cats/huge.png", _png(9000, 9000, body=False))),
                                          "cats/huge.png: is 9000x9000 pixels, more than"),
    "image: empty class folders": _image_case(lambda folder: (folder / "x" / "a").mkdir(parents=True) or folder / "x",
                                              "holds no images"),
    "image: no class folders": _image_case(lambda folder: (folder / "x").mkdir() or folder / "x", "has no subfolders"),
    "image: a file, not a folder": _image_case(text("x"), "data.csv is a file, not a folder"),
    "image: missing folder": _image_case(lambda folder: folder / "nowhere", "nowhere does not exist"),
    "image: one image": _image_case(lambda folder: image_folder()(folder) and _keep_one(folder / "images"),
                                    "holds 1 image(s); it needs at least 2"),
}


def _keep_one(root: Path) -> Path:
    for path in sorted(root.rglob("*.png"))[1:]:
        path.unlink()
    return root


def _cifar(folder: Path, **replaced: bytes) -> Path:
    """A tiny CIFAR-10 folder; ``replaced`` gives other contents for some of its files."""
    import pickle

    import numpy as np

    batches = folder / "cifar-10-batches-py"
    batches.mkdir()
    for name in ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]:
        data = {"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1]}
        (batches / name).write_bytes(replaced.get(name, pickle.dumps(data)))
    (batches / "batches.meta").write_bytes(replaced.get("batches.meta", pickle.dumps(
        {"label_names": [f"c{i}" for i in range(10)]})))
    return folder


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo this must never run",))


def _torchvision_case(make, *names, kind="cifar10"):
    return Case(make, names, {"download": False}, kind=kind, path_option="root")


def _mnist(folder: Path, damaged: str | None = None) -> Path:
    from test_datasets import _write_mnist

    _write_mnist(folder / "MNIST")
    if damaged:
        path = folder / "MNIST" / "raw" / damaged
        path.write_bytes(path.read_bytes()[:10])
    return folder


TORCHVISION_CASES = {
    "cifar: a batch that runs code": _torchvision_case(
        lambda folder: _cifar(folder, data_batch_3=__import__("pickle").dumps(_RunsCode())),
        "data_batch_3 cannot be read as a CIFAR batch", "posix.system"),
    "cifar: a cut batch": _torchvision_case(lambda folder: _cifar(folder, test_batch=b"\x80\x04\x95"),
                                            "test_batch cannot be read as a CIFAR batch"),
    "cifar: a batch of the wrong shape": _torchvision_case(
        lambda folder: _cifar(folder, data_batch_1=__import__("pickle").dumps({"data": [1, 2], "labels": [0]})),
        "data_batch_1 is not a CIFAR-10 batch"),
    "cifar: a batch that is a FIFO": _torchvision_case(
        lambda folder: _cifar(folder) and (os.unlink(folder / "cifar-10-batches-py" / "data_batch_2"),
                                           os.mkfifo(folder / "cifar-10-batches-py" / "data_batch_2")) and folder,
        "data_batch_2: is a pipe (FIFO)"),
    "cifar: no class names": _torchvision_case(lambda folder: _cifar(folder, **{"batches.meta": b"\x80\x04N."}),
                                               "batches.meta is not a CIFAR batch"),
    "mnist: a cut idx file": _torchvision_case(lambda folder: _mnist(folder, "t10k-images-idx3-ubyte"),
                                               "the mnist files in", "cannot be read", kind="mnist"),
    "mnist: the root is a file": _torchvision_case(text("x"), "data.csv is a file; choose the folder",
                                                   kind="mnist"),
}

CASES = {**CSV_CASES, **TEXT_CASES, **IMAGE_CASES, **TORCHVISION_CASES}


def _settings(case: Case, path: Path) -> DatasetSettings:
    options = {case.path_option: str(path), **case.options}
    return DatasetSettings(kind=case.kind, options=options)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", list(CASES))
def test_a_bad_input_is_a_dataset_error_naming_the_culprit(name, tmp_path):
    case = CASES[name]
    path = case.make(tmp_path)
    with pytest.raises(DatasetError) as info:
        load_dataset(_settings(case, path), 0, loss="cross_entropy")
    message = str(info.value)
    for words in case.names:
        assert words in message, f"{name}: {message}"
    assert info.value.dataset == case.kind and info.value.option == (case.option or case.path_option)
    assert "\n" not in message and "Traceback" not in message


def test_the_corpus_is_several_dozen_inputs():
    assert len(CASES) >= 50


@pytest.mark.timeout(120)
def test_nnstudio_train_says_each_bad_csv_in_one_line(tmp_path, capsys):
    network = Graph.from_records(
        [{"id": "features", "type": "input", "params": {"shape": [2]}}, {"id": "fc", "type": "linear",
                                                                   "params": {"out_features": 2}},
         {"id": "out", "type": "output"}],
        [{"source": "features", "target": "fc"}, {"source": "fc", "target": "out"}])
    for name, case in {**CSV_CASES, **TEXT_CASES}.items():
        if case.kind != "csv":
            continue
        folder = tmp_path / str(abs(hash(name)))
        folder.mkdir()
        path = case.make(folder)
        regression = case.options.get("task") == "regression"
        graph = network.copy()
        graph.node("fc").params["out_features"] = 1 if regression else 2
        project = Project(graph, TrainingSettings(dataset=_settings(case, path), epochs=1, device="cpu",
                                                  loss="mse" if regression else "cross_entropy"))
        save_project(project, folder / "p.nns")
        assert main(["train", str(folder / "p.nns"), "--out", str(folder / "run")]) == 1, name
        err = capsys.readouterr().err
        assert err.startswith("error: dataset csv.") and err.count("\n") == 1 and "Traceback" not in err, err
        assert not (folder / "run").exists()


def test_a_truncated_image_is_named_when_it_is_read(tmp_path):
    root = image_folder(("cats/cut.png", _png(8, 8, body=False)))(tmp_path)
    bundle = load_dataset(DatasetSettings(kind="image_folder", options={"path": str(root), "size": 8}), 0)
    # The header was fine, so loading succeeded; decoding the pixels names the file.
    split = bundle.train if any(f.endswith("cut.png") for f in bundle.train.files) else bundle.val
    index = next(i for i, f in enumerate(split.files) if f.endswith("cut.png"))
    with pytest.raises(DatasetError, match=r"image .*cats/cut.png cannot be read"):
        split[index]


def test_utf16_semicolons_crlf_and_a_byte_order_mark_are_read(tmp_path):
    for name, data in {"utf16.csv": "a,b,y\r\n1,2,0\r\n3,4,1\r\n5,6,0\r\n7,8,1\r\n".encode("utf-16"),
                       "bom.csv": "\ufeffa;b;y\n1;2;0\n3;4;1\n5;6;0\n7;8;1\n".encode(),
                       "tabs.csv": b"a\tb\ty\n1\t2\t0\n3\t4\t1\n5\t6\t0\n7\t8\t1\n"}.items():
        (tmp_path / name).write_bytes(data)
        bundle = load_dataset(DatasetSettings(kind="csv", options={"path": str(tmp_path / name)}), 0)
        assert bundle.input_shape == (2,) and bundle.class_names == ["0", "1"], name


def test_an_empty_validation_split_is_refused_before_training(tmp_path):
    import pickle

    import numpy as np

    empty = pickle.dumps({"data": np.zeros((0, 3072), np.uint8), "labels": []})
    _cifar(tmp_path, test_batch=empty)
    with pytest.raises(DatasetError, match="the validation split is empty \\(10 training and 0 validation"):
        load_dataset(DatasetSettings(kind="cifar10", options={"root": str(tmp_path), "download": False}), 0)

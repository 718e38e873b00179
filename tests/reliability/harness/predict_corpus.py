"""The bad inputs of ``nnstudio predict RUN_DIR FILE...``.

RUN_DIR gets things that are not a finished run (missing, a file, empty, special files) and runs with
a part damaged or missing (project.nns, model.pth, preprocessing.json); FILE gets special files,
pictures for a network trained on something else, damaged pictures and CSV files; ``--top`` every
count out of range. One real one-epoch run of digits-mlp and one of a CSV classifier are made once.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

from bad_files import shown
from cli_corpus import Inputs, _case
from verdicts import EITHER, OK, USAGE, Case


def _trained(inputs: Inputs, name: str, argv: list[str]) -> Path:
    folder = inputs.root / "predict" / name
    if (folder / "model.pth").is_file():
        return folder
    from nnstudio.cli import main

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["train", *argv, "--epochs", "1", "--out", str(folder)]) == 0
    return folder


def _csv_run(inputs: Inputs) -> tuple[Path, Path]:
    """A run of a small CSV classifier (two features, classes yes/no), and a good CSV file of its rows."""
    table = inputs.root / "predict" / "table.csv"
    table.parent.mkdir(parents=True, exist_ok=True)
    rows = ["a,b,label"] + [f"{i % 7},{(i * 3) % 5},{'yes' if i % 2 else 'no'}" for i in range(60)]
    table.write_text("\n".join(rows) + "\n", encoding="utf-8")
    project = {
        "format": "nnstudio-project", "version": 1, "name": "table",
        "nodes": [{"id": "x", "type": "input", "params": {"shape": [2]}},
                  {"id": "fc", "type": "linear", "params": {"out_features": 2}},
                  {"id": "out", "type": "output"}],
        "edges": [{"source": "x", "target": "fc"}, {"source": "fc", "target": "out"}],
        "training": {"loss": "cross_entropy", "dataset": {"kind": "csv", "options": {"path": str(table),
                                                                                     "target": "label"}}},
    }
    path = inputs.root / "predict" / "table.nns"
    path.write_text(json.dumps(project), encoding="utf-8")
    return _trained(inputs, "table-run", [str(path)]), table


def _damaged_runs(inputs: Inputs, good: Path) -> list[tuple[str, Path, list[str]]]:
    """Copies of ``good`` with one part damaged or missing: (label, folder, culprits)."""
    made = []
    damage = {
        "no-project": ("project.nns", None), "no-weights": ("model.pth", None),
        "no-preprocessing": ("preprocessing.json", None),
        "project-truncated": ("project.nns", b'{"format": "nnstudio-project", "ver'),
        "weights-garbage": ("model.pth", b"not a torch file at all"),
        "preprocessing-garbage": ("preprocessing.json", b"{[}"),
        "preprocessing-wrong-types": ("preprocessing.json", b'{"classes": 5, "mean": "x", "size": [-1]}'),
    }
    for label, (part, content) in damage.items():
        folder = inputs.root / "predict" / f"damaged-{label}"
        if not folder.is_dir():
            shutil.copytree(good, folder)
            if content is None:
                (folder / part).unlink()
            else:
                (folder / part).write_bytes(content)
        made.append((label, folder, [part]))
    return made


def predict_corpus(inputs: Inputs) -> Iterator[Case]:
    digits = _trained(inputs, "digits-run", ["--example", "digits-mlp"])
    table_run, table = _csv_run(inputs)
    picture = inputs.root / "predict" / "grey.png"
    if not picture.is_file():
        from PIL import Image

        Image.new("L", (8, 8), 128).save(picture)
    # Stray arguments are more FILEs here (checked below), so only argparse's own cases are usage.
    yield _case("usage/unknown-option", ["predict", str(table_run), str(table), "--no-such-option"],
                ["--no-such-option"], USAGE)
    yield _case("usage/control-characters-in-an-option", ["predict", str(table_run), str(table), "--\x1b[2Jx"],
                ["--\x1b[2Jx"], USAGE)
    for label, name in (("missing", "nowhere.csv"), ("control-characters", "\x1b]0;title\x07.csv"),
                        ("lone-surrogate", "caf\udce9.csv")):
        path = inputs.root / "predict" / name
        yield _case(f"file/{label}", ["predict", str(table_run), str(table), str(path)], [shown(path)])
    yield _case("usage/no-files", ["predict", str(digits)], ["FILE"], USAGE)
    for value in ("0", "-1", "x", "10" * 30, "9" * 5000, ""):
        yield _case(f"option/top={value!r:.20}", ["predict", str(table_run), str(table), "--top", value], ["--top"],
                    USAGE)
    yield _case("ok/table-rows", ["predict", str(table_run), str(table)], [], OK)
    yield _case("ok/top-larger-than-classes", ["predict", str(table_run), str(table), "--top", "50"], [], OK)
    # RUN_DIR: not a finished run.
    blocker = inputs.root / "predict" / "a-file"
    blocker.write_text("not a run")
    empty = inputs.root / "predict" / "empty"
    empty.mkdir(parents=True, exist_ok=True)
    for label, place in (("missing", inputs.root / "predict" / "nowhere"), ("a-file", blocker), ("empty", empty),
                         ("control-characters", inputs.root / "predict" / "run\x1b[2J")):
        yield _case(f"run-dir/{label}", ["predict", str(place), str(picture)], [shown(place)])
    for bad in inputs.special(""):
        yield _case(f"run-dir-special/{bad.label}", ["predict", bad.path, str(picture)], [], EITHER)
    for label, folder, culprits in _damaged_runs(inputs, table_run):
        yield _case(f"run-part/{label}", ["predict", str(folder), str(table)], culprits, EITHER)
    # FILE: what the network was not trained on, and files that cannot be read.
    yield _case("file/picture-for-a-table-network", ["predict", str(table_run), str(picture)], [shown(picture)])
    yield _case("file/table-for-a-picture-network", ["predict", str(digits), str(table)], [shown(table)])
    bad_csvs = {
        "wrong-columns": "x,y\n1,2\n", "text-features": "a,b,label\nred,blue,yes\n", "empty": "",
        "header-only": "a,b,label\n", "non-finite": "a,b,label\nnan,inf,yes\n",
    }
    for label, text in bad_csvs.items():
        path = inputs.root / "predict" / f"{label}.csv"
        path.write_text(text, encoding="utf-8")
        yield _case(f"csv/{label}", ["predict", str(table_run), str(path)], [shown(path)])
    not_utf8 = inputs.root / "predict" / "not-utf8.csv"
    not_utf8.write_bytes(b"a,b,label\n\xff\xfe\x00,1,yes\n")
    yield _case("csv/not-utf8", ["predict", str(table_run), str(not_utf8)], [shown(not_utf8)])
    for bad in inputs.special(".csv"):
        yield _case(f"csv-special/{bad.label}", ["predict", str(table_run), bad.path], bad.culprits, EITHER)
    for bad in inputs.special(".png"):
        yield _case(f"picture-special/{bad.label}", ["predict", str(digits), bad.path], bad.culprits, EITHER)

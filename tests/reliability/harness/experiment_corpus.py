"""The bad inputs of the experiment verbs: ``sweep``, ``runs`` and ``lr-find``.

``sweep`` gets hostile projects, every malformed ``--param`` we could think of, absurd counts,
study storages that cannot work (a file in the way, a FIFO, an unknown scheme, a database that does
not answer, with a password that must not be printed), and places where runs cannot be written.
``runs`` gets runs folders holding damaged records (truncated, not UTF-8, wrong types, deep, huge,
a FIFO or a folder in place of ``run.json``, control characters in names and notes), things that
are not a runs folder, and run ids that do not exist. ``lr-find`` gets the training verbs' bad
projects and data, and every option out of range. Trials and ranges are kept to a few steps so the
corpus costs seconds per verb.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from bad_files import shown
from cli_corpus import BLOCKER, Inputs, _case, _examples_cases, _project_cases, _usage_cases
from verdicts import EITHER, OK, REFUSED, USAGE, Case

#: A password in a storage URL: it must never be printed.
SECRET = "hunter2-secret"

# --------------------------------------------------------------------------- sweep

#: --param values that cannot be a search space: (label, value, culprit).
PARAMS = [
    ("no-equals", "lr", "lr"), ("no-range", "lr=", "lr"), ("no-path", "=1e-3:1e-1", "=1e-3:1e-1"),
    ("reversed", "lr=1e-1:1e-3", "lr"), ("nan", "lr=nan:1e-1", "lr"), ("inf", "lr=1e-3:inf", "lr"),
    ("log-of-zero", "lr=0:1e-1:log", "lr"), ("log-of-negative", "lr=-1:1:log", "lr"),
    ("unknown-flag", "lr=1e-3:1e-1:weird", "weird"), ("zero-step", "lr=1e-3:1e-1:step=0", "step"),
    ("text", "lr=a:b", "lr"), ("unknown-setting", "colour=1:2", "colour"),
    ("unknown-layer", "no_such_layer.out_features=1:2", "no_such_layer"),
    ("unknown-field", "fc1.no_such_field=1:2", "no_such_field"),
    ("zero-width", "fc1.out_features=0:10:int", "fc1.out_features"),
    ("fractional-int", "fc1.out_features=1.5:9.5:int", "fc1.out_features"),
    ("huge-int", "fc1.out_features=1:" + "9" * 40 + ":int", "fc1.out_features"),
    ("unknown-choice", "optimizer=adam,nosuch", "nosuch"), ("empty-choice", "optimizer=,", "optimizer"),
    ("zero-batch", "batch_size=0,-1", "batch_size"), ("duplicate", "lr=1e-3:1e-1", "lr"),
    ("control-characters", "l\x1b[2Jr=1:2", "l\x1b[2Jr"), ("lone-surrogate", "caf\udce9=1:2", "caf\udce9"),
    ("epochs-range", "epochs=0:3:int", "epochs"),
]
OPTIONS = {
    "--trials": ["0", "-1", "10" * 30, "x"], "--grid-points": ["0", "-2", "x"],
    "--workers": ["0", "-1", "100000", "x"], "--prune-warmup": ["-1", "x"],
    "--epochs": ["0", "-1", "10" * 30, "x"], "--seed": ["-1", str(2**64), "x"],
    "--device": ["tpu", ""], "--sampler": ["bayes"], "--objective": ["accuracy"],
}


def sweep_corpus(inputs: Inputs) -> Iterator[Case]:
    def out() -> list[str]:
        return ["--out", inputs.fresh("runs")]

    small = ["--trials", "1", "--epochs", "1"]
    lr = ["--param", "lr=1e-3:1e-1:log"]
    good = ["sweep", "--example", "linear-regression", *lr, *small]
    yield from _usage_cases("sweep", [["--example", "linear-regression", *lr]])
    yield from _examples_cases("sweep", [*lr, *small, "--out", inputs.fresh("runs")])
    # A project that loads runs a trial (a second or two): CI takes every third of them.
    projects = list(_project_cases(inputs, "sweep", "linear-regression", lambda: [*lr, *small, *out()]))
    yield from projects[:: 1 if inputs.long else 3]
    yield _case("param/none", ["sweep", "--example", "linear-regression", *small, *out()], ["--param"], USAGE)
    for label, value, culprit in PARAMS:
        extra = lr if label == "duplicate" else []
        mlp = ["sweep", "--example", "digits-mlp", *small] if "fc1" in value else good
        yield _case(f"param/{label}", [*mlp, *extra, "--param", value, *out()], ["--param", culprit])
    for option, values in OPTIONS.items():
        for value in values:
            yield _case(f"option/{option}={value!r:.20}", [*good, option, value, *out()], [option], USAGE)
    yield _case("option/grid-of-a-real-range", [*good, "--sampler", "grid", "--grid-points", "1", *out()],
                ["--grid-points", "grid"], EITHER)
    yield from _storage_cases(inputs, good, out)
    for label, place, fault in inputs.unwritable(""):
        # --out names the runs folder: an existing one is where the runs go. The writer's injected faults
        # apply to the thread that sets them, and a sweep writes only from its trials' threads.
        if label == "is-a-folder" or fault is not None:
            continue
        yield _case(f"out/{label}", [*good, "--out", place], [shown(place), BLOCKER, "--out"], seconds=60)
    for label, place, fault in inputs.unwritable(".nns"):
        if fault is not None:
            continue  # the faults hit the first write, which is the study's, not -o's
        yield _case(f"output/{label}", [*good, *out(), "-o", place], [shown(place), BLOCKER, "-o", "--output"])
    yield _case("output/not-a-project-name", [*good, *out(), "-o", inputs.fresh("best.txt")], ["-o", "best.txt"],
                EITHER)
    for label, place in inputs.odd_names("")[:: 1 if inputs.long else 2]:
        yield _case(f"out-name/{label}", [*good, "--out", place], [], OK, seconds=60)
    yield _case("study/control-characters", [*good, "--study", "s\x1b[2J\x07", *out()], [], EITHER)
    yield _case("study/empty", [*good, "--study", "", *out()], ["--study"], EITHER)
    yield _case("resume/same-command-again", [*good, "--out", _swept_once(inputs)], [], OK, seconds=60)


def _storage_cases(inputs: Inputs, good: list[str], out) -> Iterator[Case]:  # noqa: ANN001 - the corpus's out()
    blocker = inputs.root / BLOCKER
    blocker.write_text("in the way")
    fifo = inputs.root / "study-pipe.log"
    if not fifo.exists():
        os.mkfifo(fifo)
    garbage = inputs.root / "garbage.db"
    garbage.write_bytes(b"\x00not sqlite at all" * 100)
    journal = inputs.root / "garbage.log"
    journal.write_bytes(b"{not a journal\n\xff\xfe\n")
    folder = inputs.root / "a-folder.db"
    folder.mkdir(exist_ok=True)
    storages = [
        ("empty", "", ("--storage",), EITHER), ("unknown-scheme", "nosuch://x", ("--storage", "nosuch"), REFUSED),
        ("sqlite-under-a-file", f"sqlite:///{blocker}/study.db", (BLOCKER, "--storage"), REFUSED),
        ("sqlite-not-a-database", f"sqlite:///{garbage}", ("garbage.db", "--storage"), REFUSED),
        ("sqlite-a-folder", f"sqlite:///{folder}", ("a-folder.db", "--storage"), REFUSED),
        ("sqlite-dev-zero", "sqlite:////dev/zero", ("/dev/zero", "--storage"), REFUSED),
        ("journal-fifo", f"journal:{fifo}", ("study-pipe.log", "--storage"), REFUSED),
        ("journal-dev-zero", "journal:/dev/zero", ("/dev/zero", "--storage"), REFUSED),
        ("journal-garbage", f"journal:{journal}", ("garbage.log", "--storage"), REFUSED),
        ("journal-under-a-file", f"journal:{blocker}/study.log", (BLOCKER, "--storage"), REFUSED),
        ("postgres-not-answering", f"postgresql://me:{SECRET}@127.0.0.1:9/db", ("--storage", "127.0.0.1"),
         REFUSED),
        ("mysql-not-answering", f"mysql+pymysql://me:{SECRET}@127.0.0.1:9/db", ("--storage", "127.0.0.1"),
         REFUSED),
        ("control-characters", "sqlite:///\x1b[2J.db", (), EITHER),
    ]
    for label, url, culprits, expect in storages:
        yield _case(f"storage/{label}", [*good, "--storage", url, *out()], culprits, expect, seconds=60)


@cache
def _swept_once_at(root: str) -> str:
    from nnstudio.cli import main

    runs = str(Path(root) / "swept-once")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["sweep", "--example", "linear-regression", "--param", "lr=1e-3:1e-1:log", "--trials", "1",
                     "--epochs", "1", "--out", runs]) == 0
    return runs


def _swept_once(inputs: Inputs) -> str:
    """A runs folder holding a finished one-trial study: the same command again has nothing to run."""
    return _swept_once_at(str(inputs.root))


# --------------------------------------------------------------------------- runs

#: Contents of ``run.json`` that cannot be a record (a run listed as damaged, never a traceback).
RECORDS: list[tuple[str, bytes]] = [
    ("truncated", b'{"format": "nnstudio-run", "version": 1, "status": "fin'),
    ("not-utf8", b'{"format": "nnstudio-run", "name": "caf\xe9"}'),
    ("not-an-object", b"[1, 2, 3]"),
    ("empty", b""),
    ("wrong-types", json.dumps({"format": "nnstudio-run", "version": 1, "status": 5, "epochs": "many",
                                "best": [1], "final": "x", "settings": 7, "duration_s": "long", "created": 3,
                                "notes": {"a": 1}, "name": ["x"], "sweep": 4, "fingerprint": 9}).encode()),
    ("non-finite", b'{"format": "nnstudio-run", "version": 1, "status": "finished", "best": {"val_acc": NaN, '
                   b'"val_loss": Infinity}, "duration_s": -Infinity, "epochs": [{"epoch": NaN}]}'),
    ("deep", b"[" * 100_000 + b"]" * 100_000),
    ("control-characters", json.dumps({"format": "nnstudio-run", "version": 1, "status": "failed",
                                       "name": "run\x1b[2J\x07", "reason": "boom\x1b]0;title\x07",
                                       "notes": "caf\udce9 \u202e"}, ensure_ascii=True).encode()),
    ("newer-version", b'{"format": "nnstudio-run", "version": 99, "status": "finished"}'),
    ("other-format", b'{"format": "nnstudio-project", "version": 1}'),
    ("huge-numbers", b'{"format": "nnstudio-run", "version": 1, "status": "finished", "duration_s": 1e308, '
                     b'"best": {"val_acc": 1e308, "val_loss": ' + b"9" * 5000 + b"}}"),
]


def damaged_runs(inputs: Inputs) -> Path:
    """A runs folder: one good run, and one run per damaged record and per odd thing in place of one."""
    folder = inputs.root / "damaged.runs"
    if folder.is_dir():
        return folder
    folder.mkdir()
    from nnstudio.cli import main

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["train", "--example", "linear-regression", "--epochs", "1", "--out", str(folder / "good")]) == 0
    for label, content in RECORDS:
        run = folder / f"bad-{label}"
        run.mkdir()
        (run / "run.json").write_bytes(content)
    special = {"record-is-a-fifo": lambda p: os.mkfifo(p), "record-is-a-folder": lambda p: p.mkdir(),
               "record-is-a-dangling-link": lambda p: p.symlink_to(p.parent / "nowhere"),
               "record-links-to-dev-zero": lambda p: p.symlink_to("/dev/zero")}
    for label, make in special.items():
        run = folder / label
        run.mkdir()
        make(run / "run.json")
    huge = folder / "record-huge"
    huge.mkdir()
    with open(huge / "run.json", "wb") as handle:
        handle.truncate(100 * 2**20)  # sparse: past the 64 MB a record may take
    odd = folder / "run\x1b[2J-caf\udce9"
    odd.mkdir()
    (odd / "run.json").write_bytes((folder / "good" / "run.json").read_bytes())
    (folder / "stray-file.txt").write_text("not a run")
    return folder


def runs_corpus(inputs: Inputs) -> Iterator[Case]:
    damaged = str(damaged_runs(inputs))
    yield from _usage_cases("runs", [["--out", damaged]])
    yield from _examples_cases("runs", [])
    yield _case("pick/two-ways", ["runs", "--example", "digits-mlp", "--out", damaged], ["--out", "--example"],
                USAGE)
    yield _case("list/damaged-runs", ["runs", "--out", damaged], [], OK)
    yield _case("list/damaged-runs-as-json", ["runs", "--out", damaged, "--json"], [], OK)
    yield _case("list/damaged-runs-by-path", ["runs", damaged], [], OK)
    runs = sorted(p.name for p in Path(damaged).iterdir() if p.is_dir())
    for name in runs:
        if name != "good":
            yield _case(f"compare/good-with-{name[:30]}", ["runs", "--out", damaged, "--compare", "good", name],
                        [name], EITHER)
    for label, run_id in [("unknown", "no-such-run"), ("empty", ""), ("traversal", "../damaged.runs"),
                          ("absolute", "/etc"), ("control-characters", "r\x1b[2J"), ("lone-surrogate", "caf\udce9"),
                          ("a-stray-file", "stray-file.txt"), ("nul", "a\x00b")]:
        yield _case(f"compare/{label}", ["runs", "--out", damaged, "--compare", "good", run_id],
                    [run_id, "--compare"] if run_id else ["--compare", "run"])
    yield _case("compare/one-id", ["runs", "--out", damaged, "--compare", "good"], ["--compare"], USAGE)
    blocker = inputs.root / BLOCKER
    blocker.write_text("in the way")
    for bad in inputs.special(".runs"):
        # something in the folder's place is refused; a folder that is not there has no runs (status 0)
        place = Path(bad.path)
        expect = REFUSED if (place.exists() or place.is_symlink()) and not place.is_dir() else EITHER
        yield _case(f"out/{bad.label}", ["runs", "--out", bad.path], bad.culprits, expect)
    yield _case("out/a-file", ["runs", "--out", str(blocker)], [BLOCKER])
    for bad in inputs.special(".nns"):
        # runs reads no project: a path that is no project file is named when there are no runs beside it either
        yield _case(f"path/{bad.label}", ["runs", bad.path], bad.culprits, EITHER)


# --------------------------------------------------------------------------- lr-find

LR_OPTIONS = {
    "--start": ["nan", "inf", "0", "-1", "x", ""], "--end": ["nan", "inf", "0", "-1e-3", "1e-9", "x"],
    "--steps": ["0", "-1", "9", "x", "10" * 30, "100000000"], "--batch-size": ["0", "-8", "10" * 30, "x"],
    "--seed": ["-1", str(2**64), "x"], "--device": ["tpu", ""],
}


def lr_find_corpus(inputs: Inputs) -> Iterator[Case]:
    steps = ["--steps", "10"]
    good = ["lr-find", "--example", "linear-regression", *steps]
    yield from _usage_cases("lr-find", [["--example", "linear-regression"]])
    yield from _examples_cases("lr-find", steps)
    yield from _project_cases(inputs, "lr-find", "linear-regression", lambda: steps)
    for bad in inputs.data:
        # data that may be taken can still give a curve without a fall: status 1, naming the range to widen
        culprits, expect = (bad.culprits, REFUSED) if bad.expect == REFUSED else ((*bad.culprits, "--start"), EITHER)
        yield _case(f"data/{bad.label}", ["lr-find", bad.path, *steps], culprits, expect, seconds=30)
    for option, values in LR_OPTIONS.items():
        for value in values:
            yield _case(f"option/{option}={value!r:.20}", [*good, option, value], [option], USAGE)
    yield _case("option/batch-size-bigger-than-the-data", [*good, "--batch-size", "1000000"], [], EITHER)
    for label, place, fault in inputs.unwritable(".csv"):
        yield _case(f"output/{label}", [*good, "-o", place], [shown(place), BLOCKER, shown(Path(place).parent), "-o"],
                    around=fault)
    for label, place in inputs.odd_names(".csv"):
        yield _case(f"output-name/{label}", [*good, "-o", place], [], EITHER)

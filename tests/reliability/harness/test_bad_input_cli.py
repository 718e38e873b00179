"""Every command-line verb against its corpus of bad inputs: one clear message, never a traceback.

Each verb of ``nnstudio.cli.COMMANDS`` has a corpus in ``corpora.CORPORA`` (a verb without one
fails :func:`test_every_verb_has_a_corpus`). The inputs run in this process, each bounded in time
and memory (``limits.Bounded``), so the whole harness costs about a minute; a few run as real
processes to prove the exit paths. An input fails on a traceback, an exit status other than
0/1/2, a hang, a memory blow-up, a bad input taken silently, a refusal that does not name the file,
field or option at fault, or a control character printed raw. ``NNSTUDIO_LONG=1`` runs every case
of every generated class instead of CI's sample. docs/reliability.md has the figures.
"""

from __future__ import annotations

import os
from pathlib import Path

import corpus_run
import pytest
from cli_corpus import Inputs
from cli_runner import run_in_process, run_in_subprocess
from corpora import CORPORA
from corpus_run import describe, run_cases
from verdicts import MIB, OK, REFUSED, USAGE, Case, defects

from nnstudio.cli import COMMANDS

LONG = os.environ.get("NNSTUDIO_LONG") == "1"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return Inputs(tmp_path_factory.mktemp("bad-inputs"), long=LONG)


def test_every_verb_has_a_corpus():
    missing = sorted(set(COMMANDS) - set(CORPORA))
    assert not missing, (f"verbs without a corpus of bad inputs: {missing}; add an entry to CORPORA in "
                         "tests/reliability/harness/cli_corpus.py")


@pytest.mark.timeout(1200 if LONG else 600)
@pytest.mark.parametrize("verb", sorted(CORPORA))
def test_every_bad_input_ends_in_one_clear_message(verb, inputs):
    if verb not in COMMANDS:
        pytest.skip(f"nnstudio {verb} is not on this branch yet")
    cases = list(CORPORA[verb](inputs))
    report = run_cases(verb, cases)
    corpus_run.REPORTS.append(report)
    assert report.inputs == len(cases) >= 5
    assert not report.defects, f"{len(report.defects)} of {report.inputs} inputs of nnstudio {verb}:\n" + \
        "\n".join(describe(case, found) for case, found in report.defects)
    assert not report.pending_fixed, f"these now pass; remove them from corpus_run.PENDING: {report.pending_fixed}"


def test_each_verb_meets_the_classes_of_bad_input_that_concern_it(inputs):
    """The corpora hold each class of the brief: a verb that reads a project gets the hostile projects and
    special files, one that writes gets unwritable places, and so on."""
    wanted = {
        "check": ["project/truncated", "project/non-finite", "project/clashing-name", "project/names",
                  "project-file/fifo", "project-file/dev-zero", "example/escape-sequences", "usage/"],
        "train": ["project/", "project-file/fifo", "data/csv/nan-target", "data/images/bomb-header",
                  "resume/meta", "resume/deflate-bomb", "checkpoint/lr-text", "out/under-a-file", "out/in-sysfs",
                  "out/fault-create-EACCES", "out-name/lone-surrogate", "option/--lr='nan'",
                  "option/--batch-size='0'"],
        "export": ["project/", "weights/truncated", "weights/sparse-coo", "weights/quantized", "weights/other-network",
                   "weights/payload-", "weights/deflate-bomb", "output/is-a-folder", "output/fault-write-ENOSPC"],
        "autograd": ["project/", "model/exits", "model-file/syntax-error", "model-file/fifo", "input-shape/absurd-tensor",
                     "out/under-a-file", "scale/nan"],
        "examples": ["usage/"],
        "import": ["usage/", "model/exits", "model/arguments-as-code", "model-file/exits-at-import",
                   "model-file/raises-at-import", "model-file/dev-zero", "model-file/huge", "weights/payload-",
                   "weights/deflate-bomb", "weights/other-network", "input-shape/absurd-tensor", "out/under-a-file",
                   "out/fault-write-ENOSPC", "out-name/lone-surrogate"],
        "sweep": ["usage/", "example/", "project/", "param/reversed", "param/unknown-layer", "option/--workers",
                  "option/--trials", "storage/journal-fifo", "storage/postgres-not-answering", "out/under-a-file",
                  "output/under-a-file", "resume/"],
        "runs": ["usage/", "example/unknown", "list/damaged-runs", "compare/unknown", "compare/traversal",
                 "out/fifo", "out/a-file", "path/"],
        "lr-find": ["usage/", "project/", "data/csv/nan-target", "option/--steps", "option/--start='nan'",
                    "output/fault-write-ENOSPC", "output-name/lone-surrogate"],
    }
    for verb, prefixes in wanted.items():
        labels = [case.label for case in CORPORA[verb](inputs)]
        for prefix in prefixes:
            assert any(label.startswith(prefix) for label in labels), f"{verb} has no {prefix} case"


# --------------------------------------------------------------------------- the harness itself

@pytest.fixture
def misbehaving_verb(monkeypatch):
    monkeypatch.setitem(COMMANDS, "selftest", ("selftest_verbs", "misbehaves on purpose"))


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("fault", "expect", "found"), [
    ("traceback", REFUSED, "traceback: KeyError"),
    ("spin", OK, "ran past 2 s"),
    ("fifo", OK, "ran past 2 s"),
    ("memory", OK, "MB, past 256 MB"),
    ("control", OK, "control character"),
    ("status", OK, "exit status 3"),
    ("vague", REFUSED, "names none of"),
    ("warning", OK, "Python warning raw"),
    ("fine", REFUSED, "accepted a bad input"),
    ("flood", REFUSED, "printed a line of"),
])
def test_the_harness_catches_each_kind_of_fault(misbehaving_verb, tmp_path, fault, expect, found):
    """A harness that cannot fail proves nothing: each fault it looks for, made on purpose, is caught."""
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    case = Case(fault, ("selftest", "--do", fault, "--path", str(pipe)), ("the-culprit",), expect, seconds=2,
                memory_bytes=256 * MIB)
    outcome = run_in_process(case.argv, seconds=case.seconds, memory_bytes=case.memory_bytes, cwd=tmp_path)
    problems = defects(case, outcome)
    assert any(found in problem for problem in problems), problems
    if fault in ("spin", "fifo"):
        assert outcome.usage.seconds < 10  # interrupted soon after its bound, even inside open()


def test_a_good_input_passes_the_harness(tmp_path):
    case = Case("good", ("check", "--example", "digits-mlp"), (), OK)
    outcome = run_in_process(case.argv, seconds=60, memory_bytes=512 * MIB, cwd=tmp_path)
    assert defects(case, outcome) == [] and "no problems found" in outcome.stdout


# --------------------------------------------------------------------------- real processes

def _subprocess_cases(tmp_path: Path) -> list[Case]:
    fifo = tmp_path / "pipe.nns"
    os.mkfifo(fifo)
    odd = tmp_path / "evil\x1b[2J-caf\udce9.nns"  # a terminal escape and a byte that is not UTF-8
    odd.write_text('{"format": "nnstudio-project", "version": 1, "nodes": [{"id": "a", "type": "quantum"}]}')
    folder = tmp_path / "existing.pth"
    folder.mkdir()
    exits = tmp_path / "exits.py"
    exits.write_text("import sys\nsys.exit(0)\n")
    return [
        Case("check-missing", ("check", str(tmp_path / "missing.nns")), ("missing.nns",)),
        Case("check-fifo", ("check", str(fifo)), ("pipe.nns",)),
        Case("check-odd-name", ("check", str(odd)), ("evil",)),
        Case("train-usage", ("train", "--example", "linear-regression", "--epochs", "-1"), ("--epochs",), USAGE),
        Case("train-nan-lr", ("train", "--example", "linear-regression", "--lr", "nan"), ("--lr",), USAGE),
        Case("export-to-a-folder", ("export", "--example", "digits-mlp", "-o", str(folder)), ("existing.pth",)),
        Case("unknown-verb-argument", ("examples", "--\x1b[31m"), ("--",), USAGE),
        Case("window-missing-file", (str(tmp_path / "missing.nns"), "--screenshot", str(tmp_path / "s.png")),
             ("missing.nns",)),
        Case("window-unknown-example", ("--example", "\x1b[2Jnope", "--screenshot", str(tmp_path / "s.png")),
             ("nope",)),
        Case("examples", ("examples",), (), OK),
        # the model's own sys.exit must not end nnstudio with its status (0 would read as success)
        Case("import-sys-exit", ("import", "sys:exit", "-o", str(tmp_path / "x.nns")), ("sys:exit",)),
        Case("import-file-exits", ("import", f"{exits}:Net", "-o", str(tmp_path / "y.nns")), ("exits.py",)),
        Case("autograd-model-exits", ("autograd", "--model", "sys:exit(0)", "--out", str(tmp_path / "g.svg")),
             ("sys:exit",)),
        Case("sweep-workers", ("sweep", "--example", "linear-regression", "--param", "lr=1e-3:1e-1", "--workers",
                               "100000", "--out", str(tmp_path / "runs")), ("--workers",), USAGE),
    ]


@pytest.mark.timeout(600)
def test_real_processes_exit_with_the_documented_status_and_no_traceback(tmp_path):
    """The exit paths for real: the interpreter's own printing, a strict UTF-8 terminal, status codes."""
    failures = []
    for case in _subprocess_cases(tmp_path):
        outcome = run_in_subprocess(case.argv, seconds=120, cwd=tmp_path)
        found = defects(case, outcome)
        if found:
            failures.append(describe(case, found) + f"\n      stderr: {outcome.stderr[-500:]!r}")
        elif case.expect != OK:
            assert outcome.stderr.strip().splitlines()[-1].startswith(("error: ", "nnstudio")), outcome.stderr
    assert not failures, "\n".join(failures)

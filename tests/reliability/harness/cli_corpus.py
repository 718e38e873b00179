"""The bad inputs of every command-line verb: one corpus per verb, keyed like ``nnstudio.cli.COMMANDS``.

A new verb is covered by adding its entry to :data:`CORPORA` (a function from :class:`Inputs` to
cases); ``test_bad_input_cli.py`` fails while a verb of ``COMMANDS`` has none. :class:`Inputs` makes
the shared bad files once (hostile projects, special files, damaged weights and checkpoints, bad
tables and image folders, output paths that cannot be written) in one folder; each verb's corpus
combines them with its own options.
"""

from __future__ import annotations

import errno
import itertools
from collections.abc import Callable, Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

from bad_data import data_projects
from bad_files import BadFile, checkpoint_files, shown, special_files, weights_files
from bad_projects import project_files
from verdicts import EITHER, OK, REFUSED, USAGE, Case

from nnstudio.core.files import simulate_fault

GiB = 2**30
#: The file that outputs are asked to go under, as if it were a folder.
BLOCKER = "a-file"


class Inputs:
    """The shared bad inputs, made on first use in ``root``; ``long``: every case, not a sample."""

    def __init__(self, root: Path, long: bool = False) -> None:
        self.root = root
        self.long = long
        self._counter = itertools.count()

    def fresh(self, name: str) -> str:
        """A path under ``root`` that no other case uses (each run's output folder), in a folder that exists."""
        (self.root / "out").mkdir(parents=True, exist_ok=True)
        return str(self.root / "out" / f"{next(self._counter)}-{name}")

    def special(self, suffix: str) -> list[BadFile]:
        return special_files(self.root / f"special{suffix.replace('.', '-')}", suffix)

    def projects(self, example: str) -> list[BadFile]:
        return self._projects.setdefault(example, project_files(self.root / f"projects-{example}", example,
                                                                  self.long))

    @cached_property
    def _projects(self) -> dict[str, list[BadFile]]:
        return {}

    @cached_property
    def good_project(self) -> str:
        """A valid copy of linear-regression (tiny, trains in a blink)."""
        from nnstudio.core.examples import example_path

        path = self.root / "good.nns"
        path.write_bytes(example_path("linear-regression").read_bytes())
        return str(path)

    @cached_property
    def weights(self) -> list[BadFile]:
        """Damaged and misfit weights for digits-mlp (another network's: residual-block)."""
        from nnstudio.core.examples import load_example
        from nnstudio.train.export import build_model

        good = build_model(load_example("digits-mlp")).state_dict()
        other = build_model(load_example("residual-block")).state_dict()
        return weights_files(self.root / "weights", dict(good), dict(other), self.long)

    @cached_property
    def checkpoints(self) -> list[BadFile]:
        """Malformed checkpoints of a one-epoch linear-regression run."""
        from nnstudio.core.examples import load_example
        from nnstudio.train.project_run import build_training_run

        project = load_example("linear-regression")
        project.settings.epochs = 1
        run = build_training_run(project, device="cpu")
        run.run()
        return checkpoint_files(self.root / "checkpoints", run.checkpoint(), self.long)

    @cached_property
    def data(self) -> list[BadFile]:
        return data_projects(self.root / "data", self.special(".csv"))

    def unwritable(self, suffix: str) -> list[tuple[str, str, Any]]:
        """(label, output path, fault to inject): places where nothing can be written, as root too.

        A refusal must name the path or, for a path through a file, that file (``BLOCKER``).
        """
        blocker = self.root / BLOCKER
        blocker.write_text("in the way")
        folder = self.root / f"existing-folder{suffix}"
        folder.mkdir(exist_ok=True)
        places: list[tuple[str, str, Any]] = [
            ("is-a-folder", str(folder), None),
            ("under-a-file", str(blocker / f"x{suffix}"), None),
            ("deep-under-a-file", str(blocker / "a" / "b" / f"x{suffix}"), None),
        ]
        if Path("/sys/kernel").is_dir():  # sysfs refuses new files to everyone, root included
            places.append(("in-sysfs", f"/sys/nnstudio-harness{suffix}", None))
        for stage, code in (("create", errno.EACCES), ("write", errno.ENOSPC), ("fsync", errno.EIO),
                            ("rename", errno.EROFS), ("create", errno.EROFS)):
            name = f"{stage}-{errno.errorcode[code]}"
            places.append((f"fault-{name}", self.fresh(f"{name}{suffix}"), _fault(stage, code)))
        return places

    def odd_names(self, suffix: str) -> list[tuple[str, str]]:
        """Writable output paths whose names hold control characters or a lone surrogate."""
        return [(label, self.fresh(f"{name}{suffix}")) for label, name in (
            ("escape-sequences", "out\x1b[2J\x1b[31m"), ("bell-and-cr", "out\x07\r"),
            ("lone-surrogate", "out-caf\udce9"), ("newline", "out\nnext"), ("bidi", "out\u202efdp"))]


def _fault(stage: str, code: int) -> Callable[[], Any]:
    return lambda: simulate_fault(stage, code)


def _case(label: str, argv: list[str], culprits: tuple[str, ...] | list[str], expect: str = REFUSED, **extra: Any
          ) -> Case:
    return Case(label, tuple(argv), tuple(culprits), expect, **extra)


def _usage_cases(verb: str, ways_to_pick: list[list[str]]) -> Iterator[Case]:
    """Unknown options, stray arguments and control characters in them: argparse's part."""
    yield _case("usage/unknown-option", [verb, *ways_to_pick[0], "--no-such-option"], ["--no-such-option"], USAGE)
    # A stray argument may be taken as the project path: then naming how to pick one names the fault.
    picks = [word for word in ways_to_pick[0] if word.startswith("--")][:1]
    yield _case("usage/control-characters-in-an-option", [verb, *ways_to_pick[0], "--\x1b[2Jx"], ["--\x1b[2Jx"],
                USAGE)
    yield _case("usage/stray-arguments", [verb, *ways_to_pick[0], "stray1", "stray2"], ["stray", *picks], USAGE)
    yield _case("usage/control-characters-as-argument", [verb, *ways_to_pick[0], "\x1b]0;title\x07"],
                ["\x1b]0;title\x07", *picks], USAGE)
    yield _case("usage/lone-surrogate-argument", [verb, *ways_to_pick[0], "caf\udce9"], ["caf\udce9", *picks],
                USAGE)


EXAMPLE_NAMES = [("unknown", "no-such-example"), ("empty", ""), ("escape-sequences", "\x1b[2J\x1b[31mred"),
                 ("traversal", "../../../etc/passwd"), ("lone-surrogate", "caf\udce9"), ("nul", "a\x00b"),
                 ("very-long", "x" * 5000)]


def _examples_cases(verb: str, extra: list[str]) -> Iterator[Case]:
    for label, name in EXAMPLE_NAMES:
        yield _case(f"example/{label}", [verb, "--example", name, *extra],
                    ["--example", repr(name), *([name[:90]] if name else [])])
    yield _case("example/and-a-path", [verb, "--example", "digits-mlp", "x.nns", *extra], ["--example"], USAGE)
    yield _case("example/neither", [verb, *extra], ["--example"], USAGE)


def _project_cases(inputs: Inputs, verb: str, example: str, extra: Callable[[], list[str]]) -> Iterator[Case]:
    for bad in inputs.projects(example):
        yield _case(f"project/{bad.label}", [verb, bad.path, *extra()], bad.culprits, bad.expect)
    for bad in inputs.special(".nns"):
        yield _case(f"project-file/{bad.label}", [verb, bad.path, *extra()], bad.culprits, bad.expect)


# --------------------------------------------------------------------------- the verbs

def examples_corpus(inputs: Inputs) -> Iterator[Case]:
    yield from _usage_cases("examples", [["--paths"]])
    yield _case("usage/paths-with-a-value", ["examples", "--paths=yes"], ["--paths"], USAGE)


def check_corpus(inputs: Inputs) -> Iterator[Case]:
    yield from _usage_cases("check", [["--example", "digits-mlp"]])
    yield from _examples_cases("check", [])
    yield from _project_cases(inputs, "check", "digits-mlp", lambda: [])
    for bad in inputs.projects("residual-block")[:: 1 if inputs.long else 4]:
        yield _case(f"json/{bad.label}", ["check", "--json", bad.path], bad.culprits, bad.expect)
    for bad in inputs.data:  # check need not read the data; a refusal must still name the culprit
        yield _case(f"data/{bad.label}", ["check", bad.path], bad.culprits, EITHER)


def train_corpus(inputs: Inputs) -> Iterator[Case]:
    def out() -> list[str]:
        return ["--epochs", "1", "--out", inputs.fresh("run")]

    yield from _usage_cases("train", [["--example", "linear-regression"]])
    yield from _examples_cases("train", out())
    yield from _project_cases(inputs, "train", "linear-regression", out)
    for bad in inputs.data:
        yield _case(f"data/{bad.label}", ["train", bad.path, *out()], bad.culprits, bad.expect, seconds=30)
    good = ["train", "--example", "linear-regression"]
    for bad in inputs.special(".pth") + inputs.weights:
        expect = REFUSED  # a weights file is not a checkpoint, whatever it holds
        yield _case(f"resume/{bad.label}", [*good, "--resume", bad.path, *out()], bad.culprits, expect)
    for bad in inputs.checkpoints:
        yield _case(f"checkpoint/{bad.label}", [*good, "--resume", bad.path, "--epochs", "2",
                                                "--out", inputs.fresh("resumed")], bad.culprits, bad.expect)
    for label, place, fault in inputs.unwritable(""):
        if label == "is-a-folder":
            continue  # --out names a folder: an existing one is where the outputs go
        yield _case(f"out/{label}", [*good, "--epochs", "1", "--out", place], [shown(place), "--out", BLOCKER],
                    around=fault)
    for label, place in inputs.odd_names(""):
        yield _case(f"out-name/{label}", [*good, "--epochs", "1", "--out", place], [], OK)
    options = {
        "--epochs": ["-1", "0", "1000001", "10" * 30, "two", "1.5", "nan", ""],
        "--batch-size": ["0", "-8", "1000001", "10" * 30, "1e3", ""],
        "--lr": ["nan", "inf", "-inf", "-0.1", "0", "1e309", "fast", "101", ""],
        "--seed": ["-1", str(2**64), "seed"],
        "--device": ["tpu", "cuda:0", "\x1b[31mcpu", ""],
    }
    for option, values in options.items():
        for value in values:
            yield _case(f"option/{option}={value!r:.20}", [*good, option, value, "--out", inputs.fresh("run")],
                        [option], USAGE)
    yield _case("option/device-cuda", [*good, "--device", "cuda", *out()], ["cuda"], EITHER)
    yield _case("option/device-mps", [*good, "--device", "mps", *out()], ["mps"], EITHER)
    yield _case("option/batch-size-bigger-than-the-data", [*good, "--batch-size", "1000000", *out()], [], OK)
    yield _case("option/resume-with-fewer-epochs", [*good, "--resume", inputs.checkpoints[-1].path, "--epochs",
                                                    "1", *out()[2:]], ["--epochs", "epochs"], EITHER)


def export_corpus(inputs: Inputs) -> Iterator[Case]:
    def out(suffix: str = ".py") -> list[str]:
        return ["-o", inputs.fresh(f"model{suffix}")]

    good = ["export", "--example", "digits-mlp"]
    yield from _usage_cases("export", [["--example", "digits-mlp", "-o", "x.py"]])
    yield from _examples_cases("export", out())
    yield from _project_cases(inputs, "export", "digits-mlp", out)
    for bad in inputs.special(".pth") + inputs.weights:
        yield _case(f"weights/{bad.label}", [*good, "--weights", bad.path, *out(".pth")], bad.culprits, bad.expect)
    for bad in inputs.checkpoints[-4:]:  # a checkpoint of another network (linear-regression): misfit
        yield _case(f"weights-checkpoint/{bad.label}", [*good, "--weights", bad.path, *out(".pth")],
                    (shown(bad.path), "fc1", "weights"))
    for fmt in ("safetensors", "pt2", "onnx", "py"):
        bad = next(b for b in inputs.weights if b.label == "wrong-shape")
        yield _case(f"weights-misfit/{fmt}", [*good, "--weights", bad.path, *out(f".{fmt}")], bad.culprits,
                    seconds=120)
    for label, place, fault in inputs.unwritable(".pth"):
        yield _case(f"output/{label}", [*good, "-o", place], [shown(place), BLOCKER, shown(Path(place).parent)],
                    around=fault)
    for label, place in inputs.odd_names(".pth"):
        yield _case(f"output-name/{label}", [*good, "-o", place], [], OK)
    yield _case("option/unknown-format", [*good, "--format", "tflite", *out()], ["--format"], USAGE)
    yield _case("option/no-suffix", [*good, "-o", inputs.fresh("model")], ["--format"], USAGE)
    yield _case("option/unknown-suffix", [*good, "-o", inputs.fresh("model.txt")], ["model.txt", "--format"],
                USAGE)
    yield _case("option/empty-output", [*good, "-o", ""], ["--format", "-o", "output"], USAGE)
    yield _case("option/format-unlike-suffix", [*good, "--format", "py", *out(".onnx")], [], EITHER)

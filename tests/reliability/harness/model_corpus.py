"""The bad inputs of the verbs that take a PyTorch model: ``nnstudio import`` and ``autograd --model``.

Both name a model the same way (``compile.model_sources``) and both run its code on purpose, so the
corpus holds sources written wrongly, modules and files that fail in every way Python code can
(a syntax error, an exception at import, ``sys.exit`` at import or from the callable, a missing
neighbour, a file that is not a file), models that cannot be traced, and the options around them.
Code that ends the process itself (``os._exit``) or never returns is left out: nnstudio runs it
because the person asked, as Python would (docs/importing.md says so).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from bad_files import BadFile, shown
from cli_corpus import BLOCKER, Inputs, _case, _examples_cases, _project_cases, _usage_cases
from verdicts import EITHER, OK, REFUSED, USAGE, Case

#: ``--model`` / SOURCE written wrongly or naming the wrong thing: (label, source, culprit, expect).
MODEL_SOURCES = [
    ("empty", "", "", USAGE), ("colon-only", ":", ":", REFUSED),
    ("no-callable", "torch", "torch", REFUSED), ("no-module", ":Linear", ":Linear", REFUSED),
    ("missing-module", "no_such_module_xyz:Net", "no_such_module_xyz", REFUSED),
    ("missing-attribute", "torch.nn:NoSuchNet", "NoSuchNet", REFUSED),
    ("needs-arguments", "torch.nn:Linear", "torch.nn:Linear", REFUSED),
    ("not-a-module", "builtins:dict", "builtins:dict", REFUSED),
    ("a-module-object", "torch:nn", "torch:nn", REFUSED),
    ("no-forward", "torch.nn:Module", "torch.nn:Module", REFUSED),
    ("exits", "sys:exit", "sys:exit", REFUSED),
    ("exits-with-a-status", "sys:exit(3)", "sys:exit", REFUSED),
    ("returns-an-iterator", "itertools:count", "itertools:count", REFUSED),
    ("control-characters", "\x1b[31mtorch.nn:Identity", "\x1b[31mtorch", REFUSED),
    ("lone-surrogate", "torch.nn:Identit\udce9", "Identit\udce9", REFUSED),
    ("dotted-attribute", "torch.nn:Sequential.__init__", "Sequential", REFUSED),
    ("arguments-unclosed", "torch.nn:Linear(4, 2", "torch.nn:Linear", REFUSED),
    ("arguments-as-code", "torch.nn:Linear(__import__('os').getpid(), 2)", "torch.nn:Linear", REFUSED),
    ("arguments-starred", "torch.nn:Linear(*[4, 2])", "torch.nn:Linear", REFUSED),
    ("arguments-double-starred", "torch.nn:Linear(4, **{'out_features': 2})", "torch.nn:Linear", REFUSED),
    ("arguments-torch-refuses", "torch.nn:Linear(-1, 2)", "torch.nn:Linear", REFUSED),
    ("arguments-5000-digits", "torch.nn:Linear(" + "9" * 5000 + ", 2)", "torch.nn:Linear", REFUSED),
    ("arguments-unknown-keyword", "torch.nn:Linear(4, 2, colour='red')", "torch.nn:Linear", REFUSED),
    ("parametrised", "torch.nn:PReLU", "", OK),
    ("with-arguments", "torch.nn:Linear(3, 2)", "", OK),
]

#: Python files named as sources: (label, file name, content, callable, culprits, expect).
_FILES: list[tuple[str, str, bytes, str, tuple[str, ...], str]] = [
    ("syntax-error", "syntax.py", b"import torch\nclass Net(torch.nn.Module)\n    pass\n", "Net",
     ("syntax.py", "line 2"), REFUSED),
    ("raises-at-import", "raises.py", b"raise RuntimeError('no GPU here')\n", "Net", ("raises.py", "no GPU here"),
     REFUSED),
    ("exits-at-import", "exits.py", b"import sys\nsys.exit('bye')\n", "Net", ("exits.py", "sys.exit"), REFUSED),
    ("exits-when-called", "exits_later.py", b"import sys\ndef Net():\n    sys.exit(0)\n", "Net",
     ("exits_later.py", "sys.exit"), REFUSED),
    ("imports-a-missing-neighbour", "needs.py", b"import no_such_neighbour_xyz\n", "Net",
     ("no_such_neighbour_xyz", "needs.py"), REFUSED),
    ("returns-none", "returns_none.py", b"def Net():\n    return None\n", "Net",
     ("returns_none.py", "None"), REFUSED),
    ("returns-a-tensor", "tensor.py", b"import torch\ndef Net():\n    return torch.zeros(2)\n", "Net",
     ("tensor.py", "Tensor"), REFUSED),
    ("forward-raises", "forward.py",
     b"import torch\nclass Net(torch.nn.Module):\n    def forward(self, x):\n        raise ValueError('bad x')\n",
     "Net", ("forward.py", "bad x", "Net"), REFUSED),
    ("forward-returns-a-dict", "dict_out.py",
     b"import torch\nclass Net(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n"
     b"        self.fc = torch.nn.Linear(3, 2)\n    def forward(self, x):\n        return {'y': self.fc(x)}\n",
     "Net", (), EITHER),
    ("data-dependent-branch", "branchy.py",
     b"import torch\nclass Net(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n"
     b"        self.fc = torch.nn.Linear(3, 2)\n    def forward(self, x):\n        if x.sum() > 0:\n"
     b"            return self.fc(x)\n        return -self.fc(x)\n", "Net", ("branchy.py", "Net", "x.sum", "control flow",
                                                                          "trace"), EITHER),
    ("not-utf8", "latin1.py", b"# caf\xe9\nimport torch\nNet = torch.nn.Identity\n", "Net", ("latin1.py",), EITHER),
    ("nul-byte", "nul.py", b"import torch\x00\n", "Net", ("nul.py",), REFUSED),
    ("not-a-python-file", "net.txt", b"import torch\nNet = torch.nn.Identity\n", "Net", ("net.txt",), REFUSED),
    ("wrong-name", "good.py", b"import torch\nNet = torch.nn.Identity\n", "Network", ("Network", "good.py"),
     REFUSED),
    ("control-characters-in-name", "evil\x1b[2J.py", b"import torch\nNet = torch.nn.Identity\n", "Net", (), EITHER),
]


def model_files(inputs: Inputs) -> list[BadFile]:
    """The Python files of :data:`_FILES`, and special files in place of one, as ``FILE:Net`` sources."""
    folder = inputs.root / "models"
    folder.mkdir(exist_ok=True)
    made = []
    for label, name, content, attribute, culprits, expect in _FILES:
        path = folder / name
        path.write_bytes(content)
        made.append(BadFile(f"file/{label}", f"{path}:{attribute}", culprits, expect))
    for bad in inputs.special(".py"):
        made.append(BadFile(f"file/{bad.label}", f"{bad.path}:Net", bad.culprits, bad.expect))
    huge = folder / "huge.py"
    with open(huge, "wb") as handle:  # sparse: a 32 MB "model definition"
        handle.truncate(32 * 2**20)
    made.append(BadFile("file/huge", f"{huge}:Net", ("huge.py",)))
    return made


INPUT_SHAPES = [("empty", ""), ("comma", ","), ("gap", "1,,3"), ("letters", "a,b"), ("zero", "0,3"),
                ("negative", "-1,3"), ("float", "1.5,3"), ("exponent", "1e3"), ("huge-number", "9" * 40),
                ("absurd-tensor", "3,100000,100000"), ("many-dims", ",".join(["1"] * 200)),
                ("absurd-in-few-sizes", "100000,100000"), ("absurd-in-many-sizes", ",".join(["100"] * 8)),
                ("control-characters", "1,\x1b[31m3"), ("spaces", " 1 , 3 ")]


def _sources(inputs: Inputs) -> Iterator[tuple[str, str, tuple[str, ...], str]]:
    for label, source, culprit, expect in MODEL_SOURCES:
        yield f"model/{label}", source, (culprit,) if culprit else (), expect
    for bad in model_files(inputs):
        yield bad.label.replace("file/", "model-file/", 1), bad.path, bad.culprits, bad.expect


def import_corpus(inputs: Inputs) -> Iterator[Case]:
    def out() -> list[str]:
        return ["-o", inputs.fresh("net.nns")]

    good = ["import", "torch.nn:PReLU"]
    yield from _usage_cases("import", [["torch.nn:PReLU", "-o", "x.nns"]])
    for label, source, culprits, expect in _sources(inputs):
        # SOURCE is an argument here: an empty one is refused as a source (1), not as usage (2)
        expect = REFUSED if expect == USAGE else expect
        yield _case(label, ["import", source, *out()], culprits or ("SOURCE", "model"), expect, seconds=60)
    for bad in inputs.special(".pth") + inputs.weights:
        # the weights of digits-mlp given to a PReLU: refused, naming the file (and the keys that do not fit)
        yield _case(f"weights/{bad.label}", [*good, "--weights", bad.path, *out()], (shown(bad.path), *bad.culprits))
    for label, shape in INPUT_SHAPES:
        expect = EITHER if label in ("spaces",) else REFUSED
        yield _case(f"input-shape/{label}", [*good, "--input-shape", shape, *out()], ["--input-shape"], expect)
    for label, place, fault in inputs.unwritable(".nns"):
        yield _case(f"out/{label}", [*good, "-o", place], [shown(place), BLOCKER, shown(Path(place).parent), "-o"],
                    around=fault)
    for label, place in inputs.odd_names(".nns"):
        yield _case(f"out-name/{label}", [*good, "-o", place], [], OK)
    yield _case("out/not-a-project-name", [*good, "-o", inputs.fresh("net.txt")], ["-o", "net.txt"], USAGE)
    yield _case("out/weights-beside-blocked", [*good, "-o", _weights_blocked(inputs)], ["safetensors"])
    yield _case("option/progress", [*good, "--progress", *out()], [], OK)


def _weights_blocked(inputs: Inputs) -> str:
    """A project path whose weights file (``NAME.safetensors`` beside it) is a folder: nothing may be half written."""
    project = Path(inputs.fresh("blocked.nns"))
    project.with_suffix(".safetensors").mkdir(parents=True, exist_ok=True)
    return str(project)


def autograd_model_cases(inputs: Inputs, out) -> Iterator[Case]:  # noqa: ANN001 - the corpus's out()
    """``autograd --model SOURCE``: every source of the import corpus, each refusal naming it."""
    for label, source, culprits, expect in _sources(inputs):
        shape = ["--input-shape", "2,3"] if not label.startswith("model-file/") else ["--input-shape", "3"]
        yield _case(label, ["autograd", "--model", source, *shape, *out()], ("--model", *culprits), expect,
                    seconds=60)


def autograd_corpus(inputs: Inputs) -> Iterator[Case]:
    def out(suffix: str = ".dot") -> list[str]:
        return ["--out", inputs.fresh(f"graph{suffix}")]

    good = ["autograd", "--example", "digits-mlp"]
    yield from _usage_cases("autograd", [["--example", "digits-mlp", "--out", "g.svg"]])
    yield from _examples_cases("autograd", out())
    yield from _project_cases(inputs, "autograd", "digits-mlp", out)
    yield from autograd_model_cases(inputs, out)
    for label, shape in INPUT_SHAPES:
        expect = EITHER if label == "spaces" else REFUSED
        yield _case(f"input-shape/{label}", ["autograd", "--model", "torch.nn:PReLU", "--input-shape", shape,
                                             *out()], ["--input-shape"], expect)
    yield _case("input-shape/without-model", [*good, "--input-shape", "1,64", *out()], ["--input-shape"], USAGE)
    for value in ("nan", "inf", "-1", "0", "x"):
        yield _case(f"scale/{value}", [*good, "--scale", value, *out(".png")], ["--scale"], USAGE)
    if inputs.long:  # capped to a 16,000-pixel side: seconds of drawing
        yield _case("scale/huge", [*good, "--scale", "1e9", *out(".png")], [], OK)
    yield _case("expand/unknown-layer", [*good, "--collapsed", "--expand", "no_such_layer", *out(".svg")],
                ["no_such_layer", "--expand"], EITHER)
    yield _case("out/unknown-suffix", [*good, "--out", inputs.fresh("graph.pdf")], ["--out"], USAGE)
    for label, place, fault in inputs.unwritable(".svg"):
        yield _case(f"out/{label}", [*good, "--out", place], [shown(place), BLOCKER, shown(Path(place).parent)],
                    around=fault)
    for label, place in inputs.odd_names(".svg"):
        yield _case(f"out-name/{label}", [*good, "--out", place], [], OK)

"""The documentation tells the truth: its links lead somewhere, its commands parse, its code runs.

- Every relative link in README.md and docs/*.md names an existing file, and a ``#section`` in it
  names a heading of that file.
- Every ``nnstudio ...`` command line shown (in code blocks and inline code) is accepted by the real
  argument parser of its verb, and every ``--example NAME`` names a bundled example.
- The Python snippets of docs/exporting.md and docs/getting-started.md run, each in a fresh
  interpreter, in a folder holding a small exported network (digits-cnn: model.py, model.pth,
  model.safetensors, model.pt2, model.onnx).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from nnstudio.cli import COMMANDS, _gui_parser
from nnstudio.core.examples import list_examples

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
PAGES = sorted([REPO / "README.md", *DOCS.glob("*.md")])
SNIPPET_PAGES = [DOCS / "exporting.md", DOCS / "getting-started.md"]

_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
#: Synopsis lines and prose placeholders (``nnstudio COMMAND --help``, ``PATH|--example NAME``) are
#: not commands anyone runs; they are recognised by these marks.
_PLACEHOLDER = re.compile(r"\b(?:COMMAND|VERB|NAME|PATH|FILE|DIR|CKPT|LR|N|B|S|D)\b|\.\.\.|…|\[|\||<")


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def _strip_code(text: str) -> str:
    """Returns the page without its fenced code blocks (links inside them are examples, not links)."""
    return _FENCE.sub("", text)


def github_slug(heading: str) -> str:
    """Returns the anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*$", _strip_code(page.read_text(encoding="utf-8")), re.MULTILINE)
    return {github_slug(h) for h in headings}


def _links(page: Path) -> list[str]:
    return [target for target in _LINK.findall(_strip_code(page.read_text(encoding="utf-8")))
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target)]  # http:, https:, mailto: are not files


def test_the_documentation_pages_exist():
    names = {page.name for page in PAGES}
    for required in ("index.md", "getting-started.md", "editor.md", "datasets.md", "training-settings.md",
                     "exporting.md", "cli.md", "autograd.md", "project-format.md"):
        assert required in names, f"docs/{required} is missing"


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_every_relative_link_leads_to_an_existing_file_and_heading(page):
    broken = []
    for target in _links(page):
        file_part, _, anchor = target.partition("#")
        destination = (page.parent / file_part).resolve() if file_part else page
        if not destination.exists():
            broken.append(f"{target}: no file {destination}")
        elif anchor and destination.suffix == ".md" and anchor not in _anchors(destination):
            broken.append(f"{target}: {_rel(destination)} has no heading with the anchor #{anchor}")
    assert not broken, f"{_rel(page)} has broken links:\n" + "\n".join(broken)


def test_the_slug_rule_matches_github():
    assert github_slug("Where the files go (and how to train offline)") == \
        "where-the-files-go-and-how-to-train-offline"
    assert github_slug("nnstudio check") == "nnstudio-check"
    assert github_slug("model.py and model.pth in plain PyTorch") == "modelpy-and-modelpth-in-plain-pytorch"


# --- commands ----------------------------------------------------------------------------------------

def _command_lines(page: Path) -> list[str]:
    """Returns the ``nnstudio`` command lines a page shows, as a person would type them."""
    text = page.read_text(encoding="utf-8")
    candidates = []
    for language, body in _FENCE.findall(text):
        if language in ("", "bash", "sh", "console", "shell"):
            candidates += body.splitlines()
    for span in _INLINE_CODE.findall(_strip_code(text)):
        words = span.split()
        # In prose, `nnstudio train` names a command; only a span with arguments is a command line.
        if not (len(words) == 2 and words[1] in COMMANDS):
            candidates.append(span)
    commands = []
    for line in candidates:
        line = line.split(" # ")[0].strip().removeprefix("$ ")
        line = re.sub(r"^(?:[A-Z_]+=\S+\s+)+", "", line)  # QT_QPA_PLATFORM=offscreen nnstudio ...
        match = re.match(r"^(?:\S*/)?nnstudio(?:\s|$)", line)
        if match and not _PLACEHOLDER.search(line):
            commands.append(line)
    return commands


def _parse(words: list[str]) -> argparse.Namespace:
    """Parses a command line exactly as ``nnstudio.cli.main`` does, without running anything."""
    if words and words[0] in COMMANDS:
        module = importlib.import_module(COMMANDS[words[0]][0])
        parser = argparse.ArgumentParser(prog=f"nnstudio {words[0]}")
        module.add_arguments(parser)
        return parser.parse_args(words[1:])
    return _gui_parser().parse_args(words)


COMMAND_LINES = [(page, line) for page in PAGES for line in _command_lines(page)]


def test_the_docs_show_commands_of_every_verb():
    verbs = {shlex.split(line)[1] for _, line in COMMAND_LINES if len(shlex.split(line)) > 1}
    assert set(COMMANDS) <= verbs, f"no documented command line for {sorted(set(COMMANDS) - verbs)}"


@pytest.mark.parametrize(("page", "line"), COMMAND_LINES, ids=[f"{_rel(p)}: {c}" for p, c in COMMAND_LINES])
def test_every_documented_command_line_parses(page, line, capsys):
    words = shlex.split(line)[1:]
    try:
        options = _parse(words)
    except SystemExit as exc:
        if exc.code == 0:  # --help and --version print and exit 0: that is what the docs promise
            return
        pytest.fail(f"{_rel(page)}: '{line}' is refused: {capsys.readouterr().err.strip()}")
    example = getattr(options, "example", None)
    if example is not None:
        known = {info.name for info in list_examples()}
        assert example in known, f"{_rel(page)}: '{line}' names an unknown example {example!r}"
    if hasattr(options, "path") and getattr(options, "example", None) and options.path:
        pytest.fail(f"{_rel(page)}: '{line}' gives both a file and --example, which nnstudio refuses")


# --- code snippets ------------------------------------------------------------------------------------

def _snippets(page: Path) -> list[str]:
    """Returns the runnable Python blocks of a page (the sketch of model.py's shape is not one)."""
    return [body for language, body in _FENCE.findall(page.read_text(encoding="utf-8"))
            if language == "python" and "class Model(" not in body]


SNIPPETS = [(page, i, code) for page in SNIPPET_PAGES for i, code in enumerate(_snippets(page))]


@pytest.fixture(scope="module")
def exported_digits_cnn(tmp_path_factory):
    """A folder with digits-cnn exported in every format the docs load."""
    from nnstudio.core.examples import load_example
    from nnstudio.train.export import export_model

    folder = tmp_path_factory.mktemp("exported")
    project = load_example("digits-cnn")
    formats = ["py", "pth", "safetensors", "pt2"]
    try:
        import onnxruntime  # noqa: F401

        formats.append("onnx")
    except ImportError:
        pass
    for fmt in formats:
        export_model(project, fmt, folder / f"model.{fmt}")
    return folder


def test_the_snippet_pages_have_snippets():
    assert len(_snippets(DOCS / "exporting.md")) >= 4  # model.pth, safetensors, pt2, ONNX
    assert _snippets(DOCS / "getting-started.md")


@pytest.mark.parametrize(("page", "index", "code"), SNIPPETS,
                         ids=[f"{p.name}[{i}]" for p, i, _ in SNIPPETS])
def test_python_snippets_run_against_an_exported_model(page, index, code, exported_digits_cnn):
    if "onnxruntime" in code and not (exported_digits_cnn / "model.onnx").exists():
        pytest.skip("onnxruntime is not installed (the onnx extra)")
    completed = subprocess.run([sys.executable, "-c", code], cwd=exported_digits_cnn, capture_output=True,
                               text=True, timeout=300, check=False)
    assert completed.returncode == 0, (
        f"snippet {index} of {_rel(page)} failed:\n{code}\n--- stderr ---\n{completed.stderr[-3000:]}")


# --- pictures -----------------------------------------------------------------------------------------

def _screenshot_script():
    spec = importlib.util.spec_from_file_location("nnstudio_docs_screenshots", DOCS / "screenshots.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_every_picture_the_script_makes_is_committed_and_shown_in_the_docs():
    shown = {Path(target).name for page in PAGES for target in _links(page) if target.endswith(".png")}
    for picture in _screenshot_script().PICTURES:
        assert picture.path.is_file(), f"run docs/screenshots.py {picture.name}: {_rel(picture.path)} is missing"
        assert picture.path.name in shown, f"{_rel(picture.path)} is made but no page shows it"

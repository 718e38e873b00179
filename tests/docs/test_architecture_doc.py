"""docs/architecture.md names only modules that exist, and lists every module there is.

The page refers to modules as ``package.module`` (``core.files``, ``ui.document``), optionally
followed by a name inside them (``compile.rules.RULES``), or by path (``nnstudio/core/files.py``).
Each such module must exist and each name after it must appear in that module's source; a name
right after a package (``ui.MainWindow``, ``cli.COMMANDS``) must appear in the package's
``__init__``. And every module of every package must be named somewhere on the page, so that a new
module cannot go unlisted.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "architecture.md"
SOURCE = REPO / "nnstudio"
PACKAGES = ("core", "compile", "train", "autograd", "experiments", "ui", "cli")

#: ``core.files``, ``compile.rules.RULES``, ``nnstudio.ui.MainWindow`` inside inline code.
_DOTTED = re.compile(r"(?<![\w./])(?:nnstudio\.)?(" + "|".join(PACKAGES) + r")\.([A-Za-z_]\w*)((?:\.\w+)?)")
_PATH = re.compile(r"nnstudio/((?:\w+/)*\w+\.py)")
_INLINE_CODE = re.compile(r"`([^`\n]+)`")


def _text() -> str:
    return PAGE.read_text(encoding="utf-8")


def _references() -> list[tuple[str, str, str]]:
    """(package, name, attribute or "") for every dotted module reference in the page's inline code."""
    found = []
    for code in _INLINE_CODE.findall(_text()):
        for package, name, attribute in _DOTTED.findall(code):
            found.append((package, name, attribute.lstrip(".")))
    return sorted(set(found))


def _module_source(package: str, name: str) -> Path | None:
    for candidate in (SOURCE / package / f"{name}.py", SOURCE / package / name / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _has_name(source: Path, name: str) -> bool:
    return re.search(rf"\b{re.escape(name)}\b", source.read_text(encoding="utf-8")) is not None


def test_the_page_names_modules_by_package():
    references = _references()
    assert len({(p, n) for p, n, _ in references}) > 100, "the page's module references were not found"


def test_every_named_module_exists():
    wrong = []
    for package, name, attribute in _references():
        module = _module_source(package, name)
        if module is None:
            if not _has_name(SOURCE / package / "__init__.py", name):
                wrong.append(f"{package}.{name} (nnstudio/{package}/ has no {name}.py, its __init__ no {name})")
        elif attribute and not _has_name(module, attribute):
            wrong.append(f"{package}.{name}.{attribute} ({module.relative_to(REPO)} has no {attribute})")
    assert not wrong, "docs/architecture.md names what does not exist: " + "; ".join(wrong)


def test_every_named_path_exists():
    paths = sorted(set(_PATH.findall(_text())))
    assert paths, "the page names no nnstudio/... paths"
    missing = [p for p in paths if not (SOURCE / p).is_file()]
    assert not missing, f"docs/architecture.md names files that do not exist: {missing}"


def test_every_module_is_listed():
    named = {(p, n) for p, n, _ in _references()}
    unlisted = [f"{package}.{path.stem}" for package in PACKAGES
                for path in sorted((SOURCE / package).glob("*.py"))
                if path.stem != "__init__" and (package, path.stem) not in named]
    assert not unlisted, (
        f"docs/architecture.md does not list {', '.join(unlisted)}: add a line to its package's module "
        "list saying what the module is for")

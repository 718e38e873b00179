"""The files that install nnstudio on a desktop: icons, .desktop entry, AppStream, MIME type, freeze spec, wheel."""

from __future__ import annotations

import ast
import configparser
import os
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import pytest

import nnstudio
from nnstudio.core.catalog import CATALOG
from nnstudio.core.examples import list_examples
from nnstudio.core.project import FORMAT

ROOT = Path(__file__).resolve().parents[2]
ICONS = ROOT / "resources" / "icons"
LINUX = ROOT / "packaging" / "linux"
APP_ID = "io.github.nnstudio"
DESKTOP_FILE = LINUX / f"{APP_ID}.desktop"
METAINFO_FILE = LINUX / f"{APP_ID}.metainfo.xml"
MIME_FILE = LINUX / "nnstudio-mime.xml"
MIME_TYPE = "application/x-nnstudio-project"
HICOLOR_SIZES = (16, 32, 48, 64, 128, 256, 512)
MIME_NS = {"m": "http://www.freedesktop.org/standards/shared-mime-info"}


def category_slug(category: str) -> str:
    """Returns the icon file stem of a category, by the rule resources/icons/README.md states."""
    out, dash = [], False
    for char in category.lower():
        if char.isascii() and char.isalnum():
            out.append(char)
            dash = False
        elif not dash:
            out.append("-")
            dash = True
    return "".join(out).strip("-")


def png_size(data: bytes) -> tuple[int, int]:
    """Returns (width, height) from a PNG's IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive in desktop files
    parser.read(DESKTOP_FILE, encoding="utf-8")
    return parser["Desktop Entry"]


# --- icons ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("category", list(CATALOG.categories()))
def test_every_catalog_category_has_a_tintable_24px_icon(category):
    path = ICONS / "layers" / f"{category_slug(category)}.svg"
    assert path.is_file(), f"no icon for category {category!r}: expected {path.relative_to(ROOT)}"
    svg = ElementTree.parse(path).getroot()
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert svg.get("viewBox") == "0 0 24 24"
    assert "currentColor" in path.read_text(encoding="utf-8"), "the palette tints icons through currentColor"
    assert f"layers/{path.name}" in (ICONS / "README.md").read_text(encoding="utf-8")


def test_slug_rule_matches_the_examples_the_readme_gives():
    assert category_slug("Input / Output") == "input-output"
    assert category_slug("Normalization") == "normalization"


def test_no_stray_layer_icons_without_a_category():
    slugs = {category_slug(category) for category in CATALOG.categories()}
    assert {path.stem for path in (ICONS / "layers").glob("*.svg")} == slugs


@pytest.mark.parametrize("size", HICOLOR_SIZES)
def test_app_icon_png_has_its_pixel_size(size):
    path = ICONS / "hicolor" / f"{size}x{size}" / "apps" / "nnstudio.png"
    assert png_size(path.read_bytes()) == (size, size)


def test_app_icon_svg_is_square():
    svg = ElementTree.parse(ICONS / "nnstudio.svg").getroot()
    _, _, width, height = (float(v) for v in svg.get("viewBox").split())
    assert width == height


def test_windows_ico_holds_png_entries_of_the_sizes_it_declares():
    data = (ICONS / "nnstudio.ico").read_bytes()
    reserved, kind, count = struct.unpack_from("<HHH", data)
    assert (reserved, kind) == (0, 1)
    sizes = []
    for index in range(count):
        width, height, _, _, _, _, length, offset = struct.unpack_from("<BBBBHHII", data, 6 + 16 * index)
        declared = width or 256
        assert png_size(data[offset:offset + length]) == (declared, height or 256)
        sizes.append(declared)
    assert {16, 32, 48, 256} <= set(sizes)


def test_macos_icns_holds_png_entries_up_to_1024():
    data = (ICONS / "nnstudio.icns").read_bytes()
    assert data[:4] == b"icns" and struct.unpack(">I", data[4:8])[0] == len(data)
    entries, offset = {}, 8
    while offset < len(data):
        kind, length = data[offset:offset + 4], struct.unpack(">I", data[offset + 4:offset + 8])[0]
        entries[kind] = png_size(data[offset + 8:offset + length])
        offset += length
    assert entries[b"icp4"] == (16, 16)
    assert entries[b"ic10"] == (1024, 1024)
    assert entries[b"ic14"] == (512, 512)


# --- desktop entry, AppStream, MIME --------------------------------------------------------------

def test_desktop_entry_has_the_keys_a_launcher_needs():
    entry = desktop_entry()
    assert entry["Type"] == "Application"
    assert entry["Name"] == "nnstudio"
    assert entry["Exec"].split()[0] == "nnstudio"
    assert "%f" in entry["Exec"].split() or "%F" in entry["Exec"].split(), "files must reach the app"
    assert entry["Terminal"] == "false"
    assert (ICONS / "hicolor" / "48x48" / "apps" / f"{entry['Icon']}.png").is_file()
    assert MIME_TYPE in entry["MimeType"].split(";")
    assert entry["Categories"].endswith(";")


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils not installed")
def test_desktop_entry_passes_desktop_file_validate():
    result = subprocess.run(["desktop-file-validate", str(DESKTOP_FILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error" not in result.stdout


def test_metainfo_names_the_desktop_entry_mime_type_and_current_version():
    root = ElementTree.parse(METAINFO_FILE).getroot()
    assert root.get("type") == "desktop-application"
    assert root.findtext("id") == APP_ID
    assert root.find("launchable").text == DESKTOP_FILE.name
    assert root.findtext("provides/mediatype") == MIME_TYPE
    assert root.findtext("project_license") == "MIT"
    assert nnstudio.__version__ in [release.get("version") for release in root.iter("release")]


@pytest.mark.skipif(shutil.which("appstreamcli") is None, reason="appstream not installed")
def test_metainfo_passes_appstreamcli_validate():
    result = subprocess.run(["appstreamcli", "validate", "--no-net", str(METAINFO_FILE)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mime_definition_matches_the_desktop_entry_and_real_project_files():
    root = ElementTree.parse(MIME_FILE).getroot()
    (mime,) = root.findall("m:mime-type", MIME_NS)
    assert mime.get("type") in desktop_entry()["MimeType"].split(";")
    assert [glob.get("pattern") for glob in mime.findall("m:glob", MIME_NS)] == ["*.nns"]
    assert list_examples(), "no bundled examples to check the rule against"
    # the content rule must recognise what nnstudio actually writes, within the bytes it inspects
    (match,) = mime.findall("m:magic/m:match", MIME_NS)
    first, last = (int(part) for part in match.get("offset").split(":"))
    assert match.get("value") == f'"{FORMAT}"'
    for example in list_examples():
        head = example.path.read_bytes()[: last + len(match.get("value"))]
        assert head.find(match.get("value").encode(), first) >= 0, f"magic misses example {example.name}"


@pytest.mark.skipif(sys.platform != "linux" or shutil.which("bash") is None, reason="the script is for Linux")
def test_install_desktop_registers_the_app_for_the_user(tmp_path):
    app = tmp_path / "opt dir" / "nnstudio"  # a space in the path must survive into Exec
    app.parent.mkdir()
    app.write_text("#!/bin/sh\nexit 0\n")
    app.chmod(0o755)
    data = tmp_path / "share"
    env = {**os.environ, "XDG_DATA_HOME": str(data)}
    script = LINUX / "install-desktop.sh"
    result = subprocess.run(["bash", str(script), "--exec", str(app)], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    installed = (data / "applications" / DESKTOP_FILE.name).read_text(encoding="utf-8")
    assert f'Exec="{app}" %f' in installed.splitlines()
    assert (data / "mime" / "packages" / f"{APP_ID}.xml").is_file()
    assert (data / "metainfo" / METAINFO_FILE.name).is_file()
    assert (data / "icons" / "hicolor" / "scalable" / "apps" / "nnstudio.svg").is_file()
    for size in HICOLOR_SIZES:
        assert (data / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "nnstudio.png").is_file()
    if shutil.which("update-mime-database"):
        assert f"{MIME_TYPE}:*.nns" in (data / "mime" / "globs2").read_text(encoding="utf-8")

    result = subprocess.run(["bash", str(script), "--uninstall"], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert not list(data.rglob("nnstudio*")) and not list(data.rglob(f"{APP_ID}*"))


def test_install_desktop_names_a_missing_executable(tmp_path):
    if shutil.which("bash") is None:
        pytest.skip("needs bash")
    missing = tmp_path / "nowhere" / "nnstudio"
    result = subprocess.run(["bash", str(LINUX / "install-desktop.sh"), "--exec", str(missing)],
                            env={**os.environ, "XDG_DATA_HOME": str(tmp_path / "share")},
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert str(missing) in result.stderr
    assert not (tmp_path / "share" / "applications").exists()


# --- freeze specification ------------------------------------------------------------------------

def test_freeze_spec_is_python_that_bundles_resources_and_the_launcher():
    spec_text = (ROOT / "packaging" / "nnstudio.spec").read_text(encoding="utf-8")
    ast.parse(spec_text)
    assert '"nnstudio_launcher.py"' in spec_text
    assert 'ROOT / "resources"' in spec_text
    for icon in ("nnstudio.ico", "nnstudio.icns"):
        assert f'"{icon}"' in spec_text and (ICONS / icon).is_file()
    assert 'bundle_identifier="io.github.nnstudio"' in spec_text


def test_launcher_runs_the_cli_entry_point():
    launcher = ROOT / "packaging" / "nnstudio_launcher.py"
    result = subprocess.run([sys.executable, str(launcher), "--version"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"nnstudio {nnstudio.__version__}"


# --- wheel ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """Builds the wheel from a copy of the source tree, so the checkout gets no build/ or egg-info."""
    source = tmp_path_factory.mktemp("source")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, source / name)
    for name in ("nnstudio", "resources"):
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (path,) = out.glob("nnstudio-*.whl")
    with zipfile.ZipFile(path) as archive:
        yield archive


def test_wheel_ships_examples_digits_data_and_icons(wheel):
    names = set(wheel.namelist())
    for example in list_examples():
        assert f"nnstudio/resources/examples/{example.name}.nns" in names
    assert "nnstudio/resources/data/digits.npz" in names
    assert "nnstudio/resources/icons/nnstudio.svg" in names
    for category in CATALOG.categories():
        assert f"nnstudio/resources/icons/layers/{category_slug(category)}.svg" in names
    for size in HICOLOR_SIZES:
        assert f"nnstudio/resources/icons/hicolor/{size}x{size}/apps/nnstudio.png" in names
    # the bundled digits must arrive intact, not as an empty placeholder
    original = (ROOT / "resources" / "data" / "digits.npz").read_bytes()
    assert wheel.read("nnstudio/resources/data/digits.npz") == original


def test_wheel_declares_the_nnstudio_commands(wheel):
    (entry_points,) = [name for name in wheel.namelist() if name.endswith(".dist-info/entry_points.txt")]
    text = wheel.read(entry_points).decode()
    assert "nnstudio = nnstudio.cli:main" in text


def _spec_excludes() -> list[str]:
    """Returns the module names the freeze spec leaves out (its literal ``excludes = [...]`` list)."""
    tree = ast.parse((ROOT / "packaging" / "nnstudio.spec").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "excludes" for t in node.targets):
            return [element.value for element in node.value.elts]
    raise AssertionError("nnstudio.spec has no excludes list")


def test_frozen_app_keeps_every_module_nnstudio_imports():
    excluded = _spec_excludes() + ["triton"]  # triton is left out unless NNSTUDIO_KEEP_TRITON=1
    assert "PySide6.QtQml" in excluded
    offenders = []
    for path in (ROOT / "nnstudio").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            offenders += [f"{path.relative_to(ROOT)}:{node.lineno} imports {name}" for name in names
                          if any(name == gone or name.startswith(gone + ".") for gone in excluded)]
    assert not offenders, "the freeze spec excludes modules nnstudio imports:\n" + "\n".join(offenders)

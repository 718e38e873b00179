"""Before the window opens on Linux/X11: name the system libraries Qt's xcb plugin cannot find.

Without them Qt aborts the process with a generic "could not load the Qt platform plugin" message
that names none of them. The plugin's shared-library dependencies are resolved with ``ldd`` (about
30 ms), so a person reads which Debian/Ubuntu packages to install instead.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from nnstudio.core.errors import NnstudioError

#: Sonames whose Debian/Ubuntu package name does not follow from the soname by the usual rule.
_PACKAGES = {
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
}
_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.MULTILINE)


class DisplayUnavailableError(NnstudioError):
    """The window cannot open on this machine; the message says what to install or set."""


def debian_package(soname: str) -> str:
    """Return the Debian/Ubuntu package that ships ``soname`` (``libxcb-icccm.so.4`` -> ``libxcb-icccm4``)."""
    if soname in _PACKAGES:
        return _PACKAGES[soname]
    stem, _, version = soname.partition(".so.")
    stem = stem.lower()
    major = version.split(".")[0]
    return f"{stem}-{major}" if stem[-1:].isdigit() else f"{stem}{major}"


def xcb_plugin() -> Path | None:
    """Return the path of PySide6's xcb platform plugin (``libqxcb.so``), or None when absent."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    plugin = Path(next(iter(spec.submodule_search_locations))) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return plugin if plugin.is_file() else None


def missing_libraries(library: Path) -> list[str]:
    """Return the sonames ``library`` needs that the dynamic loader cannot find (empty if unknown)."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return []
    try:
        result = subprocess.run([ldd, str(library)], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return []
    return list(dict.fromkeys(_NOT_FOUND.findall(result.stdout)))


def uses_xcb(environ: dict[str, str] | os._Environ[str] = os.environ, platform: str = sys.platform) -> bool:
    """Return True when Qt will pick its xcb (X11) platform plugin for the window."""
    if not platform.startswith("linux"):
        return False
    chosen = environ.get("QT_QPA_PLATFORM", "")
    if chosen:
        return chosen.split(";")[0].split(":")[0] == "xcb"
    # Unset: Qt takes Wayland in a Wayland session and xcb otherwise.
    return not (environ.get("WAYLAND_DISPLAY") and environ.get("XDG_SESSION_TYPE", "wayland") == "wayland")


def check_display(environ: dict[str, str] | os._Environ[str] = os.environ, platform: str = sys.platform) -> None:
    """Raise :class:`DisplayUnavailableError` naming what is missing for the window to open on X11."""
    if not uses_xcb(environ, platform):
        return
    plugin = xcb_plugin()
    if plugin is None:
        return
    missing = missing_libraries(plugin)
    if missing:
        packages = " ".join(dict.fromkeys(debian_package(name) for name in missing))
        raise DisplayUnavailableError(
            f"the window cannot open: Qt's X11 (xcb) plugin needs {', '.join(missing)}, which this "
            f"machine lacks. On Debian or Ubuntu: sudo apt install {packages} "
            "(README.md lists every library the window needs)")
    if not environ.get("DISPLAY"):
        raise DisplayUnavailableError(
            "the window cannot open: no display (DISPLAY is not set). Run nnstudio in a desktop "
            "session, or set QT_QPA_PLATFORM=offscreen with --screenshot to render without one")

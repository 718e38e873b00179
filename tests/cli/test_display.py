"""The window's launcher names the X11 libraries Qt's xcb plugin is missing (issue: a bare Linux machine)."""

import sys

import pytest

from nnstudio.cli import display, main
from nnstudio.cli.display import DisplayUnavailableError, check_display, debian_package, uses_xcb


@pytest.mark.parametrize(("soname", "package"), [
    ("libxcb-cursor.so.0", "libxcb-cursor0"), ("libxcb-icccm.so.4", "libxcb-icccm4"),
    ("libxcb-keysyms.so.1", "libxcb-keysyms1"), ("libxcb-render-util.so.0", "libxcb-render-util0"),
    ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"), ("libX11-xcb.so.1", "libx11-xcb1"),
    ("libxcb.so.1", "libxcb1"),
])
def test_sonames_map_to_the_debian_packages_that_ship_them(soname, package):
    assert debian_package(soname) == package


@pytest.mark.parametrize(("environ", "platform", "expected"), [
    ({"DISPLAY": ":0"}, "linux", True),
    ({"QT_QPA_PLATFORM": "offscreen"}, "linux", False),
    ({"QT_QPA_PLATFORM": "xcb:foo"}, "linux", True),
    ({"WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"}, "linux", False),
    ({"DISPLAY": ":0"}, "darwin", False),
])
def test_only_an_x11_window_is_checked(environ, platform, expected):
    assert uses_xcb(environ, platform) is expected


def test_missing_libraries_are_named_with_the_packages_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(display, "xcb_plugin", lambda: tmp_path / "libqxcb.so")
    monkeypatch.setattr(display, "missing_libraries", lambda plugin: ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"])
    with pytest.raises(DisplayUnavailableError) as caught:
        check_display({"DISPLAY": ":0"}, "linux")
    message = str(caught.value)
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1" in message
    assert "sudo apt install libxcb-icccm4 libxcb-keysyms1" in message


def test_the_real_plugin_is_inspected_with_the_dynamic_loader():
    plugin = display.xcb_plugin()
    if plugin is None or not sys.platform.startswith("linux"):
        pytest.skip("no xcb plugin on this platform")
    # Whatever this machine has installed, every entry named is a real soname the plugin needs.
    for soname in display.missing_libraries(plugin):
        assert ".so." in soname


def test_the_launcher_prints_one_line_and_exits_1_instead_of_a_qt_abort(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(display, "xcb_plugin", lambda: tmp_path / "libqxcb.so")
    monkeypatch.setattr(display, "missing_libraries", lambda plugin: ["libxcb-cursor.so.0"])
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    monkeypatch.setenv("DISPLAY", ":99")
    assert main([]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: the window cannot open") and "libxcb-cursor0" in err
    assert "Traceback" not in err


def test_no_display_at_all_says_how_to_run_without_one(monkeypatch, tmp_path):
    monkeypatch.setattr(display, "xcb_plugin", lambda: tmp_path / "libqxcb.so")
    monkeypatch.setattr(display, "missing_libraries", lambda plugin: [])
    with pytest.raises(DisplayUnavailableError, match="DISPLAY is not set.*offscreen"):
        check_display({}, "linux")

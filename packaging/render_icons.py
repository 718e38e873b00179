"""Render nnstudio's SVG application icon to the PNG, ICO and ICNS files that desktops and installers need.

Run from the repository root after changing ``resources/icons/nnstudio.svg``:

    .venv/bin/python packaging/render_icons.py
    .venv/bin/python packaging/render_icons.py --preview /tmp/icons.png   # also draw a contact sheet

Writes ``resources/icons/hicolor/<n>x<n>/apps/nnstudio.png`` (the freedesktop icon theme layout, copied
as is into ``~/.local/share/icons`` or ``/usr/share/icons``), ``resources/icons/nnstudio.ico`` (Windows,
PyInstaller ``icon=``) and ``resources/icons/nnstudio.icns`` (macOS, the ``BUNDLE`` icon).

Only PySide6 is needed (QtSvg ships with PySide6-Essentials). The ICO and ICNS containers are written
here directly, with PNG-compressed entries, because Qt's own writers store a single image per file
while Windows and macOS pick the entry that matches the size they draw at.
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
from collections.abc import Iterable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QRectF, Qt  # noqa: E402
from PySide6.QtGui import QColor, QFont, QGuiApplication, QImage, QPainter  # noqa: E402
from PySide6.QtSvg import QSvgRenderer  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ICONS = ROOT / "resources" / "icons"
APP_SVG = ICONS / "nnstudio.svg"

#: sizes of the freedesktop hicolor theme renders
HICOLOR_SIZES = (16, 32, 48, 64, 128, 256, 512)
#: sizes Windows picks from (small icons, taskbar, Explorer views); 256 is the largest an ICO holds
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
#: ICNS entry type -> pixel size; the 'ic1x' types are the @2x (Retina) variants of the smaller ones
ICNS_TYPES = (
    (b"icp4", 16), (b"icp5", 32), (b"icp6", 64), (b"ic07", 128), (b"ic08", 256), (b"ic09", 512),
    (b"ic10", 1024), (b"ic11", 32), (b"ic12", 64), (b"ic13", 256), (b"ic14", 512),
)


class IconRenderError(RuntimeError):
    """An SVG that Qt cannot read, named by its path."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path


def render_svg(svg: bytes | Path, size: int, *, source: Path | None = None) -> QImage:
    """Return a square ``size`` x ``size`` transparent image of the SVG, drawn anti-aliased."""
    data = svg.read_bytes() if isinstance(svg, Path) else svg
    renderer = QSvgRenderer(QByteArray(data))
    if not renderer.isValid():
        raise IconRenderError(source or (svg if isinstance(svg, Path) else Path("<svg>")), "not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    return image


def png_bytes(image: QImage) -> bytes:
    """Return the image encoded as PNG."""
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise IconRenderError(Path("<memory>"), "Qt could not encode a PNG")
    return bytes(buffer.data())


def ico_container(pngs: dict[int, bytes]) -> bytes:
    """Return a Windows .ico file holding one PNG-compressed entry per size (Vista and later read these)."""
    header = struct.pack("<HHH", 0, 1, len(pngs))
    offset = len(header) + 16 * len(pngs)
    directory, payload = b"", b""
    for size, png in sorted(pngs.items()):
        if size > 256:
            raise ValueError(f"an ICO entry is at most 256 px, got {size}")
        side = 0 if size == 256 else size  # 0 stands for 256 in the one-byte width/height fields
        directory += struct.pack("<BBBBHHII", side, side, 0, 0, 1, 32, len(png), offset + len(payload))
        payload += png
    return header + directory + payload


def icns_container(pngs: dict[int, bytes]) -> bytes:
    """Return a macOS .icns file with PNG entries for every type in ``ICNS_TYPES``."""
    body = b""
    for kind, size in ICNS_TYPES:
        body += kind + struct.pack(">I", 8 + len(pngs[size])) + pngs[size]
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    print(f"wrote {path.relative_to(ROOT)} ({len(data):,} bytes)")


def render_app_icons(svg_path: Path = APP_SVG, icons_dir: Path = ICONS) -> None:
    """Write the hicolor PNGs, the ICO and the ICNS of the application icon."""
    sizes = sorted(set(HICOLOR_SIZES) | set(ICO_SIZES) | {size for _, size in ICNS_TYPES})
    pngs = {size: png_bytes(render_svg(svg_path, size, source=svg_path)) for size in sizes}
    for size in HICOLOR_SIZES:
        _write(icons_dir / "hicolor" / f"{size}x{size}" / "apps" / "nnstudio.png", pngs[size])
    _write(icons_dir / "nnstudio.ico", ico_container({size: pngs[size] for size in ICO_SIZES}))
    _write(icons_dir / "nnstudio.icns", icns_container(pngs))


def tinted(svg_path: Path, color: str) -> bytes:
    """Return the SVG text with ``currentColor`` replaced, which is how the layer icons are tinted."""
    return svg_path.read_bytes().replace(b"currentColor", color.encode())


def preview_sheet(out: Path, layer_icons: Iterable[Path]) -> None:
    """Save a contact sheet: the app icon at every size, then each layer icon at 16/24/48 px, light and dark."""
    layer_icons = list(layer_icons)
    row = 64
    width = 40 + 8 * 72
    height = 40 + 140 + row * len(layer_icons)
    sheet = QImage(width, height, QImage.Format.Format_ARGB32_Premultiplied)
    sheet.fill(QColor("#f4f5f7"))
    painter = QPainter(sheet)
    painter.setFont(QFont("Sans", 9))
    x = 20
    for size in HICOLOR_SIZES[:-2]:
        painter.drawImage(x, 20 + (128 - size) // 2, render_svg(APP_SVG, size))
        x += size + 16
    y = 170
    for path in layer_icons:
        painter.setPen(QColor("#333333"))
        painter.drawText(20, y + 30, path.stem)
        x = 160
        for background, ink in (("#ffffff", "#2d3142"), ("#23252e", "#e6e8ef")):
            painter.fillRect(x - 8, y, 136, row - 8, QColor(background))
            for size in (16, 24, 48):
                painter.drawImage(x, y + (row - 8 - size) // 2, render_svg(tinted(path, ink), size, source=path))
                x += size + 12
            x += 40
        y += row
    painter.end()
    sheet.save(str(out))
    print(f"wrote {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preview", metavar="FILE.png", type=Path, help="also save a contact sheet of all icons")
    options = parser.parse_args(argv)
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # QtSvg needs a GUI application
    render_app_icons()
    if options.preview:
        preview_sheet(options.preview, sorted((ICONS / "layers").glob("*.svg")))
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Text renderings of a walked autograd graph: Graphviz DOT and a hand-written, self-contained SVG.

PNG is made from the SVG by the Qt side (``nnstudio.ui.autograd_view.rasterize_svg``); this
package never imports Qt. :func:`save_drawing` writes DOT or SVG text through the one atomic writer.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import networkx as nx

from nnstudio.autograd.appearance import (
    LIGHT,
    SUBTITLE_PX,
    TITLE_PX,
    Theme,
    layer_tint,
    node_colors,
    node_lines,
    node_size,
    node_tooltip,
)
from nnstudio.autograd.collapse import collapse_layers
from nnstudio.autograd.gradients import classify, gradient_color, text_color_on
from nnstudio.autograd.layout import Layout, layered_layout
from nnstudio.core.files import verify_not_empty, verify_svg, write_text_atomic

FONT_FAMILY = "Segoe UI, Helvetica Neue, Helvetica, Arial, sans-serif"


def display_graph(graph: nx.DiGraph, collapsed: bool, expanded: Collection[str] = ()) -> nx.DiGraph:
    """Returns the graph to draw: ``graph`` itself, or its layers folded except ``expanded``."""
    return collapse_layers(graph, expanded) if collapsed else graph


def layout_graph(display: nx.DiGraph) -> Layout:
    """Returns the layered layout of ``display`` with boxes sized for their labels."""
    return layered_layout(display, lambda n: node_size(display.nodes[n]))


def save_drawing(path: str | os.PathLike[str], text: str) -> Path:
    """Write DOT or SVG ``text`` to ``path`` atomically (an SVG is checked to be one); return the path.

    Raises FileWriteError (the previous file kept) when the disk refuses.
    """
    path = Path(path)
    verify = verify_svg if path.suffix.lower() == ".svg" else verify_not_empty
    return write_text_atomic(path, text, verify=verify)


# --------------------------------------------------------------------------- DOT


def _dot_id(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(display: nx.DiGraph, root: str | None = None, theme: Theme = LIGHT,
           name: str = "autograd") -> str:
    """Returns Graphviz DOT text for ``display`` (nodes keep their ids; labels and tooltips set)."""
    lines = [f"digraph {_dot_id(name)} {{",
             f'  graph [rankdir=TB, bgcolor="{theme.background}", nodesep=0.25, ranksep=0.35];',
             f'  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11, '
             f'fontcolor="{theme.text}"];',
             f'  edge [color="{theme.edge}", arrowsize=0.6];']
    for node, data in display.nodes(data=True):
        title, subtitle = node_lines(data)
        fill, stroke = node_colors(data, theme, node == root)
        label = title if not subtitle else f"{title}\\n{subtitle}"
        label = label.replace('"', '\\"')
        tooltip = node_tooltip(data).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        lines.append(f'  {_dot_id(str(node))} [label="{label}", tooltip="{tooltip}", '
                     f'fillcolor="{fill}", color="{stroke}"];')
    for u, v in display.edges():
        lines.append(f"  {_dot_id(str(u))} -> {_dot_id(str(v))};")
    lines.append("}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- SVG


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def edge_path(points: tuple[tuple[float, float], ...]) -> str:
    """Returns SVG path data through ``points`` with vertical tangents (smooth, and straight when aligned)."""
    (x0, y0), rest = points[0], points[1:]
    parts = [f"M{_fmt(x0)},{_fmt(y0)}"]
    for x1, y1 in rest:
        dy = (y1 - y0) / 2
        parts.append(f"C{_fmt(x0)},{_fmt(y0 + dy)} {_fmt(x1)},{_fmt(y1 - dy)} {_fmt(x1)},{_fmt(y1)}")
        x0, y0 = x1, y1
    return " ".join(parts)


def _arrow_head(x: float, y: float, color: str) -> str:
    return (f'<path d="M{_fmt(x)},{_fmt(y)} l-4,-7 h8 z" fill="{color}" stroke="none"/>')


def to_svg(display: nx.DiGraph, layout: Layout, root: str | None = None, theme: Theme = LIGHT,
           gradient_norms: Mapping[str, float] | None = None, title: str = "autograd graph") -> str:
    """Returns a standalone SVG document of ``display`` drawn at ``layout``.

    Every node is a ``<g class="node" id=...>`` with a ``<title>`` (the hover tooltip: op, layer,
    saved tensor shapes and dtypes). ``gradient_norms`` (by node id) colours boxes on the log scale
    of ``nnstudio.autograd.gradients`` and outlines unhealthy ones.
    """
    norms = gradient_norms or {}
    width, height = _fmt(layout.width), _fmt(layout.height)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family={quoteattr(FONT_FAMILY)}>',
           f"<title>{escape(title)}</title>",
           f'<rect x="0" y="0" width="{width}" height="{height}" fill="{theme.background}"/>',
           f'<g class="edges" fill="none" stroke="{theme.edge}" stroke-width="1.2">']
    for edge in layout.edges:
        out.append(f'<path d="{edge_path(edge.points)}"/>')
    out.append("</g>")
    out.append(f'<g class="arrows">{"".join(_arrow_head(*e.points[-1], theme.edge) for e in layout.edges)}</g>')
    out.append('<g class="nodes">')
    for node, data in display.nodes(data=True):
        out.append(_svg_node(str(node), data, layout.nodes[node], theme, node == root, norms.get(node)))
    out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _svg_node(node: str, data: dict, box, theme: Theme, is_root: bool, norm: float | None) -> str:
    fill, stroke = node_colors(data, theme, is_root)
    stroke_width = 1.0
    if norm is not None:
        fill = gradient_color(norm)
        if classify(norm) is not None:
            stroke, stroke_width = "#dc2626", 2.5
    left, top = box.x - box.width / 2, box.y - box.height / 2
    title, subtitle = node_lines(data)
    text_fill = text_color_on(fill) if norm is not None else theme.text
    sub_fill = text_fill if norm is not None else theme.muted
    parts = [f'<g class="node {data["kind"]}" id={quoteattr(node)}>',
             f"<title>{escape(node_tooltip(data))}</title>",
             f'<rect x="{_fmt(left)}" y="{_fmt(top)}" width="{_fmt(box.width)}" height="{_fmt(box.height)}" '
             f'rx="6" ry="6" fill="{fill}" stroke="{stroke}" stroke-width="{stroke_width}"/>']
    tint = layer_tint(data.get("layer"))
    if tint is not None and data["kind"] != "layer":
        parts.append(f'<rect x="{_fmt(left + 1)}" y="{_fmt(top + 5)}" width="3" '
                     f'height="{_fmt(box.height - 10)}" rx="1.5" fill="{tint}"/>')
    if subtitle:
        parts.append(f'<text x="{_fmt(box.x)}" y="{_fmt(box.y - 2)}" text-anchor="middle" '
                     f'font-size="{_fmt(TITLE_PX)}" font-weight="600" fill="{text_fill}">{escape(title)}</text>')
        parts.append(f'<text x="{_fmt(box.x)}" y="{_fmt(box.y + 11)}" text-anchor="middle" '
                     f'font-size="{_fmt(SUBTITLE_PX)}" fill="{sub_fill}">{escape(subtitle)}</text>')
    else:
        parts.append(f'<text x="{_fmt(box.x)}" y="{_fmt(box.y + 4)}" text-anchor="middle" '
                     f'font-size="{_fmt(TITLE_PX)}" font-weight="600" fill="{text_fill}">{escape(title)}</text>')
    parts.append("</g>")
    return "".join(parts)

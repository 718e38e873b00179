"""How autograd nodes look, shared by the SVG/DOT renderers and the Qt view: text, size, colours."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

from nnstudio.autograd.collapse import LAYER
from nnstudio.autograd.walk import LEAF, PARAM
from nnstudio.core.formatting import format_shape

#: Font sizes (px) of a box's title and subtitle; box sizes below are estimated from them.
TITLE_PX = 12.0
SUBTITLE_PX = 10.0
_TITLE_CHAR = 0.60 * TITLE_PX
_SUBTITLE_CHAR = 0.58 * SUBTITLE_PX
_PADDING = 22.0
_MIN_WIDTH = 60.0


@dataclass(frozen=True)
class Theme:
    """Colours of one palette (light or dark)."""

    name: str
    background: str
    text: str
    muted: str
    edge: str
    op_fill: str
    op_stroke: str
    param_fill: str
    param_stroke: str
    leaf_fill: str
    root_fill: str
    layer_fill: str
    highlight: str


LIGHT = Theme("light", background="#ffffff", text="#1f2937", muted="#6b7280", edge="#9aa3b2",
              op_fill="#f3f4f6", op_stroke="#9ca3af", param_fill="#dbeafe", param_stroke="#3b82f6",
              leaf_fill="#e5e7eb", root_fill="#fde68a", layer_fill="#f8fafc", highlight="#f59e0b")
DARK = Theme("dark", background="#1e1f24", text="#e5e7eb", muted="#9ca3af", edge="#6b7280",
             op_fill="#2c2f36", op_stroke="#565b66", param_fill="#1e3a5f", param_stroke="#60a5fa",
             leaf_fill="#374151", root_fill="#7c5e10", layer_fill="#25272d", highlight="#fbbf24")
THEMES = {"light": LIGHT, "dark": DARK}

#: Hues that tell neighbouring layers apart (a stripe on each box); picked by a stable hash.
LAYER_TINTS = ("#e15759", "#4e79a7", "#f28e2b", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
               "#ff9da7", "#9c755f", "#8cd17d", "#499894", "#d37295")


def layer_tint(layer: str | None) -> str | None:
    """Returns the stripe colour of a layer (the same in every run), or None without a layer."""
    if layer is None:
        return None
    return LAYER_TINTS[zlib.crc32(layer.encode()) % len(LAYER_TINTS)]


def shape_text(shape: tuple[int, ...] | None) -> str:
    """Returns ``"[32, 1, 3, 3]"`` for a node's subtitle (nothing without a shape)."""
    return "" if shape is None else format_shape(shape)


def node_lines(data: dict[str, Any]) -> tuple[str, str]:
    """Returns a node's (title, subtitle): op and layer, parameter and shape, or layer and contents."""
    kind = data["kind"]
    if kind == PARAM:
        return data["param"], shape_text(data["shape"])
    if kind == LEAF:
        return "input", shape_text(data["shape"])
    if kind == LAYER:
        ops = data["ops"]
        # a few ops are named (what the layer does); many are counted (how big it is)
        parts = [" · ".join(ops)] if 0 < len(ops) <= 2 else [f"{len(ops)} op" + ("s" if len(ops) != 1 else "")]
        if data["params"]:
            parts.append(f"{len(data['params'])} param" + ("s" if len(data["params"]) != 1 else ""))
        return data["label"], " · ".join(parts)
    return data["label"], data["layer"] or ""


def node_size(data: dict[str, Any]) -> tuple[float, float]:
    """Returns the (width, height) in px of a node's box, sized for its two lines of text."""
    title, subtitle = node_lines(data)
    width = max(len(title) * _TITLE_CHAR, len(subtitle) * _SUBTITLE_CHAR) + _PADDING
    height = 40.0 if data["kind"] == LAYER else 34.0
    return max(width, _MIN_WIDTH), height


def node_tooltip(data: dict[str, Any]) -> str:
    """Returns the multi-line hover text: op, layer, saved tensors (shape, dtype) or contents."""
    kind = data["kind"]
    layer = data.get("layer") or "-"
    if kind == PARAM:
        return (f"parameter {data['param']}\nshape {shape_text(data['shape'])}  {data['dtype']}\n"
                f"layer {layer}\n(AccumulateGrad)")
    if kind == LEAF:
        return f"input tensor that requires grad\nshape {shape_text(data['shape'])}  {data['dtype']}"
    if kind == LAYER:
        lines = [f"layer {data['label']}", f"{len(data['ops'])} ops: " + ", ".join(data["ops"][:8])
                 + (" ..." if len(data["ops"]) > 8 else "")]
        lines += [f"  {p} {shape_text(s)}" for p, s in zip(data["params"], data["param_shapes"])]
        lines.append("double-click to expand")
        return "\n".join(lines)
    lines = [data["op"], f"layer {layer}"]
    if data["saved"]:
        lines.append("saved for backward:")
        lines += [f"  {value.describe()}" for value in data["saved"]]
    return "\n".join(lines)


def node_colors(data: dict[str, Any], theme: Theme, is_root: bool = False) -> tuple[str, str]:
    """Returns the (fill, stroke) of a node in ``theme`` before any gradient colouring."""
    kind = data["kind"]
    if kind == PARAM:
        return theme.param_fill, theme.param_stroke
    if kind == LEAF:
        return theme.leaf_fill, theme.op_stroke
    if kind == LAYER:
        return theme.layer_fill, layer_tint(data["label"]) or theme.op_stroke
    if is_root:
        return theme.root_fill, theme.highlight
    return theme.op_fill, theme.op_stroke


"""What differs between two runs: their training settings and their networks (layers and wiring).

``compare_runs(a, b)`` gives a :class:`RunDiff`: settings that changed (dotted paths such as
``lr`` or ``dataset.options.noise``), layers added or removed, layers whose parameters changed,
wires added or removed. ``RunDiff.summary()`` is the one line the Runs view shows under "changes".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Settings that change nothing about what a run learns; a summary leaves them out.
QUIET_SETTINGS = frozenset({"device"})


@dataclass(frozen=True)
class Change:
    """One value that differs: ``path`` (``lr``, ``fc1.out_features``), the value before and after.

    ``before`` or ``after`` is :data:`MISSING` when the value exists on one side only.
    """

    path: str
    before: Any
    after: Any

    def text(self) -> str:
        return f"{self.path} {format_value(self.before)} → {format_value(self.after)}"


class _Missing:
    def __repr__(self) -> str:
        return "—"


MISSING: Any = _Missing()


def format_value(value: Any) -> str:
    """Return a setting or parameter value compactly (``0.001``, ``[3, 3]``, ``none``)."""
    if value is MISSING:
        return "—"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return str(value)


@dataclass
class GraphDiff:
    """How network ``b`` differs from network ``a``."""

    added: list[tuple[str, str]] = field(default_factory=list)  # (node id, layer type)
    removed: list[tuple[str, str]] = field(default_factory=list)
    retyped: list[Change] = field(default_factory=list)  # a node id kept with another layer type
    params: list[Change] = field(default_factory=list)  # path "node.param"
    wires_added: list[tuple[str, str]] = field(default_factory=list)  # (source, target)
    wires_removed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def same(self) -> bool:
        return not (self.added or self.removed or self.retyped or self.params or self.wires_added
                    or self.wires_removed)


@dataclass
class RunDiff:
    """The differences between run ``a`` and run ``b`` (settings, then the network)."""

    settings: list[Change]
    graph: GraphDiff

    @property
    def same(self) -> bool:
        return not self.settings and self.graph.same

    def summary(self, limit: int = 4) -> str:
        """Return the changes as one short line (``lr 0.001 → 0.01 · +dropout1 · fc1.out_features 128 → 64``)."""
        parts = [c.text() for c in self.settings if c.path not in QUIET_SETTINGS]
        parts += [f"+{node}" for node, _ in self.graph.added]
        parts += [f"−{node}" for node, _ in self.graph.removed]
        parts += [c.text() for c in self.graph.retyped] + [c.text() for c in self.graph.params]
        wires = len(self.graph.wires_added) + len(self.graph.wires_removed)
        if wires and not (self.graph.added or self.graph.removed):
            parts.append(f"{wires} wire{'s' if wires != 1 else ''} changed")
        if not parts:
            return "no change"
        shown = parts[:limit]
        if len(parts) > limit:
            shown.append(f"+{len(parts) - limit} more")
        return " · ".join(shown)

    def lines(self) -> list[str]:
        """Return every difference as a line of text (for the CLI and the diff view's copy)."""
        out = [f"setting {c.text()}" for c in self.settings]
        out += [f"layer added: {node} ({kind})" for node, kind in self.graph.added]
        out += [f"layer removed: {node} ({kind})" for node, kind in self.graph.removed]
        out += [f"layer type {c.text()}" for c in self.graph.retyped]
        out += [f"parameter {c.text()}" for c in self.graph.params]
        out += [f"wire added: {s} → {t}" for s, t in self.graph.wires_added]
        out += [f"wire removed: {s} → {t}" for s, t in self.graph.wires_removed]
        return out or ["no differences"]


def _flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, path + "."))
        else:
            flat[path] = value
    return flat


def settings_diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[Change]:
    """Return the settings that differ between ``a`` and ``b`` (nested options as dotted paths)."""
    flat_a, flat_b = _flatten(a), _flatten(b)
    changes = []
    for path in list(flat_a) + [p for p in flat_b if p not in flat_a]:
        before, after = flat_a.get(path, MISSING), flat_b.get(path, MISSING)
        if _normal(before) != _normal(after):
            changes.append(Change(path, before, after))
    return changes


def _normal(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _nodes(document: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(n.get("id")): n for n in document.get("nodes", []) if isinstance(n, Mapping)}


def _wires(document: Mapping[str, Any]) -> set[tuple[str, str]]:
    return {(str(e.get("source")), str(e.get("target"))) for e in document.get("edges", [])
            if isinstance(e, Mapping)}


def graph_diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> GraphDiff:
    """Return how the network in project document ``b`` differs from the one in ``a``."""
    nodes_a, nodes_b = _nodes(a), _nodes(b)
    diff = GraphDiff()
    diff.added = [(nid, str(n.get("type"))) for nid, n in nodes_b.items() if nid not in nodes_a]
    diff.removed = [(nid, str(n.get("type"))) for nid, n in nodes_a.items() if nid not in nodes_b]
    for nid, node_a in nodes_a.items():
        node_b = nodes_b.get(nid)
        if node_b is None:
            continue
        if node_a.get("type") != node_b.get("type"):
            diff.retyped.append(Change(nid, node_a.get("type"), node_b.get("type")))
            continue
        params_a, params_b = node_a.get("params", {}) or {}, node_b.get("params", {}) or {}
        for name in list(params_a) + [p for p in params_b if p not in params_a]:
            before, after = params_a.get(name, MISSING), params_b.get(name, MISSING)
            if _normal(before) != _normal(after):
                diff.params.append(Change(f"{nid}.{name}", before, after))
        for key in ("trainable", "init"):
            before, after = node_a.get(key, MISSING), node_b.get(key, MISSING)
            if before != after:
                diff.params.append(Change(f"{nid}.{key}", before, after))
    wires_a, wires_b = _wires(a), _wires(b)
    diff.wires_added = sorted(wires_b - wires_a)
    diff.wires_removed = sorted(wires_a - wires_b)
    return diff


def compare_runs(a: Any, b: Any) -> RunDiff:
    """Return what changed from run ``a`` to run ``b`` (two :class:`~nnstudio.experiments.records.RunRecord`)."""
    # The same fingerprint means the same network: no need to read the two project files.
    same = a.fingerprint and a.fingerprint == b.fingerprint
    return RunDiff(settings_diff(a.settings, b.settings), GraphDiff() if same else graph_diff(a.graph, b.graph))

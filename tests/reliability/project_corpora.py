"""Generated hostile project files, one corpus per class of fault (issue 13), from the bundled examples.

Each generator yields ``(label, text, expected_location)``: the file's text and, for faults that
must be refused, the place in the file the refusal has to name (``None``: the file may load, and
then the problem has to be reported by the analysis).
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from typing import Any

from project_mutations import json_paths

from nnstudio.core.names import CLASHING_NAMES
from nnstudio.core.project import VERSION

Case = tuple[str, str, str | None]


def location(path: tuple[Any, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _replaced(document: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    parent = changed
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    return changed


def numeric_paths(document: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Every number in the document (booleans aside): positions, sizes, indices, settings, options."""
    found = []
    for path in json_paths(document):
        value = document
        for part in path:
            value = value[part]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            found.append(path)
    return found


def non_finite_numbers(document: dict[str, Any]) -> Iterator[Case]:
    """NaN, +inf and -inf in every numeric field: each must be refused at exactly that field."""
    for path in numeric_paths(document):
        for value in (float("nan"), float("inf"), float("-inf")):
            text = json.dumps(_replaced(document, path, value), allow_nan=True)
            yield f"{location(path)}={value}", text, location(path)


def absurd_numbers(document: dict[str, Any]) -> Iterator[Case]:
    """Huge, tiny and over-long numbers in every numeric field: refused, or loaded for the analysis."""
    for path in numeric_paths(document):
        for value in (10**30, -(10**30), 10**400, 1e308, -1e308, 2**63, 5e-324):
            yield f"{location(path)}={value!r:.20}", json.dumps(_replaced(document, path, value)), None


def _rename(document: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    for node in changed["nodes"]:
        if node["id"] == old:
            node["id"] = new
    for edge in changed["edges"]:
        for end in ("source", "target"):
            if edge[end] == old:
                edge[end] = new
    return changed


def clashing_names(document: dict[str, Any], rng: random.Random, per_node: int = 4) -> Iterator[Case]:
    """Layer ids (and so the wires naming them) replaced by names clashing with module attributes,
    whole or as a part of a dotted id: old files that must load and report the clash."""
    names = sorted(CLASHING_NAMES)
    for node in document["nodes"]:
        dotted = node["type"] != "input"
        for name in rng.sample(names, per_node):
            yield f"{node['id']}->{name}", json.dumps(_rename(document, node["id"], name)), None
            if dotted:
                for new in (f"blocks.0.{name}", f"{name}.0.conv"):
                    yield f"{node['id']}->{new}", json.dumps(_rename(document, node["id"], new)), None


#: (``a.b-c`` is a name: RegNet's submodules are called ``block1-0``; a dash must join two name parts.)
BAD_DOTTED_IDS = ["a..b", ".a", "a.", "a.01", "a.-1", "a.b c", "a.for", "a._private", "a.__init__", "a." * 150 + "a",
                  "a.1e3", "a.0x1", "a.b-", "a.-b", "a.b--", "a.ä", "a.\u00b2", "a.\x00", "a.\ud800", "0" * 12, "a.1234567890"]


def bad_dotted_ids(document: dict[str, Any]) -> Iterator[Case]:
    """Malformed dotted ids on every layer: refused, naming ``nodes[i].id``."""
    for index, node in enumerate(document["nodes"]):
        for bad in BAD_DOTTED_IDS:
            yield f"{node['id']}->{bad!r}", json.dumps(_rename(document, node["id"], bad)), f"nodes[{index}].id"


def containers_that_are_layers(document: dict[str, Any]) -> Iterator[Case]:
    """A layer whose id is the container of another layer's dotted id (``fc1`` and ``fc1.inner``)."""
    ids = [n["id"] for n in document["nodes"]]
    for index, node in enumerate(document["nodes"]):
        if node["type"] == "input":
            continue
        other = next((i for i in ids if i != node["id"]), None)
        if other is not None:
            yield (f"{node['id']}->{other}.inner", json.dumps(_rename(document, node["id"], f"{other}.inner")),
                   f"nodes[{index}]")


def reversed_chain(layers: int, dotted: bool = False) -> str:
    """Input -> ReLU x ``layers`` -> Output, nodes and wires listed in reverse order."""
    middle = [f"stage{i // 100}.{i % 100}.act" if dotted else f"relu{i}" for i in range(layers)]
    ids = ["image", *middle, "out"]
    nodes = ([{"id": "image", "type": "input", "params": {"shape": [8]}}]
             + [{"id": i, "type": "relu"} for i in middle] + [{"id": "out", "type": "output"}])
    edges = [{"source": a, "target": b} for a, b in zip(ids, ids[1:])]
    return json.dumps({"format": "nnstudio-project", "version": VERSION, "nodes": nodes[::-1], "edges": edges[::-1]})


def huge_and_deep(document: dict[str, Any]) -> Iterator[Case]:
    """Files at and beyond the size and depth limits."""
    yield "deep-params", json.dumps(document).replace('"params": {}', '"params": ' + "[" * 20_000 + "]" * 20_000,
                                                        1), None
    yield "long-name", json.dumps({**document, "name": "n" * 5_000_000}), None
    yield "long-description", json.dumps({**document, "description": "d\n" * 5_000_000}), None
    yield "long-id", json.dumps(_rename(document, document["nodes"][0]["id"], "a" * 201)), "nodes[0].id"
    many = [{"id": f"relu{i}", "type": "relu"} for i in range(100_001)]
    yield "too-many-nodes", json.dumps({"format": "nnstudio-project", "version": VERSION, "nodes": many}), "nodes"
    wide = {"id": "image", "type": "input", "params": {"shape": [1] * 200_000}}
    yield "shape-of-200000-dims", json.dumps({"format": "nnstudio-project", "version": VERSION, "nodes": [wide]}), None
    yield "19MB-of-whitespace", json.dumps(document) + " " * (19 * 2**20), None
    yield "big-options", json.dumps(_replaced(document, ("training", "dataset", "options"),
                                              {f"k{i}": [i] * 10 for i in range(100_000)})), None

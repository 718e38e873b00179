"""Damaged project files, made reproducibly from the bundled examples (seeded random generators)."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from typing import Any

#: Values a damaged or hand-edited file may hold where something else belongs.
ODD_VALUES: tuple[Any, ...] = (None, True, False, 0, -1, 1.5, -1e9, 1e308, float("nan"), float("inf"), "",
                               "x", "relu", [], {}, [1, 2], [10**9, 10**9], {"a": 1}, 10**9, 2**63, -(2**63))


def json_paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Yield the path of every value inside ``value`` (dict keys and list indices), itself excluded."""
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield (*prefix, key)
        yield from json_paths(child, (*prefix, key))


def flip_bytes(data: bytes, rng: random.Random) -> bytes:
    """Return ``data`` with one to three bytes replaced by random ones."""
    flipped = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        flipped[rng.randrange(len(flipped))] = rng.randrange(256)
    return bytes(flipped)


def mutate_structure(document: dict[str, Any], rng: random.Random,
                     paths: list[tuple[Any, ...]] | None = None) -> dict[str, Any]:
    """Return a copy of a project document with one value replaced by an odd one, or removed."""
    document = copy.deepcopy(document)
    path = rng.choice(paths if paths is not None else list(json_paths(document)))
    parent = document
    for part in path[:-1]:
        parent = parent[part]
    if rng.random() < 0.85:
        parent[path[-1]] = rng.choice(ODD_VALUES)
    else:
        del parent[path[-1]]
    return document


def param_paths(document: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Return the paths of every layer parameter value in a project document."""
    return [p for p in json_paths(document) if len(p) >= 4 and p[0] == "nodes" and p[2] == "params"]


def dumps(document: dict[str, Any]) -> str:
    # allow_nan: a hand-edited file may well hold NaN, which Python's json reads.
    return json.dumps(document, allow_nan=True)

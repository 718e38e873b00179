"""Hostile project files for every verb that reads one, drawn from the generated corpora of issue 13.

Samples (seeded; all of them in the long profile) of each class in ``project_corpora`` and
``project_mutations``: truncations, byte flips, wrong types and removed values, NaN and infinities
in every numeric field, absurd numbers, names clashing with module attributes, malformed dotted ids,
containers that are layers, huge and deep files; and names holding control characters and lone
surrogates. A refusal must name the file, and the field when the corpus knows it.
"""

from __future__ import annotations

import copy
import json
import random
import re
from itertools import islice
from pathlib import Path
from typing import Any

import project_corpora
from bad_files import BadFile, shown
from project_mutations import ODD_VALUES, dumps, flip_bytes, json_paths
from verdicts import EITHER, REFUSED

from nnstudio.core.examples import example_path

#: Cases drawn per class in CI (the long profile takes every case of every class).
CI_SAMPLES = 8


def _sample(cases: list[Any], count: int | None, rng: random.Random) -> list[Any]:
    return cases if count is None or len(cases) <= count else rng.sample(cases, count)


def _document(example: str) -> dict[str, Any]:
    return json.loads(example_path(example).read_text(encoding="utf-8"))


def name_cases(document: dict[str, Any]) -> list[tuple[str, str, str | None, str]]:
    """(label, text, location, expect): control characters and lone surrogates in names and ids."""
    cases = []
    for label, name in (("escape-sequences", "\x1b[2J\x1b[31mred\x07"), ("c1-controls", "csi\x9b31m"),
                        ("carriage-return", "fine\rEVIL"), ("bidi-override", "abc\u202edcba"),
                        ("lone-surrogate", "caf\ud800"), ("newlines", "one\ntwo")):
        for key in ("name", "description"):
            cases.append((f"{key}-{label}", json.dumps({**document, key: name}), None, EITHER))
        renamed = json.loads(json.dumps(document))
        old = renamed["nodes"][1]["id"]
        renamed["nodes"][1]["id"] = f"fc{name}"
        for edge in renamed["edges"]:
            for end in ("source", "target"):
                if edge[end] == old:
                    edge[end] = f"fc{name}"
        cases.append((f"layer-id-{label}", json.dumps(renamed), "nodes[1].id", REFUSED))
    cases.append(("settings-device-escape", json.dumps({**document, "training": {
        **document["training"], "device": "\x1b[31mcuda"}}), "training.device", REFUSED))
    return cases


def _layer_ids(text: str | bytes, fallback: dict[str, Any]) -> list[str]:
    """The layer ids of a (possibly damaged) project text: any of them named counts as naming the culprit."""
    try:
        nodes = json.loads(text)["nodes"]
        ids = [node["id"] for node in nodes if isinstance(node, dict) and isinstance(node.get("id"), str)]
    except (ValueError, TypeError, KeyError, IndexError, RecursionError):
        ids = []
    return ids or [node["id"] for node in fallback["nodes"]]


def _mutated(document: dict[str, Any], rng: random.Random) -> tuple[dict[str, Any], str]:
    """A copy of ``document`` with one value replaced by an odd one, or removed; and where."""
    document = copy.deepcopy(document)
    path = rng.choice(list(json_paths(document)))
    parent = document
    for part in path[:-1]:
        parent = parent[part]
    if rng.random() < 0.85:
        parent[path[-1]] = rng.choice(ODD_VALUES)
    else:
        del parent[path[-1]]
    return document, project_corpora.location(path)


def _named_by(location: str, document: dict[str, Any]) -> tuple[str, ...]:
    """What a message may name for a fault at ``location``: the place, its key, the layer it is in."""
    keys = re.findall(r"[A-Za-z_]\w*", location)
    found = [location, *keys[-1:]]
    node = re.match(r"nodes\[(\d+)\]", location)
    if node and int(node.group(1)) < len(document.get("nodes", [])):
        layer = document["nodes"][int(node.group(1))]
        if isinstance(layer, dict) and isinstance(layer.get("id"), str):
            found.append(layer["id"])
    return tuple(found)


def project_files(folder: Path, example: str, long: bool = False) -> list[BadFile]:
    """Hostile variants of bundled ``example``, written into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"harness-{example}")
    count = None if long else CI_SAMPLES
    document = _document(example)
    data = example_path(example).read_bytes()
    made: list[BadFile] = []

    def add(kind: str, label: str, text: str | bytes, location: str | None, expect: str,
            near: tuple[str, ...] = ()) -> None:
        """``location``: the place a refusal must name; ``near``: places it may name besides the file."""
        path = folder / f"{kind}-{len(made)}.nns"
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", errors="surrogatepass"))
        culprits = (location,) if location else (shown(path), *near, *_layer_ids(text, document))
        made.append(BadFile(f"{kind}/{label}", str(path), culprits, expect))

    end = len(data.rstrip())
    for cut in _sample(list(range(0, end, max(1, end // 200))), count, rng):
        add("truncated", f"at-{cut}", data[:cut], None, REFUSED)
    for index in range(40 if long else CI_SAMPLES):
        add("flipped", str(index), flip_bytes(data, rng), None, EITHER)
    for index in range(200 if long else CI_SAMPLES * 2):
        mutated, where = _mutated(document, rng)
        add("mutated", f"{index}:{where}", dumps(mutated), None, EITHER, _named_by(where, document))
    generated = {
        "non-finite": (list(project_corpora.non_finite_numbers(document)), REFUSED),
        "absurd": (list(project_corpora.absurd_numbers(document)), EITHER),
        "clashing-name": (list(islice(project_corpora.clashing_names(document, rng), 400)), REFUSED),
        "dotted-id": (list(project_corpora.bad_dotted_ids(document)), REFUSED),
        "container": (list(project_corpora.containers_that_are_layers(document)), REFUSED),
    }
    for kind, (cases, expect) in generated.items():
        for label, text, location in _sample(cases, count, rng):
            # A clash loads and is reported by the analysis, which names the layer: any layer id counts.
            add(kind, label, text, location, expect, _named_by(label.partition("=")[0], document))
    huge = list(project_corpora.huge_and_deep(document))
    for label, text, location in huge if long else [c for c in huge if c[0] in ("deep-params", "long-id")]:
        # 100,000 unknown dataset options load; the analysis names the first (k0) and counts the rest
        add("huge", label, text, location, EITHER if location is None else REFUSED,
            ("k0",) if label == "big-options" else ())
    for label, text, location, expect in name_cases(document):
        add("names", label, text, location, expect)
    return made

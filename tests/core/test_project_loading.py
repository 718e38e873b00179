"""Loading refuses non-finite and absurd numbers with the field named, and takes time linear in the file."""

from __future__ import annotations

import json
import math
import random
import time

import pytest

from nnstudio.core.catalog import Catalog, LayerKind, LayerSpec
from nnstudio.core.errors import ProjectFileError
from nnstudio.core.fields import ParamKind, ParamSpec
from nnstudio.core.project import VERSION, loads_project


def _document(nodes, edges=(), **extra):
    document = {"format": "nnstudio-project", "version": VERSION, "nodes": list(nodes), "edges": list(edges)}
    document.update(extra)
    return document


def _refusal(document) -> ProjectFileError:
    with pytest.raises(ProjectFileError) as refused:
        loads_project(json.dumps(document, allow_nan=True), source="bad.nns")
    return refused.value


NON_FINITE = [float("inf"), float("-inf"), float("nan")]


@pytest.mark.parametrize("value", NON_FINITE, ids=repr)
@pytest.mark.parametrize(("where", "build"), [
    ("nodes[0].position[0]", lambda v: _document([{"id": "a", "type": "relu", "position": [v, 0.0]}])),
    ("nodes[0].position[1]", lambda v: _document([{"id": "a", "type": "relu", "position": [0.0, v]}])),
    ("nodes[0].params.p", lambda v: _document([{"id": "a", "type": "dropout", "params": {"p": v}}])),
    ("nodes[0].params.out_features",
     lambda v: _document([{"id": "a", "type": "linear", "params": {"out_features": v}}])),
    ("training.lr", lambda v: _document([], training={"lr": v})),
    ("training.grad_clip", lambda v: _document([], training={"grad_clip": v})),
    ("training.dataset.options.noise", lambda v: _document([], training={"dataset": {"kind": "moons",
                                                                                     "options": {"noise": v}}})),
    ("edges[0].index", lambda v: _document([{"id": "a", "type": "relu"}, {"id": "b", "type": "add"}],
                                           [{"source": "a", "target": "b", "index": v}])),
    ("description", lambda v: _document([], description=v)),
])
def test_non_finite_numbers_are_refused_with_the_field_named(where, build, value):
    refused = _refusal(build(value))
    assert refused.location == where
    assert "not a finite number" in refused.reason
    if where.startswith("nodes"):
        assert refused.reason.startswith("layer 'a': ")


def test_a_number_written_too_large_for_a_float_is_an_infinity_and_refused():
    text = json.dumps(_document([{"id": "a", "type": "relu", "position": [0.0, 0.0]}])).replace("[0.0, 0.0]",
                                                                                                  "[1e999, 0]")
    with pytest.raises(ProjectFileError, match=r"nodes\[0\]\.position\[0\]: layer 'a': inf is not a finite"):
        loads_project(text, source="bad.nns")


@pytest.mark.parametrize(("document", "where", "message"), [
    (_document([{"id": "a", "type": "relu", "position": [1e12, 0.0]}]), "nodes[0].position[0]", "less than or equal"),
    (_document([{"id": "a", "type": "relu", "position": [0, -10**400]}]), "nodes[0].position[1]", ""),
    (_document([{"id": "a", "type": "linear", "params": {"out_features": 10**400}}]), "nodes[0].params.out_features",
     "a number of 401 digits is above the maximum"),
    (_document([{"id": "a", "type": "input", "params": {"shape": [10**30]}}]), "nodes[0].params.shape",
     "above the maximum"),
    (_document([], training={"epochs": 10**30}), "training.epochs", "less than or equal"),
])
def test_absurd_sizes_are_refused_with_the_field_named(document, where, message):
    refused = _refusal(document)
    assert refused.location == where
    assert message in refused.reason


def test_infinities_stay_allowed_where_the_layer_says_so():
    """An imported ``masked_fill(x, mask, -inf)`` keeps its constant; NaN is still refused there."""
    catalog = Catalog()
    catalog.register(LayerSpec("input", "Input", "IO", "", LayerKind.INPUT, inputs=(), params=(
        ParamSpec("shape", ParamKind.INT_TUPLE, (4,), "", minimum=1),
        ParamSpec("dtype", ParamKind.CHOICE, "float32", "", choices=("float32",)))))
    catalog.register(LayerSpec("fill", "Fill", "Fn", "", LayerKind.MODULE, target="torch.nn.Identity", params=(
        ParamSpec("value", ParamKind.FLOAT, 0.0, "", allow_infinite=True),
        ParamSpec("scale", ParamKind.FLOAT, 1.0, ""))))
    for value in (float("-inf"), float("inf")):
        document = _document([{"id": "fill1", "type": "fill", "params": {"value": value}}])
        project = loads_project(json.dumps(document), catalog)
        assert project.graph.node("fill1").params["value"] == value
    for params, where in [({"value": float("nan")}, "nodes[0].params.value"),
                          ({"scale": float("-inf")}, "nodes[0].params.scale")]:
        document = _document([{"id": "fill1", "type": "fill", "params": params}])
        with pytest.raises(ProjectFileError) as refused:
            loads_project(json.dumps(document), catalog)
        assert refused.value.location == where


# --- loading time is linear in the file, whatever the order of its records ----------------------

def _chain_text(layers: int, order: str) -> str:
    ids = ["image", *(f"relu{i}" for i in range(layers)), "out"]
    nodes = [{"id": "image", "type": "input", "params": {"shape": [8]}}]
    nodes += [{"id": node_id, "type": "relu"} for node_id in ids[1:-1]]
    nodes.append({"id": "out", "type": "output"})
    edges = [{"source": a, "target": b} for a, b in zip(ids, ids[1:])]
    if order == "reversed":
        nodes, edges = nodes[::-1], edges[::-1]
    elif order == "shuffled":
        rng = random.Random(layers)
        rng.shuffle(nodes)
        rng.shuffle(edges)
    return json.dumps(_document(nodes, edges))


def _fan_in_text(inputs: int, _order: str) -> str:
    """One Concat joining ``inputs`` ReLUs: every wire enters the same port."""
    nodes = [{"id": "image", "type": "input", "params": {"shape": [8]}},
             *({"id": f"relu{i}", "type": "relu"} for i in range(inputs)),
             {"id": "cat", "type": "concat"}, {"id": "out", "type": "output"}]
    edges = [*({"source": "image", "target": f"relu{i}"} for i in range(inputs)),
             *({"source": f"relu{i}", "target": "cat", "index": inputs - 1 - i} for i in range(inputs)),
             {"source": "cat", "target": "out"}]
    return json.dumps(_document(nodes[::-1], edges[::-1]))


def _best_load_time(text: str, repeats: int = 3) -> float:
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        loads_project(text)
        best = min(best, time.perf_counter() - start)
    return best


@pytest.mark.parametrize(("make", "order"), [(_chain_text, "reversed"), (_chain_text, "shuffled"),
                                             (_fan_in_text, "reversed")], ids=["reversed-chain",
                                                                                "shuffled-chain", "fan-in"])
def test_loading_four_times_the_layers_takes_about_four_times_as_long(make, order):
    """A complexity check, not a time limit: a quadratic loader takes 16x as long (47 s for 10,000 before)."""
    small, large = make(5_000, order), make(20_000, order)
    _best_load_time(small, 1)  # warm caches and imports
    ratio = _best_load_time(large) / _best_load_time(small)
    assert ratio < 8, f"loading 4x the layers took {ratio:.1f}x as long"

"""A new layer is one catalog entry plus one rule: the palette, shapes, compiler and model.py all see it.

Both are registered in scratch copies (a catalog copy and a child rule registry made active for the
block), so nothing leaks into the layers every other test sees.
"""

from __future__ import annotations

import pytest
import torch

from nnstudio.compile import analyze, compile_graph, generate_source
from nnstudio.compile.rule_kinds import ElementwiseMerge, ModuleRule
from nnstudio.compile.rules import RULES, InputLayout, RuleRegistry
from nnstudio.core.catalog import CATALOG, LayerKind, LayerSpec, ParamKind, ParamSpec, PortSpec
from nnstudio.core.graph import Graph


@pytest.fixture
def extended():
    """A catalog and a rule registry that know two more layers: a module and a merge."""
    catalog = CATALOG.copy()
    catalog.register(LayerSpec(
        "pixel_shuffle", "PixelShuffle", "Shape", "Moves channels into space: [N, C·r², H, W] -> [N, C, H·r, W·r]",
        LayerKind.MODULE, target="torch.nn.PixelShuffle", name_prefix="shuffle",
        params=(ParamSpec("upscale_factor", ParamKind.INT, 2, "how much larger height and width become",
                          minimum=1, maximum=16),)))
    catalog.register(LayerSpec(
        "maximum", "Maximum", "Merge", "Element-wise maximum of its inputs", LayerKind.MERGE,
        target="torch.maximum", inputs=(PortSpec("in", variadic=True),)))
    rules = RuleRegistry(parent=RULES)
    rules.register(ModuleRule("pixel_shuffle", layout=InputLayout((4,), "[N, C, H, W]")))
    rules.register(ElementwiseMerge("maximum", verb="take the maximum of"))
    return catalog, rules


def network(catalog, channels=16):
    """x -> conv (``channels``) -> pixel shuffle -> max(., transposed conv on x) -> output."""
    nodes = [
        {"id": "x_in", "type": "input", "params": {"shape": [4, 8, 8]}},
        {"id": "wide", "type": "conv2d", "params": {"out_channels": channels, "kernel_size": 1}},
        {"id": "shuffle1", "type": "pixel_shuffle", "params": {"upscale_factor": 2}},
        {"id": "up", "type": "conv_transpose2d", "params": {"out_channels": 4, "kernel_size": 2, "stride": 2}},
        {"id": "big", "type": "maximum", "params": {}},
        {"id": "out", "type": "output", "params": {}},
    ]
    edges = [("x_in", "wide", 0), ("wide", "shuffle1", 0), ("x_in", "up", 0), ("shuffle1", "big", 0),
             ("up", "big", 1), ("big", "out", 0)]
    return Graph.from_records(nodes, [{"source": s, "target": t, "index": i} for s, t, i in edges], catalog)


def test_a_new_layer_is_one_entry_and_one_rule(extended):
    catalog, rules = extended
    # The palette lists it in its category; the global catalog is untouched.
    assert [s.type_id for s in catalog.categories()["Shape"]][-1] == "pixel_shuffle"
    assert "maximum" in [s.type_id for s in catalog.categories()["Merge"]]
    assert "pixel_shuffle" not in CATALOG and "pixel_shuffle" not in RULES
    graph = network(catalog)
    with rules.active():
        analysis = analyze(graph)
        assert analysis.ok, [str(p) for p in analysis.errors]
        assert analysis.nodes["shuffle1"].output_shape == ("N", 4, 16, 16)
        assert analysis.nodes["up"].output_shape == ("N", 4, 16, 16)
        assert analysis.nodes["big"].output_shape == ("N", 4, 16, 16)
        compiled = compile_graph(graph, analysis)
        source = generate_source(graph)
        bad = analyze(network(catalog, channels=12))  # 12 channels do not shuffle into 4 x 2 x 2
    assert "self.shuffle1 = nn.PixelShuffle(2)" in source
    assert "big = torch.maximum(shuffle1, up)" in source
    namespace: dict = {}
    exec(compile(source, "model.py", "exec"), namespace)
    model = namespace["Model"]()
    model.load_state_dict(compiled.state_dict())
    x = torch.rand(3, 4, 8, 8)
    assert torch.equal(model(x), compiled(x))
    (problem,) = bad.errors
    assert problem.node_id == "big" and "[N, 3, 16, 16]" in problem.message and "up" in problem.message


def test_without_its_rule_active_the_layer_is_a_problem_not_a_crash(extended):
    catalog, _ = extended
    (problem,) = [p for p in analyze(network(catalog)).errors if p.node_id == "shuffle1"]
    assert problem.code == "no-rule"

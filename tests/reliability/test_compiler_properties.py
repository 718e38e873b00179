"""Property tests of the graph compiler over thousands of generated networks (hypothesis).

Valid networks analyse cleanly, compile, run forward and backward, and export a ``model.py`` that
computes exactly the same outputs. Broken ones (cycles, dangling ports, shape mismatches, absurd
sizes) report error Problems with a node id, and compiling them raises CompileError naming a node:
never any other exception, and never a large allocation.

Each CI run draws 1,000 valid and 1,000 broken networks with a fixed seed (``derandomize``) so a
failure reproduces; ``HYPOTHESIS_PROFILE=long`` or ``NNSTUDIO_LONG=1`` draws 10,000 of each, freshly.
"""

from __future__ import annotations

import os
import resource

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from network_strategies import valid_networks

from nnstudio.compile import CompileError, analyze, compile_graph, generate_source
from nnstudio.core.catalog import LayerKind
from nnstudio.core.commands import AddNode, Connect, Disconnect, SetParam
from nnstudio.core.errors import GraphError, ParamError
from nnstudio.core.graph import Edge, Graph

LONG = os.environ.get("HYPOTHESIS_PROFILE") == "long" or os.environ.get("NNSTUDIO_LONG") == "1"
EXAMPLES = 10_000 if LONG else 1_000
PROFILE = settings(max_examples=EXAMPLES, deadline=None, derandomize=not LONG, database=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                          HealthCheck.filter_too_much])
#: Peak resident memory may grow by at most this much over a whole property test (tiny tensors only).
RSS_GROWTH_LIMIT_MB = 300


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


@pytest.fixture(autouse=True)
def _one_thread_and_bounded_memory():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only add overhead on the shared 2-core machine
    before = peak_rss_mb()
    yield
    torch.set_num_threads(threads)
    growth = peak_rss_mb() - before
    assert growth < RSS_GROWTH_LIMIT_MB, f"peak memory grew by {growth:.0f} MB"


def sample_input(graph: Graph, batch: int = 3) -> torch.Tensor:
    node = next(n for n in graph.nodes() if n.spec.kind is LayerKind.INPUT)
    shape = (batch, *node.params["shape"])
    if node.params["dtype"] == "int64":
        embedding = next(n for n in graph.nodes() if n.type_id == "embedding")
        return torch.randint(0, embedding.params["num_embeddings"], shape)
    return torch.rand(shape, requires_grad=True)


@PROFILE
@given(valid_networks())
def test_valid_networks_compile_run_forward_backward_and_export_equal_code(case):
    graph, final_shape = case
    analysis = analyze(graph)
    assert analysis.ok, [str(p) for p in analysis.errors]
    assert analysis.output_shape == ("N", *final_shape)
    module = compile_graph(graph, analysis)
    x = sample_input(graph)
    out = module(x)
    assert tuple(out.shape) == (3, *final_shape)
    out.float().square().mean().backward()
    if x.is_floating_point():
        assert x.grad is not None and x.grad.shape == x.shape
    missing = [name for name, p in module.named_parameters() if p.grad is None]
    assert not missing, f"no gradient reached {missing}"
    namespace: dict = {}
    exec(compile(generate_source(graph, analysis=analysis), "model.py", "exec"), namespace)
    exported = namespace["Model"]()
    exported.load_state_dict(module.state_dict())
    module.eval()
    exported.eval()
    with torch.no_grad():
        assert torch.equal(module(x), exported(x))


# --- breaking a valid network ----------------------------------------------------------------------

def _layers(graph: Graph) -> list[str]:
    return [n.id for n in graph.nodes() if n.spec.kind not in (LayerKind.INPUT, LayerKind.OUTPUT)]


def make_cycle(draw, graph: Graph) -> None:
    """Wire a layer back into an earlier one, as a damaged document could (commands refuse loops)."""
    order = [n for n in graph.topological_order() if n in _layers(graph)]
    later = draw(st.sampled_from(order))
    earlier = draw(st.sampled_from(order[: order.index(later) + 1]))
    graph._g.add_edge(later, earlier, key=("in", 99), edge=Edge(later, earlier, "in", 99))


def make_dangling(draw, graph: Graph) -> None:
    Disconnect(graph, draw(st.sampled_from(graph.edges()))).redo()


def make_shape_mismatch(draw, graph: Graph) -> None:
    """Pin a size the analysis infers to a wrong value, or add two tensors of different widths."""
    analysis = analyze(graph)
    sized = [(n, name) for n in _layers(graph) for name in analysis.nodes[n].inferred]
    if sized and draw(st.booleans()):
        node_id, name = draw(st.sampled_from(sized))
        fitting = analysis.nodes[node_id].resolved[name]
        wrong = fitting + draw(st.integers(1, 40)) if isinstance(fitting, int) else [fitting[-1] + 1]
        SetParam(graph, node_id, name, wrong).redo()
        return
    node_id = draw(st.sampled_from(_layers(graph)))
    # Two Linear layers of different widths (both > 1, so no broadcasting) joined by Add.
    narrow = draw(st.integers(2, 6))
    for branch, width in (("narrow", narrow), ("wide", narrow + draw(st.integers(1, 5)))):
        AddNode(graph, "linear", params={"out_features": width}, node_id=branch).redo()
        Connect(graph, node_id, branch).redo()
    AddNode(graph, "add", node_id="joined").redo()
    Connect(graph, "narrow", "joined").redo()
    Connect(graph, "wide", "joined").redo()
    AddNode(graph, "output", node_id="second_out").redo()
    Connect(graph, "joined", "second_out").redo()


#: Sizes inside each parameter's allowed range that no machine can build or run.
ABSURD_LAYERS = {
    4: [("conv2d", {"kernel_size": 4096}), ("max_pool2d", {"kernel_size": 4096}),
        ("conv2d", {"out_channels": 1_000_000, "kernel_size": 4096}),
        ("avg_pool2d", {"kernel_size": 4096, "stride": 4096})],
    3: [("conv1d", {"kernel_size": 4096}), ("conv1d", {"out_channels": 1_000_000, "kernel_size": 4096}),
        ("reshape", {"shape": [1_000_000, 1_000_000]})],
    2: [("reshape", {"shape": [4096, 4096]}),
        ("linear", {"in_features": 1_000_000, "out_features": 1_000_000})],
}


def make_absurd(draw, graph: Graph) -> None:
    """Insert, after a random layer, one whose sizes are allowed but absurd for its input."""
    node_id = draw(st.sampled_from(_layers(graph)))
    rank = len(analyze(graph).nodes[node_id].output_shape)
    type_id, params = draw(st.sampled_from(ABSURD_LAYERS.get(rank, ABSURD_LAYERS[2])))
    if rank not in ABSURD_LAYERS:
        type_id, params = "reshape", {"shape": [7_777, 7_777]}
    AddNode(graph, type_id, params=params, node_id="absurd").redo()
    for edge in graph.out_edges(node_id):
        Disconnect(graph, edge).redo()
        Connect(graph, "absurd", edge.target, edge.port).redo()
    Connect(graph, node_id, "absurd").redo()


def make_huge_weights(draw, graph: Graph) -> None:
    """A chain of allowed-but-huge Linear layers: trillions of weights must never be allocated."""
    tip = draw(st.sampled_from(_layers(graph)))
    if len(analyze(graph).nodes[tip].output_shape) != 2:
        AddNode(graph, "flatten", node_id="flat").redo()
        Connect(graph, tip, "flat").redo()
        tip = "flat"
    for i, width in enumerate((1_000_000, draw(st.sampled_from([1_000_000, 500_000])))):
        AddNode(graph, "linear", params={"out_features": width}, node_id=f"huge{i}").redo()
        Connect(graph, tip, f"huge{i}").redo()
        tip = f"huge{i}"
    AddNode(graph, "output", node_id="huge_out").redo()
    Connect(graph, tip, "huge_out").redo()
    for node in list(graph.nodes()):
        if node.spec.kind is LayerKind.OUTPUT and node.id != "huge_out":
            for edge in graph.in_edges(node.id):
                Disconnect(graph, edge).redo()


def make_stray(draw, graph: Graph) -> None:
    AddNode(graph, draw(st.sampled_from(["linear", "conv2d", "add"])), node_id="stray").redo()


BREAKERS = {"cycle": make_cycle, "dangling": make_dangling, "shape_mismatch": make_shape_mismatch,
            "absurd": make_absurd, "huge_weights": make_huge_weights, "stray": make_stray}
#: What may pass analysis and be refused by compile only: nothing (weights too large for memory are
#: an analysis error too, counted on meta tensors, so compile refuses them before allocating).
CAUGHT_BY_COMPILE_ONLY: set[str] = set()


@PROFILE
@given(st.data())
def test_broken_networks_report_problems_and_raise_only_compile_error(data):
    graph, _ = data.draw(valid_networks())
    kind = data.draw(st.sampled_from(sorted(BREAKERS)))
    BREAKERS[kind](data.draw, graph)
    analysis = analyze(graph)  # never raises: every finding is a Problem
    if kind not in CAUGHT_BY_COMPILE_ONLY:
        assert analysis.errors, f"{kind} went unnoticed"
    assert all(p.node_id in graph for p in analysis.errors), [str(p) for p in analysis.errors]
    with pytest.raises(CompileError) as refused:
        compile_graph(graph)
    assert refused.value.node_id in graph, f"{kind}: {refused.value}"
    with pytest.raises(CompileError):
        generate_source(graph)


ABSURD_EDITS = [
    ("conv2d", "kernel_size", 0), ("conv2d", "kernel_size", -1), ("conv2d", "out_channels", 10**9),
    ("conv2d", "stride", 0), ("linear", "out_features", 10**9), ("linear", "out_features", 0),
    ("linear", "out_features", 2.5), ("linear", "out_features", "many"), ("dropout", "p", 5.0),
    ("max_pool2d", "kernel_size", 0), ("lstm", "num_layers", 0), ("lstm", "hidden_size", 10**12),
    ("embedding", "embedding_dim", 10**9), ("multihead_attention", "num_heads", 0),
    ("reshape", "shape", [0]), ("reshape", "shape", [-1, -1]), ("adaptive_avg_pool2d", "output_size", [0, 0]),
]


@pytest.mark.parametrize(("type_id", "name", "value"), ABSURD_EDITS,
                         ids=[f"{t}.{n}={v}" for t, n, v in ABSURD_EDITS])
def test_absurd_parameter_edits_are_refused_with_the_node_and_field(type_id, name, value):
    graph = Graph()
    AddNode(graph, type_id, node_id="layer").redo()
    revision = graph.revision
    with pytest.raises(ParamError) as refused:
        SetParam(graph, "layer", name, value)
    assert (refused.value.node_id, refused.value.field) == ("layer", name)
    assert graph.revision == revision, "a refused edit changed the graph"


def test_a_loop_cannot_be_wired_through_commands():
    graph = Graph()
    for node_id in ("a", "b"):
        AddNode(graph, "relu", node_id=node_id).redo()
    Connect(graph, "a", "b").redo()
    with pytest.raises(GraphError) as refused:
        Connect(graph, "b", "a")
    assert refused.value.node_id == "a"

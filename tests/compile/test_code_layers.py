"""Function, Module, Call and Parameter layers in project files: call data is checked, nothing untrusted runs."""

from __future__ import annotations

import json

import pytest
import torch
from test_codegen import load_model_class

from nnstudio.compile import analyze, compile_graph, generate_source
from nnstudio.compile.compiler import CompileError
from nnstudio.core.errors import ProjectFileError
from nnstudio.core.graph import Graph
from nnstudio.core.project import loads_project


def _document(*layers, wires=None):
    nodes = [{"id": "x", "type": "input", "params": {"shape": [4]}}, *layers,
             {"id": "out", "type": "output"}]
    chain = [n["id"] for n in nodes]
    edges = wires if wires is not None else [{"source": a, "target": b} for a, b in zip(chain, chain[1:])]
    return {"format": "nnstudio-project", "version": 2, "nodes": nodes, "edges": edges}


def _function(node_id, target, args=({"$input": 0},), kwargs=None):
    return {"id": node_id, "type": "function", "params": {"target": target, "args": list(args),
                                                         "kwargs": kwargs or {}}}


def test_a_drawn_function_layer_compiles_and_exports():
    project = loads_project(json.dumps(_document(
        _function("scaled", "operator.mul", [{"$input": 0}, 0.5]),
        _function("top", "operator.getitem", [{"$input": 0}, {"$tuple": [{"$slice": [None, None, None]},
                                                                           {"$slice": [None, 2, None]}]}]),
        _function("floor", "torch.clamp", kwargs={"min": -float("inf"), "max": 1.0}))))
    graph = project.graph
    analysis = analyze(graph)
    assert analysis.ok and analysis.output_shape == ("N", 2)
    x = torch.randn(3, 4)
    expected = (x * 0.5)[:, :2].clamp(max=1.0)
    assert torch.equal(compile_graph(graph)(x), expected)
    source = generate_source(graph)
    assert "scaled = x * 0.5" in source and "top = scaled[:, :2]" in source
    assert torch.equal(load_model_class(source)()(x), expected)


@pytest.mark.parametrize("target, message", [
    ("os.system", "os.system is not a function nnstudio calls"),
    ("builtins.eval", "builtins.eval is not a function nnstudio calls"),
    ("torch.save", "torch.save is not a function nnstudio calls"),
    ("torch.load", "torch.load is not a function nnstudio calls"),
    ("Tensor.numpy", "Tensor.numpy is not a tensor method nnstudio calls"),
    ("Tensor.__reduce_ex__", "is not a tensor method"),
    ("torchvision.models.resnet18", "not a function its library wraps for torch.fx"),
    ("torchvision.io.write_png", "not a function nnstudio calls"),
])
def test_a_project_naming_an_untrusted_function_opens_but_never_calls_it(target, message, tmp_path):
    project = loads_project(json.dumps(_document(_function("call", target, [{"$input": 0}, str(tmp_path / "x")]))))
    analysis = analyze(project.graph)
    problem = next(p for p in analysis.errors if p.node_id == "call")
    assert problem.code == "untrusted-target" and message in problem.message
    with pytest.raises(CompileError, match="call"):
        compile_graph(project.graph)
    assert list(tmp_path.iterdir()) == []


def test_getattr_reads_only_facts_of_a_tensor():
    project = loads_project(json.dumps(_document(_function("peek", "builtins.getattr", [{"$input": 0}, "__class__"]))))
    problem = analyze(project.graph).errors[0]
    assert problem.node_id == "peek" and "not '__class__'" in problem.message


@pytest.mark.parametrize("cls", ["subprocess.Popen", "os.PathLike", "torch.nn.Module", "builtins.object"])
def test_a_module_layer_builds_only_torch_and_library_classes(cls):
    layer = {"id": "m", "type": "module", "params": {"class": cls, "arguments": {"args": ["touch", "/tmp/x"]}}}
    problem = analyze(loads_project(json.dumps(_document(layer))).graph).errors[0]
    assert problem.node_id == "m" and problem.code == "untrusted-target"


@pytest.mark.parametrize("args, where", [
    ([{"$bogus": 1}], "nodes[1].params.args"),
    ([{"$input": "0"}], "expected an input number"),
    ([{"$slice": [1, 2]}], "a slice is [start, stop, step]"),
    ([{"a": 1, "b": 2}], "an object must be one tag"),
    ([{"$dtype": 3}], "expected a name"),
])
def test_malformed_call_data_is_refused_at_load_naming_the_place(args, where):
    with pytest.raises(ProjectFileError) as failure:
        loads_project(json.dumps(_document(_function("f", "torch.relu", args))))
    assert where in str(failure.value) or where in (failure.value.location or "")


def test_infinities_are_allowed_in_call_data_and_nan_is_not():
    loads_project(json.dumps(_document(_function("f", "torch.clamp", kwargs={"min": float("-inf")}))))
    with pytest.raises(ProjectFileError, match="nan"):
        loads_project(json.dumps(_document(_function("f", "torch.clamp", kwargs={"min": float("nan")}))))
    loads_project(json.dumps(_document(_function("f", "torch.clamp", kwargs={"min": {"$float": "nan"}}))))


def test_wires_and_inputs_must_agree():
    document = _document(_function("f", "torch.add", [{"$input": 0}, {"$input": 1}]))
    problem = analyze(loads_project(json.dumps(document)).graph).errors[0]
    assert problem.code == "unconnected-input" and "read input 1, but only 1 wires enter it" in problem.message
    unread = _document(_function("f", "torch.relu", [1.0]))
    problem = analyze(loads_project(json.dumps(unread)).graph).errors[0]
    assert problem.code == "unread-input"


def test_a_call_names_an_existing_module_layer_and_counts_no_parameters_of_its_own():
    graph = Graph.from_records(
        [{"id": "x", "type": "input", "params": {"shape": [4]}},
         {"id": "fc", "type": "linear", "params": {"out_features": 4}},
         {"id": "again", "type": "call", "params": {"module": "fc"}},
         {"id": "nowhere", "type": "call", "params": {"module": "missing"}},
         {"id": "out", "type": "output"}],
        [{"source": "x", "target": "fc"}, {"source": "fc", "target": "again"}, {"source": "again", "target": "out"},
         {"source": "fc", "target": "nowhere"}])
    analysis = analyze(graph)
    assert analysis.nodes["again"].params == 0 and analysis.nodes["fc"].params == 20
    assert analysis.nodes["again"].flops == analysis.nodes["fc"].flops
    assert "no-module" in {p.code for p in analysis.errors if p.node_id == "nowhere"}

"""Layer names against the real torch: the clash list is complete, dotted ids build nested modules.

``nnstudio.core.names`` holds the attribute names as data (core imports no torch); these tests
check that data against the installed torch, and that a name that loads from an old file is
reported and refused by check, train and export instead of crashing them.
"""

from __future__ import annotations

import json

import pytest
import torch
from test_codegen import assert_same_outputs, load_model_class
from torch import fx, nn

from nnstudio.cli import main
from nnstudio.compile import CompileError, analyze, compile_graph, generate_source
from nnstudio.core import names
from nnstudio.core.graph import Graph
from nnstudio.core.project import VERSION


def _public(found: set[str]) -> set[str]:
    return {n for n in found if not n.startswith("_")}


def test_every_public_nn_module_attribute_is_in_the_clash_list_with_its_kind():
    module = nn.Module()
    attributes = _public(set(dir(nn.Module)) | set(vars(module)))
    missing = attributes - names.NN_MODULE_METHODS - names.NN_MODULE_ATTRIBUTES
    assert not missing, f"add to nnstudio/core/names.py: {sorted(missing)}"
    for name in attributes:
        value = getattr(nn.Module, name, getattr(module, name, None))
        is_method = callable(value) and not isinstance(value, type)
        assert (name in names.NN_MODULE_METHODS) == is_method, name


def test_every_attribute_graph_module_adds_is_in_the_clash_list():
    graph_module = fx.GraphModule(nn.Module(), fx.Graph())
    added = _public(set(dir(fx.GraphModule)) | set(vars(graph_module))) - _public(
        set(dir(nn.Module)) | set(vars(nn.Module())))
    missing = added - names.FX_GRAPH_MODULE_NAMES
    assert not missing, f"add to FX_GRAPH_MODULE_NAMES in nnstudio/core/names.py: {sorted(missing)}"


def _network(layer_id: str, input_id: str = "image") -> Graph:
    nodes = [{"id": input_id, "type": "input", "params": {"shape": [4]}},
             {"id": layer_id, "type": "linear", "params": {"out_features": 4}},
             {"id": "merge", "type": "add"}, {"id": "head", "type": "linear", "params": {"out_features": 3}},
             {"id": "out", "type": "output"}]
    edges = [{"source": input_id, "target": layer_id}, {"source": layer_id, "target": "merge", "index": 0},
             {"source": input_id, "target": "merge", "index": 1}, {"source": "merge", "target": "head"},
             {"source": "head", "target": "out"}]
    return Graph.from_records(nodes, edges, allow_clashes=True)


@pytest.mark.parametrize("name", ["x", "nn", "Model", "input", "F", "operator", "print", "trainer"])
def test_names_that_are_accepted_compile_train_and_export(name):
    """What the name rules let through really works: compiled, switched to eval, exported, reloaded."""
    for graph in (_network(name), _network("fc", input_id=name)):
        module = compile_graph(graph)
        module.train()
        module.eval()
        assert_same_outputs(graph, torch.rand(2, 4))


@pytest.mark.parametrize("name", sorted(names.CLASHING_NAMES))
def test_a_clashing_name_from_an_old_file_is_an_error_that_compiling_reports(name):
    graph = _network(name)
    errors = [p for p in analyze(graph).errors if p.code == "name-clash"]
    assert [p.node_id for p in errors] == [name]
    with pytest.raises(CompileError, match=f"so a layer named `{name}` breaks training and export"):
        compile_graph(graph)


def test_check_train_and_export_refuse_a_clashing_name_with_its_reason(tmp_path, capsys):
    nodes = [{"id": "image", "type": "input", "params": {"shape": [1, 8, 8]}},
             {"id": "flat", "type": "flatten"}, {"id": "eval", "type": "linear", "params": {"out_features": 10}},
             {"id": "out", "type": "output"}]
    edges = [{"source": a, "target": b} for a, b in [("image", "flat"), ("flat", "eval"), ("eval", "out")]]
    path = tmp_path / "old.nns"
    path.write_text(json.dumps({"format": "nnstudio-project", "version": 1, "nodes": nodes, "edges": edges}))
    for argv in (["check", str(path)], ["train", str(path), "--epochs", "1", "--out", str(tmp_path / "run")],
                 ["export", str(path), "--format", "py", "-o", str(tmp_path / "model.py")]):
        code = main(argv)
        captured = capsys.readouterr()
        assert code == 1, argv
        assert "`eval` is a method of every nn.Module" in captured.out + captured.err, argv
        assert "Traceback" not in captured.out + captured.err
    assert not (tmp_path / "model.py").exists()


def test_dotted_ids_become_nested_modules_with_the_same_state_dict_keys():
    nodes = [{"id": "image", "type": "input", "params": {"shape": [4]}},
             {"id": "layer1.0.fc1", "type": "linear", "params": {"out_features": 6}},
             {"id": "layer1.0.act", "type": "relu"},
             {"id": "layer1.1.fc1", "type": "linear", "params": {"out_features": 4}},
             {"id": "layer1.1.shape", "type": "reshape", "params": {"shape": [2, 2]}},
             {"id": "0.rnn", "type": "lstm", "params": {"hidden_size": 5, "output": "last"}},
             {"id": "head", "type": "linear", "params": {"out_features": 3}},
             {"id": "sum", "type": "add"}, {"id": "out", "type": "output"}]
    chain = ["image", "layer1.0.fc1", "layer1.0.act", "layer1.1.fc1", "layer1.1.shape", "0.rnn", "head"]
    edges = [{"source": a, "target": b} for a, b in zip(chain, chain[1:])]
    edges += [{"source": "head", "target": "sum", "index": 0}, {"source": "head", "target": "sum", "index": 1},
              {"source": "sum", "target": "out"}]
    graph = Graph.from_records(nodes, edges)
    module = compile_graph(graph)
    assert set(module.state_dict()) == {
        "layer1.0.fc1.weight", "layer1.0.fc1.bias", "layer1.1.fc1.weight", "layer1.1.fc1.bias",
        "0.rnn.weight_ih_l0", "0.rnn.weight_hh_l0", "0.rnn.bias_ih_l0", "0.rnn.bias_hh_l0",
        "head.weight", "head.bias"}
    assert isinstance(module.get_submodule("layer1.0"), nn.Module)
    source = generate_source(graph)
    # the containers are classes of their own (nested codegen); an index is set and read with setattr/getattr
    assert "self.layer1 = nn.Sequential(Layer1Block(), Layer1BlockWithShape())" in source
    assert 'setattr(self, "0", Block())' in source and "self.fc1 = nn.Linear(4, 6)" in source
    assert_same_outputs(graph, torch.rand(3, 4))
    model = load_model_class(source)()
    model.train()  # the containers are plain modules: train/eval reach every layer
    assert all(m.training for m in model.modules())
    model.eval()
    assert not any(m.training for m in model.modules())


def test_the_format_version_that_allows_dotted_ids_is_written():
    assert VERSION >= 2

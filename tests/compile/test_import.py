"""Importing nn.Modules: what the graph holds, the round trip of what it holds, train/eval behaviour."""

from __future__ import annotations

import math

import pytest
import torch
import torchvision
from import_models import (
    HasDataDependentPart,
    HasModeBranch,
    ModeDependent,
    RootModeBranch,
    SharedBlock,
    StackedLinears,
    Tokens,
    TutorialCNN,
    TutorialMLP,
    Upsampler,
)
from test_codegen import load_model_class
from torch import nn

from nnstudio.compile import analyze, compile_graph, generate_source
from nnstudio.compile.importer import ImportCancelled, import_module
from nnstudio.compile.model_sources import ImportFailure
from nnstudio.core.commands import SetParam
from nnstudio.core.project import load_project, save_project


def round_trip(model: nn.Module, shape: tuple[int, ...], tmp_path, batch: int = 3):
    """Import, save, reopen, export; return (the reopened project, the exported model with the original's state)."""
    model.eval()
    result = import_module(model, input_shape=shape)
    assert result.analysis.ok, [p.message for p in result.analysis.errors]
    save_project(result.project, tmp_path / "net.nns")
    project = load_project(tmp_path / "net.nns")
    exported = load_model_class(generate_source(project.graph))()
    exported.load_state_dict(model.state_dict(), strict=True)
    exported.eval()
    x = torch.randn(batch, *shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (exported(x) - model(x)).abs().max() <= 1e-5
        assert (compile_graph(project.graph).eval()(x) - model(x)).abs().max() <= 1e-5
    return project, exported


def test_tutorial_classes_import_with_cards_and_their_parameters_read_back(tmp_path):
    project, _ = round_trip(TutorialCNN(), (3, 32, 32), tmp_path)
    graph = project.graph
    assert graph.node("conv1").type_id == "conv2d"
    assert graph.node("conv1").params["kernel_size"] == 5 and graph.node("conv1").params["out_channels"] == 6
    assert graph.node("fc1").params["in_features"] == 400  # the size read back from the module, pinned
    relu = [n for n in graph.nodes() if n.type_id == "function"]
    assert {n.params["target"] for n in relu} == {"torch.nn.functional.relu", "torch.flatten"}
    project, _ = round_trip(TutorialMLP(), (1, 28, 28), tmp_path)
    assert project.graph.node("linear_relu_stack.0").type_id == "linear"
    assert [n.type_id for n in project.graph.nodes()].count("relu") == 2


def test_the_stacked_linears_lint_fires_on_an_imported_net(tmp_path):
    project, _ = round_trip(StackedLinears(), (20,), tmp_path)
    lints = {p.code for p in analyze(project.graph).warnings}
    assert "linear-after-linear" in lints
    lints = {p.code for p in analyze(round_trip(TutorialCNN(), (3, 32, 32), tmp_path)[0].graph).warnings}
    assert "linear-after-linear" not in lints  # F.relu sits between its Linears


def test_without_a_shape_the_input_is_guessed_from_the_first_layer():
    result = import_module(TutorialMLP())
    assert result.project.graph.node("x").params["shape"] == (1, 28, 28)
    assert any("guessed" in note for note in result.notes)
    assert import_module(TutorialCNN()).project.graph.node("x").params["shape"] == (3, 32, 32)


def test_parameters_buffers_constants_and_values_that_are_not_tensors_round_trip(tmp_path):
    project, exported = round_trip(Tokens(), (4, 8), tmp_path)
    graph = project.graph
    assert graph.node("class_token").type_id == "parameter"
    assert graph.node("class_token").params["role"] == "parameter"
    assert graph.node("scale").params == {"shape": (), "dtype": "float32", "role": "buffer"}
    assert set(graph.node("pos").weights) == {""}  # its one tensor, stored under the layer's own id
    functions = {n.params["target"]: n for n in graph.nodes() if n.type_id == "function"}
    fill = functions["Tensor.masked_fill"].params["args"]
    assert fill[2] == -math.inf  # a constant infinity is kept (and written Infinity in the file)
    assert "Infinity" in (tmp_path / "net.nns").read_text()
    assert {"builtins.getattr", "operator.getitem", "Tensor.expand"} <= set(functions)
    analysis = analyze(graph)
    shape_of = analysis.nodes[functions["builtins.getattr"].id]
    assert shape_of.output_shape == () and shape_of.dtype == "torch.Size"  # a torch.Size flows on a wire
    assert analysis.nodes["class_token"].output_shape == (1, 1, 8)  # no batch dimension
    assert analysis.nodes["class_token"].params == 8 and analysis.nodes["scale"].params == 0
    assert isinstance(exported.class_token, nn.Parameter) and "scale" in dict(exported.named_buffers())


def test_a_module_called_twice_is_one_module_with_two_calls_and_unused_ones_are_held(tmp_path):
    model = SharedBlock()
    project, exported = round_trip(model, (6,), tmp_path)
    graph = project.graph
    calls = [n for n in graph.nodes() if n.type_id == "call"]
    assert [n.params["module"] for n in calls] == ["shared"]
    assert graph.node("unused").params["args"] is None  # held, not called: its weights still travel
    assert analyze(graph).total_params == sum(p.numel() for p in model.parameters())
    source = generate_source(graph)
    assert source.count("self.shared = nn.Linear(6, 6)") == 1 and source.count("self.shared(") == 2
    assert exported.shared.weight.data_ptr() != 0 and len(list(exported.modules())) == len(list(model.modules()))


def test_resnet_blocks_nest_share_classes_and_keep_state_dict_keys():
    model = torchvision.models.resnet18(num_classes=10).eval()
    result = import_module(model, input_shape=(3, 32, 32))
    graph = result.project.graph
    assert graph.node("layer1.0.relu_1").params["module"] == "layer1.0.relu"
    assert graph.module_classes["layer1.0"] == "BasicBlock"
    assert set(compile_graph(graph).state_dict()) == set(model.state_dict())
    source = generate_source(graph)
    assert "class BasicBlock(nn.Module):" in source and "class BasicBlockWithDownsample(nn.Module):" in source
    assert "self.layer2 = nn.Sequential(BasicBlockWithDownsample(64, 128), BasicBlock(128))" in source
    assert "torchvision" not in source  # needs only torch


def test_train_mode_behaves_as_the_original(tmp_path):
    torch.manual_seed(0)
    model = ModeDependent()
    project, exported = round_trip(model, (6,), tmp_path, batch=4)
    assert project.graph.node("depth").params["class"] == "torchvision.ops.StochasticDepth"
    dropout = next(n for n in project.graph.nodes() if n.type_id == "function" and "dropout" in n.params["target"])
    assert dropout.params["kwargs"]["training"] == {"$mode": "training"}  # not frozen at trace time
    compiled = compile_graph(project.graph)
    for network in (compiled, exported):
        network.load_state_dict(model.state_dict())
        network.train()
        x = torch.randn(512, 6) + 3.0
        before = network.get_submodule("bn").running_mean.clone()
        y = network(x)
        assert not torch.equal(network.get_submodule("bn").running_mean, before)  # statistics updated
        dropped = ((y - x).abs() < 1e-6).all(dim=1).float().mean()  # rows stochastic depth dropped
        assert 0.3 < dropped < 0.7
        zeros = (network.get_submodule("inner.fc")(x) == 0).float().mean()
        assert zeros < 0.01  # the Linear itself does not zero: the zeros above come from the mode
        network.eval()
        assert torch.equal(network(x), network(x))


def test_torch_nn_classes_without_a_card_become_module_layers(tmp_path):
    torch.manual_seed(0)
    project, _ = round_trip(Upsampler(), (3, 8, 8), tmp_path, batch=2)
    graph = project.graph
    assert graph.node("shuffle").params["class"] == "torch.nn.PixelShuffle"
    assert graph.node("shuffle").params["arguments"] == {"upscale_factor": 2}
    assert graph.node("up").params["arguments"]["mode"] == "nearest"
    assert graph.node("encoder").type_id == "transformer_encoder_layer"  # a card, called as a card calls it
    attention = graph.node("attention")  # a card's class called another way: a Module layer
    assert attention.params["class"] == "torch.nn.MultiheadAttention"
    assert attention.params["kwargs"] == {"need_weights": False} and len(attention.params["args"]) == 3


def test_an_edit_of_an_imported_network_reanalyses_only_what_follows_it():
    from nnstudio.compile.analysis import ShapeInference

    model = torchvision.models.resnet18(num_classes=10).eval()
    result = import_module(model, input_shape=(3, 32, 32))
    graph, inference = result.project.graph, result.inference
    inference.analyze(graph)
    SetParam(graph, "fc", "out_features", 7).redo()
    analysis = inference.analyze(graph)
    assert analysis.output_shape == ("N", 7)
    assert set(inference.recomputed) == {"fc", "output"}
    assert isinstance(inference, ShapeInference)


def test_a_data_dependent_branch_names_the_submodule_the_line_and_what_to_do():
    with pytest.raises(ImportFailure) as failure:
        import_module(HasDataDependentPart(), input_shape=(4,))
    message = str(failure.value)
    assert "submodule gate (DataDependent)" in message and "import_models.py, line" in message
    assert "if x.sum() > 0" in message and "torch.where" in message
    assert "\n" not in message


def test_a_submodule_branching_on_training_is_refused_by_line_and_the_root_is_noted():
    with pytest.raises(ImportFailure, match=r"submodule part \(BranchesOnTraining\) chooses what to run by "
                                            r"self.training \(import_models.py, line \d+: if self.training:\)"):
        import_module(HasModeBranch(), input_shape=(4,))
    result = import_module(RootModeBranch(), input_shape=(4,))
    assert any("RootModeBranch.forward chooses what to run by self.training" in n for n in result.notes)
    assert result.project.graph.node("aux").params["args"] is None  # held: strict loading still works


def test_progress_is_reported_and_cancel_stops_the_import():
    seen = []
    import_module(StackedLinears(), input_shape=(20,), progress=lambda f, m: seen.append((f, m)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(seen) >= 5
    with pytest.raises(ImportCancelled):
        import_module(StackedLinears(), input_shape=(20,), cancelled=lambda: len(seen) > 0)


class _AssignsIntoATensor(nn.Module):
    def forward(self, x):
        y = x * 2
        y[:, 0] = 0.0
        return y


def test_assigning_into_a_tensor_is_refused_naming_the_line():
    with pytest.raises(ImportFailure, match=r"at test_import.py, line \d+: y\[:, 0\] = 0.0: it assigns into a "
                                            r"tensor .*torch.where"):
        import_module(_AssignsIntoATensor(), input_shape=(4,))


def test_a_batch_first_shape_is_read_as_one_when_the_model_needs_it():
    result = import_module(TutorialCNN(), input_shape=(1, 3, 32, 32))
    assert result.project.graph.node("x").params["shape"] == (3, 32, 32) and result.analysis.ok
    assert any("read as a batch of 1 samples [3, 32, 32]" in note for note in result.notes)

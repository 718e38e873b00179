"""The walk: op names, named parameter leaves, layer mapping, untouched training state, determinism."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from nnstudio.autograd.project_trace import trace_project
from nnstudio.autograd.walk import (
    OP,
    PARAM,
    WalkError,
    op_label,
    parameter_gradient_norms,
    trace_autograd,
    walk_grad_fn,
)
from nnstudio.core.examples import load_example
from nnstudio.train.recipe import make_loss


class SmallNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop(torch.relu(self.bn(self.conv1(x))))
        return self.fc(torch.flatten(x, 1))


def _cross_entropy(output: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(output, torch.tensor([0, 2]))


@pytest.fixture
def net() -> SmallNet:
    torch.manual_seed(0)
    return SmallNet()


def _sample() -> torch.Tensor:
    return torch.randn(2, 1, 4, 4, generator=torch.Generator().manual_seed(1))


def test_walk_names_ops_and_parameter_leaves(net):
    trace = trace_autograd(net, _sample(), _cross_entropy, loss_layer="output")
    graph = trace.graph
    ops = {data["op"] for _, data in graph.nodes(data=True) if data["kind"] == OP}
    assert {"ConvolutionBackward0", "NativeBatchNormBackward0", "AddmmBackward0",
            "NllLossBackward0"} <= ops
    params = {data["param"] for _, data in graph.nodes(data=True) if data["kind"] == PARAM}
    assert params == {name for name, _ in net.named_parameters()}
    weight = graph.nodes["param:conv1.weight"]
    assert weight["shape"] == (4, 1, 3, 3) and weight["dtype"] == "float32"
    # parameters feed the op that uses them: edges follow the forward data flow
    assert any(graph.nodes[v]["op"] == "ConvolutionBackward0" for v in graph.successors("param:conv1.weight"))
    assert graph.out_degree(trace.root) == 0 and graph.nodes[trace.root]["op"] == "NllLossBackward0"


def test_ops_record_saved_tensor_shapes(net):
    graph = trace_autograd(net, _sample(), _cross_entropy).graph
    addmm = next(d for _, d in graph.nodes(data=True) if d["op"] == "AddmmBackward0")
    saved = {value.name: value for value in addmm["saved"]}
    assert saved["mat1"].shape == (2, 64) and saved["mat1"].dtype == "float32"
    assert saved["mat2"].shape == (64, 3)
    mean = next(d for _, d in graph.nodes(data=True) if d["op"] == "NllLossBackward0")
    assert any(v.describe().startswith("target: [2] int64") for v in mean["saved"])


def test_every_node_knows_its_layer(net):
    graph = trace_autograd(net, _sample(), _cross_entropy, loss_layer="output").graph
    layer_of_op = {d["op"]: d["layer"] for _, d in graph.nodes(data=True)}
    assert layer_of_op["ConvolutionBackward0"] == "conv1"
    assert layer_of_op["NativeBatchNormBackward0"] == "bn"
    assert layer_of_op["AddmmBackward0"] == "fc"
    assert layer_of_op["NllLossBackward0"] == "output"
    # torch.relu and torch.flatten run in forward() itself, outside every layer
    assert layer_of_op["ReluBackward0"] is None
    assert graph.nodes["param:bn.weight"]["layer"] == "bn"


def test_training_state_is_untouched(net):
    net.train()
    net.fc.eval()  # a mixed state must come back exactly as it was
    for p in net.parameters():
        p.grad = torch.full_like(p, 0.25)
    grads = {n: p.grad.clone() for n, p in net.named_parameters()}
    weights = {n: p.detach().clone() for n, p in net.named_parameters()}
    buffers = {n: b.clone() for n, b in net.named_buffers()}
    rng = torch.get_rng_state()

    trace = trace_autograd(net, _sample(), _cross_entropy)

    assert all(torch.equal(p.grad, grads[n]) for n, p in net.named_parameters())
    assert all(torch.equal(p.detach(), weights[n]) for n, p in net.named_parameters())
    assert all(torch.equal(b, buffers[n]) for n, b in net.named_buffers())  # BatchNorm running stats
    assert net.training and net.conv1.training and not net.fc.training
    assert torch.equal(torch.get_rng_state(), rng)  # dropout drew from a forked generator
    assert set(trace.gradient_norms) == set(grads)
    assert all(math.isfinite(v) and v >= 0 for v in trace.gradient_norms.values())


def test_same_model_gives_identical_graph_and_ids(net):
    first = trace_autograd(net, _sample(), _cross_entropy).graph
    second = trace_autograd(net, _sample(), _cross_entropy).graph
    assert list(first.nodes(data=True)) == list(second.nodes(data=True))
    assert list(first.edges) == list(second.edges)


def test_project_layers_are_editor_node_ids():
    project = load_example("residual-block")
    trace = trace_project(project, make_loss(project.settings))
    node_ids = set(project.graph.node_ids())
    assert set(trace.layers()) <= node_ids
    add = next(d for _, d in trace.graph.nodes(data=True) if d["op"] == "AddBackward0")
    assert add["layer"] == "skip_add"  # a merge (an fx function, not a module) keeps its node id
    assert trace.graph.nodes[trace.root]["layer"] == project.graph.nodes_of_type("output")[0].id


def test_output_without_grad_is_refused():
    with pytest.raises(WalkError, match="does not require grad"):
        walk_grad_fn(None)


def test_forward_errors_name_the_stage():
    with pytest.raises(WalkError, match="forward pass.*RuntimeError"):
        trace_autograd(nn.Linear(3, 2), torch.randn(2, 5))


def test_op_label_strips_backward_suffix():
    assert op_label("AddmmBackward0") == "Addmm"
    assert op_label("MaxPool2DWithIndicesBackward0") == "MaxPool2DWithIndices"


def test_train_mode_decides_which_ops_appear(net):
    net.eval()
    trained = trace_autograd(net, _sample(), _cross_entropy).layers()
    evaluated = trace_autograd(net, _sample(), _cross_entropy, train_mode=False).layers()
    assert "drop" in trained and "drop" not in evaluated  # dropout only records an op in training
    assert not net.training  # put back as it was


def test_parameter_gradient_norms_read_existing_grads(net):
    assert parameter_gradient_norms(net) == {}
    net.fc.weight.grad = torch.full_like(net.fc.weight, 2.0)
    norms = parameter_gradient_norms(net)
    assert norms == {"fc.weight": pytest.approx(2.0 * math.sqrt(net.fc.weight.numel()))}

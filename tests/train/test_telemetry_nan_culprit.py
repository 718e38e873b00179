"""The NaN culprit: the layer that made the first non-finite value, in its output or in its gradient.

Each network here breaks in one known place; the run must stop and name exactly that place, as a node
id the canvas can mark and as an error in the Problems list.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import fx, nn

from nnstudio.compile.compiler import NODE_ID
from nnstudio.core.commands import RenameNode
from nnstudio.core.examples import load_example
from nnstudio.train import build_training_run
from nnstudio.train.faults import first_nonfinite_gradient, first_nonfinite_layer
from nnstudio.train.trainer import TrainingRun

HUGE = 3e38  # finite in float32; twice it is not


def project_run(example: str, epochs: int = 2, renames: dict[str, str] | None = None) -> TrainingRun:
    project = load_example(example)
    project.settings.epochs = epochs
    for old, new in (renames or {}).items():  # layers nested in blocks have dotted ids
        RenameNode(project.graph, old, new).redo()
    return build_training_run(project, device="cpu")


def fail(run: TrainingRun):
    result = run.run()
    assert result.status == "failed", result.status
    return result.failure


def test_a_middle_layer_that_overflows_is_the_culprit_not_the_layers_after_it():
    run = project_run("digits-mlp")
    with torch.no_grad():
        run.model.fc2.weight.fill_(1e38)  # 128 inputs x 1e38 overflows float32: inf from fc2 on
    failure = fail(run)
    assert (failure.kind, failure.node_id, failure.side) == ("nan", "fc2", "forward")
    assert "layer fc2" in failure.message
    problem = failure.problem()
    assert (problem.severity, problem.code, problem.node_id) == ("error", "nan-culprit", "fc2")


def test_a_layer_nested_in_a_block_of_a_project_is_named_by_its_dotted_id():
    run = project_run("digits-mlp", renames={"fc2": "head.0.fc", "relu2": "head.0.act"})
    with torch.no_grad():
        run.model.get_submodule("head.0.fc").weight.fill_(1e38)
    failure = fail(run)
    assert (failure.node_id, failure.side) == ("head.0.fc", "forward")
    assert "layer head.0.fc" in failure.message


def test_a_layer_that_breaks_only_in_evaluation_mode_is_found_in_validation():
    # BatchNorm uses its running statistics in validation: a negative running variance (as a damaged
    # weights file can hold) gives NaN there while every training step is fine.
    run = project_run("residual-block", epochs=1, renames={"bn1": "block.0.norm"})
    norm = run.model.get_submodule("block.0.norm")
    norm.momentum = 0.0  # the training steps leave the running statistics as set here
    with torch.no_grad():
        norm.running_var.fill_(-1.0)
    failure = fail(run)
    assert (failure.kind, failure.node_id, failure.side, failure.step) == ("nan", "block.0.norm", "forward", None)
    assert failure.message.startswith("the validation loss became nan") and "in validation" in failure.message


def test_a_merge_layer_is_named_when_it_makes_the_first_inf():
    # Both inputs of the residual Add are 3e38 (finite); their sum is the first inf.
    run = project_run("residual-block")
    model = run.model
    with torch.no_grad():
        model.stem.weight.zero_()
        model.stem.bias.fill_(HUGE)
        model.conv1.weight.zero_()  # so that only the skip path carries the huge values on
        model.bn2.bias.fill_(HUGE)
    failure = fail(run)
    assert (failure.node_id, failure.side) == ("skip_add", "forward")


class InfiniteBackward(torch.autograd.Function):
    """Passes values through unchanged; its backward hands back infinite gradients."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad * float("inf")


def infinite_backward(x):
    return InfiniteBackward.apply(x)


fx.wrap("infinite_backward")  # traced as one function node, as the compiler makes function layers


class BadGradientNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(2, 16)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x):
        return self.fc2(infinite_backward(torch.relu(self.fc1(x))))


def traced_bad_gradient_net() -> fx.GraphModule:
    """The network as the compiler would give it: an fx graph whose function node is a layer."""
    torch.manual_seed(0)
    model = fx.symbolic_trace(BadGradientNet())
    for node in model.graph.nodes:
        if node.op == "call_function" and node.target is infinite_backward:
            node.meta[NODE_ID] = "poison"
    return model


def test_the_first_non_finite_gradient_names_the_function_layer_whose_backward_made_it(blob_settings, blob_data):
    # The loss stays finite on the step that breaks: only the backward of "poison" makes inf, which
    # reaches fc1's weights through the update; the next step's loss is NaN. fc1 (whose weights broke
    # first) and the layers after poison must not be blamed.
    run = TrainingRun(traced_bad_gradient_net(), blob_data, blob_settings)
    failure = run.run().failure
    assert (failure.kind, failure.node_id, failure.side) == ("nan", "poison", "gradient")
    assert "gradient comes from layer poison" in failure.message
    assert (failure.epoch, failure.step) == (1, 2)
    assert all(torch.isfinite(t).all() for t in run.weights().values()), "the last good weights are back"


def test_gradient_culprit_in_a_plain_module_is_the_module_whose_backward_made_it():
    class Poison(nn.Module):
        def forward(self, x):
            return InfiniteBackward.apply(x)

    torch.manual_seed(0)
    model = nn.Sequential(OrderedDict(fc1=nn.Linear(2, 8), act=nn.ReLU(), poison=Poison(), fc2=nn.Linear(8, 3)))
    x, y = torch.randn(16, 2), torch.randint(0, 3, (16,))
    loss = nn.CrossEntropyLoss()
    assert first_nonfinite_gradient(model, model, lambda out: loss(out, y), x) == "poison"
    assert first_nonfinite_layer(model, x) is None, "its forward is fine"


class Block(nn.Module):
    def __init__(self, scale: float) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.scale = scale

    def forward(self, x):
        return torch.relu(self.fc(x)) * self.scale


def test_a_layer_nested_in_a_block_is_named_by_its_dotted_id():
    torch.manual_seed(0)
    net = nn.Sequential(OrderedDict(stem=nn.Linear(2, 8), blocks=nn.Sequential(Block(1.0), Block(1.0)),
                                    head=nn.Linear(8, 3)))
    with torch.no_grad():
        net.blocks[0].fc.bias.fill_(10.0)  # every unit of block 0 passes a value of about 10 on
        net.blocks[1].fc.weight.fill_(1e38)
    x = torch.ones(4, 2)
    # As a plain module (innermost module path) and as an fx graph (call_module targets are dotted).
    assert first_nonfinite_layer(net, x) == "blocks.1.fc"
    assert first_nonfinite_layer(fx.symbolic_trace(net), x) == "blocks.1.fc"


def test_a_loss_that_overflows_on_finite_outputs_says_so():
    run = project_run("digits-mlp")
    with torch.no_grad():
        run.model.fc2.weight.fill_(1e37)  # outputs near 1e38: finite, but the cross-entropy overflows
    failure = fail(run)
    assert failure.kind == "nan" and failure.node_id is None
    assert "every layer's output is finite" in failure.message


def test_input_data_with_nan_is_blamed_on_the_data(blob_settings, blob_data, small_classifier):
    blob_data.train.x[5, 0] = float("nan")
    failure = TrainingRun(small_classifier(), blob_data, blob_settings).run().failure
    assert failure.kind == "nan" and failure.node_id is None
    assert "input batch itself holds NaN" in failure.message

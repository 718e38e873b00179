"""Search spaces: --param texts checked against the project, with one clear message per mistake."""

import pytest

from nnstudio.core.examples import load_example
from nnstudio.experiments.space import SpaceError, apply_values, parse_space, tunable_fields


@pytest.fixture
def mlp():
    project = load_example("digits-mlp")
    from nnstudio.core.commands import AddNode, Connect, Disconnect

    graph = project.graph
    Disconnect(graph, graph.in_edges("fc2")[0]).redo()
    AddNode(graph, "dropout", (0, 0), node_id="dropout1").redo()
    Connect(graph, "relu1", "dropout1").redo()
    Connect(graph, "dropout1", "fc2").redo()
    return project


def test_training_settings_and_layer_parameters(mlp):
    space = parse_space(["lr=1e-4:1e-1:log", "fc1.out_features=32:256:int", "dropout1.p=0:0.5",
                         "optimizer=adam,sgd,adamw", "batch_size=32,64,128", "weight_decay=0:1e-3:step=1e-4",
                         "scheduler=none,cosine", "fc2.bias=true,false", "epochs=2:8"], mlp)
    by_path = {p.path: p for p in space.params}
    assert (by_path["lr"].kind, by_path["lr"].low, by_path["lr"].high, by_path["lr"].log) == ("float", 1e-4, 0.1, True)
    assert (by_path["fc1.out_features"].kind, by_path["fc1.out_features"].low) == ("int", 32)
    assert by_path["epochs"].kind == "int", "an integer field takes whole numbers without :int"
    assert by_path["dropout1.p"].kind == "float" and not by_path["dropout1.p"].log
    assert by_path["optimizer"].choices == ("adam", "sgd", "adamw")
    assert by_path["batch_size"].choices == (32, 64, 128)
    assert by_path["fc2.bias"].choices == (True, False)
    assert by_path["weight_decay"].grid_values(5) == pytest.approx([0, 1e-4, 2e-4, 3e-4, 4e-4, 5e-4, 6e-4, 7e-4,
                                                                     8e-4, 9e-4, 1e-3])
    assert by_path["lr"].grid_values(4) == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1])
    assert space.texts()[1] == "fc1.out_features=32:256:int"
    assert parse_space(space.texts(), mlp) == space, "the canonical text parses back to the same space"


def test_values_are_applied_to_a_copy(mlp):
    changed = apply_values(mlp, {"lr": 0.05, "fc1.out_features": 77, "dropout1.p": 0.3, "optimizer": "sgd"})
    assert changed.settings.lr == 0.05 and changed.settings.optimizer == "sgd"
    assert changed.graph.node("fc1").params["out_features"] == 77
    assert changed.graph.node("dropout1").params["p"] == 0.3
    assert mlp.settings.lr == 0.001 and mlp.graph.node("fc1").params["out_features"] == 128


@pytest.mark.parametrize(("text", "message"), [
    ("fc9.out_features=32:64", "there is no layer 'fc9' in digits-mlp (its layers: image, flatten1, fc1,"),
    ("fc1.width=32:64", "layer fc1 (Linear) has no parameter 'width' (its parameters: in_features, out_features, bias)"),
    ("fc1.in_features=32:64", "inferred from the layer's input"),
    ("learning_rate=1e-4:1e-1", "'learning_rate' is neither a training setting (loss, optimizer, lr,"),
    ("device=cpu,cuda", "device cannot be searched"),
    ("lr=1e-1:1e-4:log", "the range is inverted (low 0.1 > high 0.0001); write 0.0001:0.1"),
    ("lr=0.1:0.1", "the range is empty (low and high are both 0.1)"),
    ("weight_decay=0:0.1:log", "a log range needs a low end above 0, not 0"),
    ("lr=1e-4:1e-1:int", "lr takes real numbers; drop ':int'"),
    ("fc1.out_features=32.5:64", "takes whole numbers; the low end 32.5 is not one"),
    ("fc1.out_features=0:64", "fc1.out_features: 0 is below the minimum 1"),
    ("lr=0:1", "lr = 0: Input should be greater than 0"),
    ("dropout1.p=0:2", "dropout1.p: 2 is above the maximum 1"),
    ("optimizer=adam,lbfgs", "'lbfgs' is not one of"),
    ("optimizer=1e-4:1", "takes one of a set of values, not a range"),
    ("lr=abc:1", "the low end 'abc' is not a number"),
    ("lr=0.01", "is one value; a sweep needs a range LOW:HIGH or choices A,B"),
    ("lr", "write PATH=LOW:HIGH"),
    ("lr=1e-4:1e-1:cubic", "unknown flag 'cubic'"),
    ("batch_size=32,32", "the choice 32 is given twice"),
    ("lr=1e-4:nan", "must be a finite number"),
])
def test_mistakes_are_named(mlp, text, message):
    with pytest.raises(SpaceError) as caught:
        parse_space([text], mlp)
    assert str(caught.value).startswith(f"--param {text}: ")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_parameter_given_twice_and_no_parameter(mlp):
    with pytest.raises(SpaceError, match="lr is given twice"):
        parse_space(["lr=1e-4:1e-1", "lr=0.1,0.2"], mlp)
    with pytest.raises(SpaceError, match="at least one parameter"):
        parse_space([], mlp)


def test_the_fields_a_form_offers(mlp):
    fields = {f.path: f for f in tunable_fields(mlp)}
    assert {"lr", "batch_size", "optimizer", "weight_decay", "scheduler", "fc1.out_features", "dropout1.p",
            "fc1.bias"} <= set(fields)
    assert "fc1.in_features" not in fields and "dataset" not in fields and "device" not in fields
    assert "image.shape" not in fields
    assert fields["lr"].default_range() == "0.0001:0.01:log"
    assert fields["fc1.out_features"].default_range() == "64:256:int"
    assert fields["dropout1.p"].default_range() == "0:1"
    for field in fields.values():  # every offered default range parses
        parse_space([f"{field.path}={field.default_range()}"], mlp)

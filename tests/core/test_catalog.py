import pytest

from nnstudio.core.catalog import CATALOG, Catalog, LayerKind, LayerSpec, ParamKind, ParamSpec
from nnstudio.core.errors import DuplicateLayerError, ParamError, UnknownLayerError

DESIGN_MINIMUM = {
    "input", "output", "linear", "conv1d", "conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d",
    "adaptive_avg_pool2d", "batch_norm1d", "batch_norm2d", "layer_norm", "dropout", "flatten", "reshape",
    "embedding", "lstm", "gru", "relu", "leaky_relu", "gelu", "silu", "sigmoid", "tanh", "softmax",
    "log_softmax", "add", "concat", "multiply",
}


def test_catalog_holds_every_layer_the_design_lists():
    assert DESIGN_MINIMUM <= {spec.type_id for spec in CATALOG}
    assert "multihead_attention" in CATALOG or "transformer_encoder_layer" in CATALOG


def test_parameter_names_are_the_torch_constructor_arguments():
    import inspect

    torch = pytest.importorskip("torch")
    for spec in CATALOG:
        if spec.kind is not LayerKind.MODULE or not spec.target:  # the generic Module layer names its class
            continue
        module_path, _, cls_name = spec.target.rpartition(".")
        cls = getattr(torch.nn, cls_name)
        accepted = set(inspect.signature(cls.__init__).parameters)
        if cls_name in {"LSTM", "GRU", "RNN"}:  # their constructors take **kwargs
            accepted |= {"input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
                         "bidirectional", "nonlinearity"}
        for param in spec.params:
            if param.constructor:
                assert param.name in accepted, f"{spec.type_id}.{param.name} is not an argument of {cls_name}"


def test_every_entry_is_complete_data():
    for spec in CATALOG:
        assert spec.title and spec.category and spec.help
        for param in spec.params:
            assert param.help, f"{spec.type_id}.{param.name} has no help"
            assert param.validate(param.default) == param.default or param.kind is ParamKind.INT_TUPLE


def test_merges_take_variadic_inputs_and_layers_single_ones():
    assert CATALOG.get("add").inputs[0].variadic
    assert CATALOG.get("concat").inputs[0].variadic
    assert not CATALOG.get("linear").inputs[0].variadic
    assert CATALOG.get("input").inputs == ()
    assert not CATALOG.get("output").has_output


def test_duplicate_type_id_is_refused():
    catalog = Catalog()
    spec = LayerSpec("x", "X", "Test", "help", LayerKind.MODULE, target="torch.nn.ReLU")
    catalog.register(spec)
    with pytest.raises(DuplicateLayerError, match="'x'"):
        catalog.register(spec)


def test_unknown_type_names_the_type():
    with pytest.raises(UnknownLayerError, match="conv9d"):
        CATALOG.get("conv9d")


@pytest.mark.parametrize(
    ("kind", "kwargs", "value", "expected"),
    [
        (ParamKind.INT, {"minimum": 1}, 3.0, 3),
        (ParamKind.FLOAT, {"minimum": 0.0, "maximum": 1.0}, 1, 1.0),
        (ParamKind.INT_TUPLE, {"length": 2, "scalar_ok": True, "minimum": 1}, 3, 3),
        (ParamKind.INT_TUPLE, {"length": 2, "scalar_ok": True, "minimum": 1}, [3, 5], (3, 5)),
        (ParamKind.CHOICE, {"choices": ("a", "b")}, "b", "b"),
        (ParamKind.BOOL, {}, False, False),
    ],
)
def test_valid_values_are_normalised(kind, kwargs, value, expected):
    assert ParamSpec("p", kind, None, "h", optional=True, **kwargs).validate(value) == expected


@pytest.mark.parametrize(
    ("kind", "kwargs", "value", "reason"),
    [
        (ParamKind.INT, {"minimum": 1}, 0, "below the minimum 1"),
        (ParamKind.INT, {}, 2.5, "whole number"),
        (ParamKind.INT, {}, True, "whole number"),
        (ParamKind.FLOAT, {"maximum": 1.0}, 1.5, "above the maximum 1"),
        (ParamKind.FLOAT, {}, float("nan"), "finite"),
        (ParamKind.INT_TUPLE, {"length": 2}, [1, 2, 3], "expected 2 numbers"),
        (ParamKind.INT_TUPLE, {"length": 2}, 3, "list of whole numbers"),
        (ParamKind.CHOICE, {"choices": ("a", "b")}, "c", "not one of"),
        (ParamKind.BOOL, {}, "yes", "true or false"),
    ],
)
def test_invalid_values_are_refused_with_the_reason(kind, kwargs, value, reason):
    spec = ParamSpec("p", kind, None, "h", optional=True, **kwargs)
    with pytest.raises(ParamError, match=reason) as info:
        spec.validate(value)
    assert info.value.field == "p"


def test_inferred_parameters_accept_none_and_required_ones_do_not():
    linear = CATALOG.get("linear")
    assert linear.param("in_features").validate(None) is None
    with pytest.raises(ParamError, match="required"):
        linear.param("out_features").validate(None)


def test_reshape_allows_one_minus_one():
    shape = CATALOG.get("reshape").param("shape")
    assert shape.validate([-1, 4]) == (-1, 4)
    with pytest.raises(ParamError, match="only one"):
        shape.validate([-1, -1])


def test_validate_params_fills_defaults_and_refuses_unknown_names():
    linear = CATALOG.get("linear")
    assert linear.validate_params({"out_features": 5}) == {"in_features": None, "out_features": 5, "bias": True}
    with pytest.raises(ParamError, match="no parameter 'units'"):
        linear.validate_params({"units": 5})


def test_categories_group_every_layer():
    groups = CATALOG.categories()
    assert sum(len(v) for v in groups.values()) == len(CATALOG)
    assert [s.type_id for s in groups["Merge"]] == ["add", "concat", "multiply"]


@pytest.mark.parametrize(("kind", "extra", "value", "expected"), [
    (ParamKind.TEXT, {}, "label", "label"),
    (ParamKind.PATH, {"path_kind": "folder"}, "~/images", "~/images"),
    (ParamKind.FLOAT_LIST, {"length": 3}, [0.5, 1, 0.25], (0.5, 1.0, 0.25)),
])
def test_dataset_field_kinds_normalise_good_values(kind, extra, value, expected):
    assert ParamSpec("f", kind, None, "help", optional=True, **extra).validate(value) == expected


@pytest.mark.parametrize(("kind", "extra", "value", "reason"), [
    (ParamKind.TEXT, {}, 3, "expected text"),
    (ParamKind.TEXT, {"choices": ("a", "b")}, "c", "is not one of"),
    (ParamKind.PATH, {"max_length": 4}, "/a/long/path", "at most 4"),
    (ParamKind.FLOAT_LIST, {}, [1.0, float("nan")], "finite"),
    (ParamKind.FLOAT_LIST, {"length": 3}, [1.0], "expected 3 numbers"),
    (ParamKind.FLOAT_LIST, {}, "0.5", "list of numbers"),
    (ParamKind.FLOAT_LIST, {"minimum": 0.0}, [-1.0], "below the minimum"),
])
def test_dataset_field_kinds_refuse_bad_values_naming_the_field(kind, extra, value, reason):
    with pytest.raises(ParamError, match=reason) as caught:
        ParamSpec("opt", kind, None, "help", **extra).validate(value)
    assert caught.value.field == "opt"


def test_the_editor_guide_lists_every_palette_layer():
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "editor.md").read_text(encoding="utf-8")
    table = text[text.index("| group | layers |"):text.index("Hover an entry")]
    rows = {line.split("|")[1].strip(): line.split("|")[2] for line in table.splitlines()[2:] if line.startswith("|")}
    for category, specs in CATALOG.categories().items():
        listed = {word.strip(" (),.`") for word in rows[category].split()}
        missing = [spec.title for spec in specs if spec.title not in listed]
        assert not missing, f"docs/editor.md's palette table lacks {missing} in {category}"

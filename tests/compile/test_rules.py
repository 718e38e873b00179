"""Layer rules: every catalog layer has one, torch classes map back to layers, parameters read back."""

from __future__ import annotations

import pytest
import torch
from graph_builders import chain, sample_input
from torch import nn

from nnstudio.compile import analyze
from nnstudio.compile.code_rules import CallRule, FunctionRule, ParameterRule
from nnstudio.compile.constructors import NotRepresentable
from nnstudio.compile.module_lookup import NoCatalogLayer, entry_for_class, module_classes, params_from_module
from nnstudio.compile.rule_kinds import (
    ConcatMerge,
    ElementwiseMerge,
    InputRule,
    ModuleRule,
    OutputRule,
    ReshapeRule,
)
from nnstudio.compile.rules import RULES, ImpliedSize, MissingRuleError, RuleRegistry, Trait, rule_for
from nnstudio.core.catalog import CATALOG, LayerKind
from nnstudio.core.errors import DuplicateLayerError

#: The card layers of torch modules (the generic "module" layer of imported networks stands for no class).
MODULE_LAYERS = [spec for spec in CATALOG if spec.kind is LayerKind.MODULE and spec.type_id != "module"]
KIND_OF_RULE = {LayerKind.INPUT: InputRule, LayerKind.OUTPUT: OutputRule, LayerKind.MODULE: ModuleRule,
                LayerKind.MERGE: (ElementwiseMerge, ConcatMerge), LayerKind.RESHAPE: ReshapeRule,
                LayerKind.FUNCTION: (FunctionRule, CallRule), LayerKind.PARAMETER: ParameterRule}

#: The torch.nn classes the 80 classifiers of ``torchvision.models.list_models(module=torchvision.models)``
#: contain (torch 2.14 / torchvision 0.29, counted by ``test_torchvision_classifier_classes_are_listed``).
TORCHVISION_LAYER_CLASSES = {
    nn.AdaptiveAvgPool2d, nn.AvgPool2d, nn.BatchNorm2d, nn.Conv2d, nn.Dropout, nn.Flatten, nn.GELU,
    nn.Hardsigmoid, nn.Hardswish, nn.Identity, nn.LayerNorm, nn.Linear, nn.MaxPool2d, nn.MultiheadAttention,
    nn.modules.linear.NonDynamicallyQuantizableLinear, nn.ReLU, nn.ReLU6, nn.SiLU, nn.Sigmoid, nn.Tanh,
}
#: ... and the containers among them, which are blocks of layers rather than layers.
TORCHVISION_CONTAINERS = {nn.Sequential, nn.ModuleList}


def resolved_defaults(spec):
    shape, dtype = sample_input(spec)
    analysis = analyze(chain(spec.type_id, shape=shape, dtype=dtype))
    assert analysis.ok, [str(p) for p in analysis.errors]
    return analysis.nodes["l1"].resolved


def test_every_catalog_layer_has_a_rule_of_its_kind():
    for spec in CATALOG:
        assert isinstance(rule_for(spec), KIND_OF_RULE[spec.kind]), spec.type_id
    assert {rule.type_id for rule in RULES} == {spec.type_id for spec in CATALOG}


def test_rule_facts_agree_with_each_other():
    for rule in RULES:
        if rule.centres_axis is not None:  # the bias lint finds these among the normalisers
            assert rule.has(Trait.NORMALISER), rule
        if rule.elementwise:
            assert isinstance(rule, ModuleRule) and rule.keeps_shape and rule.implied is None, rule


def test_implied_sizes_name_a_parameter_the_entry_marks_inferred():
    for spec in MODULE_LAYERS:
        implied = rule_for(spec).implied
        inferred = {p.name for p in spec.params if p.inferred}
        assert inferred == ({implied.param} if implied else set()), spec.type_id


@pytest.mark.parametrize("spec", MODULE_LAYERS, ids=lambda s: s.type_id)
def test_a_module_built_from_defaults_reads_back_to_the_same_parameters(spec):
    resolved = resolved_defaults(spec)
    rule = rule_for(spec)
    module = rule.build(spec, resolved)
    assert entry_for_class(type(module)) is spec
    assert params_from_module(module) == spec.validate_params(resolved)


@pytest.mark.parametrize(("module", "expected"), [
    (nn.Conv2d(3, 8, (3, 5), stride=2, padding=(1, 2), groups=1, bias=False, padding_mode="reflect"),
     {"in_channels": 3, "out_channels": 8, "kernel_size": (3, 5), "stride": 2, "padding": (1, 2), "bias": False,
      "padding_mode": "reflect"}),
    (nn.Conv2d(4, 4, 5, padding="same", dilation=2), {"padding": 4, "dilation": 2}),
    (nn.Conv1d(4, 4, 3, padding="valid"), {"padding": 0}),
    (nn.MaxPool2d(3, stride=1, padding=1), {"kernel_size": 3, "stride": 1, "padding": 1}),
    (nn.MaxPool2d(2, stride=2), {"kernel_size": 2, "stride": None}),
    (nn.LSTM(5, 7, num_layers=2, batch_first=False, bidirectional=True),
     {"input_size": 5, "hidden_size": 7, "num_layers": 2, "batch_first": False, "bidirectional": True,
      "output": "last"}),
    (nn.RNN(3, 4, nonlinearity="relu"), {"nonlinearity": "relu", "batch_first": False}),
    (nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, activation="gelu", batch_first=True, norm_first=True),
     {"d_model": 16, "nhead": 2, "dim_feedforward": 32, "activation": "gelu", "norm_first": True}),
    (nn.MultiheadAttention(8, 2, bias=False, batch_first=True), {"embed_dim": 8, "bias": False}),
    (nn.LayerNorm((4, 6), elementwise_affine=False), {"normalized_shape": (4, 6), "elementwise_affine": False}),
    (nn.GroupNorm(4, 12, affine=False), {"num_groups": 4, "num_channels": 12, "affine": False}),
    (nn.ReLU(inplace=True), {}),  # in place or not, it computes the same: torchvision's ResNets use it
    (nn.modules.linear.NonDynamicallyQuantizableLinear(4, 3), {"in_features": 4, "out_features": 3}),
    (nn.Embedding(10, 4, padding_idx=-1), {"num_embeddings": 10, "padding_idx": 9}),
])
def test_constructor_arguments_are_read_back(module, expected):
    params = params_from_module(module)
    assert {name: params[name] for name in expected} == expected
    spec = entry_for_class(type(module))
    rebuilt = rule_for(spec).build(spec, params)
    assert params_from_module(rebuilt) == params
    assert {k: tuple(v.shape) for k, v in rebuilt.state_dict().items()} == {
        k: tuple(v.shape) for k, v in module.state_dict().items()}


@pytest.mark.parametrize(("module", "field"), [
    (nn.MaxPool2d(2, return_indices=True), "return_indices"),  # returns a pair: not this card
    (nn.Softmax(dim=None), "dim"),
    (nn.BatchNorm2d(4, momentum=None), "momentum"),
    (nn.Conv2d(2, 2, 4, padding="same"), "padding"),  # even kernel: PyTorch pads one side more
    (nn.MultiheadAttention(8, 2, kdim=4, vdim=4), "kdim"),
    (nn.AdaptiveAvgPool2d((None, 3)), "output_size"),
    (nn.LSTM(3, 4, proj_size=2), "proj_size"),
])
def test_arguments_a_card_cannot_hold_are_refused_by_name(module, field):
    with pytest.raises(NotRepresentable) as refused:
        params_from_module(module)
    assert refused.value.field == field


def test_classes_map_exactly_and_unknown_ones_are_named():
    class Subclassed(nn.LayerNorm):  # e.g. torchvision's LayerNorm2d: a different forward
        pass

    assert entry_for_class(nn.Linear) is CATALOG.get("linear")
    assert entry_for_class(Subclassed) is None
    with pytest.raises(NoCatalogLayer, match="PixelShuffle has no catalog layer"):
        params_from_module(nn.PixelShuffle(2))


def test_traced_functions_map_to_merges():
    import operator

    from nnstudio.compile.module_lookup import entry_for_function

    assert entry_for_function(operator.add) is CATALOG.get("add") is entry_for_function(torch.add)
    assert entry_for_function(torch.cat) is CATALOG.get("concat")
    assert entry_for_function(operator.mul) is CATALOG.get("multiply")
    assert entry_for_function(torch.flatten) is None and entry_for_class(torch.add) is None


def test_the_torchvision_classifiers_layer_classes_all_have_cards():
    assert TORCHVISION_LAYER_CLASSES <= set(module_classes())
    assert not TORCHVISION_CONTAINERS & set(module_classes())


@pytest.mark.long
def test_torchvision_classifier_classes_are_listed():
    """Rebuild the list above from torchvision itself (every classifier on the meta device)."""
    models = pytest.importorskip("torchvision.models")
    from torchvision.models import regnet

    plain = regnet.BlockParams.from_init_params.__func__

    def widths_on_the_cpu(cls, *args, **kwargs):  # RegNet computes its widths with real tensors
        with torch.device("cpu"):
            return plain(cls, *args, **kwargs)

    found = set()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(regnet.BlockParams, "from_init_params", classmethod(widths_on_the_cpu))
        for name in models.list_models(module=models):
            with torch.device("meta"):
                model = models.get_model(name, weights=None)
            found |= {type(m) for m in model.modules() if type(m).__module__.startswith("torch.nn")}
    assert found == TORCHVISION_LAYER_CLASSES | TORCHVISION_CONTAINERS


# --- the registry ----------------------------------------------------------------------------------

def test_a_duplicate_rule_is_refused_and_a_scratch_registry_leaves_the_global_one_alone():
    with pytest.raises(DuplicateLayerError, match="'relu'"):
        RULES.register(ModuleRule("relu", elementwise=True))
    scratch = RuleRegistry(parent=RULES)
    scratch.register(ModuleRule("relu6_twin", elementwise=True))
    with pytest.raises(DuplicateLayerError):
        scratch.register(ModuleRule("linear"))
    assert "relu6_twin" in scratch and "relu6_twin" not in RULES
    with pytest.raises(MissingRuleError, match="relu6_twin"):
        RULES.get("relu6_twin")


def test_rules_can_be_registered_with_a_decorator_and_facts_are_checked():
    scratch = RuleRegistry(parent=RULES)

    @scratch.register
    class Doubled(ModuleRule):
        type_id = "doubled"
        implied = ImpliedSize("in_features", -1, "features")

    assert isinstance(scratch.get("doubled"), Doubled)
    with pytest.raises(TypeError, match="no fact 'elementwize'"):
        ModuleRule("typo", elementwize=True)


def test_a_catalog_entry_without_a_rule_is_a_problem_on_its_node():
    from nnstudio.core.catalog import LayerSpec
    from nnstudio.core.graph import Graph

    catalog = CATALOG.copy()
    catalog.register(LayerSpec("orphan", "Orphan", "Activation", "no rule yet", LayerKind.MODULE,
                               target="torch.nn.Softsign"))
    graph = Graph.from_records(
        [{"id": "x_in", "type": "input", "params": {"shape": [4]}}, {"id": "o1", "type": "orphan", "params": {}},
         {"id": "out", "type": "output", "params": {}}],
        [{"source": "x_in", "target": "o1"}, {"source": "o1", "target": "out"}], catalog)
    (problem,) = analyze(graph).errors
    assert problem.node_id == "o1" and problem.code == "no-rule" and "orphan" in problem.message


def test_the_built_in_rules_load_once_when_threads_ask_together(monkeypatch):
    import threading
    import time
    from types import SimpleNamespace

    from nnstudio.compile import rules

    registry = RuleRegistry(builtins="slow_builtins")
    imports = []

    def import_slowly(name):  # stands for builtin_rules: registers one rule after another
        imports.append(name)
        for type_id in ("a", "b", "c"):
            registry.register(ModuleRule(type_id))
            time.sleep(0.02)

    monkeypatch.setattr(rules, "importlib", SimpleNamespace(import_module=import_slowly))
    found, errors = [], []

    def ask():
        try:
            found.append(registry.get("c").type_id)
        except Exception as exc:  # a half-loaded registry would raise MissingRuleError here
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == [] and found == ["c"] * 4 and imports == ["slow_builtins"]

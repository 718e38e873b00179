"""The torch-side rule of every built-in catalog layer (imported by :data:`~nnstudio.compile.rules.RULES`
the first time a rule is asked for).

Most layers are one line of facts; the few with more to say (LSTM's result selection, attention's
call, GroupNorm's refusal) are small subclasses below.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Any

import torch
from torch.nn import functional
from torch.nn.modules.linear import NonDynamicallyQuantizableLinear

from nnstudio.compile.constructors import NotRepresentable, Reader
from nnstudio.compile.rule_kinds import (
    ConcatMerge,
    ElementwiseMerge,
    InputRule,
    ModuleRule,
    OutputRule,
    ReshapeRule,
)
from nnstudio.compile.rules import RULES, ImpliedSize, InputLayout, Selection, TrailingShape, Trait
from nnstudio.compile.tensors import LayerFailed, TensorInfo, fail
from nnstudio.core.catalog import LayerSpec

SIGNALS = InputLayout((3,), "[N, C, L]")
IMAGES = InputLayout((4,), "[N, C, H, W]")
SEQUENCES = InputLayout((3,), "[N, T, F]")
TOKENS = InputLayout((3,), "[N, T, E]")

CHANNELS = ImpliedSize("in_channels", 1, "channels")
LAST_FEATURES = "features in its last dimension"

ACTIVATION = frozenset({Trait.ACTIVATION, Trait.SAME_SHAPE})
PASS_THROUGH = frozenset({Trait.PASSES_LINEARLY, Trait.SAME_SHAPE})
NORMALISER = frozenset({Trait.NORMALISER, Trait.SAME_SHAPE})


def _divisors(n: int) -> str:
    found = [d for d in range(1, n + 1) if n % d == 0]
    shown = found if len(found) <= 8 else [*found[:6], found[-1]]
    words = [str(d) for d in shown]
    return ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else words[0]


def _must_divide(spec: LayerSpec, part: str, parts: int, whole: str, size: int) -> LayerFailed:
    return fail("invalid-layer", f"{spec.title}'s {part} {parts} does not divide {whole} {size} (each takes an "
                f"equal share); set {part} to a divisor of {size}: {_divisors(size)}", part)


def _stride_or_none(module: Any) -> Any:
    """Pools keep ``stride=None`` as the kernel size; read it back as None ("same as the kernel")."""
    return None if module.stride == module.kernel_size else module.stride


def _bias_if(flag: str) -> Reader:
    """``bias`` of a layer whose bias exists only with ``flag`` (affine norms): True when it is moot."""
    return lambda module: module.bias is not None if getattr(module, flag) else True


def _same_padding(module: Any) -> Any:
    """Conv padding as numbers: ``"valid"`` is 0, ``"same"`` the symmetric padding it stands for."""
    padding = module.padding
    if padding == "valid":
        return 0
    if padding == "same":
        sizes = [d * (k - 1) for k, d in zip(module.kernel_size, module.dilation, strict=True)]
        if any(size % 2 for size in sizes):
            raise NotRepresentable("padding", "padding='same' pads unevenly for this kernel and dilation")
        return tuple(size // 2 for size in sizes)
    return padding


def _conv(type_id: str, layout: InputLayout) -> ModuleRule:
    return ModuleRule(type_id, implied=CHANNELS, layout=layout, bias_axis=1, readers={"padding": _same_padding})


def _activation(type_id: str, *, unit: bool = False) -> ModuleRule:
    traits = ACTIVATION | {Trait.UNIT_INTERVAL} if unit else ACTIVATION
    return ModuleRule(type_id, elementwise=True, traits=traits)


def _pool(type_id: str, layout: InputLayout, *, linear: bool = False) -> ModuleRule:
    readers: dict[str, Reader] = {} if type_id.startswith("adaptive") else {"stride": _stride_or_none}
    return ModuleRule(type_id, layout=layout, readers=readers,
                      traits={Trait.PASSES_LINEARLY} if linear else frozenset())


# --- layers that need more than facts ---------------------------------------------------------------

class FlattenRule(ModuleRule):
    type_id = "flatten"
    dtypes = "any"
    traits = frozenset({Trait.PASSES_LINEARLY})
    dim_params = ("start_dim", "end_dim")

    def check_input(self, spec: LayerSpec, params: Mapping[str, Any], x: TensorInfo) -> None:
        super().check_input(spec, params, x)
        start = params["start_dim"]
        if -x.rank <= start < x.rank and start % x.rank == 0:
            raise fail("flattens-batch", f"{spec.title} with start_dim 0 would merge the batch dimension into "
                       "the features; set start_dim to 1", "start_dim")


class ConvTransposeRule(ModuleRule):
    """A transposed convolution, whose ``output_padding`` must stay below its stride or dilation."""

    def check_input(self, spec: LayerSpec, params: Mapping[str, Any], x: TensorInfo) -> None:
        super().check_input(spec, params, x)
        dims = self.layout.ranks[0] - 2 if self.layout else 1
        extra, stride, dilation = (_per_dim(params[n], dims) for n in ("output_padding", "stride", "dilation"))
        for e, s, d in zip(extra, stride, dilation, strict=True):
            if e >= max(s, d):
                raise fail("invalid-layer", f"{spec.title}'s output_padding {params['output_padding']} must be "
                           f"smaller than its stride {params['stride']} (or dilation); lower output_padding",
                           "output_padding")


def _per_dim(value: Any, dims: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * dims


class RecurrentRule(ModuleRule):
    """LSTM, GRU, RNN: return ``(output, state)``; the ``output`` parameter picks what is passed on."""

    layout = SEQUENCES
    implied = ImpliedSize("input_size", -1, "features per time step")
    #: LSTM's state is ``(h_n, c_n)``; GRU's and RNN's is ``h_n``.
    state_is_pair = False

    def select(self, spec: LayerSpec, params: Mapping[str, Any]) -> Selection:
        choice = params["output"]
        if choice == "sequence":
            return (0,)
        if choice == "last":
            # The time axis is 1 with batch_first (nnstudio's convention), else 0.
            return (0, (slice(None), -1)) if params["batch_first"] else (0, -1)
        # hidden: h_n is [layers * directions, N, H]; its last entry is the top layer's final state.
        return (1, 0, -1) if self.state_is_pair else (1, -1)

    def selection_comment(self, spec: LayerSpec, params: Mapping[str, Any]) -> str:
        return {"sequence": "output at every time step", "last": "output at the last time step",
                "hidden": "final hidden state of the top layer"}[params["output"]]


class LstmRule(RecurrentRule):
    type_id = "lstm"
    state_is_pair = True


class AttentionRule(ModuleRule):
    """Self-attention: query, key and value are the input; the attention weights are dropped."""

    type_id = "multihead_attention"
    layout = TOKENS
    implied = ImpliedSize("embed_dim", -1, "features per token")
    readers = {
        "bias": lambda m: m.in_proj_bias is not None,
        "add_bias_kv": lambda m: m.bias_k is not None,
        "kdim": lambda m: None if m._qkv_same_embed_dim else m.kdim,
        "vdim": lambda m: None if m._qkv_same_embed_dim else m.vdim,
    }

    def call_arguments(self, spec: LayerSpec) -> tuple[int, dict[str, Any]]:
        return 3, {"need_weights": False}

    def select(self, spec: LayerSpec, params: Mapping[str, Any]) -> Selection:
        return (0,)

    def selection_comment(self, spec: LayerSpec, params: Mapping[str, Any]) -> str:
        return "attention output (the weights are not needed)"

    def build_failure(self, spec: LayerSpec, resolved: Mapping[str, Any], x: TensorInfo, exc: Exception
                      ) -> LayerFailed:
        heads, width = resolved["num_heads"], resolved["embed_dim"]
        if width % heads:
            return _must_divide(spec, "num_heads", heads, "embed_dim", width)
        return super().build_failure(spec, resolved, x, exc)


def _activation_name(module: Any) -> str:
    activation = module.activation
    for name, function in (("relu", functional.relu), ("gelu", functional.gelu)):
        if activation is function:
            return name
    raise NotRepresentable("activation", f"the feed-forward activation {activation!r} is neither relu nor gelu")


class TransformerEncoderRule(ModuleRule):
    type_id = "transformer_encoder_layer"
    layout = TOKENS
    implied = ImpliedSize("d_model", -1, "features per token")
    readers = {
        "d_model": lambda m: m.self_attn.embed_dim,
        "nhead": lambda m: m.self_attn.num_heads,
        "dim_feedforward": lambda m: m.linear1.out_features,
        "dropout": lambda m: m.dropout.p,
        "activation": _activation_name,
        "batch_first": lambda m: m.self_attn.batch_first,
        "layer_norm_eps": lambda m: m.norm1.eps,
        "bias": lambda m: m.linear1.bias is not None,
    }

    def build_failure(self, spec: LayerSpec, resolved: Mapping[str, Any], x: TensorInfo, exc: Exception
                      ) -> LayerFailed:
        heads, width = resolved["nhead"], resolved["d_model"]
        if width % heads:
            return _must_divide(spec, "nhead", heads, "d_model", width)
        return super().build_failure(spec, resolved, x, exc)


class GroupNormRule(ModuleRule):
    type_id = "group_norm"
    implied = ImpliedSize("num_channels", 1, "channels")
    layout = InputLayout((2, 3, 4, 5), "[N, C, ...]")
    traits = NORMALISER
    readers = {"bias": _bias_if("affine")}

    def build_failure(self, spec: LayerSpec, resolved: Mapping[str, Any], x: TensorInfo, exc: Exception
                      ) -> LayerFailed:
        groups, channels = resolved["num_groups"], resolved["num_channels"]
        if channels % groups:
            return _must_divide(spec, "num_groups", groups, "the input's channel count", channels)
        return super().build_failure(spec, resolved, x, exc)


class LayerNormRule(ModuleRule):
    type_id = "layer_norm"
    implied = TrailingShape("normalized_shape", -1, LAST_FEATURES)
    traits = NORMALISER
    readers = {"bias": _bias_if("elementwise_affine")}


# --- the table --------------------------------------------------------------------------------------

for rule in (
    InputRule("input"),
    OutputRule("output"),
    ModuleRule("linear", implied=ImpliedSize("in_features", -1, LAST_FEATURES), traits={Trait.LINEAR_MAP},
               bias_axis=-1, aliases=(NonDynamicallyQuantizableLinear,)),
    ModuleRule("embedding", dtypes="integer"),
    _conv("conv1d", SIGNALS),
    _conv("conv2d", IMAGES),
    ConvTransposeRule("conv_transpose2d", implied=CHANNELS, layout=IMAGES, bias_axis=1,
                      readers={"padding": _same_padding}),
    _pool("max_pool2d", IMAGES),
    _pool("avg_pool2d", IMAGES, linear=True),
    _pool("adaptive_avg_pool2d", IMAGES, linear=True),
    _pool("adaptive_max_pool2d", IMAGES),
    _pool("max_pool1d", SIGNALS),
    _pool("avg_pool1d", SIGNALS, linear=True),
    _pool("adaptive_avg_pool1d", SIGNALS, linear=True),
    ModuleRule("batch_norm1d", implied=ImpliedSize("num_features", 1, "channels"),
               layout=InputLayout((2, 3), "[N, C] or [N, C, L]"), traits=NORMALISER, centres_axis=1),
    ModuleRule("batch_norm2d", implied=ImpliedSize("num_features", 1, "channels"), layout=IMAGES,
               traits=NORMALISER, centres_axis=1),
    LayerNormRule(),
    GroupNormRule(),
    ModuleRule("instance_norm2d", implied=ImpliedSize("num_features", 1, "channels"), layout=IMAGES,
               traits=NORMALISER, centres_axis=1, readers={"bias": _bias_if("affine")}),
    ModuleRule("rms_norm", implied=TrailingShape("normalized_shape", -1, LAST_FEATURES), traits=NORMALISER),
    ModuleRule("dropout", elementwise=True, traits=PASS_THROUGH),
    ModuleRule("dropout1d", elementwise=True, layout=SIGNALS, traits=PASS_THROUGH),
    ModuleRule("dropout2d", elementwise=True, layout=IMAGES, traits=PASS_THROUGH),
    ModuleRule("alpha_dropout", elementwise=True, traits=PASS_THROUGH),
    FlattenRule(),
    ReshapeRule("reshape", traits={Trait.PASSES_LINEARLY}),
    ModuleRule("identity", elementwise=True, dtypes="any", traits=PASS_THROUGH),
    LstmRule(),
    RecurrentRule("gru"),
    RecurrentRule("rnn"),
    AttentionRule(),
    TransformerEncoderRule(),
    _activation("relu"),
    _activation("relu6"),
    _activation("leaky_relu"),
    ModuleRule("prelu", traits=ACTIVATION),  # learned slopes: runs on meta to count them
    _activation("elu"),
    _activation("selu"),
    _activation("gelu"),
    _activation("silu"),
    _activation("mish"),
    _activation("hardswish"),
    _activation("sigmoid", unit=True),
    _activation("hardsigmoid", unit=True),
    _activation("tanh"),
    _activation("softplus"),
    ModuleRule("glu", traits={Trait.ACTIVATION}, dim_params=("dim",)),  # halves ``dim``: runs on meta
    ModuleRule("softmax", traits={Trait.PROBABILITIES, Trait.SAME_SHAPE}, dim_params=("dim",)),
    ModuleRule("log_softmax", traits={Trait.LOG_PROBABILITIES, Trait.SAME_SHAPE}, dim_params=("dim",)),
    ElementwiseMerge("add", verb="add", aliases=(operator.add, torch.Tensor.add)),
    ConcatMerge("concat", aliases=(torch.concat, torch.concatenate)),
    ElementwiseMerge("multiply", verb="multiply", aliases=(operator.mul, torch.Tensor.mul, torch.multiply)),
):
    RULES.register(rule)

# The layers an imported network needs beyond the cards (Function, Module, Call, Parameter).
from nnstudio.compile import code_rules  # noqa: E402, F401

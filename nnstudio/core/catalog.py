"""The layer catalog: every layer nnstudio knows, described as plain data.

A :class:`LayerSpec` says what a layer is (ports, typed parameters with defaults, ranges and help,
and the PyTorch target it compiles to). The inspector builds its forms from these descriptions, the
palette lists them and the project loader checks files against them. A layer is defined in two
places only: its entry here, and its torch-side rule registered under the same type id in
:mod:`nnstudio.compile.rules` (how it runs, compiles and what the lints may assume about it).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from nnstudio.core.errors import DuplicateLayerError, ParamError, UnknownLayerError
from nnstudio.core.fields import ParamKind, ParamSpec

__all__ = ["CATALOG", "Catalog", "LayerKind", "LayerSpec", "ParamKind", "ParamSpec", "PortSpec"]


class LayerKind(str, Enum):
    """How the compiler turns a node into fx graph nodes."""

    INPUT = "input"  # a placeholder
    OUTPUT = "output"  # the graph's return value
    MODULE = "module"  # a submodule call, ``target`` is an nn.Module class path
    MERGE = "merge"  # a function over several inputs (add, cat, mul)
    RESHAPE = "reshape"  # a tensor method keeping the batch dimension
    FUNCTION = "function"  # a call of a function, a tensor method, or another layer's module (imported)
    PARAMETER = "parameter"  # a tensor the network holds (a learnable parameter or a buffer), no input


@dataclass(frozen=True)
class PortSpec:
    """An input port; ``variadic`` ports (Add, Concat, Multiply) take ``minimum`` or more edges."""

    name: str
    variadic: bool = False
    #: The fewest edges a variadic port needs (merges: 2; an imported call may take none).
    minimum: int = 2


@dataclass(frozen=True)
class LayerSpec:
    type_id: str
    title: str
    category: str
    help: str
    kind: LayerKind
    #: ``torch.nn.Linear`` for modules, ``torch.add`` for merges, ``torch.Tensor.reshape`` for a
    #: reshape; empty for Input/Output.
    target: str = ""
    inputs: tuple[PortSpec, ...] = (PortSpec("in"),)
    has_output: bool = True
    params: tuple[ParamSpec, ...] = ()
    #: The short prefix used for new node names (``conv`` -> ``conv1``, ``conv2``...).
    name_prefix: str = ""

    def __post_init__(self) -> None:
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise ValueError(f"layer {self.type_id!r} declares a parameter twice")

    @property
    def prefix(self) -> str:
        return self.name_prefix or self.type_id

    def param(self, name: str) -> ParamSpec:
        for spec in self.params:
            if spec.name == name:
                return spec
        raise ParamError(name, f"layer {self.title} has no parameter {name!r}")

    def port(self, name: str) -> PortSpec:
        for port in self.inputs:
            if port.name == name:
                return port
        raise ValueError(f"layer {self.title} has no input port {name!r}")

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def validate_params(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Return a full, normalised parameter dict (defaults filled in), or raise ParamError."""
        unknown = set(values) - {p.name for p in self.params}
        if unknown:
            name = sorted(unknown)[0]
            raise ParamError(name, f"layer {self.title} has no parameter {name!r}")
        return {p.name: p.validate(values.get(p.name, p.default)) for p in self.params}


@dataclass
class Catalog:
    """A registry of layer specs, usable as ``catalog.register(spec)``; duplicates are refused."""

    _layers: dict[str, LayerSpec] = field(default_factory=dict)

    def register(self, spec: LayerSpec) -> LayerSpec:
        if spec.type_id in self._layers:
            raise DuplicateLayerError(spec.type_id)
        self._layers[spec.type_id] = spec
        return spec

    def get(self, type_id: str) -> LayerSpec:
        try:
            return self._layers[type_id]
        except KeyError:
            raise UnknownLayerError(type_id) from None

    def __contains__(self, type_id: object) -> bool:
        return type_id in self._layers

    def __iter__(self) -> Iterator[LayerSpec]:
        return iter(self._layers.values())

    def __len__(self) -> int:
        return len(self._layers)

    def copy(self) -> Catalog:
        """Return a new catalog holding the same entries (to extend without touching this one)."""
        return Catalog(dict(self._layers))

    def categories(self) -> dict[str, list[LayerSpec]]:
        """Layers grouped by category, in registration order."""
        groups: dict[str, list[LayerSpec]] = {}
        for spec in self._layers.values():
            groups.setdefault(spec.category, []).append(spec)
        return groups


# --- parameter helpers ---------------------------------------------------------------------------

I, F, B, C, T = ParamKind.INT, ParamKind.FLOAT, ParamKind.BOOL, ParamKind.CHOICE, ParamKind.INT_TUPLE  # noqa: E741 - short names keep the table below readable
MAX_FEATURES = 1_000_000


def _inferred(name: str, what: str) -> ParamSpec:
    return ParamSpec(name, I, None, f"{what}; inferred from the input unless you pin a value",
                     minimum=1, maximum=MAX_FEATURES, inferred=True)


def _count(name: str, default: int, help: str) -> ParamSpec:
    return ParamSpec(name, I, default, help, minimum=1, maximum=MAX_FEATURES)


def _window(name: str, default: Any, help: str, *, dims: int, minimum: int = 1, optional: bool = False
            ) -> ParamSpec:
    return ParamSpec(name, T, default, help, minimum=minimum, maximum=4096, length=dims, scalar_ok=True,
                     optional=optional)


def _bias() -> ParamSpec:
    return ParamSpec("bias", B, True, "learn an additive bias")


def _conv_params(dims: int, default_out: int, transpose: bool = False) -> tuple[ParamSpec, ...]:
    params = [
        _inferred("in_channels", "number of input channels"),
        _count("out_channels", default_out, "number of output channels (filters)"),
        _window("kernel_size", 3, "size of the convolution kernel", dims=dims),
        _window("stride", 1, "step between kernel applications", dims=dims),
        _window("padding", 0, "zeros added to each side of the input", dims=dims, minimum=0),
    ]
    if transpose:
        params.append(_window("output_padding", 0, "extra size added to one side of the output",
                              dims=dims, minimum=0))
    params += [
        _window("dilation", 1, "spacing between kernel elements", dims=dims),
        _count("groups", 1, "blocked connections from input to output channels"),
        _bias(),
    ]
    if not transpose:
        params.append(ParamSpec("padding_mode", C, "zeros", "how padding values are made",
                                choices=("zeros", "reflect", "replicate", "circular")))
    return tuple(params)


def _norm_params(what: str) -> tuple[ParamSpec, ...]:
    return (
        _inferred("num_features", what),
        ParamSpec("eps", F, 1e-5, "added to the variance for numerical stability", minimum=0.0, maximum=1.0),
        ParamSpec("momentum", F, 0.1, "weight of the newest batch in the running statistics",
                  minimum=0.0, maximum=1.0),
        ParamSpec("affine", B, True, "learn a per-channel scale and shift"),
        ParamSpec("track_running_stats", B, True, "keep running mean/variance for evaluation"),
    )


def _recurrent_params(*extra: ParamSpec) -> tuple[ParamSpec, ...]:
    return (
        _inferred("input_size", "features per time step"),
        _count("hidden_size", 64, "features of the hidden state"),
        ParamSpec("num_layers", I, 1, "stacked recurrent layers", minimum=1, maximum=64),
        *extra,
        _bias(),
        ParamSpec("batch_first", B, True, "input is [batch, time, features] (nnstudio's convention)"),
        ParamSpec("dropout", F, 0.0, "dropout between stacked layers", minimum=0.0, maximum=1.0),
        ParamSpec("bidirectional", B, False, "also run the sequence backwards"),
        ParamSpec("output", C, "last", "what the layer passes on: every time step, the last time step, "
                  "or the final hidden state of the top layer",
                  choices=("sequence", "last", "hidden"), constructor=False),
    )


def _dim(default: int, help: str) -> ParamSpec:
    return ParamSpec("dim", I, default, help, minimum=-8, maximum=8)


def _eps() -> ParamSpec:
    return ParamSpec("eps", F, 1e-5, "added to the variance for numerical stability", minimum=0.0, maximum=1.0)


def _dropout(type_id: str, title: str, help: str) -> LayerSpec:
    return _module(type_id, title, REG, f"torch.nn.{title}", help,
                   ParamSpec("p", F, 0.5, "probability of zeroing an element", minimum=0.0, maximum=1.0),
                   prefix="drop")


def _max_pool(dims: int) -> LayerSpec:
    return _module(f"max_pool{dims}d", f"MaxPool{dims}d", POOL, f"torch.nn.MaxPool{dims}d",
                   f"Maximum over each {dims}-D window",
                   _window("kernel_size", 2, "size of the pooling window", dims=dims),
                   _window("stride", None, "step between windows (empty: same as the kernel)", dims=dims,
                           optional=True),
                   _window("padding", 0, "implicit padding on each side", dims=dims, minimum=0),
                   _window("dilation", 1, "spacing between window elements", dims=dims),
                   ParamSpec("ceil_mode", B, False, "round the output size up instead of down"),
                   prefix="pool")


def _avg_pool(dims: int) -> LayerSpec:
    return _module(f"avg_pool{dims}d", f"AvgPool{dims}d", POOL, f"torch.nn.AvgPool{dims}d",
                   f"Average over each {dims}-D window",
                   _window("kernel_size", 2, "size of the pooling window", dims=dims),
                   _window("stride", None, "step between windows (empty: same as the kernel)", dims=dims,
                           optional=True),
                   _window("padding", 0, "implicit zero padding on each side", dims=dims, minimum=0),
                   ParamSpec("ceil_mode", B, False, "round the output size up instead of down"),
                   ParamSpec("count_include_pad", B, True, "count padding zeros in the average"),
                   prefix="pool")


IO, LIN, CONV, POOL, NORM, REG, SHAPE, REC, ATT, ACT, MERGE, CODE = (
    "Input / Output", "Linear", "Convolution", "Pooling", "Normalization", "Regularization",
    "Shape", "Recurrent", "Attention", "Activation", "Merge", "Code",
)


def _module(type_id: str, title: str, category: str, target: str, help: str, *params: ParamSpec,
            prefix: str = "") -> LayerSpec:
    return LayerSpec(type_id, title, category, help, LayerKind.MODULE, target=target, params=params,
                     name_prefix=prefix)


def _activation(type_id: str, title: str, target: str, help: str, *params: ParamSpec, prefix: str = ""
                ) -> LayerSpec:
    return _module(type_id, title, ACT, target, help, *params, prefix=prefix)


def _merge(type_id: str, title: str, target: str, help: str, *params: ParamSpec) -> LayerSpec:
    return LayerSpec(type_id, title, MERGE, help, LayerKind.MERGE, target=target,
                     inputs=(PortSpec("in", variadic=True),), params=params)


#: The inputs of an imported call: any number of wires, read in order as ``{"$input": k}``.
_CALL_INPUTS = (PortSpec("in", variadic=True, minimum=0),)


def _call_arguments(what: str) -> tuple[ParamSpec, ParamSpec]:
    return (
        ParamSpec("args", ParamKind.DATA, ({"$input": 0},), f"positional arguments of the {what}: constants, "
                  'and {"$input": k} for the k-th wire', allow_infinite=True, optional=True),
        ParamSpec("kwargs", ParamKind.DATA, {}, f"keyword arguments of the {what}", allow_infinite=True,
                  keywords=True),
    )


def _code_layers() -> list[LayerSpec]:
    """The layers an imported network needs beyond the cards: any call, any module, a held tensor."""
    return [
        LayerSpec("function", "Function", CODE, "Calls a torch function (torch.flatten), a tensor method "
                  "(Tensor.permute) or an operator (operator.getitem) on its inputs and constants",
                  LayerKind.FUNCTION, inputs=_CALL_INPUTS, params=(
                      ParamSpec("target", ParamKind.TEXT, "torch.relu", "what is called: torch.flatten, "
                                "torch.nn.functional.relu, Tensor.permute, operator.add, ...", max_length=300),
                      *_call_arguments("call"),
                  ), name_prefix="fn"),
        LayerSpec("module", "Module", CODE, "Any torch.nn module (or a library's, such as torchvision's "
                  "StochasticDepth), built from its class and constructor arguments and called on its inputs",
                  LayerKind.MODULE, inputs=_CALL_INPUTS, params=(
                      ParamSpec("class", ParamKind.TEXT, "torch.nn.Identity", "the module's class, e.g. "
                                "torch.nn.PixelShuffle or torchvision.ops.StochasticDepth", max_length=300),
                      ParamSpec("arguments", ParamKind.DATA, {}, "constructor arguments by name",
                                allow_infinite=True, keywords=True),
                      *_call_arguments("module's call (empty: the module is held but not called)"),
                  ), name_prefix="module"),
        LayerSpec("call", "Call", CODE, "Calls the module of another layer again: one module used at several "
                  "places (ResNet's ReLU in a block), its weights shared",
                  LayerKind.FUNCTION, inputs=_CALL_INPUTS, params=(
                      ParamSpec("module", ParamKind.TEXT, "", "the name of the layer whose module is called",
                                max_length=200),
                      *_call_arguments("call"),
                  ), name_prefix="call"),
        LayerSpec("parameter", "Parameter", CODE, "A tensor the network holds: a learnable parameter (a class "
                  "token, a position embedding) or a buffer, stored in the project's weights",
                  LayerKind.PARAMETER, inputs=(), params=(
                      ParamSpec("shape", T, (1,), "the tensor's shape (no batch dimension)", minimum=0,
                                maximum=MAX_FEATURES, allow_empty=True),
                      ParamSpec("dtype", C, "float32", "element type", choices=(
                          "float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8",
                          "bool", "complex64")),
                      ParamSpec("role", C, "parameter", "parameter: learned by training; buffer: saved with "
                                "the weights, not learned; constant: a buffer the state dict leaves out",
                                choices=("parameter", "buffer", "constant")),
                  ), name_prefix="param"),
    ]


def _builtin_layers() -> list[LayerSpec]:
    return [
        LayerSpec("input", "Input", IO, "The network's input: one sample's shape, without the batch dimension",
                  LayerKind.INPUT, inputs=(), params=(
                      ParamSpec("shape", T, (1, 8, 8), "shape of one sample, e.g. 1, 28, 28 for a grey image",
                                minimum=1, maximum=MAX_FEATURES),
                      ParamSpec("dtype", C, "float32", "element type: float32 for images and features, "
                                "int64 for token ids fed to an Embedding", choices=("float32", "int64")),
                  )),
        LayerSpec("output", "Output", IO, "The network's output, compared with the target by the loss",
                  LayerKind.OUTPUT, has_output=False),
        _module("linear", "Linear", LIN, "torch.nn.Linear", "Fully connected layer: y = x Wᵀ + b",
                _inferred("in_features", "size of each input sample"),
                _count("out_features", 10, "size of each output sample"), _bias(), prefix="fc"),
        _module("conv1d", "Conv1d", CONV, "torch.nn.Conv1d", "1-D convolution over [N, C, L] signals",
                *_conv_params(1, 16), prefix="conv"),
        _module("conv2d", "Conv2d", CONV, "torch.nn.Conv2d", "2-D convolution over [N, C, H, W] images",
                *_conv_params(2, 32), prefix="conv"),
        _module("conv_transpose2d", "ConvTranspose2d", CONV, "torch.nn.ConvTranspose2d",
                "Transposed 2-D convolution (learned upsampling)", *_conv_params(2, 32, transpose=True),
                prefix="deconv"),
        _max_pool(2),
        _avg_pool(2),
        _module("adaptive_avg_pool2d", "AdaptiveAvgPool2d", POOL, "torch.nn.AdaptiveAvgPool2d",
                "Average pooling to a fixed output size, whatever the input size",
                _window("output_size", (1, 1), "height and width of the output", dims=2), prefix="gap"),
        _module("adaptive_max_pool2d", "AdaptiveMaxPool2d", POOL, "torch.nn.AdaptiveMaxPool2d",
                "Max pooling to a fixed output size, whatever the input size",
                _window("output_size", (1, 1), "height and width of the output", dims=2), prefix="pool"),
        _max_pool(1),
        _avg_pool(1),
        _module("adaptive_avg_pool1d", "AdaptiveAvgPool1d", POOL, "torch.nn.AdaptiveAvgPool1d",
                "Average pooling of [N, C, L] signals to a fixed length, whatever the input length",
                _window("output_size", 1, "length of the output", dims=1), prefix="gap"),
        _module("batch_norm1d", "BatchNorm1d", NORM, "torch.nn.BatchNorm1d",
                "Batch normalization over [N, C] or [N, C, L]", *_norm_params("number of features (C)"),
                prefix="bn"),
        _module("batch_norm2d", "BatchNorm2d", NORM, "torch.nn.BatchNorm2d",
                "Batch normalization over [N, C, H, W] images", *_norm_params("number of channels (C)"),
                prefix="bn"),
        _module("layer_norm", "LayerNorm", NORM, "torch.nn.LayerNorm",
                "Normalizes over the trailing dimensions of each sample",
                ParamSpec("normalized_shape", T, None, "trailing shape to normalise over; inferred from "
                          "the input's last dimension unless you pin a value", minimum=1,
                          maximum=MAX_FEATURES, scalar_ok=True, inferred=True),
                ParamSpec("eps", F, 1e-5, "added to the variance for numerical stability", minimum=0.0,
                          maximum=1.0),
                ParamSpec("elementwise_affine", B, True, "learn a per-element scale and shift"),
                _bias(), prefix="ln"),
        _module("group_norm", "GroupNorm", NORM, "torch.nn.GroupNorm",
                "Normalizes each sample over groups of channels (works with any batch size)",
                ParamSpec("num_groups", I, 8, "groups the channels are split into; must divide the channel "
                          "count", minimum=1, maximum=MAX_FEATURES),
                _inferred("num_channels", "number of channels (C)"), _eps(),
                ParamSpec("affine", B, True, "learn a per-channel scale and shift"), prefix="gn"),
        _module("instance_norm2d", "InstanceNorm2d", NORM, "torch.nn.InstanceNorm2d",
                "Normalizes each channel of each image on its own (style transfer)",
                _inferred("num_features", "number of channels (C)"), _eps(),
                ParamSpec("momentum", F, 0.1, "weight of the newest batch in the running statistics",
                          minimum=0.0, maximum=1.0),
                ParamSpec("affine", B, False, "learn a per-channel scale and shift"),
                ParamSpec("track_running_stats", B, False, "keep running mean/variance for evaluation"),
                prefix="norm"),
        _module("rms_norm", "RMSNorm", NORM, "torch.nn.RMSNorm",
                "Divides each sample's trailing dimensions by their root mean square (no centring)",
                ParamSpec("normalized_shape", T, None, "trailing shape to normalise over; inferred from "
                          "the input's last dimension unless you pin a value", minimum=1,
                          maximum=MAX_FEATURES, scalar_ok=True, inferred=True),
                ParamSpec("eps", F, None, "added for numerical stability (empty: the float type's "
                          "machine epsilon)", minimum=0.0, maximum=1.0, optional=True),
                ParamSpec("elementwise_affine", B, True, "learn a per-element scale"), prefix="norm"),
        _dropout("dropout", "Dropout", "Zeroes random elements while training, scaling the rest"),
        _dropout("dropout1d", "Dropout1d", "Zeroes whole random channels of [N, C, L] signals while training"),
        _dropout("dropout2d", "Dropout2d", "Zeroes whole random channels of [N, C, H, W] images while training"),
        _dropout("alpha_dropout", "AlphaDropout", "Dropout that keeps SELU activations' mean and variance"),
        _module("flatten", "Flatten", SHAPE, "torch.nn.Flatten", "Flattens dimensions into one",
                ParamSpec("start_dim", I, 1, "first dimension to flatten", minimum=-8, maximum=8),
                ParamSpec("end_dim", I, -1, "last dimension to flatten", minimum=-8, maximum=8)),
        LayerSpec("reshape", "Reshape", SHAPE, "Gives each sample a new shape (the batch dimension is kept)",
                  LayerKind.RESHAPE, target="torch.Tensor.reshape", params=(
                      ParamSpec("shape", T, (-1,), "new shape of one sample; one entry may be -1",
                                minimum=1, maximum=MAX_FEATURES, allow_minus_one=True),
                  )),
        _module("identity", "Identity", SHAPE, "torch.nn.Identity",
                "Passes its input on unchanged (a placeholder, e.g. where a classifier head was removed)"),
        _module("embedding", "Embedding", LIN, "torch.nn.Embedding",
                "Looks up a learned vector for each integer token id",
                _count("num_embeddings", 1000, "size of the vocabulary"),
                _count("embedding_dim", 64, "size of each embedding vector"),
                ParamSpec("padding_idx", I, None, "token id whose vector stays zero (empty: none)",
                          minimum=0, maximum=MAX_FEATURES, optional=True), prefix="embed"),
        _module("lstm", "LSTM", REC, "torch.nn.LSTM", "Long short-term memory over [N, T, F] sequences",
                *_recurrent_params()),
        _module("gru", "GRU", REC, "torch.nn.GRU", "Gated recurrent unit over [N, T, F] sequences",
                *_recurrent_params()),
        _module("rnn", "RNN", REC, "torch.nn.RNN", "Plain (Elman) recurrent layer over [N, T, F] sequences",
                *_recurrent_params(ParamSpec("nonlinearity", C, "tanh", "activation of the hidden state",
                                             choices=("tanh", "relu")))),
        _module("multihead_attention", "MultiheadAttention", ATT, "torch.nn.MultiheadAttention",
                "Self-attention over [N, T, E] sequences (query, key and value are the input)",
                _inferred("embed_dim", "features per token (E)"),
                ParamSpec("num_heads", I, 4, "parallel attention heads; must divide embed_dim",
                          minimum=1, maximum=1024),
                ParamSpec("dropout", F, 0.0, "dropout on attention weights", minimum=0.0, maximum=1.0),
                _bias(),
                ParamSpec("batch_first", B, True, "input is [batch, time, features] (nnstudio's convention)"),
                prefix="attn"),
        _module("transformer_encoder_layer", "TransformerEncoderLayer", ATT,
                "torch.nn.TransformerEncoderLayer",
                "Self-attention plus feed-forward block over [N, T, E] sequences",
                _inferred("d_model", "features per token (E)"),
                ParamSpec("nhead", I, 4, "parallel attention heads; must divide d_model", minimum=1,
                          maximum=1024),
                _count("dim_feedforward", 256, "width of the feed-forward layer"),
                ParamSpec("dropout", F, 0.1, "dropout probability", minimum=0.0, maximum=1.0),
                ParamSpec("activation", C, "relu", "feed-forward activation", choices=("relu", "gelu")),
                ParamSpec("batch_first", B, True, "input is [batch, time, features] (nnstudio's convention)"),
                ParamSpec("norm_first", B, False, "apply LayerNorm before attention (pre-norm)"),
                prefix="encoder"),
        _activation("relu", "ReLU", "torch.nn.ReLU", "max(0, x)"),
        _activation("relu6", "ReLU6", "torch.nn.ReLU6", "min(max(0, x), 6): a ReLU capped at 6 (MobileNet)",
                    prefix="relu6_"),
        _activation("leaky_relu", "LeakyReLU", "torch.nn.LeakyReLU", "x for x > 0, slope·x otherwise",
                    ParamSpec("negative_slope", F, 0.01, "slope for negative inputs", minimum=0.0,
                              maximum=1.0)),
        _activation("prelu", "PReLU", "torch.nn.PReLU", "x for x > 0, a learned slope·x otherwise",
                    ParamSpec("num_parameters", I, 1, "learned slopes: 1 shared by all channels, or one per "
                              "channel (the input's channel count)", minimum=1, maximum=MAX_FEATURES),
                    ParamSpec("init", F, 0.25, "starting slope for negative inputs", minimum=0.0, maximum=1.0)),
        _activation("elu", "ELU", "torch.nn.ELU", "x for x > 0, alpha·(eˣ − 1) otherwise",
                    ParamSpec("alpha", F, 1.0, "scale of the negative part", minimum=0.0, maximum=10.0)),
        _activation("selu", "SELU", "torch.nn.SELU", "scaled ELU that keeps activations normalised "
                    "(self-normalising networks; pair with AlphaDropout)"),
        _activation("gelu", "GELU", "torch.nn.GELU", "Gaussian error linear unit",
                    ParamSpec("approximate", C, "none", "exact or tanh approximation",
                              choices=("none", "tanh"))),
        _activation("silu", "SiLU", "torch.nn.SiLU", "x · sigmoid(x) (swish)"),
        _activation("mish", "Mish", "torch.nn.Mish", "x · tanh(softplus(x))"),
        _activation("hardswish", "Hardswish", "torch.nn.Hardswish",
                    "x · ReLU6(x + 3) / 6: a cheap swish (MobileNetV3)"),
        _activation("sigmoid", "Sigmoid", "torch.nn.Sigmoid", "1 / (1 + e⁻ˣ), squashes to (0, 1)"),
        _activation("hardsigmoid", "Hardsigmoid", "torch.nn.Hardsigmoid",
                    "ReLU6(x + 3) / 6: a cheap sigmoid with outputs in [0, 1] (MobileNetV3)"),
        _activation("tanh", "Tanh", "torch.nn.Tanh", "hyperbolic tangent, squashes to (-1, 1)"),
        _activation("softplus", "Softplus", "torch.nn.Softplus", "log(1 + e^(beta·x)) / beta: a smooth ReLU",
                    ParamSpec("beta", F, 1.0, "sharpness of the bend", minimum=0.001, maximum=1000.0),
                    ParamSpec("threshold", F, 20.0, "above this value of beta·x the layer passes x on "
                              "unchanged", minimum=0.0, maximum=1000.0)),
        _activation("glu", "GLU", "torch.nn.GLU", "gated linear unit: splits dim in half into a and b and "
                    "returns a · sigmoid(b)", _dim(-1, "dimension split in half (its size must be even)")),
        _activation("softmax", "Softmax", "torch.nn.Softmax", "turns scores into probabilities along dim",
                    _dim(1, "dimension that sums to 1")),
        _activation("log_softmax", "LogSoftmax", "torch.nn.LogSoftmax", "log of softmax along dim (pair "
                    "with NLLLoss)", _dim(1, "dimension to normalise")),
        _merge("add", "Add", "torch.add", "Element-wise sum of its inputs (residual connections)"),
        _merge("concat", "Concat", "torch.cat", "Joins its inputs along a dimension",
               _dim(1, "dimension to join along (1: channels or features)")),
        _merge("multiply", "Multiply", "torch.mul", "Element-wise product of its inputs (gating)"),
        *_code_layers(),
    ]


def _default_catalog() -> Catalog:
    catalog = Catalog()
    for spec in _builtin_layers():
        catalog.register(spec)
    return catalog


#: The catalog every part of nnstudio uses.
CATALOG: Catalog = _default_catalog()

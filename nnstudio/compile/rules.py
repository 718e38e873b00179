"""The torch side of a layer: one rule object per catalog entry, found through a registry.

A layer is defined in two places only: its catalog entry (:mod:`nnstudio.core.catalog`, plain data:
ports, typed parameters, the torch target) and its :class:`LayerRule`, registered here under the
same type id. The rule knows what the data cannot say: how the layer runs on meta tensors
(implied sizes, accepted input ranks and dtypes, how the raw result is picked), how it becomes fx
graph nodes, which torch classes it stands for, and the traits the lints reason with. Shape
inference, the compiler, the code generator and the lints all ask the rule; none of them tests a
type id.

Registering a rule (kinds of rule live in :mod:`nnstudio.compile.rule_kinds`)::

    RULES.register(ModuleRule("relu6", elementwise=True))

    @RULES.register
    class SwapAxes(ModuleRule):
        type_id = "swap_axes"
        ...

A scratch :class:`RuleRegistry` (``RuleRegistry(parent=RULES)``) made active with
``with registry.active(): ...`` adds layers for one piece of code without touching the global one.
"""

from __future__ import annotations

import contextvars
import importlib
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from nnstudio.compile.tensors import NodeOutcome, TensorInfo, fail
from nnstudio.core.catalog import LayerSpec
from nnstudio.core.errors import DuplicateLayerError, NnstudioError

if TYPE_CHECKING:
    from torch import fx, nn

#: ``node.meta`` key marking fx nodes that are steps inside one layer (not a layer's final value).
HELPER = "nnstudio_helper"
#: ``node.meta`` key holding the editor node id an fx node belongs to.
NODE_ID = "nnstudio_node"
#: ``node.meta`` key with a note for the generated code (what a selection keeps).
COMMENT = "nnstudio_comment"
#: ``node.meta`` key with the qualified name a ``call_function`` node is written as (``torch.add``).
FUNCTION = "nnstudio_function"

#: Which element types a layer accepts: floats (almost all), integer ids (Embedding), or either.
InputDtypes = Literal["float", "integer", "any"]


class Trait(str, Enum):
    """Facts about what a layer does to values, for the lints (never tested by type id)."""

    #: A learned affine map over features (Linear): two in a row collapse into one.
    LINEAR_MAP = "linear-map"
    #: Moves, drops, copies or averages values without bending them (Dropout, Flatten, Reshape,
    #: Identity, average pooling). Lints look through these.
    PASSES_LINEARLY = "passes-linearly"
    #: Rescales by statistics (BatchNorm, LayerNorm...): not a nonlinearity between linear maps.
    NORMALISER = "normaliser"
    #: The output has the input's shape (so the width of the last dimension is kept).
    SAME_SHAPE = "same-shape"
    #: Turns scores into probabilities along ``dim`` (Softmax).
    PROBABILITIES = "probabilities"
    #: Turns scores into log-probabilities along ``dim`` (LogSoftmax).
    LOG_PROBABILITIES = "log-probabilities"
    #: Squashes every value into [0, 1], like a sigmoid.
    UNIT_INTERVAL = "unit-interval"
    #: A nonlinearity applied value by value (ReLU, GELU, Tanh...).
    ACTIVATION = "activation"


@dataclass(frozen=True)
class InputLayout:
    """The batched ranks a layer accepts, and how to describe them to a person."""

    ranks: tuple[int, ...]
    description: str


@dataclass(frozen=True)
class ImpliedSize:
    """A parameter whose value is read from one dimension of the (batched) input shape."""

    param: str
    #: Index into the batched input shape: 1 for channels, -1 for the last dimension.
    dim: int
    #: What that dimension holds, for messages ("channels", "features in its last dimension").
    meaning: str

    def fitting(self, x: TensorInfo) -> Any:
        """Return the value the input implies."""
        return x.shape[self.dim]

    def check(self, pinned: Any, x: TensorInfo) -> None:
        """Raise a failure naming the fitting value when a pinned value disagrees with the input."""
        fitting = self.fitting(x)
        if pinned != fitting:
            raise fail("size-mismatch",
                       f"{self.param} is pinned to {pinned}, but the input {x.shown} has {fitting} "
                       f"{self.meaning}; set {self.param} to {fitting}, or unpin it so it is inferred "
                       "from the input", self.param, fitting=fitting)


@dataclass(frozen=True)
class TrailingShape(ImpliedSize):
    """A normalised shape (LayerNorm, RMSNorm): the input's last dimension, or pinned trailing ones."""

    def check(self, pinned: Any, x: TensorInfo) -> None:
        wanted = (pinned,) if isinstance(pinned, int) else tuple(pinned)
        trailing = x.shape[1:][-len(wanted):] if len(wanted) < len(x.shape) else None
        if trailing != wanted:
            raise fail("size-mismatch",
                       f"{self.param} is pinned to {list(wanted)}, but the input {x.shown} ends with "
                       f"{list(x.shape[1:][-len(wanted):])}; set {self.param} to {x.shape[-1]}, or unpin it "
                       "so it is inferred from the input", self.param, fitting=x.shape[-1])


#: One step of picking a piece out of a layer's result: an index for ``operator.getitem``.
Selection = tuple[Any, ...]


class LayerRule:
    """How one catalog layer behaves in torch. Subclasses say how it runs and compiles.

    The facts below are class attributes, so a rule is written either as an instance with keyword
    overrides (``ModuleRule("relu", elementwise=True)``) or as a subclass setting them.
    """

    #: The catalog type id this rule serves.
    type_id: str = ""
    #: A parameter implied by the input, like ``nn.LazyLinear`` (None: nothing is implied).
    implied: ImpliedSize | None = None
    #: The batched input ranks accepted (None: any rank).
    layout: InputLayout | None = None
    #: The element types accepted.
    dtypes: InputDtypes = "float"
    #: Parameter-free and value-by-value: the output has the input's shape and dtype for every
    #: input the rank and dtype checks let through. Analysis does not run such layers on meta
    #: tensors, where point-wise ops go through PyTorch's Python reference kernels (about 0.4 ms
    #: each), a cost that buys no information.
    elementwise: bool = False
    traits: frozenset[Trait] = frozenset()
    #: What else this layer stands for besides its catalog target: module classes with the same
    #: constructor and forward (a module layer), or functions computing the same (a merge:
    #: ``operator.add`` for ``torch.add``).
    aliases: tuple[Any, ...] = ()
    #: Parameters that name a dimension of the input (Softmax's ``dim``), checked against its rank:
    #: meta tensors do not check them, so without this a wrong one would pass analysis.
    dim_params: tuple[str, ...] = ()
    #: Where a learned per-channel bias sits in the output (Conv: 1, Linear: -1); None: no such bias.
    bias_axis: int | None = None
    #: A normaliser that subtracts a per-channel batch mean along this axis (BatchNorm: 1).
    centres_axis: int | None = None
    #: Takes values other than one tensor (an int, a tuple of tensors: an imported call); the
    #: analysis refuses those for every other layer, naming what it got.
    takes_values: bool = False

    def __init__(self, type_id: str | None = None, **facts: Any) -> None:
        if type_id is not None:
            self.type_id = type_id
        for name, value in facts.items():
            if name.startswith("_") or not hasattr(type(self), name) or callable(getattr(type(self), name)):
                raise TypeError(f"{type(self).__name__} has no fact {name!r}")
            setattr(self, name, value)
        self.traits = frozenset(self.traits)
        if not self.type_id:
            raise ValueError(f"{type(self).__name__} needs a type_id")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.type_id!r})"

    def has(self, trait: Trait) -> bool:
        return trait in self.traits

    @property
    def keeps_shape(self) -> bool:
        """True when the output always has the input's shape."""
        return self.elementwise or Trait.SAME_SHAPE in self.traits

    # --- what every kind of rule provides ---------------------------------------------------------

    def infer(self, spec: LayerSpec, params: Mapping[str, Any], inputs: Sequence[TensorInfo]) -> NodeOutcome:
        """Return what the layer makes of ``inputs``; raise :class:`LayerFailed` to report a problem."""
        raise NotImplementedError

    def emit(self, graph: fx.Graph, node_id: str, spec: LayerSpec, resolved: Mapping[str, Any],
             inputs: list[fx.Node]) -> fx.Node:
        """Add the layer's fx nodes to ``graph`` and return the node holding its result."""
        raise NotImplementedError

    def stands_alone(self, params: Mapping[str, Any]) -> bool:
        """True when the layer needs no wires (it holds state, such as a Parameter layer)."""
        return False

    def with_context(self, params: Mapping[str, Any], nodes: Mapping[str, Any]) -> Mapping[str, Any]:
        """Return the parameters the layer is analysed with, given the graph's ``nodes`` by id.

        A layer that depends on another layer (a Call of another layer's module) adds what it needs
        of it here, so the analysis caches the layer by that too. Most layers use their own only.
        """
        return params

    def torch_classes(self, spec: LayerSpec) -> tuple[type[nn.Module], ...]:
        """Return the torch module classes this layer stands for (none but for module layers)."""
        return ()

    def torch_functions(self, spec: LayerSpec) -> tuple[Any, ...]:
        """Return the torch functions this layer stands for (none but for merges)."""
        return ()

    def check_input(self, spec: LayerSpec, params: Mapping[str, Any], x: TensorInfo) -> None:
        """Raise a failure when ``x`` has a rank or element type the layer cannot take."""
        layout = self.layout
        if layout is not None and x.rank not in layout.ranks:
            wanted = min(layout.ranks, key=lambda r: abs(r - x.rank))
            todo = ("add a Flatten before it" if wanted == 2 else
                    f"add a Reshape before it that gives each sample {wanted - 1} dimensions")
            raise fail("wrong-rank", f"{spec.title} expects input shaped {layout.description}, but gets "
                       f"{x.shown}; {todo}")
        for name in self.dim_params:
            dim = params[name]
            if not -x.rank <= dim < x.rank:
                raise fail("bad-dim", f"{spec.title}'s {name} {dim} does not exist in its input {x.shown}, "
                           f"which has {x.rank} dimensions; set {name} to a value from {-x.rank} to {x.rank - 1}",
                           name)
        if self.dtypes == "integer" and x.dtype.is_floating_point:
            raise fail("needs-integer-input", f"{spec.title} looks up integer token ids, but gets "
                       f"{x.dtype_name} values {x.shown}; set the Input's dtype to int64")
        if self.dtypes == "float" and not x.dtype.is_floating_point:
            raise fail("needs-float-input", f"{spec.title} gets integer ids {x.shown}; put an Embedding "
                       "before it to turn the ids into vectors it can work on")


class MissingRuleError(NnstudioError, LookupError):
    """A catalog layer has no rule (its entry was added without one)."""

    def __init__(self, type_id: str) -> None:
        self.type_id = type_id
        super().__init__(f"layer type {type_id!r} has a catalog entry but no torch rule; register one "
                         "with nnstudio.compile.rules.RULES.register")


_Registrable = TypeVar("_Registrable", LayerRule, type[LayerRule])


class RuleRegistry:
    """Layer rules by type id; duplicates are refused. A child registry falls back to its parent.

    ``register`` takes a rule, or decorates a :class:`LayerRule` subclass (registering an instance).
    """

    def __init__(self, parent: RuleRegistry | None = None, builtins: str | None = None) -> None:
        self._rules: dict[str, LayerRule] = {}
        self._parent = parent
        #: A module whose import registers the built-in rules, loaded on first use (it imports torch).
        self._builtins = builtins
        # The analysis thread and the GUI thread may ask at the same time: the first loads the
        # built-ins while the other waits (an RLock, because loading registers into this registry).
        self._loading_lock = threading.RLock()
        self._loading = False
        #: Bumped by every registration (caches keyed on it, such as the torch class index).
        self.version = 0

    def _load_builtins(self) -> None:
        if self._builtins is None:
            return
        with self._loading_lock:
            if self._builtins is None or self._loading:
                return  # loaded meanwhile, or this is the loading module registering its rules
            self._loading = True
            try:
                importlib.import_module(self._builtins)
                self._builtins = None
            finally:
                self._loading = False

    def register(self, rule: _Registrable) -> _Registrable:
        instance = rule() if isinstance(rule, type) else rule
        self._load_builtins()
        if instance.type_id in self:
            raise DuplicateLayerError(instance.type_id)
        self._rules[instance.type_id] = instance
        self.version += 1
        return rule

    def get(self, type_id: str) -> LayerRule:
        rule = self._rules.get(type_id)
        if rule is None and self._builtins is not None:
            self._load_builtins()
            rule = self._rules.get(type_id)
        if rule is not None:
            return rule
        if self._parent is not None:
            return self._parent.get(type_id)
        raise MissingRuleError(type_id)

    def __contains__(self, type_id: object) -> bool:
        self._load_builtins()
        return type_id in self._rules or (self._parent is not None and type_id in self._parent)

    def __iter__(self) -> Iterator[LayerRule]:
        """Every rule, this registry's own first, then the parent's that it does not replace."""
        self._load_builtins()
        yield from self._rules.values()
        if self._parent is not None:
            yield from (r for r in self._parent if r.type_id not in self._rules)

    @property
    def stamp(self) -> tuple[int, ...]:
        """Changes whenever this registry or a parent gains a rule."""
        own = (id(self), self.version)
        return own + self._parent.stamp if self._parent is not None else own

    @contextmanager
    def active(self) -> Iterator[RuleRegistry]:
        """Make this registry the one :func:`rule_for` asks, for the ``with`` block (this thread)."""
        token = _ACTIVE.set(self)
        try:
            yield self
        finally:
            _ACTIVE.reset(token)


#: The rules every part of nnstudio uses; the built-in layers' rules load on first use.
RULES = RuleRegistry(builtins="nnstudio.compile.builtin_rules")
_ACTIVE: contextvars.ContextVar[RuleRegistry] = contextvars.ContextVar("nnstudio_rules", default=RULES)


def active_rules() -> RuleRegistry:
    """Return the registry in use: :data:`RULES`, or a scratch one made active with ``active()``."""
    return _ACTIVE.get()


def rule_for(spec: LayerSpec) -> LayerRule:
    """Return the rule of a catalog layer; raises :class:`MissingRuleError` when it has none."""
    return _ACTIVE.get().get(spec.type_id)

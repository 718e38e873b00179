"""Search spaces: which training settings and layer parameters a sweep varies, and over what range.

A parameter is written ``PATH=RANGE`` (the ``--param`` of ``nnstudio sweep``):

- ``PATH`` is a training setting (``lr``, ``batch_size``, ``optimizer``, ``weight_decay``,
  ``scheduler``, ...) or a layer parameter ``LAYER.PARAM`` (``fc1.out_features``, ``dropout1.p``,
  ``layer1.0.conv1.out_channels``: the layer id is everything before the last dot);
- ``RANGE`` is ``LOW:HIGH`` with optional flags ``:log`` (log-uniform), ``:int`` (whole numbers;
  implied for integer fields) and ``:step=S``, or a list of choices ``a,b,c``.

:func:`parse_space` checks every parameter against the project (the layer exists and has that
parameter, the field can be searched, the range is neither empty nor inverted, both ends are values
the field accepts) and raises :class:`SpaceError` naming the culprit, before any trial runs.
:func:`apply_values` puts a trial's values into a copy of a project. No torch here.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from nnstudio.core.catalog import LayerKind
from nnstudio.core.commands import SetParam
from nnstudio.core.errors import NnstudioError, ParamError
from nnstudio.core.fields import ParamKind, ParamSpec
from nnstudio.core.project import Project
from nnstudio.core.settings import TrainingSettings

#: Training settings a sweep may not vary: where to train, and what data (a sweep loads it once).
FIXED_SETTINGS = frozenset({"dataset", "device"})
#: The most values a grid may take from one parameter.
MAX_GRID_VALUES = 1000
#: How forms label the training settings (the training panel's words).
SETTING_LABELS = {
    "loss": "Loss", "optimizer": "Optimizer", "lr": "Learning rate", "momentum": "Momentum",
    "nesterov": "Nesterov momentum", "weight_decay": "Weight decay", "batch_size": "Batch size",
    "epochs": "Epochs", "scheduler": "LR schedule", "step_size": "Schedule step (epochs)",
    "gamma": "Schedule decay (gamma)", "seed": "Seed", "grad_clip": "Gradient clipping",
    "early_stopping": "Early stopping patience", "amp": "Mixed precision", "compile": "torch.compile",
    "val_fraction": "Validation fraction",
}
#: Ranges worth searching first for settings whose current value says little (weight decay 0).
SETTING_RANGES = {"weight_decay": "1e-6:1e-2:log", "momentum": "0.5:0.99", "batch_size": "16,32,64,128,256",
                  "grad_clip": "0.1:10:log", "early_stopping": "2:10:int", "gamma": "0.1:0.9"}


class SpaceError(NnstudioError):
    """A search-space parameter was refused; ``param`` is the ``--param`` text at fault."""

    def __init__(self, param: str, message: str) -> None:
        self.param = param
        self.reason = message
        super().__init__(f"--param {param}: {message}")


@dataclass(frozen=True)
class Tunable:
    """A field a sweep can vary: ``path`` (``lr``, ``fc1.out_features``), its typed spec and value now."""

    path: str
    spec: ParamSpec
    current: Any
    node_id: str | None = None
    #: For settings: ``minimum``/``maximum`` themselves are refused (``lr`` > 0).
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False

    @property
    def kind(self) -> ParamKind:
        return self.spec.kind

    def default_range(self) -> str:
        """Return a sensible ``RANGE`` around the current value (what a form offers first)."""
        spec, value = self.spec, self.current
        if self.node_id is None and self.path in SETTING_RANGES:
            return SETTING_RANGES[self.path]
        if spec.kind in (ParamKind.CHOICE,):
            return ",".join(spec.choices)
        if spec.kind is ParamKind.BOOL:
            return "true,false"
        if spec.kind is ParamKind.FLOAT:
            bounded = spec.minimum is not None and spec.maximum is not None and not self.exclusive_minimum
            if not bounded and isinstance(value, (int, float)) and value > 0:
                high = value * 10 if spec.maximum is None else min(value * 10, spec.maximum)
                if self.exclusive_maximum and spec.maximum is not None:
                    high = min(high, spec.maximum * 0.9)
                return f"{value / 10:g}:{high:g}:log"
            low = spec.minimum if spec.minimum is not None else 0.0
            high = spec.maximum if spec.maximum is not None else 1.0
            if self.exclusive_minimum:
                low = low + (high - low) / 100
            if self.exclusive_maximum:
                high = low + (high - low) * 0.9
            return f"{low:g}:{high:g}"
        number = int(value) if isinstance(value, (int, float)) else 1
        low = max(int(spec.minimum or 1), number // 2)
        high = number * 2 if spec.maximum is None else min(int(spec.maximum), number * 2)
        return f"{low}:{max(high, low + 1)}:int"


def _settings_spec(name: str) -> tuple[ParamSpec, bool, bool] | None:
    """Return a typed spec for a training setting (and whether its bounds are exclusive), None if unsearchable."""
    field = TrainingSettings.model_fields.get(name)
    if field is None or name in FIXED_SETTINGS:
        return None
    annotation = field.annotation
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    optional = len(args) != len(typing.get_args(annotation))
    if typing.get_origin(annotation) is typing.Literal:
        return ParamSpec(name, ParamKind.CHOICE, field.default, field.description or "",
                         choices=tuple(typing.get_args(annotation)), label=SETTING_LABELS.get(name, "")), False, False
    base = args[0] if optional and args else annotation
    minimum = maximum = None
    low_open = high_open = False
    for rule in field.metadata:
        for attr, is_low, is_open in (("gt", True, True), ("ge", True, False), ("lt", False, True),
                                      ("le", False, False)):
            bound = getattr(rule, attr, None)
            if bound is None:
                continue
            if is_low:
                minimum, low_open = bound, is_open
            else:
                maximum, high_open = bound, is_open
    kinds = {bool: ParamKind.BOOL, int: ParamKind.INT, float: ParamKind.FLOAT}
    if base not in kinds:
        return None
    spec = ParamSpec(name, kinds[base], field.default, "", minimum=minimum, maximum=maximum, optional=optional,
                     label=SETTING_LABELS.get(name, ""))
    return spec, low_open, high_open


def tunable_fields(project: Project) -> list[Tunable]:
    """Return every field of ``project`` a sweep can vary: training settings, then each layer's parameters."""
    fields: list[Tunable] = []
    settings = project.settings
    for name in TrainingSettings.model_fields:
        found = _settings_spec(name)
        if found is not None:
            spec, low_open, high_open = found
            fields.append(Tunable(name, spec, getattr(settings, name), None, low_open, high_open))
    for node in project.graph.nodes():
        if node.spec.kind in (LayerKind.INPUT, LayerKind.OUTPUT):
            continue  # the data decides these
        for spec in node.spec.params:
            if _searchable(spec):
                fields.append(Tunable(f"{node.id}.{spec.name}", spec, node.params.get(spec.name), node.id))
    return fields


def _searchable(spec: ParamSpec) -> bool:
    if spec.inferred:
        return False
    if spec.kind in (ParamKind.INT, ParamKind.FLOAT, ParamKind.BOOL, ParamKind.CHOICE):
        return True
    return spec.kind is ParamKind.INT_TUPLE and spec.scalar_ok


def find_field(project: Project, path: str, text: str | None = None) -> Tunable:
    """Return the field ``path`` names in ``project``; raises SpaceError saying what exists instead."""
    text = text or path
    if "." not in path:
        found = _settings_spec(path)
        if found is not None:
            spec, low_open, high_open = found
            return Tunable(path, spec, getattr(project.settings, path), None, low_open, high_open)
        if path in FIXED_SETTINGS:
            raise SpaceError(text, f"{path} cannot be searched: every trial trains on the same "
                                   f"{'data' if path == 'dataset' else 'device'}")
        names = ", ".join(n for n in TrainingSettings.model_fields if _settings_spec(n) is not None)
        raise SpaceError(text, f"{path!r} is neither a training setting ({names}) nor a layer parameter "
                               "(LAYER.PARAM, e.g. fc1.out_features)")
    node_id, _, name = path.rpartition(".")
    graph = project.graph
    if node_id not in graph:
        layers = ", ".join(graph.node_ids())
        raise SpaceError(text, f"there is no layer {node_id!r} in {project.name} (its layers: {layers})")
    node = graph.node(node_id)
    spec = next((p for p in node.spec.params if p.name == name), None)
    if spec is None:
        names = ", ".join(p.name for p in node.spec.params) or "none"
        raise SpaceError(text, f"layer {node_id} ({node.spec.title}) has no parameter {name!r} "
                               f"(its parameters: {names})")
    if spec.inferred:
        raise SpaceError(text, f"{path} is inferred from the layer's input; vary the layer before it instead")
    if not _searchable(spec):
        raise SpaceError(text, f"{path} holds {spec.kind.value} values, which a sweep cannot vary")
    return Tunable(path, spec, node.params.get(name), node_id)


@dataclass(frozen=True)
class ParamRange:
    """One searched parameter: ``kind`` "float", "int" or "categorical" and its range or choices."""

    path: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()

    def text(self) -> str:
        """Return the parameter as ``--param`` writes it (canonical: the same space gives the same text)."""
        if self.kind == "categorical":
            return f"{self.path}=" + ",".join(_choice_text(c) for c in self.choices)
        flags = [":int"] if self.kind == "int" else []
        if self.log:
            flags.append(":log")
        if self.step is not None:
            flags.append(f":step={_number_text(self.step)}")
        return f"{self.path}={_number_text(self.low)}:{_number_text(self.high)}" + "".join(flags)

    def suggest(self, trial: Any) -> Any:
        """Return the value ``trial`` (an optuna Trial) draws for this parameter."""
        if self.kind == "categorical":
            return trial.suggest_categorical(self.path, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.path, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.path, self.low, self.high, log=self.log, step=self.step)

    def grid_values(self, points: int) -> list[Any]:
        """Return the values a grid search visits: every choice, every int (by step), or ``points`` floats."""
        if self.kind == "categorical":
            return list(self.choices)
        low, high = float(self.low), float(self.high)
        if self.kind == "int" or self.step is not None:
            step = self.step or 1
            count = int(math.floor((high - low) / step + 1e-9)) + 1
            if count > MAX_GRID_VALUES:
                raise SpaceError(self.text(), f"a grid over it would take {count:,} values; give a larger "
                                              ":step= or use --sampler tpe or random")
            values = [low + i * step for i in range(count)]
            return [int(round(v)) for v in values] if self.kind == "int" else values
        if points < 2:
            raise SpaceError(self.text(), "a grid over a range needs at least 2 points")
        if self.log:
            ratio = (high / low) ** (1 / (points - 1))
            return [low * ratio**i for i in range(points - 1)] + [high]
        return [low + (high - low) * i / (points - 1) for i in range(points)]


def _number_text(value: float | None) -> str:
    return f"{value:.12g}"


def _choice_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _number_text(value)
    return str(value)


@dataclass(frozen=True)
class SearchSpace:
    """The parameters a sweep varies, in the order given."""

    params: tuple[ParamRange, ...]

    def texts(self) -> list[str]:
        return [p.text() for p in self.params]

    def suggest(self, trial: Any) -> dict[str, Any]:
        """Return ``{path: value}`` drawn by an optuna trial."""
        return {p.path: p.suggest(trial) for p in self.params}

    def grid(self, points: int) -> dict[str, list[Any]]:
        """Return the grid (``{path: values}``) a grid sampler walks."""
        return {p.path: p.grid_values(points) for p in self.params}

    def grid_size(self, points: int) -> int:
        return math.prod(len(values) for values in self.grid(points).values())

    def corners(self) -> list[tuple[str, Any]]:
        """Return each parameter's extreme values (every choice), to try on the network before a sweep."""
        out: list[tuple[str, Any]] = []
        for p in self.params:
            values = list(p.choices) if p.kind == "categorical" else [p.low, p.high]
            if p.kind == "int":
                values = [int(v) for v in values]
            out += [(p.path, v) for v in values]
        return out


def parse_space(texts: list[str], project: Project) -> SearchSpace:
    """Return the search space ``texts`` (``PATH=RANGE`` each) describes; raises SpaceError naming one."""
    if not texts:
        raise SpaceError("", "give at least one parameter to search, e.g. --param lr=1e-4:1e-1:log")
    params: list[ParamRange] = []
    seen: set[str] = set()
    for text in texts:
        param = parse_param(text, project)
        if param.path in seen:
            raise SpaceError(text, f"{param.path} is given twice")
        seen.add(param.path)
        params.append(param)
    return SearchSpace(tuple(params))


def parse_param(text: str, project: Project) -> ParamRange:
    """Return the :class:`ParamRange` of one ``PATH=RANGE``; raises SpaceError."""
    path, sep, value = (part.strip() for part in text.partition("="))
    if not sep or not path or not value:
        raise SpaceError(text, "write PATH=LOW:HIGH[:log][:int][:step=S] or PATH=A,B,C "
                               "(e.g. lr=1e-4:1e-1:log, fc1.out_features=32:256:int, optimizer=adam,sgd)")
    field = find_field(project, path, text)
    if ":" in value:
        param = _parse_range(text, field, value)
    elif "," in value:
        param = _parse_choices(text, field, value)
    else:
        raise SpaceError(text, f"{value!r} is one value; a sweep needs a range LOW:HIGH or choices A,B")
    return param


def _parse_range(text: str, field: Tunable, value: str) -> ParamRange:
    spec = field.spec
    if spec.kind not in (ParamKind.INT, ParamKind.FLOAT, ParamKind.INT_TUPLE):
        choices = ",".join(spec.choices) if spec.choices else "true,false"
        raise SpaceError(text, f"{field.path} takes one of a set of values, not a range; list them: "
                               f"{field.path}={choices}")
    low_text, high_text, *flags = (part.strip() for part in value.split(":"))
    integer = spec.kind is not ParamKind.FLOAT
    log, step = False, None
    for flag in flags:
        if flag == "log":
            log = True
        elif flag == "int":
            if not integer:
                raise SpaceError(text, f"{field.path} takes real numbers; drop ':int'")
        elif flag == "float":
            if integer:
                raise SpaceError(text, f"{field.path} takes whole numbers; drop ':float'")
        elif flag.startswith("step="):
            step = _number(text, flag[5:], "the step")
            if step <= 0:
                raise SpaceError(text, f"the step must be above 0, not {flag[5:]}")
        else:
            raise SpaceError(text, f"unknown flag {flag!r}; the flags are :log, :int and :step=S")
    low, high = _number(text, low_text, "the low end"), _number(text, high_text, "the high end")
    if integer:
        for end, number in (("low", low), ("high", high)):
            if not float(number).is_integer():
                raise SpaceError(text, f"{field.path} takes whole numbers; the {end} end {number:g} is not one")
        if step is not None and not float(step).is_integer():
            raise SpaceError(text, f"{field.path} takes whole numbers; the step {step:g} is not one")
    if low > high:
        raise SpaceError(text, f"the range is inverted (low {low:g} > high {high:g}); write {high:g}:{low:g}")
    if low == high:
        raise SpaceError(text, f"the range is empty (low and high are both {low:g})")
    if log and low <= 0:
        raise SpaceError(text, f"a log range needs a low end above 0, not {low:g}")
    if log and step is not None:
        raise SpaceError(text, "a range cannot be both :log and :step= (Optuna samples one or the other)")
    for number in (low, high):
        _check_value(text, field, int(number) if integer else number)
    return ParamRange(field.path, "int" if integer else "float", int(low) if integer else low,
                      int(high) if integer else high, log, step)


def _parse_choices(text: str, field: Tunable, value: str) -> ParamRange:
    parts = [part.strip() for part in value.split(",")]
    if any(not part for part in parts):
        raise SpaceError(text, "an empty choice; write the choices as A,B,C")
    spec = field.spec
    choices: list[Any] = []
    for part in parts:
        if spec.kind is ParamKind.BOOL:
            if part.lower() not in ("true", "false"):
                raise SpaceError(text, f"{field.path} is true or false, not {part!r}")
            choice: Any = part.lower() == "true"
        elif spec.kind in (ParamKind.INT, ParamKind.INT_TUPLE):
            number = _number(text, part, "a choice")
            if not float(number).is_integer():
                raise SpaceError(text, f"{field.path} takes whole numbers; {part} is not one")
            choice = int(number)
        elif spec.kind is ParamKind.FLOAT:
            choice = _number(text, part, "a choice")
        else:
            choice = part
        _check_value(text, field, choice)
        if choice in choices:
            raise SpaceError(text, f"the choice {part} is given twice")
        choices.append(choice)
    if len(choices) < 2:
        raise SpaceError(text, "give at least two choices")
    return ParamRange(field.path, "categorical", choices=tuple(choices))


def _number(text: str, value: str, what: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise SpaceError(text, f"{what} {value!r} is not a number") from None
    if not math.isfinite(number):
        raise SpaceError(text, f"{what} must be a finite number, not {value}")
    return number


def _check_value(text: str, field: Tunable, value: Any) -> None:
    """Raise SpaceError when ``field`` refuses ``value`` (out of its range, not one of its choices)."""
    try:
        field.spec.validate(value)
    except ParamError as exc:
        raise SpaceError(text, f"{field.path}: {exc.reason}") from None
    if field.node_id is None:
        try:
            TrainingSettings.model_validate({field.path: value})
        except ValidationError as exc:
            raise SpaceError(text, f"{field.path} = {_choice_text(value)}: {exc.errors()[0]['msg']}") from None


def apply_values(project: Project, values: Mapping[str, Any]) -> Project:
    """Return a copy of ``project`` with ``values`` (``{path: value}``) set; raises SpaceError.

    Layer parameters change through the same :class:`SetParam` command an edit uses; settings through
    the settings' own validation.
    """
    result = project.copy()
    updates = {path: value for path, value in values.items() if "." not in path}
    if updates:
        merged = {**result.settings.model_dump(), **updates}
        try:
            result.settings = TrainingSettings.model_validate(merged)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"])
            raise SpaceError(f"{where}={updates.get(where, '')}", error["msg"]) from None
    for path, value in values.items():
        if "." not in path:
            continue
        node_id, _, name = path.rpartition(".")
        try:
            SetParam(result.graph, node_id, name, value).redo()
        except NnstudioError as exc:
            raise SpaceError(f"{path}={_choice_text(value)}", str(exc)) from None
    return result

"""What a project file must hold, version by version: the schema, the migrations, and the number check.

Loading (:mod:`nnstudio.core.project`) runs parse -> header -> migrate -> :func:`refuse_non_finite`
-> :func:`validate_document` -> build. Each step either passes or raises one
:class:`~nnstudio.core.errors.ProjectFileError` whose ``location`` is a path into the file
(``nodes[3].position[0]``), and every step takes time linear in the file.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nnstudio.core.catalog import Catalog
from nnstudio.core.errors import ProjectFileError
from nnstudio.core.fields import ParamKind
from nnstudio.core.graph import POSITION_LIMIT
from nnstudio.core.initialisation import DEFAULT_INIT
from nnstudio.core.names import MAX_NAME_LENGTH
from nnstudio.core.settings import TrainingSettings

FORMAT = "nnstudio-project"
#: The version this nnstudio writes; it reads every version from 1 up to this one.
VERSION = 2


def _v1_to_v2(raw: dict[str, Any]) -> dict[str, Any]:
    """Version 2 only adds things (dotted layer ids, the ``weights`` key, a layer's ``init``): a version-1
    file is one as it is."""
    return raw


#: Migrations from version N to N+1, each taking and returning the raw JSON dict.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2}


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


Coordinate = Annotated[float, Field(ge=-POSITION_LIMIT, le=POSITION_LIMIT, allow_inf_nan=False)]


class NodeRecord(_Record):
    id: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    type: str = Field(min_length=1, max_length=200)
    position: list[Coordinate] = Field(default_factory=lambda: [0.0, 0.0], min_length=2, max_length=2)
    params: dict[str, Any] = Field(default_factory=dict)
    #: The layer's weight initialisation (version 2, optional; see nnstudio.core.initialisation).
    init: str = Field(DEFAULT_INIT, min_length=1, max_length=64)
    #: Version 2 (transfer learning): False freezes the layer's tensors during training.
    trainable: bool = True
    #: Version 2: the layer's learning rate is the run's times this.
    lr_scale: float = Field(1.0, gt=0, le=1000, allow_inf_nan=False)


class EdgeRecord(_Record):
    source: str = Field(max_length=MAX_NAME_LENGTH)
    target: str = Field(max_length=MAX_NAME_LENGTH)
    port: str = Field("in", max_length=200)
    index: int = Field(0, ge=0, le=100_000)


class ProjectRecord(_Record):
    format: str
    version: int
    # No length limits here: pydantic checks lengths on a copy that cannot hold a lone surrogate, which
    # a name may carry (and the writer escapes); the file's own size limit bounds them.
    name: str = "Untitled"
    description: str = ""
    nodes: list[NodeRecord] = Field(default_factory=list, max_length=100_000)
    edges: list[EdgeRecord] = Field(default_factory=list, max_length=400_000)
    training: dict[str, Any] = Field(default_factory=dict)
    #: A safetensors file beside the project with tensors by state-dict key (version 2).
    weights: str | None = Field(None, min_length=1, max_length=255)
    #: Container path -> class name of the submodule an import found there (version 2, optional).
    module_classes: dict[Annotated[str, Field(max_length=MAX_NAME_LENGTH)], Annotated[str, Field(
        min_length=1, max_length=200, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]] = Field(default_factory=dict,
                                                                                  max_length=100_000)


def location(loc: tuple[Any, ...] | list[Any]) -> str:
    """A path into the file as people read it: ``nodes[3].position[0]``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _layer_of(raw: dict[str, Any], index: int) -> str | None:
    try:
        node_id = raw["nodes"][index]["id"]
    except (IndexError, KeyError, TypeError):
        return None
    return node_id if isinstance(node_id, str) else None


def refuse_non_finite(raw: dict[str, Any], catalog: Catalog, source: str | None) -> None:
    """Raise ProjectFileError at the first NaN or infinity in the document, unless its field allows it.

    JSON as Python reads it admits ``NaN``, ``Infinity`` and ``1e999``; nothing in a project needs
    them except layer parameters whose spec sets ``allow_infinite`` (an imported
    ``masked_fill(..., -inf)``), and there only the infinities. One pass over the document.
    """
    if not _holds_non_finite(raw):
        return
    stack: list[tuple[Any, tuple[Any, ...]]] = [(raw, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, float):
            if not math.isfinite(value) and not _infinity_allowed(raw, path, value, catalog):
                _refuse(raw, path, value, source)
        elif isinstance(value, dict):
            stack.extend((child, (*path, key)) for key, child in value.items())
        elif isinstance(value, list):
            stack.extend((child, (*path, i)) for i, child in enumerate(value))


def _holds_non_finite(document: Any) -> bool:
    """True when a NaN or an infinity is anywhere in ``document`` (the quick pass: no paths kept)."""
    stack = [document]
    while stack:
        value = stack.pop()
        for child in value.values() if type(value) is dict else value:
            kind = type(child)
            if kind is float:
                if child - child != 0.0:  # inf - inf and nan - nan are nan; finite - itself is 0
                    return True
            elif kind is dict or kind is list:
                stack.append(child)
    return False


def _infinity_allowed(raw: dict[str, Any], path: tuple[Any, ...], value: float, catalog: Catalog) -> bool:
    if math.isnan(value) or len(path) < 4 or path[0] != "nodes" or path[2] != "params":
        return False
    try:
        type_id = raw["nodes"][path[1]]["type"]
        spec = catalog.get(type_id).param(path[3])
    except Exception:  # noqa: BLE001 - an unknown type or parameter is reported by a later step
        return False
    return spec.allow_infinite and spec.kind in (ParamKind.FLOAT, ParamKind.FLOAT_LIST, ParamKind.DATA)


def _refuse(raw: dict[str, Any], path: tuple[Any, ...], value: float, source: str | None) -> None:
    where = location(path)
    what = "positions" if "position" in path else "this field"
    message = f"{value!r} is not a finite number; {what} need finite numbers"
    if len(path) >= 2 and path[0] == "nodes" and isinstance(path[1], int):
        layer = _layer_of(raw, path[1])
        if layer is not None:
            message = f"layer {layer!r}: {message}"
    raise ProjectFileError(message, source, where)


def validate_document(raw: dict[str, Any], source: str | None) -> ProjectRecord:
    """Check keys and types (pydantic); raises ProjectFileError naming the place, e.g. ``training.lr``."""
    try:
        record = ProjectRecord.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise ProjectFileError(_describe(error, raw), source, location(error["loc"])) from None
    except (OverflowError, ValueError) as exc:  # a number too large for a float (10**400 as a position)
        raise ProjectFileError(f"a number is too large: {exc}", source) from None
    try:
        TrainingSettings.model_validate(record.training)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise ProjectFileError(error["msg"], source, "training." + location(error["loc"])) from None
    return record


def _describe(error: Any, raw: dict[str, Any]) -> str:
    message = error["msg"]
    loc = error["loc"]
    if len(loc) >= 2 and loc[0] == "nodes" and isinstance(loc[1], int):
        layer = _layer_of(raw, loc[1])
        if layer is not None:
            return f"layer {layer!r}: {message}"
    return message

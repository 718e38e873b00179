"""From torch modules back to catalog layers: which entry a ``torch.nn`` class is, and its parameters.

This is what an importer maps fx ``call_module`` nodes with: ``entry_for_class(nn.Conv2d)`` is the
Conv2d entry, and ``params_from_module(conv)`` the card's parameters read back from the instance
(kernel, stride, padding, groups, bias...); ``call_function`` nodes such as ``torch.add`` or
``operator.add`` map to merges with ``entry_for_function``. Classes match exactly, never by subclass: a subclass
may change ``forward`` (torchvision's ``LayerNorm2d`` permutes before normalising), so only the
classes a rule names (its catalog target and its ``aliases``) map to a layer.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from nnstudio.compile.rule_kinds import ModuleRule
from nnstudio.compile.rules import RuleRegistry, active_rules
from nnstudio.core.catalog import CATALOG, Catalog, LayerKind, LayerSpec
from nnstudio.core.errors import NnstudioError

_Index = dict[Any, LayerSpec]
_INDEXES: dict[tuple[Any, ...], _Index] = {}


class NoCatalogLayer(NnstudioError, LookupError):
    """A torch module class that no catalog layer stands for."""

    def __init__(self, cls: type) -> None:
        self.cls = cls
        super().__init__(f"{cls.__module__}.{cls.__qualname__} has no catalog layer")


def _index(catalog: Catalog, rules: RuleRegistry) -> _Index:
    key = (id(catalog), len(catalog), rules.stamp)
    index = _INDEXES.get(key)
    if index is None:
        index = {}
        for spec in catalog:
            if spec.kind not in (LayerKind.MODULE, LayerKind.MERGE) or spec.type_id not in rules:
                continue
            rule = rules.get(spec.type_id)
            for cls in (*rule.torch_classes(spec), *rule.torch_functions(spec)):
                index.setdefault(cls, spec)  # the first entry registered for a class keeps it
        if len(_INDEXES) > 16:
            _INDEXES.clear()
        _INDEXES[key] = index
    return index


def entry_for_class(cls: type[nn.Module], catalog: Catalog = CATALOG) -> LayerSpec | None:
    """Return the catalog entry that stands for exactly this torch module class, or None."""
    spec = _index(catalog, active_rules()).get(cls)
    return spec if spec is not None and spec.kind is LayerKind.MODULE else None


def entry_for_function(function: Any, catalog: Catalog = CATALOG) -> LayerSpec | None:
    """Return the merge entry that a traced function stands for (``torch.add``, ``operator.add``,
    ``torch.cat``...), or None. The caller checks that every argument it combines is a tensor."""
    spec = _index(catalog, active_rules()).get(function)
    return spec if spec is not None and spec.kind is LayerKind.MERGE else None


def module_classes(catalog: Catalog = CATALOG) -> dict[type[nn.Module], LayerSpec]:
    """Return every torch module class that has a catalog layer, with that layer's entry."""
    return {cls: spec for cls, spec in _index(catalog, active_rules()).items() if spec.kind is LayerKind.MODULE}


def params_from_module(module: nn.Module, catalog: Catalog = CATALOG) -> dict[str, Any]:
    """Return the catalog parameters that rebuild ``module`` (its entry: :func:`entry_for_class`).

    Every parameter of the entry is present (nnstudio's own settings, such as LSTM's ``output``, at
    their defaults; implied sizes such as ``in_features`` pinned to the module's values). Raises
    :class:`NoCatalogLayer` for a class no layer stands for, and
    :class:`~nnstudio.compile.constructors.NotRepresentable` (a ``ParamError`` naming the argument)
    when the module was built with a value its card cannot hold (``MaxPool2d(return_indices=True)``).
    """
    spec = entry_for_class(type(module), catalog)
    if spec is None:
        raise NoCatalogLayer(type(module))
    rule = active_rules().get(spec.type_id)
    assert isinstance(rule, ModuleRule)
    return rule.params_from_module(spec, module)

"""The registry of dataset loaders: kind id -> the function that reads or makes that kind's data.

A loader takes the kind's options (validated by the registry entry's fields, every option present)
and a :class:`LoadRequest`, and returns a :class:`~nnstudio.train.data.DatasetBundle`. Loader
modules import this module, never :mod:`nnstudio.train.datasets`, which imports them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nnstudio.train.data import DatasetBundle, DatasetError


@dataclass(frozen=True)
class LoadRequest:
    """What a loader is asked for besides its options: the run's seed, loss and validation share."""

    kind: str
    seed: int
    loss: str | None
    val_fraction: float

    def seed_of(self, options: dict[str, Any]) -> int:
        """Return the kind's ``seed`` option, or the run's seed when it is not set."""
        value = options.get("seed")
        return self.seed if value is None else int(value)

    def error(self, message: str, option: str | None = None) -> DatasetError:
        """Return a DatasetError of this kind (``raise request.error("...", "path")``)."""
        return DatasetError(message, option, self.kind)


Loader = Callable[[dict[str, Any], LoadRequest], DatasetBundle]

#: Kind id -> loader, filled as the loader modules are imported (nnstudio.train.datasets imports the
#: built-in ones).
LOADERS: dict[str, Loader] = {}


def register_loader(kind: str) -> Callable[[Loader], Loader]:
    """Decorator: make the function the loader of dataset ``kind`` (one loader per kind)."""
    def decorate(loader: Loader) -> Loader:
        if kind in LOADERS and LOADERS[kind] is not loader:
            raise ValueError(f"dataset kind {kind!r} already has a loader ({LOADERS[kind].__qualname__})")
        LOADERS[kind] = loader
        return loader
    return decorate

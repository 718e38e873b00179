"""What a dataset kind is: :class:`DatasetSpec` (an entry of the registry), :class:`DatasetFacts`, errors.

An entry says what a kind is (id, title, one-line summary), its options as typed fields
(:class:`~nnstudio.core.fields.ParamSpec`, the same vocabulary layers use), and the facts known
without loading the data (:class:`DatasetFacts`: task, sample shape and dtype, class count, token
vocabulary), possibly computed from the options. :class:`DatasetRegistry` holds the entries; the
registry every part of nnstudio uses, with the built-in kinds, is :data:`nnstudio.core.datasets.DATASETS`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from nnstudio.core.errors import NnstudioError, ParamError
from nnstudio.core.fields import ParamSpec

Task = Literal["classification", "binary", "regression"]
#: What a kind's samples hold; ``int64`` samples are token ids (for an Embedding).
SampleDtype = Literal["float32", "int64"]


class DatasetError(NnstudioError):
    """A dataset could not be loaded or its options are wrong.

    ``dataset`` names the kind and ``option`` the option at fault, when known; the message names the
    file, line and column for bad data.
    """

    def __init__(self, message: str, option: str | None = None, dataset: str | None = None) -> None:
        self.option = option
        self.dataset = dataset
        self.reason = message
        where = ".".join(p for p in (dataset, option) if p)
        super().__init__(f"dataset {where}: {message}" if where else message)


@dataclass(frozen=True)
class DatasetFacts:
    """What is known about a dataset before (or after) loading it; ``None`` means "not known yet"."""

    #: The kind of targets: class labels ("classification") or values ("regression"). A loss may turn
    #: two-class data into "binary" (0/1 float targets); see :func:`task_for`.
    task: Task | None = None
    #: The shape of one sample, without the batch dimension.
    sample_shape: tuple[int, ...] | None = None
    #: What one sample holds.
    dtype: SampleDtype = "float32"
    #: Classification: the number of classes.
    classes: int | None = None
    #: Regression: the number of values predicted per sample.
    target_width: int | None = None
    #: Token data: every id is below this (the size an Embedding's vocabulary needs).
    vocabulary: int | None = None


Facts = DatasetFacts | Callable[[Mapping[str, Any]], DatasetFacts]


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset kind: what it is, its typed options and what is known without loading it."""

    kind: str
    title: str
    #: One sentence: what the samples and targets are.
    summary: str
    #: Where the kind sits in the chooser ("Bundled", "Synthetic", "Sequences", "Images", "Files").
    group: str
    options: tuple[ParamSpec, ...] = ()
    #: The facts, or a function of the validated options (every option present) that gives them.
    facts: Facts = field(default_factory=DatasetFacts)
    #: Cheap enough to load for a preview as soon as it is chosen (in memory, generated or bundled).
    cheap_preview: bool = False
    #: Older spellings of options, mapped forward: ``upgrade(options) -> options`` (for project files).
    upgrade: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    #: Values to offer for a text option given the others (a CSV file's column names).
    suggest: Callable[[str, Mapping[str, Any]], list[str]] | None = None
    #: Rules between options, run on the validated values; raises DatasetError naming the option
    #: (the kind is filled in).
    check: Callable[[Mapping[str, Any]], None] | None = None

    def option(self, name: str) -> ParamSpec:
        for spec in self.options:
            if spec.name == name:
                return spec
        raise KeyError(name)

    @property
    def option_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.options)

    def validate_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Return every option's value (given ones checked by their field, defaults for the rest).

        Raises :class:`DatasetError` naming the kind and the option for an unknown option, a bad
        value, or a required option left out.
        """
        known = self.option_names
        unknown = sorted(set(options) - set(known))
        if unknown:
            listing = f"; known: {', '.join(known)}" if known else " (it has no options)"
            raise DatasetError(f"unknown option(s) {', '.join(unknown)}{listing}", unknown[0], self.kind)
        values: dict[str, Any] = {}
        for spec in self.options:
            if spec.name not in options and spec.default is None and not spec.nullable:
                raise DatasetError(f"required: {spec.help}", spec.name, self.kind)
            try:
                values[spec.name] = spec.validate(options.get(spec.name, spec.default))
            except ParamError as exc:
                raise DatasetError(exc.reason, spec.name, self.kind) from None
        if self.check is not None:
            try:
                self.check(values)
            except DatasetError as exc:
                raise DatasetError(exc.reason, exc.option, self.kind) from None
        return values

    def facts_for(self, options: Mapping[str, Any]) -> DatasetFacts:
        """Return the facts for ``options`` (validated here; a bad option raises DatasetError)."""
        if not callable(self.facts):
            self.validate_options(options)
            return self.facts
        return self.facts(self.validate_options(options))


class DuplicateDatasetError(NnstudioError):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        super().__init__(f"a dataset kind {kind!r} is already registered")


class DatasetRegistry:
    """Dataset kinds by id, in the order they were registered (the chooser's order)."""

    def __init__(self) -> None:
        self._specs: dict[str, DatasetSpec] = {}

    def register(self, spec: DatasetSpec) -> DatasetSpec:
        """Add ``spec``; a kind id can be registered once. Returns ``spec``."""
        if spec.kind in self._specs:
            raise DuplicateDatasetError(spec.kind)
        self._specs[spec.kind] = spec
        return spec

    def unregister(self, kind: str) -> None:
        """Remove a kind (for tests and plug-ins that register one for a while)."""
        del self._specs[kind]

    def get(self, kind: str) -> DatasetSpec:
        """Return the entry of ``kind``; an unknown kind is a DatasetError listing the known ones."""
        try:
            return self._specs[kind]
        except KeyError:
            raise DatasetError(f"unknown dataset kind {kind!r}; the kinds are: {', '.join(self._specs)}") from None

    def __contains__(self, kind: object) -> bool:
        return kind in self._specs

    def __iter__(self) -> Iterator[DatasetSpec]:
        return iter(list(self._specs.values()))

    def __len__(self) -> int:
        return len(self._specs)

    def kinds(self) -> list[str]:
        return list(self._specs)

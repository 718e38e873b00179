"""Sweeps: an Optuna study over a project's training settings and layer parameters.

Usage (``nnstudio sweep`` and the window's Sweep dialog do this)::

    spec = SweepSpec(document=project_to_dict(project), params=["lr=1e-4:1e-1:log"], trials=20,
                     runs_folder="digits.runs")
    sweep = prepare_sweep(spec)        # every check, before any trial: raises SweepError / SpaceError
    SweepWorker(sweep).run()           # trains trials until the study has ``trials`` finished ones
    rows = sweep.trial_rows()          # what the progress display and the dialog's table show
    best = sweep.best()                # the best finished trial (None before the first)

The study lives in a storage (:mod:`~nnstudio.experiments.storage`) and is found again by name:
running the same sweep again resumes it, keeping every finished trial and running only the missing
ones. Several :class:`SweepWorker` (threads, processes, machines) can share one study.
Each trial is also a recorded run (``STUDY-trial-0007/`` in the runs folder: run.json and
TensorBoard events).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import optuna

from nnstudio.core.errors import NnstudioError
from nnstudio.core.project import Project, loads_project, project_to_dict
from nnstudio.core.settings import BINARY_LOSSES, CLASSIFICATION_LOSSES
from nnstudio.experiments.records import graph_fingerprint
from nnstudio.experiments.space import SearchSpace, SpaceError, apply_values, parse_space
from nnstudio.experiments.storage import (
    ATTR_FAILURE,
    ATTR_INTERRUPTED,
    ATTR_RUN,
    counted_trials,
    default_storage,
    open_storage,
    redact,
)

#: The metric a trial is judged by, and whether more is better.
OBJECTIVES = {"val_loss": "minimize", "val_acc": "maximize", "val_mae": "minimize"}
SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "none")
#: The study attribute holding what the sweep searches (checked when a study is resumed).
STUDY_ATTR = "nnstudio"


class SweepError(NnstudioError):
    """A sweep that cannot start (bad option, storage, or a study made for another search)."""


@dataclass
class SweepSpec:
    """Everything a sweep worker needs, as plain data (it travels to worker processes as JSON)."""

    document: dict[str, Any]
    params: list[str]
    trials: int
    runs_folder: str
    project_path: str | None = None
    #: The folder of the project's weights file (stored or pretrained tensors), when it names one.
    project_folder: str | None = None
    example: str | None = None
    sampler: str = "tpe"
    seed: int = 0
    pruner: str = "median"
    #: Epochs every trial runs before pruning may stop it.
    prune_warmup: int = 1
    objective: str = "val_loss"
    epochs: int | None = None
    device: str | None = None
    storage: str | None = None
    study_name: str | None = None
    grid_points: int = 5
    workers: int = 1
    save_weights: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> SweepSpec:
        return cls(**json.loads(text))


@dataclass
class TrialRow:
    """One trial as a table shows it; ``state`` is complete / pruned / failed / interrupted / running."""

    number: int
    state: str
    params: dict[str, Any]
    value: float | None
    epochs: int
    duration_s: float | None
    run: str
    reason: str = ""
    values: dict[int, float] = field(default_factory=dict)


@dataclass
class Sweep:
    """A checked sweep: the base project, its search space, and where its study is."""

    spec: SweepSpec
    project: Project
    space: SearchSpace
    storage_url: str
    study_name: str
    #: How many finished trials the sweep asks for (a grid has at most its size).
    budget: int
    #: The project as given (without the sweep's --epochs / --device): what "apply best" changes.
    original: Project
    #: Data already loaded in this process, by :func:`data_key` (the checks load it; trials reuse it).
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def runs_folder(self) -> Path:
        return Path(self.spec.runs_folder)

    @property
    def direction(self) -> str:
        return OBJECTIVES[self.spec.objective]

    def load_study(self, sampler: Any = None, pruner: Any = None) -> Any:
        """Return the Optuna study (a fresh storage connection each call, safe per thread or process)."""
        return optuna.load_study(study_name=self.study_name, storage=open_storage(self.storage_url),
                                 sampler=sampler, pruner=pruner)

    def make_sampler(self, seed: int) -> Any:
        """Return the sampler the spec names, seeded with ``seed``."""
        if self.spec.sampler == "grid":
            return _GridSampler(self.space.grid(self.spec.grid_points), seed=seed)
        if self.spec.sampler == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        return optuna.samplers.TPESampler(seed=seed, constant_liar=self.spec.workers > 1)

    def make_pruner(self) -> Any:
        if self.spec.pruner == "none":
            return optuna.pruners.NopPruner()
        # Optuna's warm-up counts reported steps (our epochs, from 1): epochs up to prune_warmup always run.
        return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=self.spec.prune_warmup + 1)

    def trial_rows(self, study: Any = None) -> list[TrialRow]:
        """Return every trial of the study, in order of number."""
        return trial_rows(study or self.load_study())

    def best(self, study: Any = None) -> TrialRow | None:
        """Return the best complete trial (None when none has completed)."""
        return best_row(self.trial_rows(study), self.direction)

    def finished(self, study: Any = None) -> int:
        return counted_trials(study or self.load_study())

    def apply(self, values: dict[str, Any]) -> Project:
        """Return the base project with a trial's ``values`` set."""
        return apply_values(self.project, values)


class _GridSampler(optuna.samplers.GridSampler):
    """Optuna's grid sampler, minus its ``study.stop()`` once the grid is covered: that only works
    inside ``study.optimize``, and a sweep's budget never exceeds the grid's size anyway."""

    def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
        return None


def trial_rows(study: Any) -> list[TrialRow]:
    """Return the rows of ``study``'s trials (see :class:`TrialRow`)."""
    from optuna.trial import TrialState

    rows = []
    for trial in study.get_trials(deepcopy=False):
        attrs = trial.user_attrs
        if trial.state == TrialState.FAIL:
            state = "interrupted" if ATTR_INTERRUPTED in attrs or ATTR_FAILURE not in attrs else "failed"
        else:
            state = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned",
                     TrialState.RUNNING: "running", TrialState.WAITING: "waiting"}.get(trial.state, "failed")
        reason = str(attrs.get(ATTR_INTERRUPTED) or attrs.get(ATTR_FAILURE) or "")
        duration = trial.duration.total_seconds() if trial.duration is not None else None
        values = dict(trial.intermediate_values)
        rows.append(TrialRow(trial.number, state, dict(trial.params), trial.value, len(values), duration,
                             str(attrs.get(ATTR_RUN, "")), reason, values))
    return rows


def best_row(rows: list[TrialRow], direction: str) -> TrialRow | None:
    """Return the complete row with the best value for ``direction`` ("minimize"/"maximize")."""
    done = [r for r in rows if r.state == "complete" and r.value is not None]
    if not done:
        return None
    return (min if direction == "minimize" else max)(done, key=lambda r: (r.value, r.number))


def sorted_rows(rows: list[TrialRow], direction: str) -> list[TrialRow]:
    """Return ``rows`` best first: complete trials by value, then running, pruned, failed, interrupted."""
    sign = 1.0 if direction == "minimize" else -1.0
    rank = {"complete": 0, "running": 1, "pruned": 2, "failed": 3, "interrupted": 4, "waiting": 5}

    def key(row: TrialRow) -> tuple[int, float, int]:
        value = row.value if row.value is not None else (min(row.values.values()) if row.values else 0.0)
        return (rank.get(row.state, 9), sign * value if row.value is not None else 0.0, row.number)

    return sorted(rows, key=key)


def default_study_name(project: Project, space: SearchSpace, spec: SweepSpec) -> str:
    """Return the name a sweep's study gets when none is given: the same sweep gets the same name.

    It depends on the network, the settings, the searched parameters, the sampler, its seed and
    the objective (not the number of trials: asking for more later continues the same study).
    """
    settings = project.settings.model_dump(mode="json")
    settings.pop("device", None)
    key = json.dumps([graph_fingerprint(project_to_dict(project)), settings, space.texts(), spec.sampler,
                      spec.seed, spec.objective, spec.pruner, spec.grid_points], sort_keys=True)
    return f"sweep-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def prepare_sweep(spec: SweepSpec, *, check: bool = True) -> Sweep:
    """Check everything about ``spec`` and create (or find) its study; raise before any trial runs.

    Raises SpaceError for a bad parameter (one that breaks the network or its fit to the data at
    either end of its range), SweepError for a bad option, an unusable network or a study made for
    another search, StorageError for a storage that cannot be opened, DatasetError for data that
    cannot be loaded. ``check=False`` skips the network and data checks (worker processes of a
    sweep their parent checked).
    """
    if spec.trials < 1:
        raise SweepError(f"--trials {spec.trials}: a sweep needs at least one trial")
    if spec.workers < 1:
        raise SweepError(f"--workers {spec.workers}: at least one worker is needed")
    for name, value, allowed in (("--sampler", spec.sampler, SAMPLERS), ("--pruner", spec.pruner, PRUNERS),
                                 ("--objective", spec.objective, tuple(OBJECTIVES))):
        if value not in allowed:
            raise SweepError(f"{name} {value}: choose one of {', '.join(allowed)}")
    try:
        original = loads_project(json.dumps(spec.document), folder=spec.project_folder)
    except NnstudioError as exc:
        raise SweepError(f"the project cannot be read: {exc}") from None
    project = original.copy()
    overrides = {"epochs": spec.epochs, "device": spec.device}
    for key, value in overrides.items():
        if value is not None:
            try:
                setattr(project.settings, key, value)
            except ValueError as exc:
                raise SweepError(f"--{key} {value}: {exc}") from None
    _check_objective(project, spec.objective)
    space = parse_space(list(spec.params), project)
    data = _check_network(project, space) if check else None
    budget = spec.trials
    if spec.sampler == "grid":
        budget = min(budget, space.grid_size(spec.grid_points))
    name = spec.study_name or default_study_name(project, space, spec)
    runs = Path(spec.runs_folder)
    url = spec.storage or default_storage(runs, spec.workers, name)
    sweep = Sweep(spec, project, space, url, name, budget, original)
    if data is not None:
        sweep.data[data[0]] = data[1]
    _create_or_check_study(sweep)
    return sweep


def _check_objective(project: Project, objective: str) -> None:
    loss = project.settings.loss
    regression = loss not in CLASSIFICATION_LOSSES and loss not in BINARY_LOSSES
    if objective == "val_acc" and regression:
        raise SweepError(f"--objective val_acc: {project.name} regresses ({loss} loss) and has no accuracy; "
                         "use val_loss or val_mae")
    if objective == "val_mae" and not regression:
        raise SweepError(f"--objective val_mae: {project.name} classifies ({loss} loss); use val_loss or val_acc")


def data_key(project: Project) -> str:
    """Return what identifies the data a project trains on (trials with the same key share it)."""
    settings = project.settings
    return repr((settings.dataset.model_dump_json(), settings.seed, settings.loss, settings.val_fraction))


def load_data(project: Project) -> Any:
    """Return the dataset ``project`` trains on (a DatasetBundle); raises DatasetError."""
    from nnstudio.train.datasets import load_dataset

    settings = project.settings
    return load_dataset(settings.dataset, settings.seed, loss=settings.loss, val_fraction=settings.val_fraction)


def _check_network(project: Project, space: SearchSpace) -> tuple[str, Any]:
    """Try each parameter's extreme values on the network and the data; raise naming one that breaks.

    Returns the data loaded for the check (``(data_key, bundle)``), so the trials of this process
    load it only once.
    """
    from nnstudio.compile.analysis import analyze
    from nnstudio.train.project_run import check_data_fits

    base = analyze(project.graph, project.settings)
    if not base.ok:
        raise SweepError(f"{project.name} has errors to fix before a sweep: {_problem_text(base.errors[0])}")
    bundles = {data_key(project): load_data(project)}
    texts = {p.path: p.text() for p in space.params}
    for path, value in space.corners():
        candidate = apply_values(project, {path: value})
        analysis = analyze(candidate.graph, candidate.settings)
        shown = f"{value:g}" if isinstance(value, float) else value
        if not analysis.ok:
            raise SpaceError(texts[path], f"with {path} = {shown} the network does not work: "
                                          f"{_problem_text(analysis.errors[0])}")
        key = data_key(candidate)
        if key not in bundles:
            bundles[key] = load_data(candidate)
        try:
            check_data_fits(candidate, analysis, bundles[key])
        except NnstudioError as exc:
            raise SpaceError(texts[path], f"with {path} = {shown} the network does not fit the data: {exc}") from None
    key = data_key(project)
    return key, bundles[key]


def _problem_text(problem: Any) -> str:
    """Return a Problem as ``node.field: message`` (without its severity: a sweep refuses errors only)."""
    where = problem.node_id + (f".{problem.field}" if problem.field else "") if problem.node_id else ""
    return f"{where}: {problem.message}" if where else problem.message


def _create_or_check_study(sweep: Sweep) -> None:
    storage = open_storage(sweep.storage_url)
    attrs = {"params": sweep.space.texts(), "objective": sweep.spec.objective, "sampler": sweep.spec.sampler,
             "project": sweep.project.name, "fingerprint": graph_fingerprint(project_to_dict(sweep.project))}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(study_name=sweep.study_name, storage=storage, direction=sweep.direction,
                                    load_if_exists=True)
    except Exception as exc:  # noqa: BLE001 - a storage that opens but cannot hold the study
        raise SweepError(f"cannot create the study {sweep.study_name} in {redact(sweep.storage_url)}: "
                         f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    known = study.user_attrs.get(STUDY_ATTR)
    if known is None:
        study.set_user_attr(STUDY_ATTR, attrs)
        return
    if known.get("params") != attrs["params"] or known.get("objective") != attrs["objective"]:
        made = " ".join(f"--param {p}" for p in known.get("params", []))
        raise SweepError(f"the study {sweep.study_name} in {redact(sweep.storage_url)} searches {made} for "
                         f"{known.get('objective')}; give the same parameters and objective to resume it, or "
                         "another --study name")
    if known.get("fingerprint") != attrs["fingerprint"]:
        raise SweepError(f"the study {sweep.study_name} was made for another network "
                         f"({known.get('project')}); use another --study name")


def best_project(sweep: Sweep) -> tuple[Project, TrialRow]:
    """Return the project as given with the best trial's values set, and that trial; SweepError when none.

    The sweep's own ``--epochs`` and ``--device`` are not carried over: only the searched values are.
    """
    best = sweep.best()
    if best is None:
        raise SweepError(f"the study {sweep.study_name} has no complete trial yet")
    return apply_values(sweep.original, best.params), best


__all__ = ["OBJECTIVES", "PRUNERS", "SAMPLERS", "SpaceError", "Sweep", "SweepError", "SweepSpec", "TrialRow",
           "best_project", "best_row", "default_study_name", "prepare_sweep", "sorted_rows", "trial_rows"]

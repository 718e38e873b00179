"""``SweepWorker``: claims trials of a sweep's study one at a time and trains each as a recorded run.

A worker loads its data once and keeps it for every trial (torch is imported once per process, by
the first trial). It claims a trial under a lock in the runs folder, so local workers never start
more trials than the sweep asks for; trials of dead workers are marked interrupted first and run
again. Each epoch reports the objective to Optuna (``trial.report``), and a trial the pruner judges
poor (``trial.should_prune()``) is stopped and told ``PRUNED``. ``stop()`` (any thread) ends the
current trial as interrupted and the loop after it.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from nnstudio.core.errors import NnstudioError
from nnstudio.core.project import Project
from nnstudio.experiments.folders import new_run_folder
from nnstudio.experiments.recorder import RunRecorder, describe_device
from nnstudio.experiments.records import (
    RunRecord,
    graph_fingerprint,
    this_process,
    write_document,
    write_record,
)
from nnstudio.experiments.storage import (
    ATTR_FAILURE,
    ATTR_INTERRUPTED,
    ATTR_RUN,
    ATTR_WORKER,
    counts_towards_budget,
    mark_interrupted_trials,
    storage_kind,
)
from nnstudio.experiments.sweep import Sweep, data_key, load_data

#: Guards the data a process's workers share (threads of one process load it once between them).
_DATA_LOCK = threading.Lock()


class SweepStopped(Exception):
    """The sweep was asked to stop while a trial ran."""


def sampler_seed(seed: int, existing: int, worker: int) -> int:
    """Return the seed of one worker's sampler.

    A fresh study's first worker uses ``seed`` itself (a one-worker sweep repeats exactly); other
    workers and resumed sweeps mix in their index and the trials already made, so they neither draw
    the same values as each other nor replay the draws of the run that was interrupted.
    """
    if existing == 0 and worker == 0:
        return seed
    mixed = (seed * 1_000_003 + existing * 7_919 + worker * 104_729) % (2**32)
    return mixed


class SweepWorker:
    """Runs trials of ``sweep`` until it has its number of finished trials (or ``stop()``)."""

    def __init__(self, sweep: Sweep, index: int = 0,
                 on_trial: Callable[[int, str], None] | None = None) -> None:
        self.sweep = sweep
        self.index = index
        #: Called with (trial number, "started" | "ended") from the worker's thread.
        self.on_trial = on_trial
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._run: Any = None
        self.trials_run = 0

    # --- control (any thread) ---------------------------------------------------------------------
    def stop(self) -> None:
        """End the current trial (marked interrupted, run again on resume) and claim no more."""
        self._stop.set()
        with self._lock:
            if self._run is not None:
                self._run.stop()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # --- the loop --------------------------------------------------------------------------------
    def run(self) -> int:
        """Claim and run trials until the sweep has enough finished ones; return how many this worker ran."""
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = self.sweep.load_study()
        seed = sampler_seed(self.sweep.spec.seed, len(study.get_trials(deepcopy=False)), self.index)
        study = self.sweep.load_study(self.sweep.make_sampler(seed), self.sweep.make_pruner())
        while not self._stop.is_set():
            trial = self._claim(study)
            if trial is None:
                break
            if self.on_trial:
                self.on_trial(trial.number, "started")
            try:
                self._run_trial(study, trial)
            except SweepStopped:
                break
            finally:
                self.trials_run += 1
                if self.on_trial:
                    self.on_trial(trial.number, "ended")
        return self.trials_run

    def _claim(self, study: Any) -> Any:
        """Return a new trial when the sweep needs one more, else None; atomic among local workers."""
        from optuna.trial import TrialState

        with self._claim_lock():
            mark_interrupted_trials(study)
            trials = study.get_trials(deepcopy=False)
            done = sum(1 for t in trials if counts_towards_budget(t))
            running = sum(1 for t in trials if t.state == TrialState.RUNNING)
            if done + running >= self.sweep.budget or self._stop.is_set():
                return None
            trial = study.ask()
            trial.set_user_attr(ATTR_WORKER, {**this_process(), "worker": self.index})
            return trial

    @contextlib.contextmanager
    def _claim_lock(self) -> Iterator[None]:
        """Hold the runs folder's claim lock (a lock file; one a killed worker left is broken after 30 s)."""
        from optuna.storages.journal import JournalFileOpenLock

        folder = self.sweep.runs_folder
        folder.mkdir(parents=True, exist_ok=True)
        lock = JournalFileOpenLock(str(folder / f".{self.sweep.study_name}.claim"))
        lock.acquire()
        try:
            yield
        finally:
            lock.release()

    # --- one trial -----------------------------------------------------------------------------
    def _run_trial(self, study: Any, trial: Any) -> None:
        from optuna.trial import TrialState

        sweep = self.sweep
        params = sweep.space.suggest(trial)
        folder = new_run_folder(sweep.runs_folder, f"{sweep.study_name}-trial-{trial.number:04d}")
        trial.set_user_attr(ATTR_RUN, folder.name)
        sweep_info = {"study": sweep.study_name, "trial": trial.number, "params": params,
                      "storage": _shown_storage(sweep.storage_url)}
        project = sweep.apply(params)
        try:
            run = self._build(project)
        except NnstudioError as exc:
            _write_failed_record(folder, project, sweep_info, str(exc))
            trial.set_user_attr(ATTR_FAILURE, str(exc))
            study.tell(trial, state=TrialState.FAIL)
            return
        recorder = RunRecorder(run, project, folder, source="sweep", project_path=sweep.spec.project_path,
                               example=sweep.spec.example, sweep=sweep_info, write_outputs=sweep.spec.save_weights)
        objective = sweep.spec.objective
        last_epoch = project.settings.epochs
        pruned: list[str] = []

        def on_epoch(metrics: Any) -> None:
            value = getattr(metrics, objective)
            if value is None or not math.isfinite(value):
                return
            trial.report(float(value), metrics.epoch)
            if metrics.epoch < last_epoch and trial.should_prune():
                reason = (f"pruned after epoch {metrics.epoch}: {objective} {value:.4g} is worse than the "
                          "median of earlier trials at that epoch")
                pruned.append(reason)
                recorder.expect("pruned", reason)
                run.stop()

        with self._lock:
            self._run = run
            if self._stop.is_set():
                run.stop()
        try:
            with self._heartbeat(study, trial), recorder:  # the recorder sees each epoch first
                run.events.epoch_end.connect(on_epoch)
                result = run.run()
        finally:
            with self._lock:
                self._run = None
        if pruned:
            trial.set_user_attr("pruned", pruned[0])
            study.tell(trial, state=TrialState.PRUNED)
        elif result.status == "failed":
            trial.set_user_attr(ATTR_FAILURE, result.failure.message if result.failure else "training failed")
            study.tell(trial, state=TrialState.FAIL)
        elif result.status == "stopped":
            trial.set_user_attr(ATTR_INTERRUPTED, "the sweep was stopped while this trial ran")
            study.tell(trial, state=TrialState.FAIL)
            raise SweepStopped
        else:
            study.tell(trial, best_value(result.history, objective, sweep.direction))

    def _build(self, project: Project) -> Any:
        """Return the training run of ``project`` on data loaded once per worker."""
        from nnstudio.train.project_run import build_training_run

        key = data_key(project)
        data = self.sweep.data  # shared by the workers of one process (threads)
        with _DATA_LOCK:
            bundle = data.get(key)
            if bundle is None:
                bundle = load_data(project)
                data.clear()  # one dataset in memory at a time
                data[key] = bundle
        return build_training_run(project, device=self.sweep.spec.device, bundle=bundle)

    @contextlib.contextmanager
    def _heartbeat(self, study: Any, trial: Any) -> Iterator[None]:
        """Tell a database server this trial is alive while it trains (machines cannot see each other's pids)."""
        storage = study._storage
        interval = getattr(storage, "get_heartbeat_interval", lambda: None)()
        if storage_kind(self.sweep.storage_url) != "rdb" or not interval:
            yield
            return
        done = threading.Event()

        def beat() -> None:
            while True:
                with contextlib.suppress(Exception):  # a missed beat is retried; the grace period is long
                    storage.record_heartbeat(trial._trial_id)
                if done.wait(interval):
                    return

        thread = threading.Thread(target=beat, name="nnstudio-sweep-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()


def best_value(history: list[Any], objective: str, direction: str) -> float:
    """Return the best value of ``objective`` over the epochs of ``history`` (the trial's result)."""
    values = [float(getattr(m, objective)) for m in history
              if getattr(m, objective) is not None and math.isfinite(getattr(m, objective))]
    if not values:
        return math.inf if direction == "minimize" else -math.inf
    return min(values) if direction == "minimize" else max(values)


def _shown_storage(url: str) -> str:
    from nnstudio.experiments.storage import redact

    return redact(url)


def _write_failed_record(folder: Any, project: Project, sweep_info: dict[str, Any], reason: str) -> None:
    """Record a trial whose network or data was refused before training, so the Runs view shows why."""
    from nnstudio.core.project import project_to_dict

    document = project_to_dict(project)
    record = RunRecord(folder.name, folder, status="failed", reason=reason,
                       created=time.strftime("%Y-%m-%dT%H:%M:%S%z"), started_unix=time.time(),
                       project_name=project.name, source="sweep", settings=project.settings.model_dump(mode="json"),
                       document=document, fingerprint=graph_fingerprint(document), device=describe_device(""),
                       output_folder=str(folder), sweep=sweep_info, process=this_process())
    with contextlib.suppress(OSError, NnstudioError, ValueError):
        write_document(record)
        write_record(record)

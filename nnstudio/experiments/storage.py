"""Where a sweep's Optuna study is stored, and opening it with a clear message when that fails.

- By default, in the runs folder: ``sweeps.db`` (SQLite) for a single worker, ``sweeps.journal``
  (Optuna's journal file, safe for several local processes writing at once) for ``--workers`` > 1.
  A study found in either is resumed from where it is.
- ``--storage`` takes an Optuna storage URL: ``sqlite:///path.db``, ``postgresql://user:pass@host/db``,
  ``mysql+pymysql://user:pass@host/db`` (machines in a lab share one database), or a journal file
  (``journal:PATH`` or a path ending in ``.journal``); a plain path ending in ``.db`` is SQLite.

Also here: which trials a dead worker left ``RUNNING`` (:func:`mark_interrupted_trials`), and how
many trials of a study count towards its budget (:func:`counted_trials`).
"""

from __future__ import annotations

import contextlib
import datetime
import re
import time
import warnings
from pathlib import Path
from typing import Any

from nnstudio.core.errors import NnstudioError
from nnstudio.experiments.records import process_alive

SQLITE_NAME = "sweeps.db"
JOURNAL_NAME = "sweeps.journal"
#: RDB servers (several machines): a trial whose worker has sent no heartbeat for this long is failed
#: by whichever worker looks next (Optuna's own heartbeat mechanism).
HEARTBEAT_INTERVAL_S = 60
HEARTBEAT_GRACE_S = 600
#: A RUNNING trial that names no worker after this long was orphaned by a worker killed at its start.
ORPHAN_AFTER_S = 120

#: User attributes the sweep keeps on each trial.
ATTR_WORKER = "worker"  # {"host", "pid", "started"} of the process running it
ATTR_RUN = "run"  # the run folder's name
ATTR_FAILURE = "failure"  # why training failed (a genuine result: the trial counts)
ATTR_INTERRUPTED = "interrupted"  # why it never finished (killed, stopped): it is run again


class StorageError(NnstudioError):
    """A study storage that cannot be opened; the message names it (without its password)."""


def redact(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def is_url(spec: str) -> bool:
    return bool(re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", spec))


def default_storage(runs_folder: Path, workers: int, study_name: str | None = None) -> str:
    """Return the storage a sweep in ``runs_folder`` uses when none is given.

    A study that already exists in one of the two default files is resumed there; a new one goes to
    SQLite for one worker and to the journal file for several.
    """
    sqlite, journal = runs_folder / SQLITE_NAME, runs_folder / JOURNAL_NAME
    if study_name is not None:
        for path, spec in ((journal, f"journal:{journal}"), (sqlite, f"sqlite:///{sqlite}")):
            if path.is_file() and path.stat().st_size and study_name in _study_names(spec):
                return spec
    return f"journal:{journal}" if workers > 1 else f"sqlite:///{sqlite}"


def _study_names(spec: str) -> list[str]:
    try:
        storage = open_storage(spec)
        return [s.study_name for s in storage.get_all_studies()]
    except (NnstudioError, Exception):  # noqa: BLE001 - an unreadable default file is reported when opened
        return []


def storage_kind(spec: str) -> str:
    """Return "journal", "sqlite" or "rdb" (a database server) for a storage spec."""
    if spec.startswith("journal:") or spec.endswith(".journal"):
        return "journal"
    if spec.startswith("sqlite:") or (not is_url(spec) and spec.endswith((".db", ".sqlite", ".sqlite3"))):
        return "sqlite"
    return "rdb" if is_url(spec) else "unknown"


def open_storage(spec: str) -> Any:
    """Return the Optuna storage ``spec`` names; raises StorageError with one line saying why not."""
    import optuna

    kind = storage_kind(spec)
    shown = redact(spec)
    if kind == "unknown":
        raise StorageError(f"cannot open the study storage {shown!r}: give a URL (sqlite:///sweeps.db, "
                           "postgresql://..., mysql+pymysql://...), journal:PATH, or a path ending in .db "
                           "or .journal")
    try:
        if kind == "journal":
            path = Path(spec.removeprefix("journal:")).expanduser()
            _check_folder(path, shown)
            from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

            return optuna.storages.JournalStorage(JournalFileBackend(str(path), JournalFileOpenLock(str(path))))
        if kind == "sqlite":
            url = spec if spec.startswith("sqlite:") else f"sqlite:///{Path(spec).expanduser()}"
            path = Path(url.removeprefix("sqlite:///"))
            _check_folder(path, shown)
            # A generous lock timeout: a second reader (the progress display) must wait, not fail.
            return _open_rdb(url, engine_kwargs={"connect_args": {"timeout": 60}})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return _open_rdb(spec, heartbeat_interval=HEARTBEAT_INTERVAL_S, grace_period=HEARTBEAT_GRACE_S)
    except StorageError:
        raise
    except ModuleNotFoundError as exc:
        raise StorageError(f"cannot open the study storage {shown}: the database driver {exc.name!r} is not "
                           f"installed (pip install {_driver_package(exc.name)})") from None
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy, OS and Optuna errors all mean "cannot open"
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        text = reason[0] if reason else type(exc).__name__
        raise StorageError(f"cannot open the study storage {shown}: {redact(text)}") from None


def _open_rdb(url: str, **options: Any) -> Any:
    """Return an RDBStorage on ``url``, tolerating another process creating the same new database.

    Optuna creates its tables when a storage first opens a database. Two processes opening a new file
    at once (sweep workers, or a sweep and the Runs view) can both try, and the slower one fails with
    "table ... already exists"; by then the tables are whole, so opening again succeeds.
    """
    import optuna

    for attempt in range(4):
        try:
            return optuna.storages.RDBStorage(url, **options)
        except Exception as exc:  # noqa: BLE001 - SQLAlchemy's OperationalError, without importing it here
            if "already exists" not in str(exc) or attempt == 3:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def _driver_package(module: str | None) -> str:
    return {"psycopg2": "psycopg2-binary", "pymysql": "pymysql", "MySQLdb": "mysqlclient"}.get(module or "",
                                                                                          module or "?")


def _check_folder(path: Path, shown: str) -> None:
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot open the study storage {shown}: cannot create {folder}: "
                           f"{exc.strerror or exc}") from None
    if path.exists() and not path.is_file():
        raise StorageError(f"cannot open the study storage {shown}: {path} is not a file")


def mark_interrupted_trials(study: Any) -> list[int]:
    """Fail the RUNNING trials whose worker process is gone; return their numbers.

    A trial's worker is known from its ``worker`` attribute; only processes of this machine can be
    checked (database servers shared by machines rely on Optuna's heartbeat instead). Each such trial
    gets an ``interrupted`` attribute saying why, and does not count towards the sweep's trials.
    """
    import optuna
    from optuna.trial import TrialState

    storage = study._storage
    if getattr(storage, "get_heartbeat_interval", lambda: None)():
        with warnings.catch_warnings(), contextlib.suppress(Exception):
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
    marked = []
    now = datetime.datetime.now()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = trial.user_attrs.get(ATTR_WORKER)
        if worker is None:
            # Killed between creating the trial and naming its worker: a moment's window, so a
            # nameless trial older than that is an orphan.
            started = trial.datetime_start
            if started is None or (now - started).total_seconds() < ORPHAN_AFTER_S:
                continue
            reason = "its worker ended before the trial started training"
        elif process_alive(worker) is not False:
            continue
        else:
            reason = (f"its worker (process {worker.get('pid')} on {worker.get('host')}) ended while it ran; "
                      "it was killed or crashed")
        try:
            storage.set_trial_user_attr(trial._trial_id, ATTR_INTERRUPTED, reason)
            storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        except Exception:  # noqa: BLE001 - another worker marked it first (UpdateFinishedTrialError)
            continue
        marked.append(trial.number)
    return marked


def counts_towards_budget(trial: Any) -> bool:
    """Return whether ``trial`` (a FrozenTrial) is a finished trial: complete, pruned, or a genuine failure.

    A failure of training (NaN loss, out of memory) is a result and is not retried; a trial that was
    interrupted (killed, stopped, stale) is, so a resumed sweep still runs the number asked.
    """
    from optuna.trial import TrialState

    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and ATTR_FAILURE in trial.user_attrs


def counted_trials(study: Any) -> int:
    """Return how many trials of ``study`` are finished (see :func:`counts_towards_budget`)."""
    return sum(1 for t in study.get_trials(deepcopy=False) if counts_towards_budget(t))

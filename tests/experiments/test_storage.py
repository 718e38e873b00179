"""Opening study storages: a new SQLite file opened by two processes at once."""

from __future__ import annotations

import optuna
import pytest

from nnstudio.experiments import storage
from nnstudio.experiments.storage import StorageError, open_storage


def test_a_database_whose_tables_another_process_just_created_opens(tmp_path, monkeypatch):
    real = optuna.storages.RDBStorage
    calls = []

    def racing(url, **options):
        calls.append(url)
        if len(calls) == 1:  # the other process won the race to create the tables
            real(url, **options)
            raise RuntimeError("(sqlite3.OperationalError) table studies already exists")
        return real(url, **options)

    monkeypatch.setattr(optuna.storages, "RDBStorage", racing)
    monkeypatch.setattr(storage.time, "sleep", lambda seconds: None)
    backend = open_storage(str(tmp_path / "sweeps.db"))
    assert len(calls) == 2
    assert backend.get_all_studies() == []


def test_other_database_errors_are_not_retried(tmp_path, monkeypatch):
    calls = []

    def broken(url, **options):
        calls.append(url)
        raise RuntimeError("file is not a database")

    monkeypatch.setattr(optuna.storages, "RDBStorage", broken)
    with pytest.raises(StorageError, match="file is not a database"):
        open_storage(str(tmp_path / "sweeps.db"))
    assert len(calls) == 1

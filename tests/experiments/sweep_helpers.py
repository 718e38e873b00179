"""Reading a sweep's results the way a user's script would: Optuna's own API and TensorBoard's reader."""

import optuna


def load_trials(storage: str, study: str | None = None):
    """Return the trials of the only (or the named) study in ``storage``."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from nnstudio.experiments.storage import open_storage

    backend = open_storage(storage)
    name = study or backend.get_all_studies()[0].study_name
    return optuna.load_study(study_name=name, storage=backend).get_trials(deepcopy=False)


def states(trials):
    return [t.state.name for t in trials]

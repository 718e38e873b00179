import pytest


@pytest.fixture(autouse=True)
def _one_thread_and_private_data_dir(tmp_path_factory, monkeypatch):
    # Runs of examples go to the user data directory; every test (and the processes it starts) gets its
    # own. Small networks train fastest on one thread on the shared 2-core machines.
    import torch

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("data-home")))
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

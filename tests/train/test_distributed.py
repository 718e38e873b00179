"""Data-parallel training: batch shares, the DDP step against a single-process step, fault messages.

The multi-process tests start real gloo workers through torchrun's launcher (each start costs a few
seconds of importing torch, so each launch checks several things).
"""

from __future__ import annotations

import json

import pytest
import torch
from distributed_workers import launch, train, train_cases

from nnstudio.train.distributed import ShardedBatches, shard_bounds, worker_device
from nnstudio.train.launch import describe_failure

#: How far a data-parallel run may drift from the single-process run of the same global batches.
#: float32 addition is not associative: the workers each sum the gradient over their share and
#: all-reduce the partial sums, where one process sums the whole batch in one pass. The two orders
#: differ by a few units in the last place of float32 (eps = 1.2e-7) of each gradient entry, and an
#: optimizer step moves a weight by lr times that. For the steps below (lr 0.1 SGD, lr 1e-2 Adam, a
#: few steps) that is below 1e-6 absolute, so 1e-6 absolute + 1e-5 relative leaves a margin of ~10x
#: and would still catch any real difference (a lost or doubled sample moves weights by ~1e-3).
TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}


def data(n: int, features: int = 6, classes: int = 3, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=generator)
    y = torch.randint(0, classes, (n,), generator=generator)
    return x, y


# --- shares of a batch -------------------------------------------------------------------------------

@pytest.mark.parametrize("count", [0, 1, 2, 7, 64, 65])
@pytest.mark.parametrize("world", [1, 2, 3, 8])
def test_shards_cover_every_item_once_and_differ_by_at_most_one(count, world):
    bounds = [shard_bounds(count, world, rank) for rank in range(world)]
    covered = [i for start, stop in bounds for i in range(start, stop)]
    assert covered == list(range(count))
    sizes = [stop - start for start, stop in bounds]
    assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize(("n", "batch", "world"), [(100, 32, 2), (11, 5, 3), (9, 4, 4)])
def test_each_epoch_every_sample_is_seen_once_across_workers_in_a_fresh_order(n, batch, world):
    generators = [torch.Generator().manual_seed(7) for _ in range(world)]
    samplers = [ShardedBatches(n, batch, rank, world, generators[rank]) for rank in range(world)]
    orders = []
    for _epoch in range(2):
        batches = [list(sampler) for sampler in samplers]
        assert {len(b) for b in batches} == {len(samplers[0])}  # same step count on every worker
        seen = []
        for step in range(len(samplers[0])):
            shares = [batches[rank][step] for rank in range(world)]
            size = min(batch, n - step * batch)
            real = [s for rank, s in enumerate(shares) if shard_bounds(size, world, rank)[1] >
                    shard_bounds(size, world, rank)[0]]
            seen += [i for s in real for i in s]
        assert sorted(seen) == list(range(n))
        orders.append(seen)
    assert orders[0] != orders[1]  # reshuffled each epoch from the seed


def test_workers_use_gloo_on_the_cpu_and_refuse_apple_gpus():
    from nnstudio.train.distributed import DistributedSetupError

    assert worker_device("cpu", 3) == (torch.device("cpu"), "gloo")
    with pytest.raises(DistributedSetupError, match="MPS"):
        worker_device("mps", 0)
    if not torch.cuda.is_available():
        assert worker_device("auto", 1)[0].type == "cpu"
        with pytest.raises(DistributedSetupError, match="no CUDA GPU"):
            worker_device("cuda", 0)


# --- failures named ----------------------------------------------------------------------------------

def _failure(tmp_path, rank, exitcode, message=None, timestamp=None):
    from torch.distributed.elastic.multiprocessing.errors import ProcessFailure

    error_file = tmp_path / f"error-{rank}.json"
    if message is not None:
        error_file.write_text(json.dumps({"message": {"message": message, "extraInfo": {
            "py_callstack": "", "timestamp": str(timestamp or 1000)}}}))
    return ProcessFailure(local_rank=rank, pid=4000 + rank, exitcode=exitcode, error_file=str(error_file))


def test_a_killed_worker_is_named_with_its_signal(tmp_path):
    rank, text = describe_failure({1: _failure(tmp_path, 1, -9)})
    assert rank == 1
    assert text.startswith("worker rank 1 (pid 4001) was killed by SIGKILL")
    assert "memory" in text


def test_a_worker_exception_is_named_with_its_message_not_the_peers_knock_on_error(tmp_path):
    failures = {0: _failure(tmp_path, 0, 1, "RuntimeError: [gloo] Connection closed by peer", 1000),
                1: _failure(tmp_path, 1, 1, "TrainingError: the loss became nan in epoch 2", 1000)}
    rank, text = describe_failure(failures)
    assert (rank, text) == (1, "worker rank 1 failed: the loss became nan in epoch 2")


def test_the_killed_worker_is_named_not_the_ones_torchrun_stopped_after_it(tmp_path):
    failures = {0: _failure(tmp_path, 0, -15), 1: _failure(tmp_path, 1, -9), 2: _failure(tmp_path, 2, -15)}
    assert describe_failure(failures)[0] == 1


def test_a_silent_exit_says_its_status(tmp_path):
    assert describe_failure({2: _failure(tmp_path, 2, 3)})[1] == \
        "worker rank 2 (pid 4002) exited with status 3; the run was stopped"


# --- the data-parallel step --------------------------------------------------------------------------

def test_ddp_steps_give_the_single_process_weights():
    """Two gloo workers against one process, on the same global batches.

    - one SGD step on a 64-sample batch split 32 + 32;
    - three Adam epochs of 11 samples in batches of 5: 5 = 3 + 2, and a last batch of 1 sample, where
      worker 1 has no share and runs a stand-in sample with weight 0 (a ragged batch and an empty
      share must not change the result);
    - the same through DataLoaders (a Dataset that is not tensors on the device: image folders, files),
      where each worker's batch sampler takes its share of the shared permutation.
    """
    x64, y64 = data(64)
    x11, y11 = data(11, seed=2)
    cases = [
        ({"optimizer": "sgd", "lr": 0.1, "batch_size": 64, "epochs": 1, "device": "cpu"}, x64, y64),
        ({"optimizer": "adam", "lr": 0.01, "batch_size": 5, "epochs": 3, "device": "cpu"}, x11, y11),
        ({"optimizer": "adam", "lr": 0.01, "batch_size": 5, "epochs": 3, "device": "cpu"}, x11, y11, True),
    ]
    results = launch(train_cases, 2, cases)
    for index, (settings, x, y, *loader) in enumerate(cases):
        single = train(settings, x, y, None, *loader)
        for rank in (0, 1):
            got = results[rank][index]
            assert got["status"] == "finished"
            assert set(got["weights"]) == set(single["weights"])  # plain keys: no "module." prefix
            for name, tensor in single["weights"].items():
                torch.testing.assert_close(got["weights"][name], tensor, **TOLERANCE, msg=f"{name} (rank {rank})")
            # Epoch metrics are sums over all workers: the same numbers a single process reports.
            for ours, theirs in zip(got["history"], single["history"]):
                assert ours["train_loss"] == pytest.approx(theirs["train_loss"], rel=1e-5)
                assert ours["train_acc"] == pytest.approx(theirs["train_acc"])
                assert ours["val_loss"] == pytest.approx(theirs["val_loss"], rel=1e-5)
                assert ours["confusion"] == theirs["confusion"]


def test_a_stop_from_torchrun_waits_for_rank_0_to_finish_writing_then_ends_the_worker():
    import subprocess
    import sys

    code = ("import os, signal, time\n"
            "from nnstudio.train.distributed import termination_held\n"
            "with termination_held():\n"
            "    os.kill(os.getpid(), signal.SIGTERM)\n"
            "    time.sleep(0.2)\n"
            "    print('files written', flush=True)\n"
            "print('kept running', flush=True)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.stdout.splitlines() == ["files written"]
    assert done.returncode == -15  # ended by the SIGTERM, once the block was over

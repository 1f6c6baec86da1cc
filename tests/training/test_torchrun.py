"""``torchrun --nproc_per_node 2`` launching the real ``fairseq-train`` on the CPU, over gloo.

fairseq reads torchrun's environment only through its CUDA path: it infers the ranks from
MASTER_ADDR/WORLD_SIZE/RANK only when ``--distributed-world-size`` is above 1 (its default is the
number of GPUs: 1 without one, so each worker would train alone), and then picks the device as
``rank % torch.cuda.device_count()`` (a ZeroDivisionError without a GPU). On CPUs the workers
therefore take torchrun's rendezvous explicitly: ``--distributed-init-method env://`` with
``--distributed-rank -1`` (torch reads RANK from the environment), ``--distributed-world-size``
and ``--distributed-no-spawn``, and ``--ddp-backend legacy_ddp`` (fairseq's pytorch_ddp wrapper
passes a GPU device id).
"""
import os
import socket
import subprocess

import pytest

from tests.training.test_distributed_training import _parameters, _train_command
from unimo_plugin.testing import synthetic_corpora as pretrain_data
from unimo_plugin.testing.commands import REPO_ROOT, fairseq_bin

TORCHRUN_CPU = ["--distributed-backend", "gloo", "--distributed-world-size", "2", "--distributed-init-method",
                "env://", "--distributed-rank", "-1", "--distributed-no-spawn", "--ddp-backend", "legacy_ddp"]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_torchrun_workers_train_as_one_process_reading_both_batches(tmp_path):
    """Two torchrun workers end where one process with --update-freq 2 ends (CMCL weight 0: with CMCL
    on, workers also use each other's anchors as negatives, which one process cannot)."""
    data = pretrain_data.build(str(tmp_path / "data"), pretrain_data.dictionary())
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    train = _train_command(data, tmp_path / "two", "--cmcl-weight", "0", "--max-update", "10")[1:]
    torchrun = [fairseq_bin("torchrun"), "--nproc_per_node", "2", "--master_addr", "127.0.0.1", "--master_port",
                str(_free_port()), fairseq_bin("fairseq-train")]
    run = subprocess.run(torchrun + train + TORCHRUN_CPU, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    assert "num_updates=10" in run.stdout + run.stderr
    one = _train_command(data, tmp_path / "one", "--cmcl-weight", "0", "--max-update", "10", "--update-freq", "2")
    subprocess.run(one, env=env, check=True, capture_output=True, timeout=300)
    two, one = _parameters(tmp_path / "two"), _parameters(tmp_path / "one")
    assert two.keys() == one.keys()
    for key in two:
        assert (two[key] - one[key]).abs().max() <= 1e-6, key

"""DistributedDataParallel on the CPU: two gloo processes train one model; rank 0 alone writes it."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).parent))
from trainutil import make_sweep  # noqa: E402


def _worker(rank: int, world: int, port: int, data: str, out: str, states: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_WAIT_POLICY="PASSIVE")
    from automask_ros.core.training.distributed import Distributed
    from automask_ros.core.training.train import TrainConfig, train
    group = Distributed("cpu")  # the logged loss is averaged with this: rank r says r + 1
    mean = group.mean(rank + 1.0)
    result = train(TrainConfig(data=[data], out=out, epochs=1, min_size=64, max_size=96, threads=1,
                               holdout_every=4, device="cpu"))
    group.close()
    Path(states, f"{rank}.txt").write_text(f"{result.bundle} {result.iterations} {result.digest} {mean}")


def test_two_gloo_processes_train_in_lockstep(tmp_path):
    make_sweep(tmp_path / "data", "disc", views=8, size=64)
    make_sweep(tmp_path / "data", "block", views=8, size=64)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    states = tmp_path / "states"
    states.mkdir()
    mp.spawn(_worker, args=(2, port, str(tmp_path / "data"), str(tmp_path / "m"), str(states)), nprocs=2, join=True)
    bundle0, steps0, digest0, mean0 = (states / "0.txt").read_text().split()
    bundle1, steps1, digest1, mean1 = (states / "1.txt").read_text().split()
    assert mean0 == mean1 == "1.5"  # (1 + 2) / 2 on both ranks
    # 14 training frames over 2 ranks with batch 2: 4 steps each (padded), not 7
    assert steps0 == steps1 == "4"
    assert digest0 == digest1  # gradients were averaged: both ranks end with the same weights
    assert bundle0 == str(tmp_path / "m") and bundle1 == "None"
    assert (tmp_path / "m" / "model.json").exists() and (tmp_path / "m" / "checkpoint" / "last.pt").exists()

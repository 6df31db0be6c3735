"""Trainer fault (issue 7): the training process is SIGKILLed mid-epoch, then `resume` continues
from its last checkpoint with the same metrics trajectory and the same final weights as an
uninterrupted run with the same seed.

test_train_core.py::test_resume_after_an_interruption_is_exact proves this for a polite stop
(should_stop, which writes a checkpoint at the stopping point). Here nothing is polite: the child
process running train() (core/training/train_job.py, as the trainer node runs it) is killed with SIGKILL
in the middle of epoch 2, so the only state left is the checkpoint of the end of epoch 1.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from trainutil import make_sweep  # noqa: E402

from automask_ros.core.training.bundle import load_bundle_state  # noqa: E402
from automask_ros.core.training.train import TrainConfig  # noqa: E402
from automask_ros.core.training.train_job import TrainingJob  # noqa: E402

pytestmark = pytest.mark.slow
TINY = dict(min_size=64, max_size=96, threads=1, holdout_every=4, warmup_iters=3, epochs=2, seed=7,
            device="cpu")  # CUDA kernels are not bit-exact


def run_job(config: TrainConfig, kill_when=None, timeout: float = 300.0) -> dict:
    """Run a TrainingJob to its end (result dict) or SIGKILL it when kill_when(progress) says so."""
    job = TrainingJob(config).start()
    deadline = time.monotonic() + timeout
    while not job.done and time.monotonic() < deadline:
        for p in job.poll(timeout=0.02):
            if kill_when is not None and kill_when(p):
                job.kill()
                return {"killed_at": p, "exitcode": job._process.exitcode}
    assert job.done, "training did not finish in time"
    return job.result


def test_sigkill_mid_epoch_then_resume_gives_the_same_run(tmp_path):
    data = tmp_path / "data"
    make_sweep(data, "disc", views=8, size=64)
    make_sweep(data, "block", views=8, size=64)
    cfg = dict(data=[str(data)], **TINY)
    straight = run_job(TrainConfig(out=str(tmp_path / "a"), **cfg))
    assert straight["success"], straight["message"]
    per_epoch = straight["iterations"] // TINY["epochs"]
    assert per_epoch >= 4

    def mid_epoch_two(p):
        return p.get("phase") == "train" and p["epoch"] == 1 and 1 <= p["iteration"] - per_epoch < per_epoch - 1

    killed = run_job(TrainConfig(out=str(tmp_path / "b"), **cfg), kill_when=mid_epoch_two)
    assert killed["exitcode"] == -signal.SIGKILL, killed
    ckpt = torch.load(tmp_path / "b" / "checkpoint" / "last.pt", map_location="cpu", weights_only=True)
    assert ckpt["state"]["epoch"] == 1 and ckpt["state"]["iteration"] == per_epoch  # end of epoch 1 only
    assert killed["killed_at"]["iteration"] > per_epoch  # work after the checkpoint was lost

    resumed = run_job(TrainConfig(out=str(tmp_path / "b"), resume=True, **cfg))
    assert resumed["success"], resumed["message"]
    assert resumed["iterations"] == straight["iterations"]
    a, b = load_bundle_state(tmp_path / "a"), load_bundle_state(tmp_path / "b")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    metrics = [json.loads((tmp_path / run / "metrics.json").read_text()) for run in "ab"]
    for m in metrics:
        for entry in m["history"]:
            entry.pop("minutes")  # wall time differs; every figure must not
    assert len(metrics[0]["history"]) == TINY["epochs"]
    assert metrics[0]["history"] == metrics[1]["history"]
    assert resumed["metrics"] == straight["metrics"]

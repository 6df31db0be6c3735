"""torchrun's environment for training: rank, world size, device, and the few collectives the loop needs.

A no-op for a single process, so the training loop reads the same with or without DDP.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from .train_config import TrainError


class Distributed:
    """Rank, world size and device from torchrun's variables; owns the process group it starts."""

    def __init__(self, device: str):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        cuda = torch.cuda.is_available() and device in ("auto", "cuda")
        if device not in ("auto", "cuda", "cpu") and not device.startswith("cuda:"):
            raise TrainError(f"unknown device {device!r}: use auto, cpu, cuda or cuda:N")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise TrainError(f"device {device} asked for but CUDA is not available: use --device cpu")
        self.device = torch.device(device if device.startswith("cuda:") else
                                   f"cuda:{local}" if cuda else "cpu")
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        self.owns_group = False
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group(backend="nccl" if self.device.type == "cuda" else "gloo")
            self.owns_group = True

    @property
    def main(self) -> bool:
        return self.rank == 0

    def _reduce(self, value: float, op) -> float:
        t = torch.tensor([float(value)], dtype=torch.float64, device=self.device if self.device.type == "cuda" else "cpu")
        dist.all_reduce(t, op=op)
        return float(t.item())

    def any(self, flag: bool) -> bool:
        """True on every rank when any rank says True (stop requests, budgets)."""
        if self.world == 1:
            return flag
        return self._reduce(1.0 if flag else 0.0, dist.ReduceOp.MAX) > 0

    def mean(self, value: float) -> float:
        """The mean of a number over all ranks (the logged loss); the number itself for one process."""
        if self.world == 1:
            return value
        return self._reduce(value, dist.ReduceOp.SUM) / self.world

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def close(self) -> None:
        if self.owns_group:
            dist.destroy_process_group()

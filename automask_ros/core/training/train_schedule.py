"""The learning-rate schedule: warm-up, then cosine or step decay, over iterations or the time budget.

A torch LambdaLR whose lambda is a callable object (WarmupDecay), so that scheduler.state_dict()
carries the position (last_epoch) and the share of the wall-clock budget used so far; a
checkpoint restores both, and a resumed run gets the same learning rate an uninterrupted one
would. Progress is the larger of iterations done / planned and budget used: a run with a
--max-minutes budget anneals by whichever runs out first.
"""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR

from .train_config import TrainError

SCHEDULES = ("cosine", "step")


def lr_factor(iteration: int, total: int, warmup: int, schedule: str, time_frac: float = 0.0) -> float:
    """Warm-up then cosine or step decay; progress is the larger of iterations and budget used."""
    warm = min(1.0, (iteration + 1) / warmup) if warmup > 0 else 1.0
    p = min(1.0, max(iteration / max(total, 1), time_frac))
    if schedule == "cosine":
        decay = 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * p))
    elif schedule == "step":
        decay = 0.01 if p >= 0.9 else 0.1 if p >= 0.7 else 1.0
    else:
        raise TrainError(f"unknown schedule {schedule!r}: choose cosine or step")
    return warm * decay


class WarmupDecay:
    """lr_factor as a LambdaLR lambda; its attributes are saved in the scheduler's state_dict."""

    def __init__(self, total: int, warmup: int, schedule: str):
        if schedule not in SCHEDULES:
            raise TrainError(f"unknown schedule {schedule!r}: choose cosine or step")
        self.total, self.warmup, self.schedule = total, warmup, schedule
        self.budget_used = 0.0  # share of the wall-clock budget (0 without one)

    def __call__(self, iteration: int) -> float:
        return lr_factor(iteration, self.total, self.warmup, self.schedule, self.budget_used)


def make_scheduler(optimizer: torch.optim.Optimizer, total: int, warmup: int, schedule: str) -> LambdaLR:
    """A LambdaLR that sets the learning rate of iteration 0 now; step() after each iteration."""
    return LambdaLR(optimizer, WarmupDecay(total, warmup, schedule))


def step_scheduler(scheduler: LambdaLR, budget_used: float) -> None:
    """After an optimiser step: note the budget used so far and set the next iteration's rate."""
    scheduler.lr_lambdas[0].budget_used = budget_used
    scheduler.step()


def restore_scheduler(scheduler: LambdaLR, state: dict) -> None:
    """Load a checkpointed position and budget used, on the curve this run is configured for.

    For an unchanged config this restores the saved rate exactly; a resume with other --epochs,
    --lr or --schedule continues on the new curve from the saved position.
    """
    decay = scheduler.lr_lambdas[0]
    curve, base_lrs = (decay.total, decay.warmup, decay.schedule), list(scheduler.base_lrs)
    scheduler.load_state_dict(state)
    (decay.total, decay.warmup, decay.schedule), scheduler.base_lrs = curve, base_lrs
    lrs = [base_lr * decay(scheduler.last_epoch) for base_lr in base_lrs]
    for group, lr in zip(scheduler.optimizer.param_groups, lrs):
        group["lr"] = lr
    scheduler._last_lr = lrs

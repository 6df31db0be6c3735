"""An exponential moving average (EMA) of the weights: the model a run evaluates and exports.

A short CPU run ends while its weights still move from step to step: late validations of one
run differed by 0.03-0.04 mask AP. The average of the last few hundred steps' weights is steadier
(Polyak averaging; the EMA that YOLO and timm keep). torch's AveragedModel holds it; the decay
ramps up as (1 + t) / (10 + t), so that a run of a few dozen steps is not an average of its
random start.
"""

from __future__ import annotations

import torch
from torch.optim.swa_utils import AveragedModel


def ema_decay(decay: float, updates: int) -> float:
    """The decay of update number `updates` (0-based): ramped, at most `decay`."""
    return min(decay, (1 + updates) / (10 + updates))


def make_ema(model: torch.nn.Module, decay: float) -> AveragedModel | None:
    """An AveragedModel of `model` (parameters and buffers) with a ramped decay; None when decay is 0."""
    if decay <= 0:
        return None

    @torch.no_grad()
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], n_averaged: torch.Tensor) -> None:
        weight = 1.0 - ema_decay(decay, int(n_averaged))
        floats = [(a, c) for a, c in zip(averaged, current) if a.is_floating_point()]
        if floats:
            torch._foreach_lerp_([a for a, _ in floats], [c for _, c in floats], weight)
        for a, c in zip(averaged, current):
            if not a.is_floating_point():  # counters (BatchNorm's num_batches_tracked) follow the model
                a.copy_(c)

    return AveragedModel(model, multi_avg_fn=update, use_buffers=True)

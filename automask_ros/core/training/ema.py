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
        # AveragedModel calls this once per (device, dtype) group, as for its own EMA function
        if averaged[0].is_floating_point():
            torch._foreach_lerp_(averaged, current, 1.0 - ema_decay(decay, int(n_averaged)))
        else:  # counters (BatchNorm's num_batches_tracked) follow the model
            torch._foreach_copy_(averaged, current)

    return AveragedModel(model, multi_avg_fn=update, use_buffers=True)

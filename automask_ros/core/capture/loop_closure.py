"""Loop closure: with no angle known, a sweep ends when the view returns to the first kept one.

The view must first have departed (`loop_depart`), and enough views must be kept
(`loop_min_frames`); it has returned when its change from the first view drops to `loop_close`
or to half the typical change between consecutive kept views (a slowly turning table changes
little per step, so a fixed threshold alone would close too late or too early).
"""

from __future__ import annotations

import numpy as np

from .view_change import appearance_change


class LoopClosure:
    def __init__(self, enabled: bool, min_frames: int, depart: float, close: float):
        self.enabled, self.min_frames, self.depart, self.close = enabled, min_frames, depart, close
        self.first: np.ndarray | None = None  # thumbnail of the first kept view
        self.max_depart = 0.0
        self.steps: list[float] = []           # appearance change between consecutive kept views
        self.closed = False

    def returns(self, thumb: np.ndarray, kept: int) -> bool:
        """Whether this view closes the loop (kept: views kept so far)."""
        if not self.enabled or self.first is None:
            return False
        back = appearance_change(thumb, self.first)
        self.max_depart = max(self.max_depart, back)
        typical = float(np.median(self.steps)) if self.steps else 0.0
        if kept >= self.min_frames and self.max_depart >= self.depart and back <= max(self.close, 0.5 * typical):
            self.closed = True
            return True
        return False

    def kept(self, thumb: np.ndarray, change: float | None) -> None:
        """A view was kept; change: its appearance change from the previous kept one."""
        if self.first is None:
            self.first = thumb
        elif change is not None:
            self.steps.append(change)

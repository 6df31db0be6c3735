"""Frame selection: which frames are new views, decided before any segmentation (a skipped frame
costs a thumbnail, not an FCN pass), and when the revolution is complete.

A frame is a new view once the turntable has turned `step_deg` since the last kept one (angle
known: core/capture/turn_angle.py), or, with no angle, once its appearance has changed by `min_change`
(only near-duplicates are thinned); then loop closure (core/capture/loop_closure.py) ends the sweep.
"""

from __future__ import annotations

import numpy as np

from .loop_closure import LoopClosure
from .view_change import appearance_change


class ViewSelector:
    def __init__(self, step_deg: float, revolutions: float, min_change: float, loop: LoopClosure):
        self.step_deg, self.revolutions, self.min_change, self.loop = step_deg, revolutions, min_change, loop
        self.last_angle: float | None = None     # angle of the last kept view
        self._last_thumb: np.ndarray | None = None
        self._change: float | None = None        # appearance change of the latest candidate view

    def is_new_view(self, thumb: np.ndarray, angle: float | None, kept: int) -> tuple[bool, str]:
        """(new view?, why the sweep is complete or ""). kept: views kept so far."""
        if angle is not None:
            if angle >= 360.0 * self.revolutions - self.step_deg / 2:
                return False, "one revolution recorded"
            return self.last_angle is None or angle - self.last_angle >= self.step_deg - 1e-6, ""
        change = 1.0 if self._last_thumb is None else appearance_change(thumb, self._last_thumb)
        if self.loop.returns(thumb, kept):
            return False, "loop closed: the view is back at the first kept frame"
        self._change = change
        return change >= self.min_change, ""

    def kept(self, thumb: np.ndarray, angle: float | None) -> None:
        """A view was kept: the next must differ from this one."""
        self.loop.kept(thumb, self._change)
        self._last_thumb, self.last_angle = thumb, angle

"""Degrees the turntable has turned since the object appeared, from encoder readings or time.

Encoder readings wrap at 360 (a JointState in radians, a Float64 in degrees): each step is taken
the short way round and its size added up, so one revolution is 360 whichever way the table turns
and however often the reading wraps. Without readings, `period_s` turns elapsed time into degrees.
"""

from __future__ import annotations


class TurnAngle:
    def __init__(self, period_s: float = 0.0):
        self.period_s = float(period_s)
        self.zero: float | None = None  # raw reading when the object appeared (None: unknown then)
        self._last: float | None = None
        self.turned = 0.0

    @property
    def known(self) -> bool:
        """Whether the sweep's angles come from readings (else from appearance change)."""
        return self.zero is not None

    def raw(self, elapsed_s: float | None, angle_deg: float | None) -> float | None:
        """The reading for this frame (degrees), or None when neither an angle nor a period is given."""
        if angle_deg is not None:
            return float(angle_deg)
        if self.period_s > 0 and elapsed_s is not None:
            return elapsed_s / self.period_s * 360.0
        return None

    def start(self, raw: float | None) -> float | None:
        """The object appeared at reading `raw`: that is angle 0."""
        self.zero = self._last = raw
        self.turned = 0.0
        return None if raw is None else 0.0

    def update(self, raw: float | None, wraps: bool) -> float | None:
        """Degrees turned since start(); wraps: raw is an encoder reading (vs. elapsed time)."""
        if raw is None:
            return None
        if self._last is None:  # the angle became known only after the object appeared
            self.zero = self._last = raw
            return self.turned
        step = (raw - self._last + 180.0) % 360.0 - 180.0 if wraps else raw - self._last
        self._last = raw
        self.turned += abs(step)
        return self.turned

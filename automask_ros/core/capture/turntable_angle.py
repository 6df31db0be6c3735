"""The turntable angle for a camera frame, from whichever reading the robot publishes.

- Stamped joint readings (sensor_msgs/JointState, a motor driver's usual output, radians): the
  reading nearest the frame's stamp within `tolerance_s` (core/pairing.StampPairer), so frames
  get the angle they were taken at even when the two streams arrive out of step.
- Unstamped degrees (std_msgs/Float64): the newest reading, if it is at most `max_age_s` old
  when the frame is processed.
Stamped readings win when both exist for a frame.
"""

from __future__ import annotations

import math

from ..shared.pairing import StampPairer


class TurntableAngle:
    def __init__(self, joint: str = "", tolerance_s: float = 0.1, max_age_s: float = 1.0, keep: int = 64):
        self.joint = joint
        self.max_age_s = float(max_age_s)
        self._stamped = StampPairer(tolerance_s, keep=keep)
        self._latest: tuple[float, float] | None = None  # (degrees, receipt time)

    def add_joint_state(self, stamp: float, names: list[str], positions: list[float]) -> bool:
        """Store the turntable joint's position (radians) at `stamp`. False when the message
        does not carry the joint (or carries no position): the caller says so once."""
        if self.joint:
            if self.joint not in names:
                return False
            index = list(names).index(self.joint)
        else:
            index = 0  # no joint named: a turntable driver publishes its one joint
        if index >= len(positions) or not math.isfinite(positions[index]):
            return False
        self._stamped.add(stamp, math.degrees(positions[index]))
        return True

    def set_tolerance(self, tolerance_s: float) -> None:
        self._stamped.tolerance_s = float(tolerance_s)

    def add_degrees(self, degrees: float, now: float) -> None:
        self._latest = (float(degrees), now)

    def for_frame(self, stamp: float | None, now: float) -> float | None:
        """Degrees for a frame stamped `stamp`, processed at `now` (same clock as add_degrees)."""
        if stamp is not None:
            degrees = self._stamped.match(stamp)
            if degrees is not None:
                return degrees
        if self._latest is not None and now - self._latest[1] <= self.max_age_s:
            return self._latest[0]
        return None

"""Let each kind of event through once per period: a bad stream gives one report line per period,
not one per frame, and one kind of problem never hides another (rclpy's throttle is per call
site); a node's frame-rate cap is the same gate on its frames' receipt times."""

from __future__ import annotations

import re
import threading
import time


def reason_kind(reason: str) -> str:
    """A reason with its numbers blanked: 'nearest 0.061 s away' and '0.072 s' are one kind."""
    return re.sub(r"[-+]?\d[\d.]*", "N", reason)


def rate_period(rate_hz: float) -> float:
    """The period of at most rate_hz events per second; 0 (no period) for rate_hz <= 0, unlimited."""
    return 1.0 / rate_hz if rate_hz > 0 else 0.0


class KeyedThrottle:
    def __init__(self, period_s: float = 10.0, clock=time.monotonic):
        self.period_s = float(period_s)
        self._clock = clock
        self._last: dict = {}
        self._lock = threading.Lock()

    def due(self, key, now: float | None = None) -> bool:
        """True the first time `key` is seen and again once per period after that (at `now`, in
        the clock's seconds, or the clock's time)."""
        now = self._clock() if now is None else now
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.period_s:
                return False
            self._last[key] = now
            return True

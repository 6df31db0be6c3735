"""Report each kind of problem once per period: a bad stream gives one line per period, not one
per frame, and one kind of problem never hides another (rclpy's throttle is per call site)."""

from __future__ import annotations

import re
import threading
import time


def reason_kind(reason: str) -> str:
    """A reason with its numbers blanked: 'nearest 0.061 s away' and '0.072 s' are one kind."""
    return re.sub(r"[-+]?\d[\d.]*", "N", reason)


class KeyedThrottle:
    def __init__(self, period_s: float = 10.0, clock=time.monotonic):
        self.period_s = float(period_s)
        self._clock = clock
        self._last: dict = {}
        self._lock = threading.Lock()

    def due(self, key) -> bool:
        """True the first time `key` is seen and again once per period after that."""
        now = self._clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.period_s:
                return False
            self._last[key] = now
            return True

"""Stamp pairing: match each colour frame with the depth frame nearest in time.

Colour and depth arrive on separate topics, in any order, at slightly different stamps (the
approximate-time policy of message_filters, reduced to what a newest-frame node needs). Depth
frames wait in a short buffer; a colour frame takes the nearest one within `tolerance_s`.
Thread-safe: subscriptions add, a worker thread matches. A worker that takes a colour frame the
instant it arrives may run ahead of its depth frame: match(stamp, wait_s) then waits (at most
wait_s) for a depth frame at or after the colour stamp instead of taking the previous one.
"""

from __future__ import annotations

import threading
from collections import deque


class StampPairer:
    def __init__(self, tolerance_s: float = 0.05, keep: int = 8):
        if not tolerance_s >= 0:
            raise ValueError(f"sync tolerance {tolerance_s} s must be >= 0")
        self.tolerance_s = float(tolerance_s)
        self._items: deque = deque(maxlen=max(1, int(keep)))
        self._lock = threading.Condition()

    def add(self, stamp: float, item) -> None:
        with self._lock:
            self._items.append((float(stamp), item))
            self._lock.notify_all()

    def match(self, stamp: float, wait_s: float = 0.0):
        """The buffered item nearest to `stamp` within the tolerance, or None. wait_s > 0: first
        wait up to that long for an item stamped at or after `stamp` (a later one may be nearer)."""
        with self._lock:
            if wait_s > 0:
                self._lock.wait_for(lambda: any(s >= stamp for s, _ in self._items), timeout=wait_s)
            if not self._items:
                return None
            best_stamp, best = min(self._items, key=lambda si: abs(si[0] - stamp))
        return best if abs(best_stamp - stamp) <= self.tolerance_s else None

    def nearest_gap(self, stamp: float) -> float | None:
        """Seconds to the nearest buffered stamp (None when empty): for the 'never pairs' error."""
        with self._lock:
            return min((abs(s - stamp) for s, _ in self._items), default=None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

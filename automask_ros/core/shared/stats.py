"""Rolling latency and rate figures for the nodes' diagnostics and the benchmarks."""

from __future__ import annotations

import collections
import time

import numpy as np


class RollingStats:
    """Keeps the last `window` latencies (seconds) and event times."""

    def __init__(self, window: int = 300):
        self._latency = collections.deque(maxlen=window)
        self._times = collections.deque(maxlen=window)

    def add(self, latency_s: float, now: float | None = None) -> None:
        self._latency.append(latency_s)
        self._times.append(time.monotonic() if now is None else now)

    def median(self) -> float:
        """Median of the kept values (any unit: the detector also keeps per-frame ratios here)."""
        return float(np.median(self._latency)) if self._latency else float("nan")

    def summary(self) -> dict:
        lat = np.asarray(self._latency, float)
        times = np.asarray(self._times, float)
        rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0
        if lat.size == 0:
            return {"count": 0, "rate_hz": 0.0, "latency_p50_ms": float("nan"),
                    "latency_p99_ms": float("nan")}
        return {"count": int(lat.size), "rate_hz": float(rate),
                "latency_p50_ms": float(np.percentile(lat, 50) * 1e3),
                "latency_p99_ms": float(np.percentile(lat, 99) * 1e3)}

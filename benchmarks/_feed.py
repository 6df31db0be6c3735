"""Feeding a node process camera frames over real DDS, and watching its memory and threads.

Shared by the node benchmarks (detector_node.py, capture_node.py) and the soak command.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


def proc_status(pid: int) -> tuple[float, int]:
    """(RSS in MB, thread count) of a process, from /proc."""
    rss, threads = float("nan"), 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                rss = int(line.split()[1]) / 1024
            elif line.startswith("Threads"):
                threads = int(line.split()[1])
    return rss, threads


def growth(samples: list[tuple[float, float]], warmup_s: float) -> dict:
    """How (t, value) samples changed after warm-up: start, end, growth, peak and slope per minute.

    `growth` is the sustained change of the upper envelope: over the last fifth of the samples
    (at least 3) against the first fifth, the median of each window's upper half. A leak raises
    the envelope; one sample caught mid-frame does not, and neither does a dip when the allocator
    hands memory back (the capture node's RSS drops by 100-200 MB for a moment when a sweep ends
    and its segmenter is freed: with plain medians, a dip in the first window read as growth).
    `peak` is the largest single sample over the first one (a frame's tensors in flight, for RSS).
    """
    warm = [(t, v) for t, v in samples if t >= warmup_s]
    if len(warm) < 3:
        nan = float("nan")
        return {"start": nan, "end": nan, "growth": nan, "peak": nan, "slope_per_min": nan}
    t, v = np.array(warm).T
    fifth = min(len(v), max(3, len(v) // 5))

    def level(window):
        window = np.sort(window)
        return float(np.median(window[len(window) // 2:]))

    return {"start": float(v[0]), "end": float(v[-1]),
            "growth": level(v[-fifth:]) - level(v[:fifth]), "peak": float(v.max() - v[0]),
            "slope_per_min": float(np.polyfit(t, v, 1)[0] * 60)}


class Feeder:
    """Publishes frames at a fixed rate while spinning a client node; samples a process's RSS."""

    def __init__(self, node, publisher, make_msg, pid: int, sample_period_s: float = 1.0):
        self.node, self.publisher, self.make_msg, self.pid = node, publisher, make_msg, pid
        self.sample_period_s = sample_period_s
        self.sent = 0
        self.samples: list[tuple[float, float, int]] = []  # (t, rss MB, threads)

    def run(self, rate_hz: float, seconds: float, on_tick=None) -> None:
        import rclpy

        start = time.monotonic()
        next_send = next_sample = start
        while (now := time.monotonic()) - start < seconds:
            if now >= next_send:
                self.publisher.publish(self.make_msg(self.sent))
                self.sent += 1
                next_send += 1.0 / rate_hz
            if now >= next_sample:
                rss, threads = proc_status(self.pid)
                self.samples.append((now - start, rss, threads))
                if on_tick is not None:
                    on_tick(now - start)
                next_sample += self.sample_period_s
            rclpy.spin_once(self.node, timeout_sec=max(0.0, min(next_send, next_sample) - time.monotonic()))


def write_result(path: Path, result: dict) -> None:
    """Write a benchmark's JSON result and say where."""
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    print(f"wrote {path}")

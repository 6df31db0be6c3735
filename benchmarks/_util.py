"""Shared benchmark helpers: what machine this ran on, robust timing of a callable, a node
process, and an untrained model bundle (also used by the tests).

Times on a shared machine drift 1.5-2x with load (DESIGN.md): report medians, and compare
figures only as ratios measured in the same run.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]


def _version(*dists: str) -> str:
    for dist in dists:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "none"


def machine() -> dict:
    """CPU model, cores, torch/torchvision/onnxruntime/OpenCV versions, GPU (if any), date (UTC)
    and git commit."""
    import cv2
    import torch
    import torchvision
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=5).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "torchvision": torchvision.__version__,
            "onnxruntime": _version("onnxruntime", "onnxruntime-gpu"), "opencv": cv2.__version__,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
            "python": platform.python_version(), "commit": commit,
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}


def time_call(fn: Callable[[], object], repeats: int = 10, warmup: int = 2,
              sync: Callable[[], None] | None = None) -> dict:
    """Run fn warmup + repeats times; seconds as median, p90, min and mean of the timed runs.

    sync (e.g. torch.cuda.synchronize) is called before each clock read so GPU work is counted.
    """
    sync = sync or (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    times.sort()
    return {"median_s": statistics.median(times), "p90_s": times[min(len(times) - 1, int(0.9 * len(times)))],
            "min_s": times[0], "mean_s": statistics.fmean(times), "n": len(times)}


def time_interleaved(fns: dict[str, Callable[[], object]], repeats: int = 10, warmup: int = 2,
                     sync: Callable[[], None] | None = None) -> dict:
    """Time several callables in turn (a, b, a, b, ...) so that load drift hits them alike.

    Returns {name: time_call-style stats} plus "ratio_<b>_over_<a>" medians of the per-round
    ratios of every later callable over the first one.
    """
    sync = sync or (lambda: None)
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    sync()
    times = {name: [] for name in names}
    for _ in range(repeats):
        for name in names:
            start = time.perf_counter()
            fns[name]()
            sync()
            times[name].append(time.perf_counter() - start)
    out = {}
    for name, values in times.items():
        ordered = sorted(values)
        out[name] = {"median_s": statistics.median(values), "p90_s": ordered[min(len(values) - 1, int(0.9 * len(values)))],
                     "min_s": ordered[0], "mean_s": statistics.fmean(values), "n": len(values)}
    for name in names[1:]:
        out[f"ratio_{name}_over_{names[0]}"] = statistics.median(
            b / a for a, b in zip(times[names[0]], times[name]))
    return out


def print_machine(info: dict | None = None) -> None:
    info = info or machine()
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()))


def start_node(executable: str, name: str, ros_args: list, log: Path) -> subprocess.Popen:
    """bin/<executable> as its own process, renamed to `name`, with stdout and stderr in `log`."""
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    return subprocess.Popen([sys.executable, str(ROOT / "bin" / executable), "--ros-args",
                             "-r", f"__node:={name}", *map(str, ros_args)],
                            stdout=open(log, "w"), stderr=subprocess.STDOUT, env=dict(os.environ))


def untrained_bundle(out: Path, arch: str = "maskrcnn_mobilenet_v3_fpn", labels=("mug",), *,
                     model_id: str | None = None, min_size: int = 96, max_size: int = 160,
                     score: float = 0.0, force: bool = True) -> Path:
    """A real model bundle of a seeded, untrained Mask R-CNN: what the detector loads, in seconds."""
    import torch

    from automask_ros.core.training.bundle import save_bundle
    from automask_ros.core.training.model import build_model
    torch.manual_seed(0)
    model = build_model(arch, len(labels) + 1, min_size=min_size, max_size=max_size)
    meta = {"model_id": model_id or f"bench-{arch}", "arch": arch, "labels": list(labels),
            "input": {"min_size": min_size, "max_size": max_size}, "thresholds": {"score": score, "mask": 0.5}}
    return save_bundle(out, model, meta, force=force)

"""Run core.train.train() in a child process, so a node (or any caller) stays responsive.

The job takes training options (TrainConfig fields; None = default) or a TrainConfig; the child
builds the config with TrainConfig.from_options, the constructor `automask train` uses too, so a
bad option comes back as the job's one-line error. Progress dicts stream back through a queue;
cancel() asks the child to stop between iterations (the trainer keeps its last checkpoint, so
`--resume` continues from there).
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import queue
import traceback
from pathlib import Path

_CTX = mp.get_context("spawn")  # a fresh interpreter: no inherited threads, locks or ROS state


def _child(options: dict, updates: mp.Queue, stop: mp.Event) -> None:
    """Child process entry: train, sending ("progress", dict) then one ("done", dict)."""
    try:
        from automask_ros.core.training.train import TrainConfig, train

        result = train(TrainConfig.from_options(options),
                       progress=lambda p: updates.put(("progress", dict(p))),
                       should_stop=stop.is_set)
        bundle = str(result.bundle) if result.bundle else ""
        cancelled = result.reason == "cancelled"
        updates.put(("done", {
            "success": bool(bundle) and not cancelled, "cancelled": cancelled, "bundle": bundle,
            "metrics": dict(result.metrics), "reason": result.reason, "epochs": result.epochs,
            "iterations": result.iterations, "wall_s": result.wall_s,
            "message": f"{result.reason} after {result.iterations} iterations "
                       f"({result.wall_s / 60:.1f} min)" + (f"; bundle {bundle}" if bundle else "")}))
    except Exception as exc:  # reported to the caller as one line, never a crash of the caller
        updates.put(("done", {"success": False, "cancelled": False, "bundle": "", "metrics": {},
                              "reason": "error", "message": f"{type(exc).__name__}: {exc}",
                              "traceback": traceback.format_exc()}))


class TrainingJob:
    """One training run in a child process."""

    def __init__(self, config):
        self.config = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
        self._updates: mp.Queue = _CTX.Queue()
        self._stop = _CTX.Event()
        self._process: mp.Process | None = None
        self.result: dict | None = None
        self.latest: dict = {"phase": "starting", "progress": 0.0}

    def start(self) -> "TrainingJob":
        Path(self.config["out"]).parent.mkdir(parents=True, exist_ok=True)
        self._process = _CTX.Process(target=_child, args=(self.config, self._updates, self._stop),
                                     name="automask-train", daemon=True)
        self._process.start()
        return self

    def cancel(self) -> None:
        self._stop.set()

    def poll(self, timeout: float = 0.0) -> list[dict]:
        """New progress dicts since the last call; sets .result when the child is done."""
        out = []
        try:
            while True:
                kind, payload = self._updates.get(timeout=timeout)
                timeout = 0.0
                if kind == "progress":
                    self.latest = payload
                    out.append(payload)
                else:
                    self.result = payload
        except queue.Empty:
            pass
        if self.result is None and self._process is not None and not self._process.is_alive():
            self._process.join()
            try:  # the child may have put its result just before exiting
                kind, payload = self._updates.get(timeout=1.0)
                if kind == "done":
                    self.result = payload
            except queue.Empty:
                self.result = {"success": False, "cancelled": False, "bundle": "", "metrics": {},
                               "reason": "error", "message": f"training process died (exit code "
                               f"{self._process.exitcode}); resume from the last checkpoint"}
        return out

    @property
    def done(self) -> bool:
        return self.result is not None

    def join(self, timeout: float | None = None) -> None:
        if self._process is not None:
            self._process.join(timeout)

    def kill(self) -> None:
        if self._process is not None and self._process.is_alive():
            self._process.kill()
            self._process.join(5)

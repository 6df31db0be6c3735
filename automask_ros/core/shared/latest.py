"""A one-slot mailbox with a worker thread: slow consumers process only the newest item.

Nodes hand camera frames to it from their subscription callback and return at once, so the
executor never blocks; a frame that arrives while another is waiting replaces it (a drop).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable


@dataclass
class WorkerStats:
    submitted: int = 0
    processed: int = 0
    dropped: int = 0
    errors: int = 0
    last_error: str = ""

    @property
    def drop_rate(self) -> float:
        return self.dropped / self.submitted if self.submitted else 0.0


class LatestWorker:
    """Calls `handle(item)` in a background thread on the newest submitted item."""

    def __init__(self, handle: Callable[[Any], None], name: str = "latest-worker",
                 on_error: Callable[[BaseException], None] | None = None):
        self._handle = handle
        self._on_error = on_error
        self._cond = threading.Condition()
        self._pending: Any = None
        self._has_pending = False
        self._busy = False
        self._stopped = False
        self.stats = WorkerStats()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: Any) -> bool:
        """Queue item as the newest; returns False when it replaced an unprocessed one."""
        with self._cond:
            replaced = self._has_pending
            self._pending, self._has_pending = item, True
            self.stats.submitted += 1
            if replaced:
                self.stats.dropped += 1
            self._cond.notify()
        return not replaced

    def idle(self) -> bool:
        with self._cond:
            return not self._has_pending and not self._busy

    def wait_idle(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.idle():
                return True
            time.sleep(0.005)
        return False

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._has_pending and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                item, self._pending, self._has_pending = self._pending, None, False
                self._busy = True
            try:
                self._handle(item)
                self.stats.processed += 1
            except Exception as exc:  # the worker must outlive one bad frame
                self.stats.errors += 1
                self.stats.last_error = str(exc)
                if self._on_error is not None:
                    try:
                        self._on_error(exc)
                    except Exception as again:  # e.g. a full disk fails the error report too
                        self.stats.last_error = f"{exc}; then in on_error: {again}"
            finally:
                with self._cond:
                    self._busy = False

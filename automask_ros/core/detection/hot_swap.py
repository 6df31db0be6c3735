"""Load a replacement object (a model) in the background; swap it in only once it is ready.

The current object keeps serving while the new one loads, and stays if loading fails. Readers
take `slot.current` (one attribute read: atomic under the GIL) and never wait for a load.
"""

from __future__ import annotations

import threading
from typing import Any, Callable


class HotSwapSlot:
    def __init__(self, load: Callable[[str], Any],
                 on_loaded: Callable[[str, Any], None] | None = None,
                 on_failed: Callable[[str, BaseException], None] | None = None):
        self._load = load
        self._on_loaded = on_loaded
        self._on_failed = on_failed
        self._lock = threading.Lock()
        self._wanted: str | None = None
        self._thread: threading.Thread | None = None
        self.current: Any = None
        self.current_key: str | None = None
        self.failed: dict[str, str] = {}  # key -> error, so each bad bundle is reported once

    def request(self, key: str) -> None:
        """Ask for `key` to be loaded; the newest request wins if several arrive during a load."""
        with self._lock:
            self._wanted = key
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="hot-swap", daemon=True)
                self._thread.start()

    def load_now(self, key: str) -> None:
        """Load `key` in the caller's thread (after any background load) and swap it in; raises
        what the load raised, leaving the slot as it was (a lifecycle configure fails with it)."""
        self.wait()
        obj = self._load(key)
        self.failed.pop(key, None)
        self.current, self.current_key = obj, key
        if self._on_loaded is not None:
            self._on_loaded(key, obj)

    def unload(self) -> Any:
        """Forget any queued request, let a running load finish, and empty the slot; returns what
        it held (so the caller can release device memory)."""
        with self._lock:
            self._wanted = None
        self.wait()
        obj, self.current, self.current_key = self.current, None, None
        return obj

    def wait(self, timeout: float = 60.0) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._lock:
                key, self._wanted = self._wanted, None
                if key is None:
                    self._thread = None
                    return
            try:
                obj = self._load(key)
            except Exception as exc:  # keep serving the old object
                first = key not in self.failed
                self.failed[key] = str(exc)
                if first and self._on_failed is not None:
                    self._on_failed(key, exc)
                continue
            self.failed.pop(key, None)
            self.current, self.current_key = obj, key
            if self._on_loaded is not None:
                self._on_loaded(key, obj)

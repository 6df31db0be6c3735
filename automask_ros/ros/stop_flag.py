"""A Ctrl-C (or SIGTERM) that arrives while a node is still importing torch and DDS is remembered.

A KeyboardInterrupt raised inside an import can be swallowed by importlib ("Exception ignored
in ... _get_module_lock"): the node then starts with the signal lost and ignores the launch's
SIGINT until it escalates. So the node executables install this flag handler before any heavy
import, and spin_node() stops at once when it is set. This module imports nothing heavy.
"""

import signal
import threading

STOP = threading.Event()


def install() -> threading.Event:
    """From now on SIGINT and SIGTERM only set STOP (idempotent)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: STOP.set())
    return STOP

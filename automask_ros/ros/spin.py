"""Run one node until Ctrl-C or shutdown: the `main()` every node executable shares."""

from __future__ import annotations

import signal
import threading

import rclpy
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.signals import SignalHandlerOptions

# how often the spin loop looks at the stop flag: the longest a Ctrl-C waits to be noticed
STOP_POLL_S = 0.2


def spin_node(node_factory, args=None, threads: int = 1) -> int:
    """Create the node, spin it, always clean up.

    One thread is the default: the camera nodes hand frames to a worker thread and return at
    once. rclpy's MultiThreadedExecutor busy-loops holding the GIL while a ready callback waits
    for its group, which at 30 Hz of images starved the inference thread (detector 0.9 -> 6.3
    frames/s, capture 2.2 -> 3.6 with one thread). Only a node whose callbacks block for long
    (the trainer's action) asks for more.

    A start-up error the user can fix (bad parameter file, missing folder) is one line, exit 2.

    SIGINT and SIGTERM only set a flag, so a stop is always clean (exit 0) and quiet: during
    start-up too, and when a second SIGINT arrives during teardown (`ros2 launch` sends one
    after the terminal's own Ctrl-C; with rclpy's handler that one killed the node mid-teardown
    (exit -2) or hung it until launch escalated to SIGTERM).
    """
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    try:
        node = node_factory()
    except (ValueError, FileNotFoundError, InvalidParameterTypeException,
            InvalidParameterValueException) as exc:
        name = getattr(node_factory, "__name__", "node")
        print(f"{name}: error: {exc}", flush=True)
        rclpy.try_shutdown()
        return 2
    executor = SingleThreadedExecutor() if threads == 1 else MultiThreadedExecutor(num_threads=threads)
    executor.add_node(node)
    try:
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=STOP_POLL_S)
    except ExternalShutdownException:
        pass
    finally:
        # a second Ctrl-C must not kill the teardown: Python's exit resets handlers to the default
        # (death by SIGINT), but leaves an ignored signal ignored. SIGTERM still ends a stuck exit.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        executor.shutdown(timeout_sec=5.0)
        node.destroy_node()
        rclpy.try_shutdown()
    return 0

"""Run one node until Ctrl-C or shutdown: the `main()` every node executable shares."""

from __future__ import annotations

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor


def spin_node(node_factory, args=None, threads: int = 1) -> int:
    """Create the node, spin it, always clean up.

    One thread is the default: the camera nodes hand frames to a worker thread and return at
    once. rclpy's MultiThreadedExecutor busy-loops holding the GIL while a ready callback waits
    for its group, which at 30 Hz of images starved the inference thread (detector 0.9 -> 6.3
    frames/s, capture 2.2 -> 3.6 with one thread). Only a node whose callbacks block for long
    (the trainer's action) asks for more.

    A start-up error the user can fix (bad parameter file, missing folder) is one line, exit 2.
    """
    rclpy.init(args=args)
    try:
        node = node_factory()
    except (ValueError, FileNotFoundError) as exc:
        name = getattr(node_factory, "__name__", "node")
        print(f"{name}: error: {exc}")
        rclpy.try_shutdown()
        return 2
    executor = SingleThreadedExecutor() if threads == 1 else MultiThreadedExecutor(num_threads=threads)
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0

"""Run one node until Ctrl-C or shutdown: the `main()` every node executable shares."""

from __future__ import annotations

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor


def spin_node(node_factory, args=None, threads: int = 2) -> int:
    """Create the node, spin it on a multi-threaded executor, always clean up.

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
    executor = MultiThreadedExecutor(num_threads=threads)
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0

"""Run one node until Ctrl-C or shutdown: the `main()` every node executable shares."""

from __future__ import annotations

import signal
import threading
import time

import rclpy
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.signals import SignalHandlerOptions, install_signal_handlers

from automask_ros.ros.stop_flag import install

# how often the main thread looks at the stop flag: the longest a Ctrl-C waits to be noticed
STOP_POLL_S = 0.2


def make_executor(node) -> SingleThreadedExecutor | MultiThreadedExecutor:
    """The executor a node spins on: one thread unless its class asks for more (`executor_threads`).

    One thread is the default: the camera nodes hand frames to a worker thread and return at
    once. rclpy's MultiThreadedExecutor busy-loops holding the GIL while a ready callback waits
    for its group, which at 30 Hz of images starved the inference thread (detector 0.9 -> 6.3
    frames/s, capture 2.2 -> 3.6 with one thread). Only a node whose callbacks block for long
    (the trainer's action, so that a cancel is still heard) asks for more. The node executables
    and the demo's in-process nodes both take their executor from here.
    """
    threads = int(getattr(node, "executor_threads", 1))
    return SingleThreadedExecutor() if threads == 1 else MultiThreadedExecutor(num_threads=threads)


def spin_node(node_factory, args=None) -> int:
    """Create the node, spin it on its executor (make_executor), always clean up.

    A start-up error the user can fix (bad parameter file, missing folder) is one line, exit 2.

    A stop by SIGINT or SIGTERM is always clean (exit 0) and quiet: during start-up too (our
    handler, installed before the heavy imports by the executables, only sets a flag; rclpy's
    handler, which chains to ours, comes only once the node and executor exist), and when a
    second SIGINT arrives during teardown (`ros2 launch` sends one after the terminal's own
    Ctrl-C). That one used to kill the node mid-teardown (exit -2: Python's exit resets handlers)
    or hang it until launch escalated to SIGTERM. rclpy keeps its own handler: with it switched
    off (SignalHandlerOptions.NO) the trainer's action server missed goals in 3 of 5 test runs.
    """
    stop = install()  # the executables install it before importing: a stop during imports counts
    if stop.is_set():
        return 0
    # start-up is all or nothing: rclpy's own handler, which shuts the context down (under a
    # half-built node or executor, if it came mid-way), is installed once they exist; until then
    # a stop only sets our flag, and the loop below ends the node the ordinary way.
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    try:
        node = node_factory()
    except (ValueError, FileNotFoundError, InvalidParameterTypeException,
            InvalidParameterValueException) as exc:
        print(f"{getattr(node_factory, '__name__', 'node')}: error: {exc}", flush=True)
        rclpy.try_shutdown()
        return 2
    executor = make_executor(node)
    executor.add_node(node)
    install_signal_handlers(SignalHandlerOptions.ALL)  # chains to our flag handler
    failure: list[BaseException] = []

    def spin() -> None:
        try:
            executor.spin()
        except ExternalShutdownException:
            pass
        except BaseException as exc:  # re-raised in the main thread below, unless we were stopping
            if not stop.is_set() and rclpy.ok():  # (a wait set built as the context shuts down fails)
                failure.append(exc)

    # the executor spins in a thread; the main thread only waits for a signal (a Python signal
    # handler runs in the main thread, which would otherwise sit inside the executor's wait)
    spinner = threading.Thread(target=spin, name="executor", daemon=True)
    spinner.start()
    try:
        while not stop.is_set() and spinner.is_alive():
            time.sleep(STOP_POLL_S)
    finally:
        # a second Ctrl-C must not kill the teardown: Python's exit resets handlers to the default
        # (death by SIGINT), but leaves an ignored signal ignored. SIGTERM still ends a stuck exit.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        executor.shutdown(timeout_sec=5.0)
        spinner.join(5.0)
        node.destroy_node()
        rclpy.try_shutdown()
    if failure:
        raise failure[0]
    return 0

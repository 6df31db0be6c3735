"""Client helpers shared by the tests that drive a real capture node over DDS."""

import time

import rclpy


def capture_client(name, tmp, **publishers):
    """rclpy up, a client node for capture node `name`: statuses, start/stop clients, and the
    given publishers ({key: (type, topic, qos)}); waits until the node serves."""
    from std_srvs.srv import Trigger

    from automask.msg import SweepStatus
    from automask.srv import StartSweep

    rclpy.init()
    node = rclpy.create_node(f"client_{name}")
    statuses = []
    node.create_subscription(SweepStatus, f"/{name}/status", statuses.append, 10)
    ctx = {"node": node, "tmp": tmp, "name": name, "statuses": statuses,
           "start": node.create_client(StartSweep, f"/{name}/start_sweep"),
           "stop": node.create_client(Trigger, f"/{name}/stop_sweep"),
           **{key: node.create_publisher(*spec) for key, spec in publishers.items()}}
    assert ctx["start"].wait_for_service(timeout_sec=30), "capture node did not come up"
    return ctx


def call(ctx, client, request, timeout=30.0):
    """Call one of ctx's service clients and wait for the answer."""
    future = ctx[client].call_async(request)
    rclpy.spin_until_future_complete(ctx["node"], future, timeout_sec=timeout)
    assert future.done(), f"{client} did not answer within {timeout} s"
    return future.result()


def wait_status(ctx, predicate, timeout):
    """Spin until the newest SweepStatus satisfies predicate; fail with the node's log tail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rclpy.spin_once(ctx["node"], timeout_sec=0.05)
        if ctx["statuses"] and predicate(ctx["statuses"][-1]):
            return ctx["statuses"][-1]
    log = (ctx["tmp"] / "node.log").read_text()[-1500:]
    raise AssertionError(f"status never matched; last: {ctx['statuses'][-1] if ctx['statuses'] else None}\n{log}")

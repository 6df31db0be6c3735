"""Run a launch file through the real launch.LaunchService in its own process, inspect the ROS
graph it makes, stop it with Ctrl-C and find any process it left behind.

Every process of one run carries a marker in its environment (children inherit it), so a
process left behind is found even after it has lost its parent.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import rclpy
from rclpy.action import get_action_server_names_and_types_by_node
from rclpy.parameter import parameter_value_to_python
from rclpy.parameter_client import AsyncParameterClient

from ros_process import PEERS, ROOT

MARKER = "AUTOMASK_LAUNCH_TEST"


def marked_pids(marker: str) -> list[int]:
    """Live processes whose environment carries `marker` (zombies have no environment)."""
    needle = f"{MARKER}={marker}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


class Launch:
    """`ros2 launch automask FILE args...` as a new terminal session (Ctrl-C = SIGINT to the group)."""

    def __init__(self, launch_file: str, args: list[str], cwd: Path, unset: tuple[str, ...] = ()):
        self.marker = uuid.uuid4().hex
        self.log = cwd / f"{launch_file}.{self.marker[:6]}.log"
        env = {k: v for k, v in os.environ.items() if k not in unset}
        env[MARKER] = self.marker
        self.proc = subprocess.Popen(
            [sys.executable, str(PEERS / "launch_file.py"), str(ROOT / "launch" / launch_file), *args],
            stdout=open(self.log, "w"), stderr=subprocess.STDOUT, cwd=cwd, env=env,
            start_new_session=True)

    def environ(self, pid: int) -> dict[str, str]:
        raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        return dict(e.decode(errors="replace").split("=", 1) for e in raw if b"=" in e)

    def pid_of(self, text: str) -> int:
        """The marked process whose command line contains `text`."""
        for pid in marked_pids(self.marker):
            if text.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
        raise AssertionError(f"no process of this launch runs {text}")

    def output(self) -> str:
        return self.log.read_text()

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    def ctrl_c(self, timeout: float = 60.0) -> int:
        """SIGINT to the whole session, as a terminal sends it; returns launch's exit code."""
        try:
            os.killpg(self.proc.pid, signal.SIGINT)
        except ProcessLookupError:
            pass
        return self.proc.wait(timeout)

    def leftovers(self, grace_s: float = 5.0) -> list[int]:
        """Marked processes still alive `grace_s` after launch itself has exited."""
        deadline = time.monotonic() + grace_s
        while (pids := marked_pids(self.marker)) and time.monotonic() < deadline:
            time.sleep(0.2)
        return pids

    def kill_all(self) -> None:
        """Test clean-up only: nothing of this run may outlive the test, whatever happened."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for pid in marked_pids(self.marker):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


class Graph:
    """What a ROS user sees with `ros2 node info` and `ros2 param get`, from a test node."""

    def __init__(self, node):
        self.node = node

    def wait_node(self, name: str, timeout: float = 60.0, launch: Launch | None = None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if name in self.node.get_node_names():
                return
            if launch is not None and launch.proc.poll() is not None:
                raise AssertionError(f"launch exited ({launch.proc.returncode}) before {name} came up:\n"
                                     f"{launch.output()[-3000:]}")
            rclpy.spin_once(self.node, timeout_sec=0.2)
        raise AssertionError(f"node {name} did not appear within {timeout} s")

    def params(self, name: str, names: list[str], timeout: float = 30.0) -> dict:
        client = AsyncParameterClient(self.node, name)
        assert client.wait_for_services(timeout_sec=timeout), f"{name}: no parameter services"
        future = client.get_parameters(names)
        rclpy.spin_until_future_complete(self.node, future, timeout_sec=timeout)
        assert future.done(), f"{name}: get_parameters did not answer"
        return dict(zip(names, (parameter_value_to_python(v) for v in future.result().values)))

    def _eventually(self, fetch, want: set, timeout: float) -> set:
        deadline = time.monotonic() + timeout
        while True:
            have = fetch()
            if want <= have or time.monotonic() > deadline:
                return have
            rclpy.spin_once(self.node, timeout_sec=0.2)

    def publishers(self, name: str, want: set, timeout: float = 20.0) -> set:
        return self._eventually(lambda: {t for t, _ in self.node.get_publisher_names_and_types_by_node(
            name, "/")}, want, timeout)

    def subscriptions(self, name: str, want: set, timeout: float = 20.0) -> set:
        return self._eventually(lambda: {t for t, _ in self.node.get_subscriber_names_and_types_by_node(
            name, "/")}, want, timeout)

    def services(self, name: str, want: set, timeout: float = 20.0) -> set:
        return self._eventually(lambda: {t for t, _ in self.node.get_service_names_and_types_by_node(
            name, "/")}, want, timeout)

    def actions(self, name: str, want: set, timeout: float = 20.0) -> set:
        return self._eventually(lambda: {t for t, _ in get_action_server_names_and_types_by_node(
            self.node, name, "/")}, want, timeout)

"""The demo over ROS 2: drives the player, capture, trainer and detector nodes over DDS.

DemoDriver only talks to nodes through their topics, services and actions, so the same code
runs against nodes in this process (run_demo's default: each node on its own executor and
thread, as its executable spins it) or nodes started by demo.launch.py
(`automask demo --external-nodes`). Data, scoring and the report
are core/demo/demo.py.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from rclpy.action import ActionClient
from rclpy.executors import Executor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import Bool
from std_srvs.srv import Trigger

from automask.action import Train
from automask.msg import InstanceArray, ModelInfo, SweepStatus
from automask.srv import StartSweep
from automask_ros.core.detection.infer import Instance
from automask_ros.ros.image_conversion import imgmsg_to_rgb
from automask_ros.ros.instance_msgs import geometry_from_instance, mask_from_instance
from automask_ros.ros.spin import make_executor

LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)


class DemoError(RuntimeError):
    """A step of the demo did not happen; the message says which and what to check."""


def _key(header) -> tuple[int, int]:
    return header.stamp.sec, header.stamp.nanosec


class DemoDriver(Node):
    """Client of the four nodes (names relative to this node's namespace)."""

    def __init__(self, player="player_node", capture="capture_node", trainer="trainer_node",
                 detector="detector_node", **kwargs):
        super().__init__("demo_driver", **kwargs)
        self.names = {"player": player, "capture": capture, "trainer": trainer, "detector": detector}
        self._lock = threading.Lock()
        self.status: SweepStatus | None = None
        self.model_info: ModelInfo | None = None
        self._playing: bool | None = None
        self._plays_done = 0
        self._collect = False
        self._frames: dict = {}
        self._detections: dict = {}
        self._param_clients: dict[str, AsyncParameterClient] = {}
        self.cl_play = self.create_client(Trigger, f"{player}/play")
        self.cl_start = self.create_client(StartSweep, f"{capture}/start_sweep")
        self.cl_stop = self.create_client(Trigger, f"{capture}/stop_sweep")
        self.train_client = ActionClient(self, Train, f"{trainer}/train")
        self.create_subscription(Bool, f"{player}/playing", self._on_playing, LATCHED)
        self.create_subscription(SweepStatus, f"{capture}/status", lambda m: setattr(self, "status", m), 10)
        self.create_subscription(ModelInfo, f"{detector}/model_info",
                                 lambda m: setattr(self, "model_info", m), LATCHED)
        self.create_subscription(Image, "image", self._on_image, QoSProfile(
            depth=50, reliability=qos_profile_sensor_data.reliability))
        self.create_subscription(InstanceArray, f"{detector}/instances", self._on_instances, 50)

    # --- callbacks ----------------------------------------------------------------------------
    def _on_playing(self, msg: Bool) -> None:
        with self._lock:
            if self._playing and not msg.data:
                self._plays_done += 1
            self._playing = msg.data

    def _on_image(self, msg: Image) -> None:
        if self._collect:
            self._frames[_key(msg.header)] = imgmsg_to_rgb(msg)

    def _on_instances(self, msg: InstanceArray) -> None:
        if self._collect:
            self._detections[_key(msg.header)] = msg

    # --- plumbing -----------------------------------------------------------------------------
    def wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        """Block the calling thread (not the executor's) until predicate() holds."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise DemoError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(0.05)

    def _result(self, future, timeout: float, what: str):
        self.wait(future.done, timeout, what)
        if future.exception() is not None:
            raise DemoError(f"{what} failed: {future.exception()}")
        return future.result()

    def call(self, client, request, what: str, timeout: float = 30.0):
        if not client.wait_for_service(timeout_sec=timeout):
            raise DemoError(f"service {client.srv_name} is not available: is the node running?")
        return self._result(client.call_async(request), timeout, what)

    def set_params(self, node: str, values: dict, timeout: float = 30.0) -> None:
        """Set parameters of another node through its parameter services."""
        client = self._param_clients.get(node)
        if client is None:
            client = self._param_clients[node] = AsyncParameterClient(self, node)
        if not client.wait_for_services(timeout_sec=timeout):
            raise DemoError(f"node {node} is not running (no parameter services)")
        params = [Parameter(k, value=v) for k, v in values.items()]
        answer = self._result(client.set_parameters(params), timeout, f"setting parameters of {node}")
        refused = [f"{p.name}: {r.reason}" for p, r in zip(params, answer.results) if not r.successful]
        if refused:
            raise DemoError(f"{node} refused its parameters: {'; '.join(refused)}")

    # --- steps --------------------------------------------------------------------------------
    def play(self, images, glob: str = "", angles_file: str = "", rate_hz: float = 2.0,
             subscribers: int = 3, timeout: float = 3600.0) -> None:
        """Publish a folder through the player node and wait until its last frame is out."""
        self.set_params(self.names["player"], {
            "images": str(images), "glob": glob or "", "angles_file": str(angles_file or ""),
            "rate_hz": float(rate_hz), "loop": False, "wait_for_subscribers": int(subscribers)})
        with self._lock:
            done = self._plays_done
        reply = self.call(self.cl_play, Trigger.Request(), "~/play")
        if not reply.success:
            raise DemoError(f"the player cannot play {images}: {reply.message}")
        self.get_logger().info(reply.message)
        self.wait(lambda: self._plays_done > done, timeout, f"the player to finish {images}")

    def record_sweep(self, label: str, dataset_root, images, glob="", angles_file="", rate_hz=1.0) -> SweepStatus:
        """Capture one sweep through ~/start_sweep while the player publishes it."""
        reply = self.call(self.cl_start, StartSweep.Request(label=label, dataset_root=str(dataset_root)),
                          "~/start_sweep")
        if not reply.success:
            raise DemoError(f"the capture node refused the sweep: {reply.message}")
        self.play(images, glob, angles_file, rate_hz)
        # let the segmentation worker finish the last frames (it keeps only the newest one)
        last, since = -1, time.monotonic()
        while self.status is None or self.status.state == "recording":
            seen = self.status.frames_seen if self.status else 0
            if seen != last:
                last, since = seen, time.monotonic()
            elif time.monotonic() - since > 4.0:
                reply = self.call(self.cl_stop, Trigger.Request(), "~/stop_sweep")
                self.get_logger().info(reply.message)
                break
            time.sleep(0.2)
        self.wait(lambda: self.status is not None and self.status.state != "recording", 30.0,
                  "the sweep to finish")
        if self.status.state != "finished":
            raise DemoError(f"the sweep {self.status.state}: {self.status.message}")
        return self.status

    def train(self, datasets: list[str], output_dir, minutes: float, epochs: int = 0,
              on_feedback: Callable | None = None, force: bool = True) -> Train.Result:
        """Send a Train goal and wait for its result, passing feedback on."""
        if not self.train_client.wait_for_server(timeout_sec=30.0):
            raise DemoError(f"the trainer's action {self.names['trainer']}/train is not available")
        goal = Train.Goal(datasets=list(map(str, datasets)), output_dir=str(output_dir),
                          epochs=int(epochs), max_minutes=float(minutes), force=force)
        handle = self._result(self.train_client.send_goal_async(
            goal, feedback_callback=(lambda f: on_feedback(f.feedback)) if on_feedback else None),
            30.0, "the trainer to accept the goal")
        if not handle.accepted:
            raise DemoError("the trainer rejected the goal")
        limit = (minutes or 60) * 60 + 600  # the budget plus loading, evaluation and export
        result = self._result(handle.get_result_async(), limit, "training").result
        if not result.success:
            raise DemoError(f"training failed: {result.message}")
        return result

    def wait_model(self, model_path: str, timeout: float = 120.0) -> ModelInfo:
        """Wait until the detector has hot-reloaded the announced model: keyed on the bundle's
        model_id, since a retrained model may reuse the folder of the one being served."""
        from automask_ros.core.training.bundle import read_bundle_meta

        path = str(Path(model_path).resolve())
        model_id = str(read_bundle_meta(path).get("model_id", ""))
        self.wait(lambda: self.model_info is not None and self.model_info.model_id == model_id and
                  str(Path(self.model_info.model_path).resolve()) == path, timeout,
                  f"the detector to load {model_id} from {path}")
        return self.model_info

    def detect(self, images, glob: str = "", rate_hz: float = 2.0, settle_s: float = 10.0) -> tuple[list, int]:
        """Play a folder to the detector; returns ([(rgb, [Instance])], frames the detector skipped)."""
        self._frames, self._detections, self._collect = {}, {}, True
        try:
            self.play(images, glob, "", rate_hz)
            deadline = time.monotonic() + settle_s  # the worker may still hold the last frame
            while time.monotonic() < deadline and not set(self._frames) <= set(self._detections):
                time.sleep(0.1)
        finally:
            self._collect = False
        out = []
        for key in sorted(self._frames):
            msg = self._detections.get(key)
            if msg is None:
                continue
            rgb = self._frames[key]
            h, w = rgb.shape[:2]
            out.append((rgb, [Instance(i.label, i.class_id, float(i.score),
                                       (i.box.x_offset, i.box.y_offset, i.box.x_offset + i.box.width,
                                        i.box.y_offset + i.box.height), mask_from_instance(i, w, h),
                                       geometry_from_instance(i)) for i in msg.instances]))
        return out, len(self._frames) - len(out)


@dataclass
class Spinner:
    """The nodes of this process, each on its own executor in its own background thread.

    Each node gets the executor its executable spins it on (ros/spin.make_executor: one thread,
    the trainer a few), so the demo measures what a user's nodes do: one shared multi-threaded
    executor busy-loops holding the GIL and starves the capture and detector inference threads.
    """

    executors: list[Executor]
    nodes: list
    threads: list[threading.Thread]

    @classmethod
    def start(cls, nodes: list) -> "Spinner":
        executors, threads = [], []
        for node in nodes:
            executor = make_executor(node)
            executor.add_node(node)
            thread = threading.Thread(target=executor.spin, name=f"spin-{node.get_name()}", daemon=True)
            thread.start()
            executors.append(executor)
            threads.append(thread)
        return cls(executors, nodes, threads)

    def stop(self) -> None:
        for executor in self.executors:
            executor.shutdown(timeout_sec=5.0)
        for node in reversed(self.nodes):
            node.destroy_node()


def feedback_printer(print_fn=print, period_s: float = 5.0) -> Callable:
    """Train feedback -> one line at most every period_s (and at every phase change)."""
    state = {"t": 0.0, "phase": None}

    def show(fb) -> None:
        now = time.monotonic()
        if now - state["t"] < period_s and fb.phase == state["phase"]:
            return
        state["t"], state["phase"] = now, fb.phase
        loss = "" if math.isnan(fb.loss) else f" loss {fb.loss:.3f}"
        eta = "" if math.isnan(fb.eta_s) else f" eta {fb.eta_s:.0f} s"
        print_fn(f"  train: {fb.phase} epoch {fb.epoch}/{fb.epochs}{loss} {100 * fb.progress:.0f}%{eta}",
                 flush=True)

    return show

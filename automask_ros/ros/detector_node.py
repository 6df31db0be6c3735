"""Detector node: camera frames in, instance masks, labels and scores out (plus an RViz overlay).

Inference runs in a worker thread on the newest frame only (a slow model drops frames instead of
lagging). New model bundles load beside the old one and swap in when ready (core/detection/hot_swap.py).
Optional depth + camera_info (paired by stamp, ros/depth_input.py) give each instance its 3D
position and size, and the 3D and vision_msgs outputs of ros/detection_outputs.py.

A managed (lifecycle) node: configure loads the model, activate subscribes to the camera and
publishes, deactivate drops frames and parks the model in host memory (no GPU memory held),
cleanup unloads it. A model asked for while not active (ModelInfo, model_path, device) is
remembered and loaded at the next configure or activate. `autostart` (default) configures and
activates at start-up, with the model loading in the background as before (ros/lifecycle.py).
"""

from __future__ import annotations

import threading
import time

from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.lifecycle import LifecycleNode
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from automask.msg import InstanceArray, ModelInfo
from automask_ros.core.detection.hot_swap import HotSwapSlot
from automask_ros.core.shared.latest import LatestWorker
from automask_ros.core.shared.stats import RollingStats
from automask_ros.core.shared.throttle import KeyedThrottle, rate_period, reason_kind
from automask_ros.ros.camera_input import TRANSPORT_PARAM, frame_to_rgb, subscribe_camera
from automask_ros.ros.depth_input import DepthInput
from automask_ros.ros.detection_outputs import DetectionOutputs
from automask_ros.ros.diagnostics import diagnostic_array
from automask_ros.ros.image_conversion import rgb_to_imgmsg
from automask_ros.ros.instance_msgs import to_instance_array
from automask_ros.ros.lifecycle import AUTOSTART, FAILED, bring_up, state_label
from automask_ros.ros.params import DEVICE_CHOICES, Param, declare, values
from automask_ros.ros.spin import spin_node

PARAMS = [
    Param("model_path", "", "model bundle folder; empty = wait for a ModelInfo on model_topic"),
    Param("model_topic", "/automask/model", "ModelInfo topic (transient-local) that triggers a hot reload",
          read_only=True),
    Param("device", "auto", "auto (CUDA when present), cpu, cuda or cuda:N", choices=DEVICE_CHOICES),
    Param("score_threshold", 0.5, "drop instances scoring below this", 0.0, 1.0),
    Param("mask_threshold", 0.5, "mask probability threshold", 0.0, 1.0),
    Param("max_instances", 20, "keep at most this many instances per frame", 1, 1000),
    Param("classes", [], "only these labels (empty = all)", string_list=True),
    Param("max_rate_hz", 0.0, "process at most this many frames per second (0 = unlimited)", 0.0, 1000.0),
    Param("stats_period_s", 2.0, "period of the /diagnostics report", 0.1, 3600.0),
    Param("sync_tolerance_s", 0.05, "a colour frame pairs with the depth frame nearest in stamp within this",
          0.0, 10.0),
    TRANSPORT_PARAM,
    AUTOSTART,
]
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
DETECTOR_OPTIONS = ("score_threshold", "mask_threshold", "max_instances", "classes")


class DetectorNode(LifecycleNode):
    def __init__(self, **kwargs):
        super().__init__("detector_node", **kwargs)
        declare(self, PARAMS)
        self.p = values(self, PARAMS)
        self.active = False  # frames are processed, and the model is on its device, only while active
        self.residency = threading.Lock()  # `active` and where the model lives change together
        self.background_load = False  # autostart: configure loads in the background, as before
        self.pending = self.p["model_path"] or None  # asked for while not active: loaded on configure/activate
        self.inputs = []  # camera, depth and camera_info subscriptions: only while active
        self.stats = RollingStats()  # image receipt -> InstanceArray published
        self.forward = RollingStats()  # model() alone on the same frames
        self.overhead = RollingStats()  # per frame: receipt -> publish over model(); issue 5 target <= 1.10
        self.frame_gate = KeyedThrottle(rate_period(self.p["max_rate_hz"]))  # max_rate_hz on receipt times
        self.pub_instances = self.create_lifecycle_publisher(InstanceArray, "~/instances", 10)
        self.pub_overlay = self.create_lifecycle_publisher(Image, "~/overlay", qos_profile_sensor_data)
        self.pub_model = self.create_publisher(ModelInfo, "~/model_info", LATCHED)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.model = HotSwapSlot(self._load, self._on_loaded, self._on_load_failed)
        self.worker = LatestWorker(self._process, "detector-inference", self._on_frame_error)
        self.create_subscription(ModelInfo, self.p["model_topic"], self._on_model_info, LATCHED)
        self.depth = DepthInput(self.p["sync_tolerance_s"])
        self.depth_problems = KeyedThrottle(10.0)
        self.outputs = DetectionOutputs(self, LATCHED, self.create_lifecycle_publisher)
        self.add_post_set_parameters_callback(self._on_params_set)
        self.add_on_set_parameters_callback(self._check_params)
        self.diag_timer = self.create_timer(self.p["stats_period_s"], self._publish_diagnostics)
        if self.p["autostart"]:
            self.background_load = True
            bring_up(self)
        else:
            self.get_logger().info("autostart is false: unconfigured until ros2 lifecycle set "
                                   f"{self.get_fully_qualified_name()} configure")

    # --- lifecycle --------------------------------------------------------------------------
    def on_configure(self, state):
        """Loads the model before answering (a bad one fails the transition, the reason logged);
        under autostart it loads in the background as before, a bad one logged and replaceable."""
        self.p = values(self, PARAMS)
        path, self.pending = self.pending, None
        if not path:
            self.get_logger().info(f"no model_path: waiting for a model on {self.p['model_topic']}")
        elif self.background_load:  # autostart, once
            self.background_load = False
            self.model.request(path)
        else:
            try:
                self.model.load_now(path)
            except Exception as exc:
                self.pending = path  # configure again once the bundle is fixed, or ask for another
                self.get_logger().error(f"configure failed: cannot load model {path}: {exc} (fix the "
                                        "bundle or set model_path, then configure again)")
                return FAILED
        return super().on_configure(state)

    def on_activate(self, state):
        result = super().on_activate(state)  # enables the lifecycle publishers
        self._set_active(True)
        path, self.pending = self.pending, None
        if path:
            self.model.request(path)  # asked for while inactive: hot reload, the current one serves meanwhile
        self.inputs = [subscribe_camera(self, self.p["image_transport"], self._on_image),
                       *self.depth.subscribe(self)]
        return result

    def on_deactivate(self, state):
        self._stop_frames()  # and park the model: no GPU memory held while inactive
        return super().on_deactivate(state)

    def on_cleanup(self, state):
        key = self.model.current_key
        detector = self.model.unload()  # parked already: inactive
        if detector is not None:
            self.pending = self.pending or key  # the next configure loads it again
            self.get_logger().info(f"model {detector.model_id} unloaded")
        return super().on_cleanup(state)

    def on_shutdown(self, state):
        self._stop_frames()
        self.worker.stop()
        self.model.unload()
        return super().on_shutdown(state)

    def _set_active(self, active: bool) -> None:
        with self.residency:
            self.active = active
            self._place(self.model.current)

    def _place(self, detector) -> None:
        """The model on its device while active, in host memory otherwise (caller holds residency)."""
        if detector is not None:
            detector.to_device() if self.active else detector.to_host()

    def _stop_frames(self) -> None:
        """Unsubscribe, let the frame in hand finish (queued ones are dropped), park the model."""
        for sub in self.inputs:
            self.destroy_subscription(sub)
        self.inputs = []
        self.active = False
        self.worker.wait_idle(60.0)
        self._set_active(False)

    def _want(self, path: str) -> None:
        """Load `path` now (active: hot reload) or remember it for the next configure/activate."""
        if self.active:
            self.model.request(path)
        else:
            self.pending = path
            self.get_logger().info(f"model {path} will load at the next configure/activate "
                                   f"(the node is {state_label(self)})")

    # --- models -----------------------------------------------------------------------------
    def _load(self, path: str):
        from automask_ros.core.detection.infer import Detector  # torch import is slow: only when needed

        return Detector(path, device=self.p["device"],
                        **{k: (self.p[k] or None) if k == "classes" else self.p[k] for k in DETECTOR_OPTIONS})

    def _on_loaded(self, path: str, detector) -> None:
        with self.residency:
            self._place(detector)
        self.get_logger().info(f"model {detector.model_id} loaded from {path} ({', '.join(detector.labels)})")
        meta = getattr(detector, "meta", {}) or {}
        metrics = meta.get("metrics", {}) or {}
        self.pub_model.publish(ModelInfo(
            model_path=str(path), model_id=detector.model_id, labels=list(detector.labels),
            arch=str(meta.get("arch", "")), mask_ap=float(metrics.get("segm_AP", float("nan"))),
            mask_ap50=float(metrics.get("segm_AP50", float("nan")))))
        self.outputs.announce_labels(Header(stamp=self.get_clock().now().to_msg()), detector.labels,
                                     detector.score_threshold)

    def _on_load_failed(self, path: str, exc: BaseException) -> None:
        kept = f"still serving {self.model.current_key}" if self.model.current else "no model loaded"
        self.get_logger().error(f"cannot load model {path}: {exc} ({kept})")

    def _on_model_info(self, msg: ModelInfo) -> None:
        """Keyed on the model id too: retraining into the same folder announces the same path."""
        current = self.model.current
        same = (msg.model_path == self.model.current_key and current is not None
                and (not msg.model_id or msg.model_id == current.model_id))
        if msg.model_path and not same:
            self.get_logger().info(f"new model announced: {msg.model_id or '?'} in {msg.model_path}")
            self._want(msg.model_path)

    # --- parameters -------------------------------------------------------------------------
    def _check_params(self, params) -> SetParametersResult:
        for param in params:
            detector = self.model.current
            if param.name == "classes" and detector is not None:
                try:  # refused here, before it is set, so a bad value never reaches the model
                    detector.class_ids(list(param.value or []))
                except ValueError as exc:
                    return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    def _on_params_set(self, params) -> None:
        self.p = values(self, PARAMS)
        names = {p.name for p in params}
        detector = self.model.current
        if detector is not None:
            for name in names & set(DETECTOR_OPTIONS):
                setattr(detector, name, (self.p[name] or None) if name == "classes" else self.p[name])
        self.depth.tolerance_s = self.p["sync_tolerance_s"]
        self.frame_gate.period_s = rate_period(self.p["max_rate_hz"])
        if "model_path" in names and self.p["model_path"]:
            self._want(self.p["model_path"])
        elif "device" in names and (self.model.current_key or self.pending):
            self._want(self.pending or self.model.current_key)
        if "stats_period_s" in names:
            self.diag_timer.cancel()
            self.destroy_timer(self.diag_timer)
            self.diag_timer = self.create_timer(self.p["stats_period_s"], self._publish_diagnostics)

    # --- frames -----------------------------------------------------------------------------
    def _on_image(self, msg: Image, info) -> None:
        # receipt = when the middleware took the frame in, so deserialization and waiting count too
        received_ns = info.get("received_timestamp") or time.time_ns()
        self.worker.submit((received_ns, msg))

    def _on_frame_error(self, exc: BaseException) -> None:
        self.get_logger().warning(f"frame skipped: {exc}", throttle_duration_sec=10.0)

    def _process(self, item) -> None:
        received_ns, msg = item
        if not self.active:  # queued before a deactivate: dropped
            return
        if not self.frame_gate.due("frame", now=received_ns * 1e-9):
            return
        detector = self.model.current
        if detector is None:
            self.get_logger().warning("no model loaded yet: frames are not processed",
                                      throttle_duration_sec=10.0)
            return
        rgb = frame_to_rgb(msg)
        depth, depth_header = self._paired_depth(msg.header, rgb.shape[:2])
        instances = detector.detect(rgb, depth)
        self.pub_instances.publish(to_instance_array(instances, msg.header, detector.model_id,
                                                     (rgb.shape[1], rgb.shape[0])))
        latency = (time.time_ns() - received_ns) * 1e-9
        self.stats.add(latency)
        self.forward.add(detector.last_model_s)
        self.overhead.add(latency / detector.last_model_s)
        if self.pub_overlay.get_subscription_count() > 0:
            from automask_ros.core.detection.overlay import draw_overlay

            self.pub_overlay.publish(rgb_to_imgmsg(draw_overlay(rgb, instances), msg.header))
        self.outputs.publish(instances, msg.header, depth_header, (rgb.shape[1], rgb.shape[0]))
        no_3d = [i for i in instances if i.geometry is not None and not i.geometry.has_3d]
        if no_3d:
            self.get_logger().warning(f"{len(no_3d)} instance(s) published without 3D, e.g. '{no_3d[0].label}': "
                                      f"{no_3d[0].geometry.reason}", throttle_duration_sec=10.0)

    def _paired_depth(self, header, shape):
        """The depth frame for this colour frame, or (None, None) with the reason logged: 2D goes on."""
        depth, depth_header, problem = self.depth.frame_for(header, shape)
        if problem and self.depth_problems.due(reason_kind(problem)):
            self.get_logger().error(f"no 3D for this frame: {problem}")
        return depth, depth_header

    def _publish_diagnostics(self) -> None:
        s, f, w = self.stats.summary(), self.forward.summary(), self.worker.stats
        figures = {"rate_hz": s["rate_hz"], "latency_p50_ms": s["latency_p50_ms"],
                   "latency_p99_ms": s["latency_p99_ms"], "model_forward_p50_ms": f["latency_p50_ms"],
                   "overhead_ratio_p50": self.overhead.median(), "frames_timed": s["count"],
                   "frames_received": w.submitted, "frames_processed": w.processed,
                   "frames_dropped": w.dropped, "drop_rate": w.drop_rate, "errors": w.errors}
        self.pub_diag.publish(diagnostic_array(
            "automask/detector_node", self.get_fully_qualified_name(), self.model.current is not None,
            f"{state_label(self)}, model {self.model.current_key or 'none'}", figures,
            self.get_clock().now().to_msg()))

    def destroy_node(self):
        self.worker.stop()
        return super().destroy_node()


def main(args=None) -> int:
    return spin_node(DetectorNode, args)

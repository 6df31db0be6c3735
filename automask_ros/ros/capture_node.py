"""Capture node: records turntable sweeps from a camera topic into COCO mask datasets.

~/start_sweep (StartSweep) and ~/stop_sweep (Trigger) control it; ~/record_workspace (Trigger)
stores the newest frame, taken with the object off the turntable, as a training background
(core/capture/workspace.py); ~/status (SweepStatus) reports
at status_rate_hz; ~/mask_preview shows the cleaned mask (only when someone subscribes), while
idle too, so a user can aim the camera. The turntable angle comes from a stamped JointState or a
Float64 in degrees (core/capture/turntable_angle.py). Optional `depth` (aligned, 16UC1 mm or 32FC1 m) and
`camera_info` give each frame its depth (core/shared/rgbd_input.py): a frame without usable depth is
recorded colour-only and the reason is logged once per period; a camera that sends no depth works
colour-only as before.
Segmentation runs in a worker thread on the newest frame, so a slow FCN drops frames instead of
queueing them or blocking a service call (ros/sweep_session.py). The recording itself is
core/capture/sweep.py; every capture parameter is declared once in core/capture/capture_params.py.
"""

from __future__ import annotations

import dataclasses
import threading
import time

from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64
from std_srvs.srv import Trigger

from automask.msg import SweepStatus
from automask.srv import StartSweep
from automask_ros.core.shared.camera import load_intrinsics
from automask_ros.core.capture.dataset import DatasetError, SweepWriter
from automask_ros.core.shared.latest import LatestWorker
from automask_ros.core.detection.overlay import draw_mask_preview
from automask_ros.core.shared.rgbd_input import RgbdInput
from automask_ros.core.capture.capture_params import CaptureParams
from automask_ros.core.capture.segment import make_segmenter
from automask_ros.core.capture.sweep import SweepRecorder, preview_mask
from automask_ros.core.shared.throttle import KeyedThrottle, reason_kind
from automask_ros.core.capture.turntable_angle import TurntableAngle
from automask_ros.core.capture.workspace import save_workspace_frame
from automask_ros.ros.camera_input import TRANSPORT_PARAM, frame_to_rgb, subscribe_camera
from automask_ros.ros.image_conversion import imgmsg_to_depth_m, rgb_to_imgmsg
from automask_ros.ros.params import Param, declare, values
from automask_ros.ros.spin import spin_node
from automask_ros.ros.sweep_session import SweepSession

CAPTURE_PARAMS = [
    Param(f.name, f.default if f.default is not dataclasses.MISSING else f.default_factory(),
          f.metadata["doc"], f.metadata["min"], f.metadata["max"], string_list=f.name == "torchvision_classes")
    for f in CaptureParams.flat_fields()
]
NODE_PARAMS = [
    Param("status_rate_hz", 2.0, "SweepStatus publishing rate while a node runs", 0.1, 100.0),
    Param("camera_timeout_s", 5.0, "fail the sweep when no frame arrives for this long", 0.5, 3600.0),
    Param("angle_max_age_s", 1.0, "ignore turntable_angle (Float64) readings older than this", 0.01, 60.0),
    Param("turntable_joint", "", "joint of turntable_joint_states that is the turntable (empty = its "
          "first joint)"),
    Param("angle_tolerance_s", 0.1, "a frame takes the turntable_joint_states reading nearest its stamp "
          "within this many seconds", 0.001, 10.0),
    TRANSPORT_PARAM,
    Param("sync_tolerance_s", 0.05, "pair a colour frame with the depth frame nearest in stamp, at most "
          "this far apart (read at each start_sweep)", 0.0, 1.0),
    Param("intrinsics_file", "", "camera intrinsics file (JSON/YAML fx, fy, cx, cy or camera_info YAML) "
          "for depth when there is no camera_info topic; wins over camera_info (read at each start_sweep)"),
]
PARAMS = CAPTURE_PARAMS + NODE_PARAMS
CAPTURE_FIELDS = {p.name for p in CAPTURE_PARAMS}


class CaptureNode(Node):
    def __init__(self, **kwargs):
        super().__init__("capture_node", **kwargs)
        declare(self, PARAMS)
        self.p = values(self, PARAMS)
        CaptureParams.from_dict(self._capture_params())  # refuse bad YAML at start-up, not mid-sweep
        self.recorder: SweepSession | None = None
        self.label = ""
        self._lock = threading.Lock()
        self._last_frame = 0.0
        self._newest_image: Image | None = None  # for ~/record_workspace
        self.angles = TurntableAngle(self.p["turntable_joint"], self.p["angle_tolerance_s"],
                                     self.p["angle_max_age_s"])
        self._preview: tuple[dict, object] | None = None  # (params, segmenter) for the idle preview
        self.pub_status = self.create_publisher(SweepStatus, "~/status", 10)
        self.pub_preview = self.create_publisher(Image, "~/mask_preview", qos_profile_sensor_data)
        self.worker = LatestWorker(self._process, "capture-segmentation", self._on_worker_error)
        self.rgbd = RgbdInput(self.p["sync_tolerance_s"], decode=imgmsg_to_depth_m)
        self._depth_problems = KeyedThrottle(10.0)
        subscribe_camera(self, self.p["image_transport"], self._on_image)
        depth_sub = self.create_subscription(Image, "depth", self._on_depth, QoSProfile(
            depth=2, reliability=qos_profile_sensor_data.reliability))
        info_sub = self.create_subscription(CameraInfo, "camera_info", self._on_camera_info, QoSProfile(
            depth=1, reliability=qos_profile_sensor_data.reliability))
        self.rgbd.sources = (depth_sub.topic_name, info_sub.topic_name)  # resolved names for the reasons
        self.create_subscription(Float64, "turntable_angle", self._on_angle, 10)
        self.create_subscription(JointState, "turntable_joint_states", self._on_joint_state, 10)
        self.create_service(StartSweep, "~/start_sweep", self._start)
        self.create_service(Trigger, "~/stop_sweep", self._stop)
        self.create_service(Trigger, "~/record_workspace", self._record_workspace)
        self.add_on_set_parameters_callback(self._check_params)
        self.add_post_set_parameters_callback(self._on_params_set)
        self.status_timer = self.create_timer(1.0 / self.p["status_rate_hz"], self._publish_status)
        self.get_logger().info("ready: call ~/start_sweep with a label to record a sweep")

    def _capture_params(self) -> dict:
        return {p.name: self.p[p.name] for p in CAPTURE_PARAMS}

    # --- parameters -------------------------------------------------------------------------
    def _check_params(self, params) -> SetParametersResult:
        """Refuse a change the next sweep would fail on (ranges alone are checked by rclpy)."""
        changed = {p.name: p.value for p in params if p.name in self.p}
        try:
            CaptureParams.from_dict({**self._capture_params(), **{k: v for k, v in changed.items()
                                                                  if k in CAPTURE_FIELDS}})
        except ValueError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    def _on_params_set(self, params) -> None:
        self.p = values(self, PARAMS)
        names = {p.name for p in params}
        self.angles.joint, self.angles.max_age_s = self.p["turntable_joint"], self.p["angle_max_age_s"]
        self.angles.set_tolerance(self.p["angle_tolerance_s"])
        if "status_rate_hz" in names:
            self.status_timer.cancel()
            self.destroy_timer(self.status_timer)
            self.status_timer = self.create_timer(1.0 / self.p["status_rate_hz"], self._publish_status)

    # --- services ---------------------------------------------------------------------------
    def _start(self, request, response):
        with self._lock:
            if self.recorder is not None and self.recorder.state == "recording":
                response.success = False
                response.message = (f"a sweep of {self.label!r} is already recording: "
                                    "call ~/stop_sweep first")
                return response
            try:
                params = CaptureParams.from_dict(self._capture_params())
                intrinsics = load_intrinsics(self.p["intrinsics_file"]) if self.p["intrinsics_file"] else None
                self.rgbd.configure(self.p["sync_tolerance_s"], intrinsics)
                root = request.dataset_root or params.dataset_root
                writer = SweepWriter(root, request.label, params=params.to_dict())
                segmenter = make_segmenter(params.segmenter, **params.segmenter_kwargs())
                self.recorder = SweepSession(SweepRecorder(writer, segmenter, params))
            except (DatasetError, ValueError, FileNotFoundError, OSError) as exc:
                response.success, response.message = False, str(exc)
                self.get_logger().error(f"start_sweep refused: {exc}")
                return response
            self.label = writer.label
            self._last_frame = time.monotonic()
            response.success, response.sweep_path = True, str(writer.path)
            response.message = f"recording {writer.label} into {writer.path}"
            self.get_logger().info(response.message)
        self._publish_status()
        return response

    def _stop(self, request, response):
        with self._lock:
            recorder = self.recorder
            if recorder is None or recorder.state != "recording":
                response.success, response.message = False, "no sweep is recording: nothing to stop"
                return response
            status = recorder.finish("finished", "stopped by ~/stop_sweep")
        response.success = True
        response.message = f"stopped: {status['kept']} frames kept in {status['path']}"
        self.get_logger().info(response.message)
        self._publish_status()
        return response

    def _record_workspace(self, request, response):
        """Save the newest colour frame under <dataset_root>/workspace/ (one PNG: answers at once)."""
        msg = self._newest_image
        recorder = self.recorder
        if recorder is not None and recorder.state == "recording":
            response.success = False
            response.message = ("a sweep is recording, so the object is in view: stop the sweep and take the "
                                "object off the turntable, then record the workspace")
        elif msg is None:
            response.success = False
            response.message = "no colour frame received yet: check that the camera publishes on the image topic"
        else:
            try:
                path = save_workspace_frame(self.p["dataset_root"], frame_to_rgb(msg))
                response.success, response.message = True, str(path)
                self.get_logger().info(f"workspace frame saved: {path}")
            except (OSError, ValueError) as exc:
                response.success, response.message = False, str(exc)
        if not response.success:
            self.get_logger().warning(f"record_workspace refused: {response.message}")
        return response

    # --- frames -----------------------------------------------------------------------------
    def _on_angle(self, msg: Float64) -> None:
        self.angles.add_degrees(float(msg.data), time.monotonic())

    def _on_joint_state(self, msg: JointState) -> None:
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        if not self.angles.add_joint_state(stamp, list(msg.name), list(msg.position)):
            self.get_logger().warning(
                f"turntable_joint_states has no position for joint {self.p['turntable_joint'] or '(first)'} "
                f"(joints: {', '.join(msg.name) or 'none'}): set turntable_joint", throttle_duration_sec=10.0)

    def _on_depth(self, msg: Image) -> None:
        self.rgbd.add_depth(msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9, msg)  # decoded if paired

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self.rgbd.set_camera_info(msg.k, msg.width, msg.height)

    def _on_image(self, msg: Image) -> None:
        self._last_frame = time.monotonic()
        self._newest_image = msg
        recorder = self.recorder
        if recorder is not None and recorder.state == "recording":
            self.worker.submit(msg)
        elif self.pub_preview.get_subscription_count() > 0:
            self.worker.submit(msg)  # preview only: shows what the segmenter would see

    def _on_worker_error(self, exc: BaseException) -> None:
        recorder = self.recorder
        if isinstance(exc, DatasetError) and recorder is not None and recorder.state == "recording":
            self.get_logger().error(f"sweep failed: {exc}")
            recorder.finish("failed", str(exc))
            self._publish_status()
        else:
            self.get_logger().warning(f"frame skipped: {exc}", throttle_duration_sec=10.0)

    def _process(self, msg) -> None:
        rgb = frame_to_rgb(msg)
        recorder = self.recorder
        if recorder is None or recorder.state != "recording":
            self._idle_preview(rgb, msg.header)
            return
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9 or None
        angle = self.angles.for_frame(stamp, time.monotonic())
        depth, problem = self.rgbd.depth_for(rgb.shape[:2], stamp, wait_s=self.rgbd.pairer.tolerance_s)
        if problem and self._depth_problems.due(reason_kind(problem)):
            self.get_logger().warning(f"frame recorded without depth: {problem}")
        result = recorder.feed(rgb, stamp=stamp, angle_deg=angle, source=stamp, depth=depth)
        if recorder.done and recorder.state == "recording":
            status = recorder.finish("finished", recorder.message or "one revolution recorded")
            self.get_logger().info(f"sweep finished: {status['kept']} kept, {status['rejected']} rejected, "
                                   f"{status['path']}")
            self._publish_status()
        if result.mask is not None and self.pub_preview.get_subscription_count() > 0:
            preview = draw_mask_preview(rgb, result.mask, f"{result.status} {result.reason}".strip())
            self.pub_preview.publish(rgb_to_imgmsg(preview, msg.header))

    def _idle_preview(self, rgb, header) -> None:
        """What the next sweep's segmenter sees (worker thread; only while someone watches)."""
        if self.pub_preview.get_subscription_count() == 0:
            return
        raw = self._capture_params()
        params = CaptureParams.from_dict(raw)
        if self._preview is None or self._preview[0] != raw:
            self._preview = (raw, make_segmenter(params.segmenter, **params.segmenter_kwargs()))
        mask, area = preview_mask(self._preview[1], rgb, params)
        text = f"idle preview: object {area:.1%} of the frame; call ~/start_sweep to record"
        self.pub_preview.publish(rgb_to_imgmsg(draw_mask_preview(rgb, mask, text), header))

    # --- status -----------------------------------------------------------------------------
    def _publish_status(self) -> None:
        recorder = self.recorder
        if recorder is not None and recorder.state == "recording" and \
                time.monotonic() - self._last_frame > self.p["camera_timeout_s"]:
            message = (f"camera stopped publishing: no frame for {self.p['camera_timeout_s']:.1f} s; "
                       "check the image topic, then start a new sweep")
            self.get_logger().error(message)
            recorder.finish("failed", message)
        msg = SweepStatus(label=self.label, state="idle")
        msg.header.stamp = self.get_clock().now().to_msg()
        if recorder is not None:
            s = recorder.status()
            msg.state, msg.sweep_path, msg.message = s["state"], s["path"], s["message"]
            msg.frames_seen, msg.frames_kept = s["seen"], s["kept"]
            msg.frames_rejected, msg.frames_negative = s["rejected"], s["negatives"]
            msg.coverage_deg = float(s["coverage_deg"])
        self.pub_status.publish(msg)

    def destroy_node(self):
        self.worker.stop()
        recorder = self.recorder
        if recorder is not None and recorder.state == "recording":
            recorder.finish("failed", "capture node shut down mid-sweep")
        return super().destroy_node()


def main(args=None) -> int:
    return spin_node(CaptureNode, args)

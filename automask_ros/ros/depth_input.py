"""The detector's optional depth: depth Images and CameraInfo in, a DepthFrame for a colour frame out.

Depth is optional: until a depth frame has arrived the detector is 2D only and says nothing.
Once depth flows, each colour frame takes the depth frame nearest in stamp within the tolerance
(core/shared/pairing.py); when that fails, `frame_for` raises one DepthError naming the problem (never
pairs, no camera_info, another size, bad encoding; `kind` tells them apart for once-per-period
logging) and the node publishes 2D without 3D.
Subscription callbacks only store messages; decoding runs in the detector's worker thread.
"""

from __future__ import annotations

from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image

from automask_ros.core.shared.camera import Intrinsics, IntrinsicsError
from automask_ros.core.shared.depth import DepthError, DepthFrame, check_depth, decode_depth
from automask_ros.core.shared.pairing import StampPairer
from automask_ros.ros.image_conversion import ImageCodecError, imgmsg_to_numpy


class DepthUnavailable(DepthError):
    """Depth flows but this colour frame gets no 3D; kind: 'unpaired', 'no_camera_info' or 'bad_depth'."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def stamp_s(header) -> float:
    return header.stamp.sec + header.stamp.nanosec * 1e-9


class DepthInput:
    def __init__(self, tolerance_s: float, depth_topic: str = "depth", info_topic: str = "camera_info"):
        self.pairer = StampPairer(tolerance_s)
        self.topics = (depth_topic, info_topic)
        self._info = None
        self._seen = False

    @property
    def tolerance_s(self) -> float:
        return self.pairer.tolerance_s

    @tolerance_s.setter
    def tolerance_s(self, value: float) -> None:
        self.pairer.tolerance_s = float(value)

    def subscribe(self, node) -> list:
        """Subscribe `node` to depth and camera_info; returns the subscriptions (a managed node
        holds them only while active)."""
        subs = [node.create_subscription(Image, "depth", self.add_depth, qos_profile_sensor_data),
                node.create_subscription(CameraInfo, "camera_info", self.set_camera_info, qos_profile_sensor_data)]
        self.topics = tuple(sub.topic_name for sub in subs)  # resolved (remapped) names for the errors
        return subs

    def add_depth(self, msg) -> None:
        self.pairer.add(stamp_s(msg.header), msg)
        self._seen = True

    def set_camera_info(self, msg) -> None:
        self._info = msg

    @property
    def active(self) -> bool:
        """Depth has arrived at least once (so a frame without it is an error worth reporting)."""
        return self._seen

    def frame_for(self, header, shape: tuple[int, int]):
        """(DepthFrame, depth header) for the colour frame with `header` and (H, W) `shape`;
        (None, None) while no depth has arrived; DepthUnavailable when depth is there but unusable."""
        if not self.active:
            return None, None
        stamp = stamp_s(header)
        msg = self.pairer.match(stamp)
        if msg is None:
            raise DepthUnavailable("unpaired", f"no depth frame on '{self.topics[0]}' within sync_tolerance_s="
                                   f"{self.tolerance_s:g} s of the colour frame (nearest is "
                                   f"{self.pairer.nearest_gap(stamp):.3f} s away): publish depth with the "
                                   "colour frame's stamps or raise sync_tolerance_s")
        if self._info is None:
            raise DepthUnavailable("no_camera_info", f"depth arrives but no camera_info on '{self.topics[1]}': "
                                   "remap camera_info to the depth camera's CameraInfo topic (3D needs its "
                                   "intrinsics)")
        try:
            depth_m = decode_depth(imgmsg_to_numpy(msg), msg.encoding)
            check_depth(depth_m, shape)
            intr = Intrinsics.from_k(self._info.k, self._info.width, self._info.height)
            intr.check_size(*depth_m.shape)
        except (ImageCodecError, IntrinsicsError, DepthError) as exc:
            raise DepthUnavailable("bad_depth", f"depth unusable: {exc}") from None
        return DepthFrame(depth_m, intr), msg.header

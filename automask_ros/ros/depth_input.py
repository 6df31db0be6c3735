"""The detector's optional depth: the ROS side of core/shared/rgbd_input.RgbdInput.

Depth is optional: until a depth frame has arrived the detector is 2D only and says nothing.
Once depth flows, each colour frame takes the depth frame nearest in stamp within the tolerance;
when that fails, `frame_for` gives the one-line reason (the same policy and wording as the
capture node) and the node publishes 2D without 3D. Subscription callbacks only store
messages; decoding runs in the detector's worker thread.
"""

from __future__ import annotations

from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image

from automask_ros.core.shared.rgbd_input import RgbdInput
from automask_ros.ros.image_conversion import imgmsg_to_depth_m


def stamp_s(header) -> float:
    return header.stamp.sec + header.stamp.nanosec * 1e-9


class DepthInput:
    def __init__(self, tolerance_s: float, depth_topic: str = "depth", info_topic: str = "camera_info"):
        self.rgbd = RgbdInput(tolerance_s, decode=imgmsg_to_depth_m, sources=(depth_topic, info_topic))

    @property
    def tolerance_s(self) -> float:
        return self.rgbd.pairer.tolerance_s

    @tolerance_s.setter
    def tolerance_s(self, value: float) -> None:
        self.rgbd.pairer.tolerance_s = float(value)

    def subscribe(self, node) -> list:
        """Subscribe `node` to depth and camera_info; returns the subscriptions (a managed node
        holds them only while active)."""
        subs = [node.create_subscription(Image, "depth", self.add_depth, qos_profile_sensor_data),
                node.create_subscription(CameraInfo, "camera_info", self.set_camera_info, qos_profile_sensor_data)]
        self.rgbd.sources = tuple(sub.topic_name for sub in subs)  # resolved (remapped) names for the reasons
        return subs

    def add_depth(self, msg) -> None:
        self.rgbd.add_depth(stamp_s(msg.header), msg)

    def set_camera_info(self, msg) -> None:
        self.rgbd.set_camera_info(msg.k, msg.width, msg.height)

    def frame_for(self, header, shape: tuple[int, int]):
        """(DepthFrame, depth header, "") for the colour frame with `header` and (H, W) `shape`;
        (None, None, "") while no depth has arrived; (None, None, reason) when depth is there but
        this frame gets none."""
        paired = self.rgbd.pair(shape, stamp_s(header))
        if paired.frame is None:
            return None, None, paired.reason
        return paired.frame, paired.item.header, ""

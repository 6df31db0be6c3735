"""core/camera.Intrinsics -> sensor_msgs/CameraInfo, as an RGB-D driver publishes it for
rectified, aligned images: K and P from the intrinsics, no distortion (plumb_bob, all zero)."""

from __future__ import annotations

from sensor_msgs.msg import CameraInfo

from automask_ros.core.shared.camera import Intrinsics


def camera_info_msg(intr: Intrinsics, header=None) -> CameraInfo:
    msg = CameraInfo(width=int(intr.width), height=int(intr.height), distortion_model="plumb_bob")
    msg.d = [0.0] * 5
    msg.k = [intr.fx, 0.0, intr.cx, 0.0, intr.fy, intr.cy, 0.0, 0.0, 1.0]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [intr.fx, 0.0, intr.cx, 0.0, 0.0, intr.fy, intr.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    if header is not None:
        msg.header = header
    return msg

"""The detector's depth input without DDS: pairing by stamp, 16UC1/32FC1 decoding, and one reason
per problem, in the capture node's wording (core/shared/rgbd_input.py); kinds kept apart so each
is logged once per period."""

import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header

from automask_ros.core.shared.throttle import KeyedThrottle, rate_period, reason_kind
from automask_ros.ros.depth_input import DepthInput
from automask_ros.ros.image_conversion import numpy_to_imgmsg

pytestmark = pytest.mark.ros


def header(t: float) -> Header:
    h = Header(frame_id="depth_optical")
    h.stamp.sec, h.stamp.nanosec = int(t), int(round(t % 1 * 1e9))
    return h


def depth_msg(t: float, array: np.ndarray, encoding: str):
    msg = numpy_to_imgmsg(array, encoding)
    msg.header = header(t)
    return msg


def info(width=4, height=3) -> CameraInfo:
    return CameraInfo(width=width, height=height, k=[50.0, 0, 2, 0, 50.0, 1.5, 0, 0, 1])


def test_pairs_by_stamp_and_decodes_millimetres():
    inp = DepthInput(0.02, "/cam/depth", "/cam/info")
    assert inp.frame_for(header(10.0), (3, 4)) == (None, None, "")  # no depth yet: 2D only, no reason
    inp.add_depth(depth_msg(10.0, np.full((3, 4), 1500, np.uint16), "16UC1"))
    inp.add_depth(depth_msg(10.1, np.full((3, 4), 900, np.uint16), "16UC1"))
    frame, depth_header, reason = inp.frame_for(header(10.0), (3, 4))
    assert frame is None and depth_header is None
    assert "no intrinsics yet: publish the depth camera's CameraInfo on '/cam/info'" in reason
    inp.set_camera_info(info())
    frame, depth_header, reason = inp.frame_for(header(10.11), (3, 4))
    assert np.allclose(frame.depth_m, 0.9) and frame.intrinsics.fx == 50.0 and depth_header.stamp.nanosec > 0
    assert reason == ""
    reason = inp.frame_for(header(10.15), (3, 4))[2]
    assert reason.startswith("no depth frame on '/cam/depth' within sync_tolerance_s=0.02 s ")
    assert "(nearest 0.050 s away)" in reason
    assert reason_kind(reason) == reason_kind(inp.frame_for(header(10.17), (3, 4))[2])  # one kind: logged once
    inp.tolerance_s = 0.06
    assert inp.frame_for(header(10.15), (3, 4))[0] is not None


def test_other_size_bad_encoding_and_uncalibrated_camera_are_one_line_each():
    inp = DepthInput(0.05)
    inp.set_camera_info(info())
    inp.add_depth(depth_msg(1.0, np.ones((3, 4), np.float32), "32FC1"))
    reasons = [inp.frame_for(header(1.0), (6, 8))[2]]
    assert "depth is 4x3 but colour is 8x6" in reasons[0]
    inp.add_depth(depth_msg(2.0, np.ones((3, 4, 3), np.uint8), "rgb8"))
    reasons.append(inp.frame_for(header(2.0), (3, 4))[2])
    assert "unsupported depth encoding 'rgb8'" in reasons[1]
    uncalibrated = DepthInput(0.05)
    uncalibrated.set_camera_info(CameraInfo(width=4, height=3))
    uncalibrated.add_depth(depth_msg(1.0, np.ones((3, 4), np.float32), "32FC1"))
    reasons.append(uncalibrated.frame_for(header(1.0), (3, 4))[2])
    assert "camera_info has no calibration" in reasons[2]
    assert all("\n" not in r for r in reasons) and len({reason_kind(r) for r in reasons}) == 3


def test_keyed_throttle_says_each_kind_once_per_period():
    now = [0.0]
    throttle = KeyedThrottle(10.0, clock=lambda: now[0])
    assert throttle.due("unpaired") and not throttle.due("unpaired")
    assert throttle.due("bad_depth")  # another kind is not hidden by the first
    now[0] = 10.5
    assert throttle.due("unpaired") and not throttle.due("unpaired")


def test_a_rate_cap_is_a_throttle_on_the_frames_own_times():
    """detector_node's max_rate_hz: 4 Hz lets a frame through every 0.25 s of receipt time; 0 lets all."""
    gate = KeyedThrottle(rate_period(4.0), clock=lambda: 0.0)  # the clock is not used: frames bring their time
    assert [gate.due("frame", now=t) for t in (100.0, 100.1, 100.2, 100.26, 100.4, 100.6)] == \
        [True, False, False, True, False, True]
    gate.period_s = rate_period(0.0)
    assert all(gate.due("frame", now=t) for t in (100.61, 100.62))

"""The detector's depth input without DDS: pairing by stamp, 16UC1/32FC1 decoding, and one
DepthUnavailable per problem (kinds kept apart so each is logged once per period)."""

import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header

from automask_ros.core.shared.throttle import KeyedThrottle
from automask_ros.ros.depth_input import DepthInput, DepthUnavailable
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
    assert inp.frame_for(header(10.0), (3, 4)) == (None, None)  # no depth yet: 2D only, no error
    inp.add_depth(depth_msg(10.0, np.full((3, 4), 1500, np.uint16), "16UC1"))
    inp.add_depth(depth_msg(10.1, np.full((3, 4), 900, np.uint16), "16UC1"))
    with pytest.raises(DepthUnavailable, match="no camera_info on '/cam/info'") as exc:
        inp.frame_for(header(10.0), (3, 4))
    assert exc.value.kind == "no_camera_info"
    inp.set_camera_info(info())
    frame, depth_header = inp.frame_for(header(10.11), (3, 4))
    assert np.allclose(frame.depth_m, 0.9) and frame.intrinsics.fx == 50.0 and depth_header.stamp.nanosec > 0
    with pytest.raises(DepthUnavailable, match=r"within sync_tolerance_s=0.02 s .*\(nearest is 0.050 s away\)") as exc:
        inp.frame_for(header(10.15), (3, 4))
    assert exc.value.kind == "unpaired"
    inp.tolerance_s = 0.06
    assert inp.frame_for(header(10.15), (3, 4))[0] is not None


def test_other_size_bad_encoding_and_uncalibrated_camera_are_bad_depth():
    inp = DepthInput(0.05)
    inp.set_camera_info(info())
    inp.add_depth(depth_msg(1.0, np.ones((3, 4), np.float32), "32FC1"))
    with pytest.raises(DepthUnavailable, match="depth is 4x3 but colour is 8x6") as exc:
        inp.frame_for(header(1.0), (6, 8))
    assert exc.value.kind == "bad_depth"
    inp.add_depth(depth_msg(2.0, np.ones((3, 4, 3), np.uint8), "rgb8"))
    with pytest.raises(DepthUnavailable, match="unsupported depth encoding 'rgb8'"):
        inp.frame_for(header(2.0), (3, 4))
    inp.set_camera_info(CameraInfo(width=4, height=3))
    with pytest.raises(DepthUnavailable, match="camera_info has no calibration"):
        inp.frame_for(header(1.0), (3, 4))


def test_keyed_throttle_says_each_kind_once_per_period():
    now = [0.0]
    throttle = KeyedThrottle(10.0, clock=lambda: now[0])
    assert throttle.due("unpaired") and not throttle.due("unpaired")
    assert throttle.due("bad_depth")  # another kind is not hidden by the first
    now[0] = 10.5
    assert throttle.due("unpaired") and not throttle.due("unpaired")

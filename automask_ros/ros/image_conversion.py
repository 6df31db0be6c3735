"""sensor_msgs/Image <-> numpy. Uses cv_bridge when it can be imported, else core.image_codec.

Either way the message is checked first (encoding, size, step, data length), so a bad message
raises one ImageCodecError instead of a crash deep inside cv_bridge or numpy.
"""

from __future__ import annotations

import numpy as np
from sensor_msgs.msg import Image

from automask_ros.core.shared import image_codec
from automask_ros.core.shared.depth import check_encoding, decode_depth, to_millimetres
from automask_ros.core.shared.image_codec import ImageCodecError

try:  # a real ROS 2 installation has cv_bridge; the PyPI wheels do not
    from cv_bridge import CvBridge
    _BRIDGE = CvBridge()
except ImportError:  # pragma: no cover - depends on the machine
    _BRIDGE = None

__all__ = ["ImageCodecError", "depth_to_imgmsg", "imgmsg_to_depth_m", "imgmsg_to_numpy", "imgmsg_to_rgb", "numpy_to_imgmsg",
           "rgb_to_imgmsg"]


def imgmsg_to_numpy(msg: Image) -> np.ndarray:
    """Pixels in the message's own encoding (HxW or HxWxC), checked for consistency."""
    pixels = image_codec.decode(msg.encoding, msg.height, msg.width, msg.step,
                                bool(msg.is_bigendian), msg.data)
    if _BRIDGE is not None:
        return _BRIDGE.imgmsg_to_cv2(msg, desired_encoding="passthrough")
    return pixels


def imgmsg_to_rgb(msg: Image) -> np.ndarray:
    """A colour or mono camera frame as HxWx3 uint8 RGB."""
    return image_codec.to_rgb8(imgmsg_to_numpy(msg), msg.encoding)


def imgmsg_to_depth_m(msg: Image) -> np.ndarray:
    """An aligned depth frame (16UC1/mono16 mm or 32FC1 m) as HxW float32 metres, 0 = no reading;
    any other encoding is one DepthError that says what to publish."""
    check_encoding(msg.encoding)
    return decode_depth(imgmsg_to_numpy(msg), msg.encoding)


def numpy_to_imgmsg(array: np.ndarray, encoding: str, header=None) -> Image:
    """An Image message for `array`, which must already match `encoding`."""
    height, width, step, data = image_codec.encode(array, encoding)
    msg = Image(height=height, width=width, encoding=encoding, is_bigendian=0, step=step)
    msg.data = data
    if header is not None:
        msg.header = header
    return msg


def depth_to_imgmsg(depth_m: np.ndarray, header=None) -> Image:
    """Depth in metres as a 16UC1 (millimetre) Image, the encoding of most RGB-D drivers."""
    return numpy_to_imgmsg(to_millimetres(depth_m), "16UC1", header)


def rgb_to_imgmsg(rgb: np.ndarray, header=None) -> Image:
    return numpy_to_imgmsg(np.ascontiguousarray(rgb, dtype=np.uint8), "rgb8", header)

"""Colour camera input for every camera node: raw `sensor_msgs/Image` or `CompressedImage`.

With `image_transport: compressed` a node subscribes to `<image>/compressed`, where `<image>` is
the *remapped* name of its `image` topic, exactly as image_transport does, so the same
`image:=/camera/color/image_raw` remapping works for both. The subscription callback gets the
message unchanged (decoding is work for the node's worker thread): `frame_to_rgb(msg)` turns
either kind into HxWx3 RGB, and both carry `msg.header`.
"""

from __future__ import annotations

from rclpy.node import Node
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image

from automask_ros.core.shared.image_codec import decode_compressed
from automask_ros.ros.image_conversion import imgmsg_to_rgb
from automask_ros.ros.params import Param

TRANSPORTS = ("raw", "compressed")
TRANSPORT_PARAM = Param("image_transport", "raw",
                        "colour input: raw (sensor_msgs/Image on image) or compressed "
                        "(sensor_msgs/CompressedImage on image/compressed)", read_only=True,
                        choices=TRANSPORTS)
# newest frame only, best effort: a camera that publishes reliable still connects
FRAME_QOS = QoSProfile(depth=1, reliability=qos_profile_sensor_data.reliability,
                       durability=qos_profile_sensor_data.durability)


def subscribe_camera(node: Node, transport: str, callback, topic: str = "image"):
    """Subscribe `callback` to the colour camera in the given transport; returns the subscription."""
    if transport not in TRANSPORTS:
        raise ValueError(f"image_transport {transport!r}: use raw or compressed")
    if transport == "raw":
        return node.create_subscription(Image, topic, callback, FRAME_QOS)
    return node.create_subscription(CompressedImage, node.resolve_topic_name(topic) + "/compressed",
                                    callback, FRAME_QOS)


def frame_to_rgb(msg) -> "numpy.ndarray":  # noqa: F821
    """HxWx3 uint8 RGB from an Image or a CompressedImage; ImageCodecError (a ValueError) if bad."""
    if isinstance(msg, CompressedImage):
        return decode_compressed(msg.format, msg.data)
    return imgmsg_to_rgb(msg)

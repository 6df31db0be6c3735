"""The detector node with compressed colour input over real DDS (the camera is mocked: a
rendered frame, JPEG-encoded as image_transport's `compressed` plugin sends it)."""

import time
import uuid

import pytest
import rclpy
from rclpy.parameter_client import AsyncParameterClient
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage

from automask.msg import InstanceArray
from automask_ros.core.shared.image_codec import encode_compressed
from ros_process import start_node, stop
from test_detector_node import FRAME, make_bundle, set_param

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def test_compressed_input(tmp_path):
    """image_transport: compressed subscribes to <remapped image>/compressed, as image_transport
    does, and decodes JPEG frames; the transport is fixed at start-up (read-only)."""
    bundle = make_bundle(tmp_path / "a", "model-a", ["mug"])
    name = f"detector_{uuid.uuid4().hex[:6]}"
    proc = start_node("detector_node", name, [
        "-r", f"image:=/{name}/camera", "-p", "image_transport:=compressed", "-p", f"model_path:={bundle}",
        "-p", "score_threshold:=0.0", "-p", f"model_topic:=/{name}/model"], tmp_path / "node.log")
    try:
        rclpy.init()
        node = rclpy.create_node(f"client_{name}")
        got = []
        node.create_subscription(InstanceArray, f"/{name}/instances", got.append, 10)
        camera = node.create_publisher(CompressedImage, f"/{name}/camera/compressed", qos_profile_sensor_data)
        fmt, data = encode_compressed(FRAME, "jpeg")
        msg = CompressedImage(format=fmt)
        msg.data = data
        msg.header.stamp.sec = 7
        ctx = {"node": node, "tmp": tmp_path}
        deadline = time.monotonic() + 120
        while not got and time.monotonic() < deadline:
            camera.publish(msg)
            end = time.monotonic() + 1.0
            while not got and time.monotonic() < end:
                rclpy.spin_once(node, timeout_sec=0.1)
        assert got, (tmp_path / "node.log").read_text()[-2000:]
        assert got[0].header.stamp.sec == 7 and got[0].model_id == "model-a" and got[0].instances
        ctx["params"] = AsyncParameterClient(node, name)
        assert ctx["params"].wait_for_services(timeout_sec=10)
        refused = set_param(ctx, "image_transport", "raw")
        assert not refused.successful and "read-only" in refused.reason
    finally:
        stop(proc)  # first: nothing may outlive the test, whatever failed above
        rclpy.try_shutdown()

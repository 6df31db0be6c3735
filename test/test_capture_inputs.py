"""The capture node with the inputs robots publish, over real DDS: compressed colour frames
(`image_transport: compressed`, on <image>/compressed) and the turntable angle as stamped
sensor_msgs/JointState, matched to frames by stamp. Also: the mask preview while idle, and
parameters refused with a reason before they are set. The camera and the turntable driver are
mocked by the renderer (neither exists here)."""

import math
import time
import uuid

import pytest
import rclpy
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_srvs.srv import Trigger

from automask.msg import SweepStatus
from automask.srv import StartSweep
from automask_ros.core.capture.dataset import load_sweep, validate_sweep
from automask_ros.core.shared.image_codec import encode_compressed
from automask_ros.core.demo.render import render_sweep
from capture_client import call, wait_status
from ros_process import start_node, stop

pytestmark = [pytest.mark.ros, pytest.mark.slow]
FRAMES = list(render_sweep("mug", n_frames=12, size=(128, 96), seed=3, empty_frames=2))


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("capture_inputs")
    name = f"capture_{uuid.uuid4().hex[:6]}"
    proc = start_node("capture_node", name, [
        "-r", f"image:=/{name}/camera", "-r", f"turntable_joint_states:=/{name}/joints",
        "-p", "image_transport:=compressed", "-p", "turntable_joint:=turntable",
        "-p", f"dataset_root:={tmp / 'data'}", "-p", "step_deg:=30.0", "-p", "status_rate_hz:=10.0",
        "-p", "camera_timeout_s:=60.0", "-p", "seg_threads:=1", "-p", "negatives_before:=2"],
        tmp / "node.log")
    rclpy.init()
    node = rclpy.create_node(f"client_{name}")
    statuses, previews = [], []
    node.create_subscription(SweepStatus, f"/{name}/status", statuses.append, 10)
    node.create_subscription(Image, f"/{name}/mask_preview", previews.append, qos_profile_sensor_data)
    ctx = {
        "node": node, "tmp": tmp, "name": name, "statuses": statuses, "previews": previews,
        "start": node.create_client(StartSweep, f"/{name}/start_sweep"),
        "stop": node.create_client(Trigger, f"/{name}/stop_sweep"),
        "camera": node.create_publisher(CompressedImage, f"/{name}/camera/compressed", qos_profile_sensor_data),
        "joints": node.create_publisher(JointState, f"/{name}/joints", 10),
        "params": AsyncParameterClient(node, name),
    }
    assert ctx["start"].wait_for_service(timeout_sec=30), "capture node did not come up"
    yield ctx
    node.destroy_node()
    rclpy.shutdown()
    stop(proc)


def compressed(rgb, stamp_sec):
    fmt, data = encode_compressed(rgb, "jpeg", quality=95)
    msg = CompressedImage(format=fmt)
    msg.data = data
    msg.header.stamp.sec, msg.header.frame_id = stamp_sec, "camera"
    return msg


def set_params(ctx, **values):
    future = ctx["params"].set_parameters([Parameter(k, value=v) for k, v in values.items()])
    rclpy.spin_until_future_complete(ctx["node"], future, timeout_sec=10)
    return future.result().results


def test_preview_is_published_while_idle(capture):
    """Before any sweep: a user aiming the camera sees what the segmenter would mask."""
    deadline = time.monotonic() + 90
    while not capture["previews"] and time.monotonic() < deadline:
        capture["camera"].publish(compressed(FRAMES[5].rgb, 1))
        end = time.monotonic() + 1.0
        while time.monotonic() < end and not capture["previews"]:
            rclpy.spin_once(capture["node"], timeout_sec=0.1)
    assert capture["previews"], (capture["tmp"] / "node.log").read_text()[-2000:]
    preview = capture["previews"][-1]
    assert (preview.width, preview.height) == (128, 96)  # the compressed frame, decoded
    assert capture["statuses"][-1].state == "idle"


def test_bad_parameters_are_refused_with_a_reason_and_the_node_keeps_running(capture):
    step, segmenter, threshold, transport = set_params(capture, step_deg=-5.0)[0], \
        set_params(capture, segmenter="nonsense")[0], set_params(capture, threshold="half")[0], \
        set_params(capture, image_transport="raw")[0]
    assert not step.successful and "range" in step.reason
    assert not segmenter.successful and "unknown segmenter 'nonsense'" in segmenter.reason
    assert not threshold.successful and "threshold" in threshold.reason
    assert not transport.successful and "read-only" in transport.reason
    assert set_params(capture, step_deg=30.0)[0].successful
    assert capture["start"].wait_for_service(timeout_sec=5)


def test_status_rate_change_takes_effect(capture):
    def count(seconds):
        n0, end = len(capture["statuses"]), time.monotonic() + seconds
        while time.monotonic() < end:
            rclpy.spin_once(capture["node"], timeout_sec=0.05)
        return len(capture["statuses"]) - n0

    assert count(2.0) >= 5  # 10 Hz
    assert set_params(capture, status_rate_hz=0.1)[0].successful
    count(0.5)  # one may be in flight
    assert count(4.0) <= 1
    assert set_params(capture, status_rate_hz=10.0)[0].successful
    assert count(2.0) >= 5


def test_compressed_sweep_takes_stamped_joint_angles(capture):
    """Each frame's JointState reading has the frame's stamp; a decoy reading stamped far in
    the future (999 rad) arrives last. Matching by stamp ignores it; taking the newest reading
    would end the sweep at once with one 'revolution'."""
    r = call(capture, "start", StartSweep.Request(label="mug"))
    assert r.success, r.message
    for i, frame in enumerate(FRAMES):
        stamp = 1000 + i
        reading = JointState(name=["arm", "turntable"], position=[0.5, math.radians(frame.angle_deg or 0.0)])
        reading.header.stamp.sec = stamp
        decoy = JointState(name=["turntable"], position=[999.0])
        decoy.header.stamp.sec = stamp + 100
        capture["joints"].publish(reading)
        capture["joints"].publish(decoy)
        rclpy.spin_once(capture["node"], timeout_sec=0.05)
        capture["camera"].publish(compressed(frame.rgb, stamp))
        wait_status(capture, lambda s, n=i + 1: s.frames_seen >= n or s.state != "recording", 60)
    status = wait_status(capture, lambda s: True, 5)
    if status.state == "recording":
        assert call(capture, "stop", Trigger.Request()).success
    final = wait_status(capture, lambda s: s.state == "finished", 10)
    assert final.frames_kept >= 8, final
    assert validate_sweep(r.sweep_path) == []
    angles = [i["angle_deg"] for i in load_sweep(r.sweep_path).images if not i["negative"]]
    assert len(angles) == final.frames_kept
    assert all(a is not None and 0 <= a < 360 and abs(a / 30 - round(a / 30)) < 1e-3 for a in angles), angles

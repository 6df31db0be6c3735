"""The capture node over real DDS: a rendered turntable sweep (the camera is mocked by the
renderer, since no camera exists here) published frame by frame becomes a valid dataset; bad
requests get clear answers and the node keeps serving; a silent camera fails the sweep."""

import uuid
from pathlib import Path

import pytest
import rclpy
from rclpy.parameter import Parameter, parameter_value_to_python
from rclpy.parameter_client import AsyncParameterClient
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import Float64
from std_srvs.srv import Trigger

from automask.srv import StartSweep
from automask_ros.core.capture.dataset import load_sweep, validate_sweep
from automask_ros.core.demo.render import render_sweep
from automask_ros.ros.image_conversion import rgb_to_imgmsg
from capture_client import call, capture_client, wait_status
from ros_process import start_node, stop

pytestmark = [pytest.mark.ros, pytest.mark.slow]


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("capture")
    name = f"capture_{uuid.uuid4().hex[:6]}"
    proc = start_node("capture_node", name, [
        "-r", f"image:=/{name}/camera", "-r", f"turntable_angle:=/{name}/angle",
        "-p", f"dataset_root:={tmp / 'data'}", "-p", "step_deg:=30.0", "-p", "status_rate_hz:=10.0",
        "-p", "camera_timeout_s:=60.0", "-p", "seg_threads:=1", "-p", "negatives_before:=2"],
        tmp / "node.log")
    ctx = capture_client(name, tmp, camera=(Image, f"/{name}/camera", qos_profile_sensor_data),
                         angle=(Float64, f"/{name}/angle", 10))
    node = ctx["node"]
    yield ctx
    node.destroy_node()
    rclpy.shutdown()
    stop(proc)


def test_bad_requests_get_clear_answers(capture):
    r = call(capture, "stop", Trigger.Request())
    assert not r.success and "no sweep is recording" in r.message
    r = call(capture, "start", StartSweep.Request(label="../escape"))
    assert not r.success and "'..'" in r.message
    r = call(capture, "start", StartSweep.Request(label="mug", dataset_root="/proc/automask_cannot_write"))
    assert not r.success and "cannot create sweep folder" in r.message


def test_published_sweep_becomes_a_valid_dataset(capture):
    r = call(capture, "start", StartSweep.Request(label="mug"))
    assert r.success, r.message
    again = call(capture, "start", StartSweep.Request(label="mug"))
    assert not again.success and "already recording" in again.message

    frames = list(render_sweep("mug", n_frames=12, size=(128, 96), seed=3, empty_frames=2))
    for i, frame in enumerate(frames):
        msg = rgb_to_imgmsg(frame.rgb)
        msg.header.stamp.sec = 1000 + i
        msg.header.frame_id = "camera"
        # the turntable encoder publishes all the time, also while the turntable is still empty
        capture["angle"].publish(Float64(data=float(frame.angle_deg or 0.0)))
        rclpy.spin_once(capture["node"], timeout_sec=0.05)
        capture["camera"].publish(msg)
        # one frame at a time: wait until the node has taken it, so the test is deterministic
        wait_status(capture, lambda s, n=i + 1: s.frames_seen >= n or s.state != "recording", 60)
    status = wait_status(capture, lambda s: True, 5)
    if status.state == "recording":
        stopped = call(capture, "stop", Trigger.Request())
        assert stopped.success, stopped.message
    final = wait_status(capture, lambda s: s.state == "finished", 10)
    assert final.frames_kept >= 8, final
    assert final.frames_negative >= 1
    assert final.sweep_path == r.sweep_path

    assert validate_sweep(r.sweep_path) == []
    sweep = load_sweep(r.sweep_path)
    assert sweep.label == "mug" and sweep.meta["state"] == "finished"
    positives = [i for i in sweep.images if not i["negative"]]
    assert len(positives) == final.frames_kept
    assert all(sweep.mask(i).any() for i in positives)


def test_silent_camera_fails_the_sweep_with_a_clear_status(capture):
    params = AsyncParameterClient(capture["node"], capture["name"])
    assert params.wait_for_services(timeout_sec=10)
    future = params.set_parameters([Parameter("camera_timeout_s", value=1.0)])
    rclpy.spin_until_future_complete(capture["node"], future, timeout_sec=10)
    assert future.result().results[0].successful
    r = call(capture, "start", StartSweep.Request(label="bottle"))
    assert r.success, r.message
    failed = wait_status(capture, lambda s: s.label == "bottle" and s.state == "failed", 15)
    assert "camera stopped publishing" in failed.message
    assert validate_sweep(r.sweep_path) == []  # what was written still loads
    r = call(capture, "start", StartSweep.Request(label="bottle"))
    assert r.success, "the node keeps serving after a failed sweep"
    assert call(capture, "stop", Trigger.Request()).success


def test_record_workspace_saves_the_newest_frame(capture):
    """~/record_workspace over DDS: refused while a sweep records (the object is in view), then the
    newest camera frame is stored as <dataset_root>/workspace/NNNNNN.png and the path answered."""
    from automask_ros.core.shared.atomic import read_rgb
    from automask_ros.core.capture.workspace import workspace_images

    client = capture["node"].create_client(Trigger, f"/{capture['name']}/record_workspace")
    assert client.wait_for_service(timeout_sec=10)
    capture["record_workspace"] = client
    frame = next(render_sweep("mug", n_frames=2, size=(128, 96), seed=8, empty_frames=1)).rgb
    r = call(capture, "start", StartSweep.Request(label="cup"))
    assert r.success, r.message
    refused = call(capture, "record_workspace", Trigger.Request())
    assert not refused.success and "stop the sweep" in refused.message
    assert call(capture, "stop", Trigger.Request()).success

    root = capture["tmp"] / "data"
    before = set(workspace_images([root]))
    capture["camera"].publish(rgb_to_imgmsg(frame))
    wait_status(capture, lambda s: s.state != "recording", 10)
    answer = None
    for _ in range(50):  # until the node has the frame published above (DDS delivery is async)
        answer = call(capture, "record_workspace", Trigger.Request())
        if answer.success and (read_rgb(answer.message) == frame).all():
            break
    assert answer.success, answer.message
    path = Path(answer.message)
    assert path.parent == root / "workspace" and path.suffix == ".png"
    assert (read_rgb(path) == frame).all()
    assert path.resolve() in set(workspace_images([root])) - before  # found by training


def test_declared_parameters_are_the_dataclass_and_the_yaml(capture):
    """One source: every CaptureParams/CleanupParams field is a parameter of the running node with
    the field's description and range, its value is the field's default (unless the fixture set
    it), and config/capture.yaml lists exactly these keys with these defaults."""
    import yaml

    from automask_ros.core.capture.capture_params import CaptureParams

    fields = CaptureParams.flat_fields()
    defaults = CaptureParams().to_dict()
    shipped = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "capture.yaml").read_text())
    assert shipped["capture_node"]["ros__parameters"] == defaults
    params = AsyncParameterClient(capture["node"], capture["name"])
    assert params.wait_for_services(timeout_sec=10)
    names = [f.name for f in fields]
    described = params.describe_parameters(names)
    rclpy.spin_until_future_complete(capture["node"], described, timeout_sec=10)
    got = params.get_parameters(names)
    rclpy.spin_until_future_complete(capture["node"], got, timeout_sec=10)
    set_by_fixture = {"dataset_root", "step_deg", "seg_threads", "negatives_before"}
    assert {f.name for f in fields} >= set_by_fixture
    for f, d, v in zip(fields, described.result().descriptors, got.result().values):
        assert d.name == f.name and d.description == f.metadata["doc"], f.name
        lo, hi = f.metadata["min"], f.metadata["max"]
        ranges = list(d.integer_range) + list(d.floating_point_range)
        if lo is None:
            assert not ranges, f.name
        else:
            assert (ranges[0].from_value, ranges[0].to_value) == (lo, hi), f.name
        if f.name not in set_by_fixture:
            declared = parameter_value_to_python(v)
            declared = list(declared) if isinstance(defaults[f.name], list) else declared
            assert declared == defaults[f.name], f.name

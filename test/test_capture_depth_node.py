"""The capture node with depth over real DDS: colour + aligned depth + camera_info become an RGB-D
sweep; each kind of bad depth is logged once per period while the frames are still recorded
colour-only, and the node keeps serving.

No RGB-D camera exists here, so it is mocked: colour frames come from the renderer, and their
depth is made from the renderer's exact object mask (object 0.8 m, turntable and room 1.2 m)."""

import uuid

import numpy as np
import pytest
import rclpy
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from std_srvs.srv import Trigger

from automask.srv import StartSweep
from automask_ros.core.capture.dataset import load_sweep, validate_sweep
from automask_ros.core.demo.render import render_sweep
from automask_ros.ros.image_conversion import numpy_to_imgmsg, rgb_to_imgmsg
from capture_client import call, capture_client, wait_status
from ros_process import start_node, stop

pytestmark = [pytest.mark.ros, pytest.mark.slow]
W, H = 128, 96
FRAMES = list(render_sweep("mug", n_frames=6, size=(W, H), seed=5, empty_frames=1))


def depth_mm(frame) -> np.ndarray:
    return np.where(frame.mask, 800, 1200).astype(np.uint16)


def camera_info(k=(100.0, 0, 64.0, 0, 100.0, 48.0, 0, 0, 1), width=W, height=H) -> CameraInfo:
    return CameraInfo(width=width, height=height, k=list(map(float, k)))


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("capture_depth")
    name = f"capture_{uuid.uuid4().hex[:6]}"
    proc = start_node("capture_node", name, [
        "-r", f"image:=/{name}/color", "-r", f"depth:=/{name}/depth", "-r", f"camera_info:=/{name}/info",
        "-p", f"dataset_root:={tmp / 'data'}", "-p", "segmenter:=background", "-p", "status_rate_hz:=10.0",
        "-p", "camera_timeout_s:=60.0", "-p", "negatives_before:=1", "-p", "min_change:=0.0",
        "-p", "loop_closure:=false", "-p", "sync_tolerance_s:=0.02"], tmp / "node.log")
    ctx = capture_client(name, tmp, color=(Image, f"/{name}/color", qos_profile_sensor_data),
                         depth=(Image, f"/{name}/depth", qos_profile_sensor_data),
                         info=(CameraInfo, f"/{name}/info", qos_profile_sensor_data))
    node = ctx["node"]
    yield ctx
    node.destroy_node()
    rclpy.shutdown()
    stop(proc)


def stamp(msg, t: float):
    msg.header.stamp.sec, msg.header.stamp.nanosec = int(t), int(round((t % 1) * 1e9))
    return msg


def record(ctx, label, base, make_depth, info=None, depth_offset_s=0.005, frames=FRAMES):
    """One sweep: each colour frame, then its depth a little later (the worker must wait for it)."""
    r = call(ctx, "start", StartSweep.Request(label=label))
    assert r.success, r.message
    for _ in range(5 if info is not None else 0):  # camera_info is there before the first frame
        ctx["info"].publish(info)
        rclpy.spin_once(ctx["node"], timeout_sec=0.05)
    for i, frame in enumerate(frames):
        t = base + i * 0.5
        if info is not None:
            ctx["info"].publish(info)
        ctx["color"].publish(stamp(rgb_to_imgmsg(frame.rgb), t))
        rclpy.spin_once(ctx["node"], timeout_sec=0.002)
        depth = make_depth(frame)
        if depth is not None:
            ctx["depth"].publish(stamp(depth, t + depth_offset_s))
        wait_status(ctx, lambda s, n=i + 1: s.label == label and (s.frames_seen >= n or s.state != "recording"), 60)
    assert call(ctx, "stop", Trigger.Request()).success
    wait_status(ctx, lambda s: s.label == label and s.state == "finished", 10)
    assert validate_sweep(r.sweep_path) == []
    return load_sweep(r.sweep_path)


def log_count(ctx, text):
    return (ctx["tmp"] / "node.log").read_text().count(text)


def test_depth_without_intrinsics_is_colour_only_until_camera_info_arrives(capture):
    sweep = record(capture, "no_info", 1000.0, lambda f: numpy_to_imgmsg(depth_mm(f), "16UC1"))
    assert len(sweep.images) >= 5 and not any("depth_file" in i for i in sweep.images)
    assert log_count(capture, "there are no intrinsics yet") == 1   # once per period, not per frame
    sweep = record(capture, "with_info", 2000.0, lambda f: numpy_to_imgmsg(depth_mm(f), "16UC1"),
                   info=camera_info())
    assert all(i.get("depth_file") for i in sweep.images)


def test_colour_depth_and_camera_info_become_an_rgbd_sweep(capture):
    sweep = record(capture, "mug", 3000.0, lambda f: numpy_to_imgmsg(depth_mm(f).astype(np.float32) / 1000, "32FC1"),
                   info=camera_info())
    assert sum(i["negative"] for i in sweep.images) == 1 and len(sweep.coco["annotations"]) >= 3
    assert sweep.meta["intrinsics"] == {"fx": 100.0, "fy": 100.0, "cx": 64.0, "cy": 48.0, "width": W, "height": H}
    assert sweep.meta["counts"]["with_depth"] == len(sweep.images)
    for image in sweep.images:   # each frame got its own depth, not a neighbour's
        frame = FRAMES[round((image["source"] - 3000.0) / 0.5)]
        d = sweep.depth(image)
        assert image["depth_file"] == f"depth/{image['id']:06d}.png" and d.intrinsics.fx == 100.0
        np.testing.assert_allclose(d.depth_m, depth_mm(frame) / 1000.0, atol=1e-6)


@pytest.mark.parametrize("label, make_depth, offset, message", [
    ("encoding", lambda f: numpy_to_imgmsg(depth_mm(f).astype(np.uint8), "mono8"), 0.005,
     "unsupported depth encoding 'mono8'"),
    ("size", lambda f: numpy_to_imgmsg(depth_mm(f)[::2, ::2].copy(), "16UC1"), 0.005,
     "depth is 64x48 but colour is 128x96"),
    ("zero", lambda f: numpy_to_imgmsg(np.zeros((H, W), np.uint16), "16UC1"), 0.005, "no valid reading"),
    ("unpaired", lambda f: numpy_to_imgmsg(depth_mm(f), "16UC1"), 0.2, "/depth' within sync_tolerance_s=0.02 s"),
])
def test_bad_depth_is_logged_once_and_frames_stay_colour_only(capture, label, make_depth, offset, message):
    base = {"encoding": 4000.0, "size": 5000.0, "zero": 6000.0, "unpaired": 7000.0}[label]
    sweep = record(capture, label, base, make_depth, info=camera_info(), depth_offset_s=offset)
    assert len(sweep.images) >= 5, "the sweep keeps going"
    assert not any("depth_file" in i for i in sweep.images) and not (sweep.path / "depth").exists()
    assert log_count(capture, message) == 1, (capture["tmp"] / "node.log").read_text()[-2000:]

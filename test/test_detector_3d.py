"""The detector node's 3D over real DDS: optional depth + camera_info paired by stamp, 3D fields in
each Instance, markers (cleared every frame), the instance cloud in the depth frame, vision_msgs;
and bad depth (never pairs, other size, no camera_info, no reading under a mask) that costs 3D
only, with one clear error per period while the 2D output keeps flowing.

The bundle is an untrained real Mask R-CNN (as in test_detector_node.py): with score and mask
thresholds 0 it returns instances with non-empty masks, all the plumbing needs; the depth is a
flat wall at 0.9 m, so every valid centroid must come back at z = 0.9 m. The tests run in file
order on one node.
"""

import time
import uuid

import numpy as np
import pytest
import rclpy
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from visualization_msgs.msg import Marker, MarkerArray

from automask.msg import InstanceArray
from automask_ros.ros.image_conversion import numpy_to_imgmsg, rgb_to_imgmsg
from ros_process import start_node, stop
from test_detector_node import FRAME, LATCHED, make_bundle, spin_for

pytestmark = [pytest.mark.ros, pytest.mark.slow]
vision_msgs = pytest.importorskip("vision_msgs.msg")  # built from ../shared/vendor into .vendor/


@pytest.fixture(scope="module")
def node3d(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("detector3d")
    bundle = make_bundle(tmp / "a", "model-a", ["mug", "box"])
    name = f"detector3d_{uuid.uuid4().hex[:6]}"
    proc = start_node("detector_node", name, [
        "-r", f"image:=/{name}/camera", "-r", f"depth:=/{name}/depth", "-r", f"camera_info:=/{name}/info",
        "-p", f"model_path:={bundle}", "-p", "score_threshold:=0.0", "-p", "mask_threshold:=0.0",
        "-p", "max_instances:=5",
        "-p", f"model_topic:=/{name}/model", "-p", "sync_tolerance_s:=0.02"], tmp / "node.log")
    rclpy.init()
    node = rclpy.create_node(f"client_{name}")
    got = {k: [] for k in ("instances", "markers", "points", "det2d", "det3d", "labels", "mask")}
    subs = [(InstanceArray, "instances", "instances", 10), (MarkerArray, "markers", "markers", 10),
            (PointCloud2, "points", "points", qos_profile_sensor_data),
            (vision_msgs.Detection2DArray, "detections", "det2d", 10),
            (vision_msgs.Detection3DArray, "detections_3d", "det3d", 10),
            (vision_msgs.LabelInfo, "label_info", "labels", LATCHED),
            (Image, "detections_mask", "mask", qos_profile_sensor_data)]
    for msg_type, topic, key, qos in subs:
        node.create_subscription(msg_type, f"/{name}/{topic}", got[key].append, qos)
    ctx = {"node": node, "got": got, "name": name, "tmp": tmp,
           "camera": node.create_publisher(Image, f"/{name}/camera", qos_profile_sensor_data),
           "depth": node.create_publisher(Image, f"/{name}/depth", qos_profile_sensor_data),
           "info": node.create_publisher(CameraInfo, f"/{name}/info", qos_profile_sensor_data)}
    spin_for(ctx, lambda: got["labels"], 90)  # the model is loaded: LabelInfo is latched
    yield ctx
    node.destroy_node()
    rclpy.shutdown()
    stop(proc)


def log(ctx) -> str:
    return (ctx["tmp"] / "node.log").read_text()


def camera_info(width=160, height=120):
    info = CameraInfo(width=width, height=height)
    info.header.frame_id = "depth_optical"
    info.k = [150.0, 0.0, width / 2, 0.0, 150.0, height / 2, 0.0, 0.0, 1.0]
    return info


def wall(width=160, height=120, z=0.9):
    return np.full((height, width), z, np.float32)


def frame_with_depth(ctx, stamp, depth=None, depth_stamp=None, info=True):
    """Publish (camera_info, depth at depth_stamp, then the colour frame at stamp) until an
    InstanceArray for the frame comes back (best effort may drop any of them)."""
    answers = ctx["got"]["instances"]
    for _ in range(15):
        if depth is not None:
            msg = numpy_to_imgmsg(depth, "32FC1")
            msg.header.frame_id = "depth_optical"
            msg.header.stamp.sec, msg.header.stamp.nanosec = int(depth_stamp), int(round(depth_stamp % 1 * 1e9))
            if info:
                ctx["info"].publish(camera_info())
            ctx["depth"].publish(msg)
            rclpy.spin_once(ctx["node"], timeout_sec=0.2)
        image = rgb_to_imgmsg(FRAME)
        image.header.stamp.sec, image.header.frame_id = stamp, "color_optical"
        ctx["camera"].publish(image)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            rclpy.spin_once(ctx["node"], timeout_sec=0.05)
            found = [a for a in answers if a.header.stamp.sec == stamp]
            if found:
                return found[0]
    raise AssertionError(f"no InstanceArray for frame {stamp}; log:\n{log(ctx)[-2000:]}")


def test_without_depth_the_node_is_2d_and_quiet(node3d):
    out = frame_with_depth(node3d, 201)
    assert out.instances and not any(i.has_3d for i in out.instances)
    assert all(i.depth_valid_fraction == 0.0 for i in out.instances)
    assert "no 3D" not in log(node3d)  # depth is optional: its absence is not an error
    spin_for(node3d, lambda: any(d.header.stamp.sec == 201 for d in node3d["got"]["det2d"]), 5)
    labels = node3d["got"]["labels"][-1]
    assert [(c.class_id, c.class_name) for c in labels.class_map] == [(1, "mug"), (2, "box")]


def test_depth_without_camera_info_is_one_clear_error_and_2d_goes_on(node3d):
    out = frame_with_depth(node3d, 202, wall(), 202.0, info=False)
    assert out.instances and not any(i.has_3d for i in out.instances)
    spin_for(node3d, lambda: f"publish the depth camera's CameraInfo on '/{node3d['name']}/info'" in log(node3d), 5)


def test_paired_depth_gives_3d_markers_cloud_and_detections_3d(node3d):
    got = node3d["got"]
    out = frame_with_depth(node3d, 203, wall(), 203.005)  # 5 ms apart: within the 20 ms tolerance
    assert out.header.frame_id == "color_optical"
    with_3d = [i for i in out.instances if i.has_3d]
    assert with_3d, "a flat wall under every mask gives 3D"
    for inst in with_3d:
        assert inst.position.z == pytest.approx(0.9, abs=1e-3) and inst.depth_valid_fraction == 1.0
        assert 0 < inst.size.x < 160 / 150 * 0.9 + 0.05 and inst.size.z < 0.01
    spin_for(node3d, lambda: any(p.header.stamp.sec == 203 for p in got["points"]), 10)
    cloud = next(p for p in got["points"] if p.header.stamp.sec == 203)
    assert cloud.header.frame_id == "depth_optical" and cloud.width > 0
    assert [f.name for f in cloud.fields] == ["x", "y", "z", "instance", "class_id"]
    spin_for(node3d, lambda: any(m.markers and m.markers[0].header.stamp.sec == 203 for m in got["markers"]), 10)
    markers = next(m for m in got["markers"] if m.markers[0].header.stamp.sec == 203).markers
    assert markers[0].action == Marker.DELETEALL
    assert len([m for m in markers if m.ns == "boxes"]) == len(with_3d)
    spin_for(node3d, lambda: any(d.header.stamp.sec == 203 for d in got["det3d"]), 10)
    det3d = next(d for d in got["det3d"] if d.header.stamp.sec == 203)
    assert det3d.header.frame_id == "depth_optical" and len(det3d.detections) == len(with_3d)
    assert all(d.results[0].hypothesis.class_id in ("1", "2") for d in det3d.detections)
    spin_for(node3d, lambda: any(m.header.stamp.sec == 203 for m in got["mask"]), 10)
    mask = next(m for m in got["mask"] if m.header.stamp.sec == 203)
    assert (mask.encoding, mask.width, mask.height) == ("mono16", 160, 120)


def test_depth_of_another_size_costs_3d_only(node3d):
    out = frame_with_depth(node3d, 204, wall(80, 60), 204.0)
    assert out.instances and not any(i.has_3d for i in out.instances)
    spin_for(node3d, lambda: "depth is 80x60 but colour is 160x120" in log(node3d), 5)


def test_depth_that_never_pairs_costs_3d_only(node3d):
    out = frame_with_depth(node3d, 205, wall(), 205.5)  # half a second off
    assert out.instances and not any(i.has_3d for i in out.instances)
    spin_for(node3d, lambda: "within sync_tolerance_s=0.02 s" in log(node3d), 5)


def test_instances_without_depth_under_them_are_marked_invalid_never_placed(node3d):
    depth = np.zeros((120, 160), np.float32)
    depth[:4, :4] = 0.9  # readings in a corner only
    out = frame_with_depth(node3d, 206, depth, 206.0)
    assert out.instances
    for inst in out.instances:
        assert not inst.has_3d and (inst.position.x, inst.position.y, inst.position.z) == (0.0, 0.0, 0.0)
    spin_for(node3d, lambda: "published without 3D" in log(node3d), 5)
    # each kind of error once per period, not once per frame
    assert log(node3d).count("no intrinsics yet") == 1

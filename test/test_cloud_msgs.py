"""3D message building: PointCloud2 (the real sensor_msgs_py and the numpy fallback give the same
bytes), markers (cleared every frame, a box and a label per instance with 3D), vision_msgs.

sensor_msgs_py and vision_msgs are the upstream packages built into .vendor/ from ../shared/vendor;
where they are absent (no ../shared) their tests skip.
"""

import numpy as np
import pytest
from std_msgs.msg import Header

from automask_ros.core.shared.camera import Intrinsics
from automask_ros.core.shared.depth import DepthFrame
from automask_ros.core.detection.infer import Instance, add_geometry
from automask_ros.ros.cloud import cloud_numpy, instance_points, to_cloud
from automask_ros.ros.instance_msgs import to_instance_array
from automask_ros.ros.markers import to_markers

pytestmark = pytest.mark.ros
INTR = Intrinsics(100.0, 100.0, 40.0, 30.0, 80, 60)


def instances():
    """Two instances on a depth frame with a step (0.7 m left, 1.2 m right) and one in a hole."""
    depth = np.full((60, 80), 0.7, np.float32)
    depth[:, 40:] = 1.2
    depth[40:, :20] = 0.0
    masks = [np.zeros((60, 80), bool) for _ in range(3)]
    masks[0][5:25, 5:30] = True
    masks[1][10:30, 50:75] = True
    masks[2][45:58, 2:15] = True  # only holes under it
    out = [Instance("mug", 1, 0.9, (5, 5, 30, 25), masks[0]), Instance("box", 2, 0.8, (50, 10, 75, 30), masks[1]),
           Instance("mug", 1, 0.7, (2, 45, 15, 58), masks[2])]
    add_geometry(out, DepthFrame(depth, INTR))
    return out


def header():
    h = Header(frame_id="camera_depth_optical_frame")
    h.stamp.sec, h.stamp.nanosec = 12, 345
    return h


def test_real_sensor_msgs_py_and_numpy_clouds_agree():
    pc2 = pytest.importorskip("sensor_msgs_py.point_cloud2")
    insts = instances()
    ours, theirs = cloud_numpy(header(), instance_points(insts)), to_cloud(header(), insts)
    assert bytes(ours.data) == bytes(theirs.data) and len(ours.data) > 0
    for name in ("height", "width", "point_step", "row_step", "is_dense", "is_bigendian", "fields", "header"):
        assert getattr(ours, name) == getattr(theirs, name), name
    points = pc2.read_points(ours, field_names=("z", "instance", "class_id"))
    assert set(points["instance"]) == {0, 1}  # the instance in the hole has no points
    assert np.allclose(points["z"][points["instance"] == 0], 0.7)
    assert np.allclose(points["z"][points["instance"] == 1], 1.2)
    assert set(points["class_id"][points["instance"] == 1]) == {2}


def test_markers_clear_first_then_box_and_label_per_instance_with_3d():
    from visualization_msgs.msg import Marker

    insts = instances()
    markers = to_markers(header(), insts).markers
    assert markers[0].action == Marker.DELETEALL  # objects that left the view vanish
    boxes = [m for m in markers if m.ns == "boxes"]
    labels = [m for m in markers if m.ns == "labels"]
    assert [m.id for m in boxes] == [0, 1] == [m.id for m in labels]  # not the one without depth
    assert all(m.header.frame_id == "camera_depth_optical_frame" for m in markers)
    assert boxes[1].pose.position.z == pytest.approx(1.2, abs=1e-3) and boxes[1].type == Marker.CUBE
    assert labels[1].text.startswith("box 0.80")
    assert to_markers(header(), []).markers[0].action == Marker.DELETEALL


def test_instance_messages_carry_3d_or_say_it_is_invalid():
    insts = instances()
    msg = to_instance_array(insts, header(), "m", (80, 60))
    a, b, hole = msg.instances
    assert a.has_3d and a.position.z == pytest.approx(0.7, abs=1e-4) and a.depth_valid_fraction == 1.0
    assert a.position.x == pytest.approx(((5 + 29) / 2 - 40) / 100 * 0.7, abs=0.01)
    assert b.size.x == pytest.approx(25 / 100 * 1.2, rel=0.15)
    assert not hole.has_3d and hole.depth_valid_fraction == 0.0
    assert (hole.position.x, hole.position.y, hole.position.z) == (0.0, 0.0, 0.0)


def test_vision_msgs_follow_their_conventions():
    pytest.importorskip("vision_msgs.msg")
    from automask_ros.ros.vision import instance_label_image, to_detections_2d, to_detections_3d, to_label_info

    insts = instances()
    d2 = to_detections_2d(header(), insts)
    assert [d.id for d in d2.detections] == ["0", "1", "2"]
    assert [d.results[0].hypothesis.class_id for d in d2.detections] == ["1", "2", "1"]  # strings
    assert d2.detections[1].bbox.center.position.x == pytest.approx(62.5) and d2.detections[1].bbox.size_x == 25
    d3 = to_detections_3d(header(), insts)
    assert [d.id for d in d3.detections] == ["0", "1"]  # only instances with valid 3D
    assert d3.detections[0].results[0].pose.pose.position.z == pytest.approx(0.7, abs=1e-4)
    assert d3.header.frame_id == "camera_depth_optical_frame"
    info = to_label_info(header(), ["mug", "box"], 0.5)
    assert [(c.class_id, c.class_name) for c in info.class_map] == [(1, "mug"), (2, "box")]
    labels = instance_label_image(insts, 60, 80)
    assert labels.dtype == np.uint16 and labels[10, 10] == 1 and labels[20, 60] == 2 and labels[0, 0] == 0

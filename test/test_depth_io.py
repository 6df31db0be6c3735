"""Depth plumbing shared by capture and the detector: decoding, files, intrinsics, stamp pairing."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from automask_ros.core.shared.camera import Intrinsics, IntrinsicsError, backproject, load_intrinsics, project
from automask_ros.core.shared.depth import (DepthError, check_depth, decode_depth, find_depth_file, read_depth,
                                     write_depth_png)
from automask_ros.core.shared.pairing import StampPairer

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def test_encodings_decode_to_metres_with_zero_for_no_reading():
    mm = np.array([[0, 1000], [1500, 65535]], np.uint16)
    np.testing.assert_allclose(decode_depth(mm, "16UC1"), [[0, 1.0], [1.5, 65.535]])
    m = np.array([[np.nan, 0.5], [np.inf, -1.0]], np.float32)
    np.testing.assert_allclose(decode_depth(m, "32FC1"), [[0, 0.5], [0, 0]])
    with pytest.raises(DepthError, match="unsupported depth encoding 'rgb8'"):
        decode_depth(mm, "rgb8")


def test_check_depth_refuses_other_size_and_all_zero():
    with pytest.raises(DepthError, match="depth is 4x2 but colour is 3x2"):
        check_depth(np.ones((2, 4), np.float32), (2, 3))
    with pytest.raises(DepthError, match="no valid reading"):
        check_depth(np.zeros((2, 3), np.float32), (2, 3))


def test_depth_files_round_trip(tmp_path):
    depth = np.array([[0.0, 0.6], [1.2345, 2.0]], np.float32)
    write_depth_png(tmp_path / "f_1.png", depth)
    np.testing.assert_allclose(read_depth(tmp_path / "f_1.png"), [[0, 0.6], [1.234, 2.0]], atol=1e-3)
    np.save(tmp_path / "f_2.npy", depth[..., None])
    np.testing.assert_allclose(read_depth(tmp_path / "f_2.npy"), depth)
    cv2.imwrite(str(tmp_path / "f_3.tiff"), depth)
    np.testing.assert_allclose(read_depth(tmp_path / "f_3.tiff"), depth)
    np.testing.assert_allclose(read_depth(tmp_path / "f_1.png", scale=0.0001), [[0, 0.06], [0.1234, 0.2]],
                               atol=1e-4)
    assert find_depth_file(tmp_path, "f_2") == tmp_path / "f_2.npy"
    cv2.imwrite(str(tmp_path / "g_depth.png"), np.ones((2, 2), np.uint16))
    assert find_depth_file(tmp_path, "g") == tmp_path / "g_depth.png"
    assert find_depth_file(tmp_path, "missing") is None
    cv2.imwrite(str(tmp_path / "eight.png"), np.ones((2, 2), np.uint8))
    with pytest.raises(DepthError, match="8-bit"):
        read_depth(tmp_path / "eight.png")


def test_intrinsics_layouts(tmp_path):
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps({"fx": 500, "fy": 501, "cx": 320, "cy": 240, "width": 640, "height": 480}))
    calib = tmp_path / "calib.yaml"
    calib.write_text("image_width: 640\nimage_height: 480\ncamera_name: rgb\ncamera_matrix:\n  rows: 3\n"
                     "  cols: 3\n  data: [500, 0, 320, 0, 501, 240, 0, 0, 1]\ndistortion_model: plumb_bob\n")
    info = tmp_path / "info.yaml"
    info.write_text("header: {frame_id: cam}\nheight: 480\nwidth: 640\n"
                    "k: [500.0, 0.0, 320.0, 0.0, 501.0, 240.0, 0.0, 0.0, 1.0]\n")
    intr_file = tmp_path / "cam.intr"
    intr_file.write_text(json.dumps({"_fx": 500, "_fy": 501, "_cx": 320, "_cy": 240, "_width": 640,
                                     "_height": 480, "_frame": "x"}))
    want = Intrinsics(500, 501, 320, 240, 640, 480)
    for path in (plain, calib, info, intr_file):
        assert load_intrinsics(path) == want, path
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"fx": 500}))
    with pytest.raises(IntrinsicsError, match="need fx, fy, cx, cy"):
        load_intrinsics(bad)
    with pytest.raises(IntrinsicsError, match="does not exist"):
        load_intrinsics(tmp_path / "nope.json")
    with pytest.raises(IntrinsicsError, match="no calibration"):
        Intrinsics.from_k([0] * 9)
    with pytest.raises(IntrinsicsError, match="frame is 320x240 but the intrinsics are for 640x480"):
        want.check_size(240, 320)


def test_backproject_and_project_are_inverse():
    intr = Intrinsics(500.0, 500.0, 4.0, 3.0, 8, 6)
    depth = np.full((6, 8), 2.0, np.float32)
    points = backproject(depth, intr)
    assert points[3, 4].tolist() == [0.0, 0.0, 2.0]
    np.testing.assert_allclose(points[0, 0], [-4 / 500 * 2, -3 / 500 * 2, 2.0], rtol=1e-6)
    uv = project(points.reshape(-1, 3), intr)
    np.testing.assert_allclose(uv[9], [1, 1], atol=1e-4)


@pytest.mark.skipif(not (DATA / "gqcnn").is_dir(), reason="../shared/data absent")
def test_real_files_load():
    intr = load_intrinsics(DATA / "gqcnn" / "primesense.intr")
    assert (intr.fx, intr.width) == (525.0, 640)
    depth = read_depth(DATA / "gqcnn" / "single_object" / "depth_0.npy")
    assert depth.shape == (480, 640) and 0.3 < np.median(depth) < 1.5
    uw = read_depth(DATA / "uw_rgbd" / "turntable" / "apple_1" / "apple_1_1_1_depth.png")
    assert uw.shape == (480, 640) and 0.3 < np.median(uw[uw > 0]) < 5
    assert load_intrinsics(DATA / "uw_rgbd" / "intrinsics.json").fx == 570.3


def test_stamp_pairer_takes_nearest_within_tolerance():
    pairer = StampPairer(tolerance_s=0.02, keep=3)
    for t in (1.00, 1.033, 1.066, 1.10):
        pairer.add(t, f"d{t}")
    assert pairer.match(1.07) == "d1.066"
    assert pairer.match(1.00) is None  # evicted (keep=3) and 0.033 away from the oldest kept
    assert pairer.match(1.5) is None
    assert pairer.nearest_gap(1.5) == pytest.approx(0.4)


def test_stamp_pairer_waits_for_a_depth_frame_still_on_its_way():
    import threading

    pairer = StampPairer(tolerance_s=0.05)
    pairer.add(0.967, "previous")          # the depth of the frame before, within the tolerance
    assert pairer.match(1.0) == "previous"  # no wait: the colour frame would get its neighbour's depth
    threading.Timer(0.05, pairer.add, (1.001, "own")).start()
    assert pairer.match(1.0, wait_s=2.0) == "own"
    assert pairer.match(2.0, wait_s=0.05) is None  # nothing comes: gives up after wait_s

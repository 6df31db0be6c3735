"""The depth segmenter: the object is what stands on the turntable, whatever is salient around it.

A ray-cast scene with exact truth (table, raised turntable disc, a board behind, a ball on the
turntable, Kinect-like noise), and the real Kinect frames of ../shared/data/uw_rgbd.
"""

import glob
from pathlib import Path

import cv2
import numpy as np
import pytest

from automask_ros.core.shared.atomic import read_rgb
from automask_ros.core.shared.camera import Intrinsics, load_intrinsics, pixel_rays
from automask_ros.core.capture.capture_params import CaptureParams
from automask_ros.core.shared.coco import mask_iou
from automask_ros.core.shared.depth import DepthError, DepthFrame, read_depth
from automask_ros.core.shared.depth_noise import structured_light
from automask_ros.core.capture.depth_segment import DepthSegmenter
from automask_ros.core.capture.plane import PlaneError
from automask_ros.core.capture.segment import SegmenterError, make_segmenter
from automask_ros.core.capture.turntable import find_turntable

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
INTR = Intrinsics(300.0, 300.0, 160.0, 120.0, 320, 240)
UP = np.array([0.0, -0.9, -0.44]) / np.linalg.norm([0.0, -0.9, -0.44])  # the table's normal, to the camera


def scene(ball_centre_xz=(0.0, 0.0), ball_r=0.04, with_ball=True, seed=0):
    """(rgb, noisy depth, exact ball mask): a camera 0.45 m above a table, looking down at 26 deg."""
    rx, ry = pixel_rays(INTR, INTR.height, INTR.width)
    rays = np.stack([rx, ry, np.ones_like(rx)], -1).astype(np.float64)
    table_d, top_h, radius = 0.45, 0.08, 0.15
    q = np.array([0.0, 0.2, 0.8])
    foot = q - (q @ UP + table_d) * UP  # the turntable's axis meets the table here
    depth = np.full(rx.shape, 0.0)
    colour = np.zeros(rx.shape + (3,))
    # table
    t = -table_d / (rays @ UP)
    hit = t > 0
    depth[hit] = (rays * t[..., None])[hit][:, 2]
    colour[hit] = (150, 120, 90)
    # board behind, white and salient
    board = 1.25 / rays[..., 2]
    pts = rays * board[..., None]
    on_board = (pts[..., 1] > -0.5) & (pts[..., 1] < 0.22) & (np.abs(pts[..., 0]) < 0.5) & \
        ((depth == 0) | (board < depth))
    depth[on_board], colour[on_board] = 1.25, (235, 235, 235)
    # turntable top, white too
    top_point = foot + top_h * UP
    t = (top_point @ UP) / (rays @ UP)
    p = rays * t[..., None]
    rel = p - top_point
    on_top = (t > 0) & (np.linalg.norm(rel - (rel @ UP)[..., None] * UP, axis=-1) <= radius)
    on_top &= (depth == 0) | (p[..., 2] < depth)
    depth[on_top], colour[on_top] = p[on_top][:, 2], (225, 225, 225)
    mask = np.zeros(rx.shape, bool)
    if with_ball:
        side = np.cross(UP, [1.0, 0, 0])
        c = top_point + ball_r * UP + ball_centre_xz[0] * np.array([1.0, 0, 0]) + ball_centre_xz[1] * side
        b = rays @ c
        disc = b ** 2 - (rays * rays).sum(-1) * (c @ c - ball_r ** 2)
        t = (b - np.sqrt(np.maximum(disc, 0))) / (rays * rays).sum(-1)
        mask = (disc > 0) & ((depth == 0) | (t * rays[..., 2] < depth))
        depth[mask], colour[mask] = (rays * t[..., None])[mask][:, 2], (180, 40, 30)
    rng = np.random.default_rng(seed)
    rgb = np.clip(colour + rng.normal(0, 4, colour.shape), 0, 255).astype(np.uint8)
    noisy = structured_light(depth.astype(np.float32), INTR.fx, rng)
    return rgb, noisy, mask


def test_finds_the_turntable_and_segments_the_object_not_the_salient_rig():
    rgb, depth, truth = scene()
    table = find_turntable(depth, INTR)
    assert table.radius == pytest.approx(0.15, abs=0.03) and table.score > 0.8
    seg = DepthSegmenter()
    prob = seg(rgb, DepthFrame(depth, INTR))
    assert mask_iou(prob > 0.5, truth) > 0.85
    assert prob[~cv2.dilate(truth.astype(np.uint8), np.ones((9, 9))).astype(bool)].max() < 0.5


def test_empty_turntable_reference_then_object_off_centre():
    rgb0, depth0, _ = scene(with_ball=False, seed=1)
    seg = DepthSegmenter()
    seg.set_reference(rgb0, DepthFrame(depth0, INTR))
    assert seg.has_reference and seg.describe()["fitted_on"] == "empty turntable"
    assert (seg(rgb0, DepthFrame(depth0, INTR)) > 0.5).sum() == 0   # the empty turntable is empty
    rgb, depth, truth = scene(ball_centre_xz=(0.06, -0.03), seed=2)
    assert mask_iou(seg(rgb, DepthFrame(depth, INTR)) > 0.5, truth) > 0.85


def test_auto_uses_depth_when_given_and_colour_alone_when_not():
    rgb, depth, truth = scene(seed=3)
    auto = make_segmenter("auto", **CaptureParams().segmenter_kwargs())
    assert mask_iou(auto(rgb, DepthFrame(depth, INTR)) > 0.5, truth) > 0.85
    assert auto.describe()["depth"]["turntable"]["radius_m"] == pytest.approx(0.15, abs=0.03)
    colour_only = auto(rgb)  # the FCN alone: runs, gives a probability map of the frame's size
    assert colour_only.shape == truth.shape


def test_bad_depth_is_one_clear_error():
    rgb, depth, _ = scene()
    seg = DepthSegmenter()
    with pytest.raises(DepthError, match="depth is 160x120 but colour is 320x240"):
        seg(rgb, DepthFrame(depth[::2, ::2], INTR))
    with pytest.raises(DepthError, match="no valid reading"):
        seg(rgb, DepthFrame(np.zeros_like(depth), INTR))
    with pytest.raises(SegmenterError, match="needs a depth frame"):
        seg(rgb)
    flat = np.random.default_rng(0).uniform(0.5, 3.0, depth.shape).astype(np.float32)  # no surface anywhere
    with pytest.raises(PlaneError, match="no support plane"):
        DepthSegmenter()(rgb, DepthFrame(flat, INTR))


UW = sorted(glob.glob(str(DATA / "uw_rgbd" / "turntable" / "*" / "*_[0-9].png")))


@pytest.mark.skipif(not UW, reason="../shared/data/uw_rgbd absent")
def test_real_kinect_turntable_frames_match_uw_masks():
    """Real Kinect v1 frames of a lab turntable: the FCN alone marks the turntable and the board
    (IoU 0.03); geometry finds the object. UW's own masks are automatic, with ragged edges."""
    intr = load_intrinsics(DATA / "uw_rgbd" / "intrinsics.json")
    scores = []
    for path in UW:
        rgb = read_rgb(path)
        depth = read_depth(path.replace(".png", "_depth.png"))
        ref = cv2.imread(path.replace(".png", "_mask.png"), cv2.IMREAD_GRAYSCALE) > 0
        scores.append(mask_iou(DepthSegmenter()(rgb, DepthFrame(depth, intr)) > 0.5, ref))
    assert min(scores) > 0.8 and np.median(scores) > 0.85, scores


def test_recorder_with_depth_rejects_a_bad_depth_frame_and_keeps_going(tmp_path):
    from automask_ros.core.capture.dataset import SweepWriter, load_sweep
    from automask_ros.core.capture.sweep import SweepRecorder

    params = CaptureParams.from_dict({"min_change": 0.0, "loop_closure": False, "contact_sheet": False})
    segmenter = make_segmenter(params.segmenter, **params.segmenter_kwargs())
    recorder = SweepRecorder(SweepWriter(tmp_path, "ball"), segmenter, params)
    rgb0, depth0, _ = scene(with_ball=False, seed=4)
    assert recorder.feed(rgb0, depth=DepthFrame(depth0, INTR), empty=True).status == "negative"
    rgb, depth, truth = scene(seed=5)
    bad = recorder.feed(rgb, depth=DepthFrame(np.zeros_like(depth), INTR))
    assert bad.status == "rejected" and bad.reason.startswith("depth unusable: depth frame has no valid reading")
    good = recorder.feed(rgb, depth=DepthFrame(depth, INTR))
    assert good.status == "kept" and mask_iou(good.mask, truth) > 0.85
    recorder.finish()
    sweep = load_sweep(recorder.writer.path)
    assert sweep.meta["segmenter"]["depth"]["fitted_on"] == "empty turntable"
    assert [r["reason"][:15] for r in sweep.meta["rejected"]] == ["depth unusable:"]

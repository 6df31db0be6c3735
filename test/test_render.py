"""Synthetic turntable renderer: exact masks, repeatability, clutter, folders, and FCN-visible objects."""

import json
import time

import cv2
import numpy as np
import pytest

from automask_ros.cli import main
from automask_ros.core.demo import render as R
from automask_ros.core.shared.coco import mask_iou


def _sweep(obj="mug", **kw):
    kw.setdefault("size", (160, 120))
    return list(R.render_sweep(obj, **kw))


def test_sweep_frames_angles_and_empty_frames():
    frames = _sweep(n_frames=6, empty_frames=2, seed=1, size=(97, 61))  # odd, non-square
    assert len(frames) == 8
    assert [f.is_empty for f in frames] == [True, True] + [False] * 6
    assert [f.angle_deg for f in frames[2:]] == pytest.approx([0, 60, 120, 180, 240, 300])
    assert frames[0].angle_deg is None and not frames[0].mask.any()
    stamps = [f.stamp for f in frames]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    for f in frames:
        assert f.rgb.shape == (61, 97, 3) and f.rgb.dtype == np.uint8
        assert f.mask.shape == (61, 97) and f.mask.dtype == bool
    for f in frames[2:]:
        assert 0.05 < f.mask.mean() < 0.6  # the object is in view and not the whole frame
        ys, xs = np.nonzero(f.mask)
        assert xs.min() > 0 and ys.min() > 0 and xs.max() < 96 and ys.max() < 60  # never cut off


def test_same_seed_same_frames_other_seed_other_noise():
    a = _sweep("bottle", n_frames=2, empty_frames=1, seed=3)
    b = _sweep("bottle", n_frames=2, empty_frames=1, seed=3)
    c = _sweep("bottle", n_frames=2, empty_frames=1, seed=4)
    for fa, fb in zip(a, b):
        assert np.array_equal(fa.rgb, fb.rgb) and np.array_equal(fa.mask, fb.mask)
    assert not np.array_equal(a[1].rgb, c[1].rgb)


@pytest.mark.parametrize("obj", R.OBJECTS)
def test_masks_are_exact(obj):
    """Without noise, flicker and shadow, the object changes exactly the pixels its mask covers
    (up to the 0.6 px lens blur at the outline) and the background elsewhere is untouched."""
    frames = _sweep(obj, n_frames=3, empty_frames=1, seed=2, size=(161, 121), noise=0, flicker=0, shadow=False)
    empty = frames[0].rgb.astype(int)
    kernel = np.ones((3, 3), np.uint8)
    for f in frames[1:]:
        diff = np.abs(f.rgb.astype(int) - empty).sum(2)
        mask = f.mask.astype(np.uint8)
        outside = cv2.dilate(mask, kernel, iterations=3) == 0
        inside = cv2.erode(mask, kernel, iterations=2) > 0
        assert diff[outside].max() == 0
        assert (diff[inside] > 8).mean() > 0.95
        # the first pixel ring outside the outline is already (almost) background
        ring = (cv2.dilate(mask, kernel) > 0) & ~f.mask
        assert np.median(diff[ring]) < np.median(diff[inside])


def test_mug_handle_leaves_a_hole_in_the_mask():
    holes = 0
    for f in _sweep("mug", n_frames=8, empty_frames=0, seed=0, size=(320, 240)):
        _, hierarchy = cv2.findContours(f.mask.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
        holes += int(np.sum(hierarchy[0][:, 3] >= 0))  # contours with a parent are holes
    assert holes >= 2  # the handle seen side-on shows the table through its loop


def test_held_out_views_show_the_same_object():
    a = _sweep("box", n_frames=4, empty_frames=0, seed=5, noise=0, flicker=0)
    b = _sweep("box", n_frames=4, empty_frames=0, seed=5, noise=0, flicker=0, start_deg=360.0)
    assert np.array_equal(a[0].mask, b[0].mask)  # start_deg shifts views; the object is the same


def test_clutter_scenes():
    scenes = R.render_clutter(["mug", "box"], n=3, size=(200, 150), seed=7, distractors=3)
    again = R.render_clutter(["mug", "box"], n=3, size=(200, 150), seed=7, distractors=3)
    assert len(scenes) == 3
    for (rgb, instances), (rgb2, _) in zip(scenes, again):
        assert rgb.shape == (150, 200, 3) and np.array_equal(rgb, rgb2)
        labels = [label for label, _ in instances]
        assert set(labels) <= {"mug", "box"} and len(labels) >= 1
        masks = np.stack([m for _, m in instances])
        assert masks.sum(0).max() <= 1  # visible masks never overlap (occlusion handled)
    with pytest.raises(ValueError, match="unknown object"):
        R.render_clutter(["teapot"], n=1)


def test_backgrounds_without_the_object(tmp_path):
    scenes = R.render_clutter([], n=2, size=(120, 90), seed=3, distractors=4, exclude=["mug"])
    assert all(instances == [] for _, instances in scenes)
    assert main(["render", "--object", "mug", "--out", str(tmp_path / "r"), "--frames", "2", "--size", "64x48",
                 "--backgrounds", "3"]) == 0
    assert len(list((tmp_path / "r" / "backgrounds").glob("*.png"))) == 3


def test_render_is_fast():
    gen = R.render_sweep("mug", n_frames=6, empty_frames=0, size=(320, 240), seed=0)
    next(gen)
    start = time.perf_counter()
    rest = list(gen)
    per_frame = (time.perf_counter() - start) / len(rest)
    assert per_frame < 0.3, f"{per_frame:.3f} s per 320x240 frame"  # ~0.02-0.04 s here; loose for CI load


def test_cli_writes_camera_like_folder(tmp_path):
    out = tmp_path / "sweep"
    assert main(["render", "--object", "bottle", "--out", str(out), "--frames", "4", "--empty", "1",
                 "--size", "96x72", "--clutter", "2"]) == 0
    meta = json.loads((out / "angles.json").read_text())
    assert meta["label"] == "bottle" and len(meta["frames"]) == 5
    assert meta["frames"][0]["empty"] and meta["frames"][0]["angle_deg"] is None
    assert meta["frames"][2]["angle_deg"] == pytest.approx(90.0)
    for rec in meta["frames"]:
        img = cv2.imread(str(out / rec["image"]))
        mask = cv2.imread(str(out / rec["mask"]), cv2.IMREAD_GRAYSCALE)
        assert img.shape == (72, 96, 3) and mask.shape == (72, 96)
        assert set(np.unique(mask)) <= {0, 255} and (mask.any() != rec["empty"])
    coco = json.loads((out / "clutter" / "annotations.json").read_text())
    assert len(coco["images"]) == 2 and coco["categories"][0]["name"] == "bottle"
    assert all(a["category_id"] == 1 for a in coco["annotations"])


def test_cli_rerender_replaces_the_folder(tmp_path, capsys):
    out = tmp_path / "sweep"
    assert main(["render", "--out", str(out), "--frames", "6", "--empty", "0", "--size", "48x32"]) == 0
    assert main(["render", "--out", str(out), "--frames", "3", "--empty", "0", "--size", "48x32"]) == 0
    assert len(list((out / "images").iterdir())) == len(list((out / "masks").iterdir())) == 3
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("x")
    assert main(["render", "--out", str(tmp_path / "other"), "--size", "48x32"]) == 2
    assert "not an earlier render folder" in capsys.readouterr().err


def test_cli_rejects_bad_size(tmp_path, capsys):
    assert main(["render", "--out", str(tmp_path / "x"), "--size", "320by240"]) == 2
    assert "WIDTHxHEIGHT" in capsys.readouterr().err


def test_salient_object_fcn_finds_the_object():
    """U^2-Net-p (the capture FCN) must see the object, not the turntable, table or wall."""
    from automask_ros.core.capture.segment import make_segmenter
    seg = make_segmenter("u2net")
    for obj in R.OBJECTS:
        frame = _sweep(obj, n_frames=3, empty_frames=0, seed=11, size=(320, 240))[1]
        pred = seg(frame.rgb) > 0.5
        iou = mask_iou(pred, frame.mask)
        assert iou > 0.9, f"{obj}: U^2-Net-p IoU {iou:.3f}"


def test_texture_sampling_beyond_opencv_map_limit():
    """Large frames put more than 32767 pixels on one printed face; remap maps must be 2-D blocks."""
    rng = np.random.default_rng(0)
    tex = rng.integers(0, 255, (50, 70, 3), dtype=np.uint8)
    ys, xs = rng.integers(0, 50, 40000), rng.integers(0, 70, 40000)
    got = R._remap_points(tex, xs.astype(np.float32), ys.astype(np.float32))
    assert np.array_equal(got, tex[ys, xs])


def _world_points(depth, intrinsics, pose):
    """Back-project depth with the intrinsics, then move the points into the world (metres)."""
    from automask_ros.core.shared.camera import backproject
    pts = backproject(depth, intrinsics)
    return pts @ pose[:3, :3].T + pose[:3, 3]


def test_depth_backprojects_onto_the_known_scene_geometry():
    """Every pixel of an empty frame, back-projected with the frame's intrinsics, lies on the table
    (y = 0), the turntable top (y = its height, inside its radius), its rim or the wall."""
    size = (161, 121)
    frames = _sweep("mug", n_frames=4, empty_frames=1, seed=3, size=size)
    empty = frames[0]
    intr = empty.intrinsics
    assert (intr.width, intr.height) == size and intr.fx == intr.fy > 0
    assert empty.depth.shape == (121, 161) and empty.depth.dtype == np.float32
    assert (empty.depth > 0).all()  # the wall and table fill the whole view
    w = _world_points(empty.depth, intr, empty.pose)
    r = np.hypot(w[..., 0], w[..., 2])
    unit, top_y, radius = R.UNIT_M, R._TURNTABLE_H * R.UNIT_M, R._TURNTABLE_R * R.UNIT_M
    tol = 2e-5  # metres: float32 round-off
    on_table = np.abs(w[..., 1]) < tol
    on_top = (np.abs(w[..., 1] - top_y) < tol) & (r <= radius + tol)
    on_rim = (np.abs(r - radius) < 1e-4) & (w[..., 1] > -tol) & (w[..., 1] < top_y + tol)
    on_wall = np.abs(w[..., 2] + 2.6 * unit) < 1e-4
    assert (on_table | on_top | on_rim | on_wall).all()
    assert on_top.sum() > 500 and on_table.sum() > 500 and on_wall.sum() > 100
    assert not (on_table & (r < radius - 1e-3)).any()  # the platter hides the table under it

    for f in frames[1:]:
        assert f.intrinsics == intr and np.array_equal(f.pose, empty.pose)
        # outside the object (and its 1 px anti-aliasing ring) the depth is the empty scene's
        outside = cv2.dilate(f.mask.astype(np.uint8), np.ones((3, 3), np.uint8)) == 0
        assert np.array_equal(f.depth[outside], empty.depth[outside])
        # the mug stands in front; where its foot meets the platter, edge pixels (the polygon fill
        # covers the pixel, the pixel's centre ray just misses) sit within 2 mm of the platter
        nearer = f.depth[f.mask] - empty.depth[f.mask]
        assert (nearer < 0).mean() > 0.99 and nearer.max() < 0.002
        obj = _world_points(f.depth, intr, f.pose)[f.mask]
        # the mug (9.65 cm tall, handle reach 6.25 cm, placed within 6 mm of the axis) on the platter
        assert obj[:, 1].min() > top_y - 1e-3 and obj[:, 1].max() < top_y + 0.0965 + 1e-3
        assert np.hypot(obj[:, 0], obj[:, 2]).max() < 0.0625 + 0.0085 + 1e-3
        assert obj[:, 1].max() - obj[:, 1].min() > 0.08  # its whole height is seen


def test_box_face_depth_is_planar():
    """A box's printed faces are single planar polygons: their points fit a plane to float precision."""
    f = _sweep("box", n_frames=3, empty_frames=0, seed=5, size=(200, 150), noise=0, flicker=0)[1]
    pts = _world_points(f.depth, f.intrinsics, f.pose)[cv2.erode(f.mask.astype(np.uint8), np.ones((5, 5))) > 0]
    top = pts[np.abs(pts[:, 1] - pts[:, 1].max()) < 1e-4]  # the lid, seen from 22 degrees above
    assert len(top) > 50
    assert np.abs(top[:, 1] - (R._TURNTABLE_H + 0.95) * R.UNIT_M).max() < 1e-4


def test_clutter_scenes_carry_depth():
    scenes = R.render_clutter_scenes(["mug", "box"], n=2, size=(200, 150), seed=7, distractors=3)
    plain = R.render_clutter(["mug", "box"], n=2, size=(200, 150), seed=7, distractors=3)
    for scene, (rgb, instances) in zip(scenes, plain):
        assert np.array_equal(scene.rgb, rgb) and len(scene.instances) == len(instances)
        w = _world_points(scene.depth, scene.intrinsics, scene.pose)
        for label, mask in scene.instances:
            obj = w[mask]
            height = 0.965 if label == "mug" else 0.95
            assert obj[:, 1].min() > -2e-3 and obj[:, 1].max() < height * R.UNIT_M + 2e-3  # 2 mm: edge pixels
        background = ~np.any([m for _, m in scene.instances], axis=0)
        flat = (np.abs(w[..., 1]) < 2e-5) | (np.abs(w[..., 2] + 0.26) < 1e-4)
        assert flat[background].mean() > 0.6  # the rest is table and wall, apart from distractors


def test_cli_writes_depth_and_intrinsics_beside_the_images(tmp_path):
    """depth/ has one 16-bit mm PNG per colour frame with the same stem; intrinsics.json loads."""
    from automask_ros.core.shared.camera import load_intrinsics
    from automask_ros.core.shared.depth import find_depth_file, read_depth

    out = tmp_path / "studio"
    assert main(["render", "--object", "box", "--out", str(out), "--frames", "3", "--empty", "1",
                 "--size", "96x72", "--seed", "4"]) == 0
    frames = list(R.render_sweep("box", n_frames=3, size=(96, 72), seed=4, empty_frames=1))
    intr = load_intrinsics(out / "intrinsics.json")
    assert intr == frames[0].intrinsics
    meta = json.loads((out / "angles.json").read_text())
    assert meta["depth"] == "exact" and np.allclose(meta["camera_pose"], frames[0].pose, atol=1e-6)
    for image, frame, rec in zip(sorted((out / "images").iterdir()), frames, meta["frames"]):
        path = find_depth_file(out / "depth", image.stem)
        assert path == out / rec["depth"]
        assert cv2.imread(str(path), cv2.IMREAD_UNCHANGED).dtype == np.uint16
        assert np.abs(read_depth(path) - frame.depth).max() <= 0.0005 + 1e-6  # rounded to the millimetre

    rig_out = tmp_path / "rig"
    assert main(["render", "--rig", "--object", "mug", "--out", str(rig_out), "--frames", "4", "--empty", "2",
                 "--size", "160x120", "--seed", "1"]) == 0
    meta = json.loads((rig_out / "angles.json").read_text())
    assert meta["depth"] == "sensor" and [r["empty"] for r in meta["frames"]] == [True] * 2 + [False] * 4
    depth = read_depth(rig_out / meta["frames"][3]["depth"])
    mask = cv2.imread(str(rig_out / meta["frames"][3]["mask"]), cv2.IMREAD_GRAYSCALE) > 0
    assert depth.shape == mask.shape and 0 < (depth == 0).mean() < 0.3   # a sensor's holes
    assert 0.4 < np.median(depth[mask & (depth > 0)]) < 1.0
    assert 0.04 < mask.mean() < 0.17
    assert load_intrinsics(rig_out / "intrinsics.json").fx == pytest.approx(570.3 / 4)

    # a shorter re-render leaves no stale depth frames behind
    assert main(["render", "--rig", "--out", str(rig_out), "--frames", "2", "--empty", "0", "--size", "160x120"]) == 0
    assert sorted(p.name for p in (rig_out / "depth").iterdir()) == ["000000.png", "000001.png"]


def test_clutter_camera_field_of_view():
    """A wider lens (the rig's Kinect optics) shows the same scene smaller: same seed, same objects."""
    from automask_ros.core.demo.rig import KINECT_FOV_DEG
    narrow = R.render_clutter(["mug"], n=2, size=(160, 120), seed=5, distractors=1)
    wide = R.render_clutter(["mug"], n=2, size=(160, 120), seed=5, distractors=1, fov_deg=KINECT_FOV_DEG)
    for (_, [(_, a)]), (_, [(_, b)]) in zip(narrow, wide):
        ratio = b.sum() / a.sum()
        expected = (np.tan(np.radians(21)) / np.tan(np.radians(KINECT_FOV_DEG / 2))) ** 2
        assert ratio == pytest.approx(expected, rel=0.15)

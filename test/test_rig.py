"""The realistic RGB-D turntable rig (core/demo/rig.py): object size in frame, exact and sensor depth,
empty frames first, repeatable seeds and held-out views of the same rig."""

import cv2
import numpy as np
import pytest

from automask_ros.core.demo import rig
from automask_ros.core.shared.camera import backproject
from automask_ros.core.shared.depth_noise import axial_sigma
from automask_ros.core.demo.render import UNIT_M

SIZE = (160, 120)


def _frames(obj="mug", seed=0, **kw):
    kw.setdefault("n_frames", 4)
    kw.setdefault("empty_frames", 2)
    return list(rig.render_rig(obj, size=kw.pop("size", SIZE), seed=seed, **kw))


def _world(depth, frame):
    pts = backproject(depth, frame.intrinsics)
    return pts @ frame.pose[:3, :3].T + frame.pose[:3, 3]


@pytest.mark.parametrize("obj", ["mug", "bottle", "box"])
def test_object_fills_5_to_15_percent_and_is_never_cut_off(obj):
    for seed in (0, 2, 3):
        frames = _frames(obj, seed, n_frames=6, empty_frames=0)
        fills = [f.mask.mean() for f in frames]
        assert 0.045 < np.mean(fills) < 0.16, f"{obj} seed {seed}: mean fill {np.mean(fills):.3f}"
        ys, xs = np.nonzero(np.any([f.mask for f in frames], axis=0))
        assert xs.min() > 0 and ys.min() > 0 and xs.max() < SIZE[0] - 1 and ys.max() < SIZE[1] - 1


def test_empty_turntable_first_and_the_platter_turns():
    frames = _frames(n_frames=4, empty_frames=3)
    assert [f.is_empty for f in frames] == [True] * 3 + [False] * 4
    assert all(f.angle_deg is None and not f.mask.any() for f in frames[:3])
    assert [f.angle_deg for f in frames[3:]] == pytest.approx([0, 90, 180, 270])
    # the markers move with the platter while the table, board and room stay
    a, b = (f.rgb.astype(int) for f in frames[:2])
    moved = np.abs(a - b).sum(2) > 60
    assert moved.any() and moved.mean() < 0.05
    for f in frames:
        assert f.intrinsics == frames[0].intrinsics and np.array_equal(f.pose, frames[0].pose)
        assert f.depth.shape == f.sensor_depth.shape == SIZE[::-1]


def test_exact_depth_puts_the_object_on_the_platter():
    lay = rig.rig_layout("bottle", SIZE, seed=1)
    frames = _frames("bottle", seed=1, empty_frames=1)
    empty = frames[0]
    w = _world(empty.depth, empty)
    r = np.hypot(w[..., 0], w[..., 2])
    inner = r < 0.8 * lay.platter_r * UNIT_M  # only the platter top is there: at its height
    assert inner.sum() > 200 and (np.abs(w[..., 1][inner] - lay.platter_h * UNIT_M) < 2e-5).all()
    table = np.abs(w[..., 1]) < 2e-5
    assert table.sum() > 200 and not (table & (r < lay.base_r * UNIT_M - 1e-3)).any()
    bottle_h = 1.47 * lay.scale * UNIT_M
    for f in frames[1:]:
        obj = _world(f.depth, f)[f.mask]
        assert obj[:, 1].min() > lay.platter_h * UNIT_M - 2e-3
        assert obj[:, 1].max() < lay.platter_h * UNIT_M + bottle_h + 2e-3
        assert np.hypot(obj[:, 0], obj[:, 2]).max() < lay.platter_r * UNIT_M
        # in camera range of a structured-light sensor, and in front of what the empty frame shows
        assert 0.4 < np.median(f.depth[f.mask]) < 1.0
        assert (f.depth[f.mask] <= empty.depth[f.mask] + 2e-3).all()


def test_sensor_depth_is_noisy_like_a_structured_light_camera():
    frames = _frames("mug", seed=4, n_frames=2, empty_frames=1, size=(320, 240))
    f = frames[1]
    exact, sensor = f.depth, f.sensor_depth
    # depth-to-colour misregistration is at most a pixel: compare against the best aligned shift
    best = None
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            shifted = np.roll(exact, (dy, dx), axis=(0, 1))
            ok = (sensor > 0) & (shifted > 0)
            err = np.median(np.abs(sensor[ok] - shifted[ok]))
            best = err if best is None else min(best, err)
            if err == best:
                ref = shifted
    ok = (sensor > 0) & (ref > 0)
    near = ok & (ref < 0.7)
    far = ok & (ref > 1.5)
    assert near.sum() > 1000 and far.sum() > 500
    res_near = np.abs(sensor - ref)[near]
    res_far = np.abs(sensor - ref)[far]
    assert np.median(res_near) < 3 * axial_sigma(0.7)    # millimetres near
    assert np.median(res_far) > np.median(res_near) * 2   # noise grows with range
    assert len(np.unique(sensor[far])) < far.sum() / 5    # quantised in disparity
    # holes at depth edges: far more dropouts beside the object's outline than in open surfaces
    edge = cv2.dilate(f.mask.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    edge &= ~(cv2.erode(f.mask.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0)
    holes = sensor == 0
    assert holes[edge].mean() > 4 * holes[~edge].mean()
    assert 0.01 < holes.mean() < 0.3


def test_same_seed_same_rig_and_held_out_views_share_it():
    a = _frames("box", seed=6, n_frames=3, empty_frames=1)
    b = _frames("box", seed=6, n_frames=3, empty_frames=1)
    for fa, fb in zip(a, b):
        assert np.array_equal(fa.rgb, fb.rgb) and np.array_equal(fa.sensor_depth, fb.sensor_depth)
    c = _frames("box", seed=7, n_frames=3, empty_frames=1)
    assert not np.array_equal(a[0].rgb, c[0].rgb)
    held = _frames("box", seed=6, n_frames=3, empty_frames=0, start_deg=60.0)
    assert held[0].intrinsics == a[1].intrinsics and np.array_equal(held[0].pose, a[1].pose)
    assert not np.array_equal(held[0].mask, a[1].mask)
    # same room: away from the turntable (and the object) the exact depth is the same
    far = (a[0].depth > 0.9) & (held[0].depth > 0.9)
    assert far.mean() > 0.1 and np.array_equal(a[0].depth[far], held[0].depth[far])


def test_rig_refuses_unknown_objects_and_bad_counts():
    with pytest.raises(ValueError, match="unknown object"):
        next(rig.render_rig("teapot"))
    with pytest.raises(ValueError, match="n_frames"):
        next(rig.render_rig("mug", n_frames=0))


def test_renders_at_kinect_resolution():
    """640x480 has more platter pixels than cv2.remap takes in one map row (32767)."""
    frame = next(iter(rig.render_rig("mug", n_frames=1, size=(640, 480), seed=5, empty_frames=0)))
    assert frame.rgb.shape == (480, 640, 3) and frame.sensor_depth.shape == (480, 640) and frame.mask.any()

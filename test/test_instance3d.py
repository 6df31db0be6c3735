"""Instance geometry from mask + depth (core/detection/instance3d.py): the centroid survives holes, flying
pixels and background bleeding into the mask; no depth means no 3D, never a made-up position;
on real RGB-D frames the centroids stand on the table and project back into their masks.

The synthetic frame is analytic (a 10 cm square facing the camera at 1 m in front of a wall at
1.5 m), so the true centroid is known exactly; the real frames need ../shared and skip without it.
"""

import cv2
import numpy as np

from automask_ros.core.shared.camera import Intrinsics, backproject, load_intrinsics, project
from automask_ros.core.shared.depth import DepthFrame, read_depth
from automask_ros.core.detection.instance3d import instance_geometry
from automask_ros.core.capture.plane import fit_plane

INTR = Intrinsics(525.0, 525.0, 319.5, 239.5, 640, 480)


def square_scene(rng, holes=0.3, bleed_px=4, flying=True):
    """Depth of a 10 cm square at z = 1 m (x from 0 to 0.1 m) before a wall at 1.5 m, the true
    mask, a detector-like mask grown by bleed_px onto the wall, and the true centroid."""
    depth = np.full((480, 640), 1.5, np.float32)
    truth = np.zeros((480, 640), bool)
    truth[int(239.5 - 26.25):int(239.5 + 26.25), 320:372] = True
    depth[truth] = 1.0
    if flying:  # readings between the square and the wall on both sides of its outline
        t8 = truth.astype(np.uint8)
        ring = cv2.dilate(t8, np.ones((5, 5), np.uint8)).astype(bool) & \
            ~cv2.erode(t8, np.ones((3, 3), np.uint8)).astype(bool)
        depth[ring] = rng.uniform(1.0, 1.5, ring.sum()).astype(np.float32)
    depth += rng.normal(0, 0.002, depth.shape).astype(np.float32)
    depth[rng.random(depth.shape) < holes] = 0.0
    mask = cv2.dilate(truth.astype(np.uint8), np.ones((2 * bleed_px + 1,) * 2, np.uint8)).astype(bool)
    centre = backproject(np.where(truth, 1.0, 0.0), INTR)[truth].mean(axis=0)
    return depth, truth, mask, centre


def test_centroid_survives_holes_flying_pixels_and_bleeding():
    rng = np.random.default_rng(0)
    depth, truth, mask, centre = square_scene(rng)
    naive = backproject(depth, INTR)[mask & (depth > 0)].mean(axis=0)
    assert np.linalg.norm(naive - centre) > 0.03  # the mean of the raw mask is badly off: the test bites
    g = instance_geometry(mask, DepthFrame(depth, INTR))
    assert g.has_3d and 0.6 < g.valid_fraction < 0.8  # 30 % holes
    assert np.linalg.norm(g.position - centre) < 0.005
    np.testing.assert_allclose(g.size[:2], [0.1, 0.1], atol=0.012)
    assert g.size[2] < 0.02  # a flat face: no flying pixel stretches the box in depth
    assert 0 < len(g.points) <= 400 and np.all(np.abs(g.points[:, 2] - 1.0) < 0.02)


def test_an_occluder_splitting_the_mask_keeps_both_pieces():
    rng = np.random.default_rng(1)
    depth, truth, _, _ = square_scene(rng, holes=0.0, flying=False)
    bar = np.zeros_like(truth)
    bar[:, 340:350] = True  # a nearer pole in front of the square's middle
    depth[bar] = 0.6
    visible = truth & ~bar
    g = instance_geometry(visible, DepthFrame(depth, INTR))
    centre = backproject(np.where(visible, 1.0, 0.0), INTR)[visible].mean(axis=0)
    assert np.linalg.norm(g.position - centre) < 0.004


def test_no_valid_depth_means_no_3d_and_no_position():
    depth, truth, mask, _ = square_scene(np.random.default_rng(2), holes=0.0)
    depth[mask] = 0.0
    g = instance_geometry(mask, DepthFrame(depth, INTR))
    assert not g.has_3d and g.position is None and g.size is None and g.valid_fraction == 0.0
    assert "depth readings" in g.reason and len(g.points) == 0
    assert g.to_dict()["position"] is None and g.to_dict()["has_3d"] is False
    assert not instance_geometry(np.zeros_like(mask), DepthFrame(depth, INTR)).has_3d


def real_frames(shared_data):
    """(name, depth, mask, intrinsics, table normal hint) of every real RGB-D object with a mask."""
    g_intr = load_intrinsics(shared_data / "gqcnn" / "primesense.intr")
    for path in sorted((shared_data / "gqcnn").glob("*/color_*.png")):
        i = path.stem.split("_")[1]
        mask = cv2.imread(str(path.with_name(f"segmask_{i}.png")), cv2.IMREAD_GRAYSCALE) > 127
        n, labels = cv2.connectedComponents(mask.astype(np.uint8))  # piles: one instance per blob
        for k in range(1, n):
            if (labels == k).sum() >= 200:
                yield (f"gqcnn/{path.parent.name}/{path.name}#{k}", read_depth(path.with_name(f"depth_{i}.npy")),
                       labels == k, g_intr, (0, 0, -1))  # Dex-Net's camera looks down at the table
    u_intr = load_intrinsics(shared_data / "uw_rgbd" / "intrinsics.json")
    for path in sorted((shared_data / "uw_rgbd" / "turntable").glob("*/*_[0-9].png")):
        mask = cv2.imread(str(path.with_name(path.stem + "_mask.png")), cv2.IMREAD_GRAYSCALE) > 127
        yield (f"uw_rgbd/{path.name}", read_depth(path.with_name(path.stem + "_depth.png")), mask, u_intr,
               (0, -1, 0))  # UW's Kinect looks across the turntable from slightly above


def table_plane(depth, mask, intr, hint):
    """The support plane (RANSAC) fitted to the depth around the object, roughly along the hint."""
    mask8 = mask.astype(np.uint8)
    near = cv2.dilate(mask8, np.ones((151, 151), np.uint8)).astype(bool)
    away = ~cv2.dilate(mask8, np.ones((15, 15), np.uint8)).astype(bool)
    points = backproject(depth, intr)[near & away & (depth > 0)]
    plane, _ = fit_plane(points, 0.008, normal_hint=hint, max_angle_deg=50)
    return plane


def test_real_frames_centroids_stand_on_the_table_and_project_into_their_masks(shared_data):
    checked = 0
    for name, depth, mask, intr, hint in real_frames(shared_data):
        g = instance_geometry(mask, DepthFrame(depth, intr))
        assert g.has_3d, name
        plane = table_plane(depth, mask, intr, hint)
        height = float(plane.height(g.position[None])[0])
        assert 0.004 < height < 0.25, f"{name}: centroid {height:.3f} m above the table"
        assert float(plane.height(g.points).min()) > -0.015, f"{name}: a cloud point under the table"
        u, v = project(g.position, intr)[0]
        hull = cv2.convexHull(np.argwhere(mask)[:, ::-1].astype(np.int32))
        assert cv2.pointPolygonTest(hull, (float(u), float(v)), True) > -2, f"{name}: projects off the object"
        checked += 1
    assert checked >= 20


def test_rendered_rgbd_scenes_with_sensor_noise_give_centroids_within_a_centimetre():
    """The benchmark's setting in small: exact rendered depth through the structured-light noise
    model, truth = centroid of the true visible surface, masks grown by 3 px onto the background."""
    from automask_ros.core.shared.depth_noise import structured_light
    from automask_ros.core.demo.render import render_clutter_scenes

    rng = np.random.default_rng(0)
    errors = []
    for scene in render_clutter_scenes(["mug", "bottle", "box"], n=2, size=(640, 480), seed=7, distractors=3,
                                       camera_distance_m=(0.6, 1.4)):
        frame = DepthFrame(structured_light(scene.depth, scene.intrinsics.fx, rng), scene.intrinsics)
        for _, mask in scene.instances:
            truth = backproject(scene.depth, scene.intrinsics)[mask & (scene.depth > 0)].mean(axis=0)
            grown = cv2.dilate(mask.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
            g = instance_geometry(grown, frame)
            assert g.has_3d
            errors.append(np.linalg.norm(g.position - truth))
    assert len(errors) >= 5 and np.median(errors) < 0.01 and max(errors) < 0.025

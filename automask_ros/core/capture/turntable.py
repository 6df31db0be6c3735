"""Find the turntable in a depth frame: the support plane, the axis and the radius of its top.

A salient-object FCN cannot tell the object from the rig; geometry can. The turntable top is a
plane, and seen in the plane's own metric coordinates its visible part is a disc (the object on
it hides a piece of the disc, not its outline). So: fit the few dominant planes with RANSAC,
split each plane's inliers into connected patches, and take the patch whose outline is most
nearly a disc of plausible size. The floor, a table or the board behind the rig are planes too,
but their patches are cut by the image border or are rectangles, so they score lower. When no
patch looks like a disc (no turntable in view: an object on a table), the largest roughly
horizontal plane under the frame's centre is the support, and the whole plane counts.

Everything here runs on a subsampled cloud (long side ~160 px): a few tens of milliseconds,
done once per sweep (on the empty-turntable frame when there is one) and only refined per frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..shared.camera import Intrinsics, backproject
from ..shared.depth_noise import axial_sigma
from .plane import Plane, PlaneError, refit

MIN_DISC_SCORE = 0.72  # hull area / enclosing-circle area of a plausible turntable top (a square: 0.64)


@dataclass(frozen=True)
class Turntable:
    """The support: its plane, and the disc on it where the object stands (radius inf = no disc)."""

    plane: Plane
    centre: np.ndarray   # 3D point on the plane, on the turntable axis (camera frame, m)
    radius: float        # m
    score: float         # disc score of the patch, 0 when no disc was found

    def to_dict(self) -> dict:
        return {"plane": self.plane.to_dict(), "centre": [round(float(v), 4) for v in self.centre],
                "radius_m": None if math.isinf(self.radius) else round(float(self.radius), 4),
                "disc_score": round(float(self.score), 3)}

    def axis_distance(self, points: np.ndarray) -> np.ndarray:
        """Distance (m) of points (...x3) from the turntable axis, measured in the plane."""
        rel = np.asarray(points, np.float32) - self.centre.astype(np.float32)
        along = rel @ self.plane.normal.astype(np.float32)
        return np.linalg.norm(rel - along[..., None] * self.plane.normal.astype(np.float32), axis=-1)


def plane_threshold(z: np.ndarray, floor_m: float = 0.004) -> np.ndarray:
    """Inlier band (m) for a point at range z: three sigmas of the sensor noise, at least floor_m."""
    return np.maximum(floor_m, 3.0 * axial_sigma(z))


def _plane_basis(normal: np.ndarray) -> np.ndarray:
    a = np.array([1.0, 0.0, 0.0]) if abs(normal[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(normal, a)
    u /= np.linalg.norm(u)
    return np.stack([u, np.cross(normal, u)])


def _disc(points: np.ndarray, plane: Plane) -> tuple[np.ndarray, float, float]:
    """(centre on the plane, radius, disc score) of a planar patch's outline."""
    basis = _plane_basis(plane.normal)
    origin = -plane.d * plane.normal
    xy = ((points - origin) @ basis.T).astype(np.float32)
    hull = cv2.convexHull(xy)
    (cx, cy), r = cv2.minEnclosingCircle(hull)
    score = float(cv2.contourArea(hull)) / (math.pi * r * r) if r > 0 else 0.0
    return origin + cx * basis[0] + cy * basis[1], float(r), score


def _subsample(depth_m: np.ndarray, intr: Intrinsics, long_side: int = 160):
    h, w = depth_m.shape
    step = max(1, round(max(h, w) / long_side))
    small = depth_m[::step, ::step]
    # the subsampled grid is a camera of its own: back-project only its pixels (this runs per frame)
    coarse = Intrinsics(intr.fx / step, intr.fy / step, intr.cx / step, intr.cy / step)
    return small, backproject(small, coarse), step


def planar_patches(pts: np.ndarray, valid: np.ndarray, thr: np.ndarray, rng, *, seeds: int = 150,
                   win: int = 4, min_patch: int = 30):
    """Yield (plane, patch mask) for the planar patches of an organised cloud (HxWx3).

    Seeded region growing: a least-squares plane through a small window around a random seed,
    then the connected region of points within the noise band of that plane, refitted twice.
    Unlike sequential RANSAC this also finds small planes (a turntable top) next to large ones
    (floor, table, board), and each patch is connected, so patches of one plane stay apart."""
    h, w = valid.shape
    taken = ~valid
    order = rng.permutation(np.flatnonzero(valid))
    tried = 0
    for flat in order:
        if tried >= seeds:
            break
        y, x = divmod(int(flat), w)
        if taken[y, x]:
            continue
        tried += 1
        win_valid = valid[max(0, y - win):y + win + 1, max(0, x - win):x + win + 1]
        window = pts[max(0, y - win):y + win + 1, max(0, x - win):x + win + 1][win_valid]
        if len(window) < (win + 1) ** 2:
            continue
        plane = refit(window)
        if np.percentile(np.abs(plane.height(window)), 90) > thr[y, x]:
            continue  # not planar here: an edge, a curved surface or noise
        patch = None
        for _ in range(2):
            inl = (valid & (np.abs(plane.height(pts)) <= thr)).astype(np.uint8)
            _, labels = cv2.connectedComponents(inl, connectivity=4)
            if labels[y, x] == 0:
                break
            patch = labels == labels[y, x]
            if patch.sum() < min_patch:
                break
            plane = refit(pts[patch])
        if patch is None or patch.sum() < min_patch:
            taken[y, x] = True
            continue
        taken |= patch
        yield plane, patch


def find_turntable(depth_m: np.ndarray, intr: Intrinsics, *, radius_m: float = 0.0,
                   radius_range=(0.05, 0.75), rng=None) -> Turntable:
    """The turntable (or, failing that, the main support plane) in one depth frame.

    radius_m > 0: the known radius of the turntable top (a patch must be within 30 % of it).
    Raises PlaneError when no plane can be found at all."""
    rng = rng or np.random.default_rng(0)
    small, pts, _ = _subsample(depth_m, intr)
    valid = small > 0
    if valid.sum() < 100:
        raise PlaneError(f"only {int(valid.sum())} depth readings in the frame: too few to find the "
                         "turntable; check the depth camera and its range")
    thr = plane_threshold(small)
    lo, hi = (radius_m * 0.7, radius_m * 1.3) if radius_m > 0 else radius_range
    best, fallback, fallback_size = None, None, 0
    for plane, patch in planar_patches(pts, valid, thr, rng, min_patch=max(30, int(0.003 * small.size))):
        centre, r, score = _disc(pts[patch], plane)
        if lo <= r <= hi and score >= MIN_DISC_SCORE and (best is None or score > best.score):
            best = Turntable(plane, centre, r, score)
        # fallback support: the largest patch seen face-on rather than edge-on (a table, not a wall
        # seen from the side: its normal points back along the viewing ray)
        ray = pts[patch].mean(axis=0)
        facing = -float(plane.normal @ ray) / float(np.linalg.norm(ray))
        size = int(patch.sum())
        if facing > 0.3 and size > fallback_size:
            fallback, fallback_size = Turntable(plane, centre, math.inf, 0.0), size
    if best is not None:
        return best
    if fallback is not None:
        return fallback
    raise PlaneError("no support plane in the depth frame: is the turntable in view and within the "
                     "sensor's range?")


def refine_plane(table: Turntable, depth_m: np.ndarray, intr: Intrinsics) -> Turntable:
    """Re-fit the plane on this frame's points near the known turntable top (tracks small camera
    or table motion); keeps the old plane when too few points agree."""
    small, pts, _ = _subsample(depth_m, intr)
    valid = small > 0
    near = valid & (np.abs(table.plane.height(pts)) <= plane_threshold(small))
    if math.isfinite(table.radius):
        near &= table.axis_distance(pts) <= table.radius
    if near.sum() < 30:
        return table
    return Turntable(refit(pts[near]), table.centre, table.radius, table.score)

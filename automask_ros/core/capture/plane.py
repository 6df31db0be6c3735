"""Robust plane fitting (RANSAC + least-squares refit) for support surfaces seen by a depth camera.

The turntable top, a table, a shelf: the object stands on a plane, and "above the plane by more
than the sensor noise" is the strongest evidence of what is object. The plane is oriented so that
the camera is on its positive side: `height(p) = n . p + d` is how far p stands out of the
surface towards the camera, in metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class PlaneError(ValueError):
    """No plane could be fitted; the message says why and what to do."""


@dataclass(frozen=True)
class Plane:
    normal: np.ndarray  # unit normal, pointing to the camera's side
    d: float            # offset: n . p + d = 0 on the plane, > 0 on the camera's side

    def height(self, points: np.ndarray) -> np.ndarray:
        """Signed distance (m) of points (...x3) from the plane, positive towards the camera."""
        return np.asarray(points, np.float32) @ self.normal.astype(np.float32) + np.float32(self.d)

    def to_dict(self) -> dict:
        return {"normal": [round(float(v), 6) for v in self.normal], "d": round(float(self.d), 6)}


def _oriented(normal: np.ndarray, d: float) -> Plane:
    norm = float(np.linalg.norm(normal))
    normal, d = normal / norm, d / norm
    if d < 0:  # the camera (origin) must be on the positive side
        normal, d = -normal, -d
    return Plane(normal.astype(np.float64), float(d))


def refit(points: np.ndarray) -> Plane:
    """Least-squares plane through points (Nx3, N >= 3): the smallest principal axis."""
    centre = points.mean(axis=0)
    _, _, vt = np.linalg.svd(points - centre, full_matrices=False)
    normal = vt[2]
    return _oriented(normal, -float(normal @ centre))


def fit_plane(points: np.ndarray, threshold: float | np.ndarray, *, iterations: int = 200,
              rng: np.random.Generator | None = None, min_inliers: int = 50,
              normal_hint: np.ndarray | None = None, max_angle_deg: float = 90.0) -> tuple[Plane, np.ndarray]:
    """RANSAC plane through Nx3 points; threshold (m) may be per point (noise grows with range).

    normal_hint/max_angle_deg restrict the candidates (e.g. roughly horizontal planes).
    Returns the plane refitted on its inliers and the inlier mask; raises PlaneError when fewer
    than min_inliers points agree on any plane."""
    points = np.asarray(points, np.float64).reshape(-1, 3)
    n = len(points)
    if n < max(3, min_inliers):
        raise PlaneError(f"only {n} valid depth points: too few to fit the support plane; check the "
                         "depth image and that the turntable is in view")
    rng = rng or np.random.default_rng(0)
    thr = np.broadcast_to(np.asarray(threshold, np.float64), (n,))
    cos_max = np.cos(np.radians(max_angle_deg))
    hint = None if normal_hint is None else np.asarray(normal_hint, float) / np.linalg.norm(normal_hint)
    best, best_count = None, 0
    for _ in range(iterations):
        a, b, c = points[rng.choice(n, 3, replace=False)]
        normal = np.cross(b - a, c - a)
        norm = np.linalg.norm(normal)
        if norm < 1e-12:
            continue
        normal /= norm
        if hint is not None and abs(normal @ hint) < cos_max:
            continue
        inliers = np.abs(points @ normal - normal @ a) <= thr
        count = int(inliers.sum())
        if count > best_count:
            best, best_count = inliers, count
    if best is None or best_count < min_inliers:
        raise PlaneError(f"no plane fits the depth ({best_count} of {n} points agree, {min_inliers} needed): "
                         "is the support surface in view and within the sensor's range?")
    plane = refit(points[best])
    inliers = np.abs(plane.height(points)) <= thr
    if inliers.sum() >= 3:
        plane = refit(points[inliers])
    return plane, np.abs(plane.height(points)) <= thr

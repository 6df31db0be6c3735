"""Where an instance is in metres: its mask + aligned depth -> 3D centroid, box, size, points.

A robot needs a position to pick an object, and a depth camera's reading inside a mask is not the
object alone. Three things corrupt it, and each step here exists for one of them:

- holes (no reading, 0): only pixels with depth count; `valid_fraction` says how many there were;
- flying pixels at depth edges (readings between the object and what lies behind it): the mask is
  eroded, and pixels whose 3x3 neighbourhood spans a depth jump are dropped;
- background bleeding into an imperfect mask (the table behind a detected mug): the remaining
  pixels are split into depth-connected pieces and only the pieces at the depth of the largest
  one are kept; a per-axis trim by the median absolute deviation removes the stragglers.

The centroid is the mean of what is left (the visible surface's centroid), the box is the
axis-aligned 1-99 % extent in the depth camera's optical frame (x right, y down, z forward),
widened in x and y by the pixels the erosion took off.
An instance with too few readings gets `has_3d = False` and no position: never a made-up one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from ..shared.depth import DepthFrame

ERODE_PX = 2           # mask erosion before reading depth (flying pixels sit on the mask's edge)
JUMP_ABS_M = 0.01      # a 3x3 depth range above JUMP_ABS_M + JUMP_REL * z is a depth edge
JUMP_REL = 0.03
MIN_POINTS = 20        # fewer valid readings than this: no 3D for the instance
MAX_POINTS = 400       # points kept per instance for the cloud (evenly subsampled)
MAX_STAT_POINTS = 4096  # statistics use at most this many pixels, evenly spread (cost stays flat
                        # for large masks; the centroid of 4096 noisy readings is still sub-mm)
FULL_RES_AREA = 16384  # larger masks are read on every 2nd (3rd, ...) pixel: the cost of 3D stays
                       # near that of a 128x128 object however big the object is in the frame
TRIM_SIGMAS = 3.5      # per-axis trim: |p - median| <= TRIM_SIGMAS * 1.4826 * MAD + TRIM_FLOOR_M
TRIM_FLOOR_M = 0.01


@dataclass(frozen=True)
class Geometry3D:
    """One instance in 3D (metres, depth camera frame); position/box/size are None when not has_3d."""

    has_3d: bool
    valid_fraction: float                 # share of the (eroded) mask's pixels with a depth reading
    position: np.ndarray | None = None    # robust centroid of the visible surface, (x, y, z)
    box_center: np.ndarray | None = None  # centre of the axis-aligned box
    size: np.ndarray | None = None        # box edge lengths (x, y, z)
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.float32))  # Nx3 subsample
    reason: str = ""                      # why has_3d is False

    def to_dict(self) -> dict:
        """The fields results.json carries (no points)."""
        def r(v):
            return None if v is None else [round(float(x), 5) for x in v]
        out = {"has_3d": self.has_3d, "depth_valid_fraction": round(float(self.valid_fraction), 4),
               "position": r(self.position), "box_center": r(self.box_center), "size": r(self.size)}
        if self.reason:
            out["reason_no_3d"] = self.reason
        return out


def _eroded(mask: np.ndarray, px: int) -> tuple[np.ndarray, int]:
    """(mask eroded by r <= px pixels, r): less erosion when more would leave under a quarter of it."""
    area = int(mask.sum())
    for r in range(px, 0, -1):
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        out = cv2.erode(mask, kernel)
        if out.sum() >= max(MIN_POINTS, area // 4):
            return out, r
    return mask, 0


def _smooth(z: np.ndarray) -> np.ndarray:
    """Pixels whose valid 3x3 neighbours all lie within the jump threshold (no depth edge)."""
    k = np.ones((3, 3), np.uint8)
    hi = cv2.dilate(z, k)                                       # holes (0) never win a max
    lo = cv2.erode(np.where(z > 0, z, np.float32(np.inf)), k)   # ... nor a min
    return (hi - lo) <= JUMP_ABS_M + JUMP_REL * z


def _depth_cluster(good: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Depth-connected pieces of `good` at the depth of the largest piece (drops bleeding background)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(good.astype(np.uint8), connectivity=8)
    if n <= 2:
        return good

    def median_depth(lab: int) -> float:  # over the piece's own box, on at most ~2000 of its pixels
        x, y, w, h = stats[lab, :4]
        values = z[y:y + h, x:x + w][labels[y:y + h, x:x + w] == lab]
        return float(np.median(values[::max(1, len(values) // 2000)]))

    order = 1 + np.argsort(-stats[1:, cv2.CC_STAT_AREA])
    z0 = median_depth(order[0])
    tol = 0.05 + 0.05 * z0  # pieces of one object split by an occluder stay within its depth extent
    keep = np.zeros(n, bool)
    keep[order[0]] = True
    for lab in order[1:]:
        if stats[lab, cv2.CC_STAT_AREA] < 0.02 * stats[order[0], cv2.CC_STAT_AREA]:
            break
        keep[lab] = abs(median_depth(lab) - z0) <= tol
    return keep[labels]


def _trim(points: np.ndarray) -> np.ndarray:
    med = np.median(points, axis=0)
    mad = np.median(np.abs(points - med), axis=0)
    ok = np.all(np.abs(points - med) <= TRIM_SIGMAS * 1.4826 * mad + TRIM_FLOOR_M, axis=1)
    return points[ok] if ok.sum() >= MIN_POINTS else points


def instance_geometry(mask: np.ndarray, depth: DepthFrame, *, erode_px: int = ERODE_PX,
                      max_points: int = MAX_POINTS, min_points: int = MIN_POINTS) -> Geometry3D:
    """3D of one instance from its HxW bool mask and the aligned depth frame (same size)."""
    d = depth.depth_m
    if mask.shape != d.shape:
        raise ValueError(f"mask is {mask.shape[1]}x{mask.shape[0]} but depth is {d.shape[1]}x{d.shape[0]}")
    m8 = np.asarray(mask, np.uint8)
    x, y, w, h = cv2.boundingRect(m8)
    if w == 0 or h == 0:
        return Geometry3D(False, 0.0, reason="empty mask")
    # work on the box (plus a pixel for the 3x3 neighbourhood): cost follows the object, not the frame
    x0, y0, x1, y1 = max(0, x - 1), max(0, y - 1), min(d.shape[1], x + w + 1), min(d.shape[0], y + h + 1)
    grid = max(1, int(np.sqrt(w * h / FULL_RES_AREA)))  # pixel stride: 1 up to 128x128, 2 up to 256x256, ...
    m, eroded_px = _eroded(m8[y0:y1:grid, x0:x1:grid], -(-erode_px // grid))
    m = m.astype(bool)
    z = np.ascontiguousarray(d[y0:y1:grid, x0:x1:grid], np.float32)
    valid = m & (z > 0)
    n_valid = int(valid.sum())
    fraction = n_valid / max(1, int(m.sum()))
    if n_valid < min_points:
        return Geometry3D(False, fraction, reason=f"only {n_valid} depth readings inside the mask "
                                                  f"(needs {min_points}): depth holes or out of range")
    good = valid & _smooth(z)
    if good.sum() < min_points:  # all edges (a thin or noisy object): keep the readings, trim below
        good = valid
    good = _depth_cluster(good, z)
    vs, us = np.nonzero(good)
    if len(vs) > MAX_STAT_POINTS:
        pick = np.linspace(0, len(vs) - 1, MAX_STAT_POINTS).astype(np.intp)
        vs, us = vs[pick], us[pick]
    zs = z[vs, us]
    intr = depth.intrinsics
    pts = np.column_stack([((us * grid + x0) - intr.cx) / intr.fx * zs,
                           ((vs * grid + y0) - intr.cy) / intr.fy * zs, zs])
    pts = _trim(pts.astype(np.float32))
    ordered = np.sort(pts, axis=0).astype(np.float64)  # not np.percentile: ~20 ms a call in numpy 2 here
    lo, hi = ordered[int(0.01 * (len(pts) - 1))], ordered[int(0.99 * (len(pts) - 1))]
    centre = pts.mean(axis=0).astype(np.float64)
    # give back across x and y what the erosion took (r pixels a side) and the last pixel's width
    size = hi - lo
    size[:2] += (2 * eroded_px + 1) * grid * centre[2] / np.array([intr.fx, intr.fy])
    step = max(1, int(np.ceil(len(pts) / max_points)))
    return Geometry3D(True, fraction, position=centre, box_center=(lo + hi) / 2, size=size,
                      points=np.ascontiguousarray(pts[::step]))


def instances_geometry(masks, depth: DepthFrame, **options) -> list[Geometry3D]:
    """instance_geometry for each mask of one frame."""
    return [instance_geometry(m, depth, **options) for m in masks]

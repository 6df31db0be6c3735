"""A realistic RGB-D turntable rig: what a robot's depth camera sees when it is taught an object.

Modelled on the real Kinect frames in ../shared/data/uw_rgbd/turntable: a white motorised
turntable (a static base with a label plate and a knob, a rotating platter with red tape markers
and screw heads) on a table, a board standing behind it, bottles, cans, a mug and a box standing
around, and a room beyond (floor, walls, a door, a poster). The object stands on the platter and
covers 5-15 % of the frame; it is scaled (x0.9-2.6) so that it does at a camera distance where a
structured-light sensor still reads it (0.5-0.7 m). Everything varies per seed: sizes, colours,
materials, camera pose, distractors and their places, room, exposure and colour cast.

Depth: `Frame.depth` is exact (the renderer's geometry); `Frame.sensor_depth` is what a Kinect /
PrimeSense-class camera would give (core/depth_noise.structured_light: noise growing with z^2,
disparity quantisation, projector shadows, dropouts at depth edges), misregistered against the
colour image by up to a pixel, as real factory calibrations are. The platter (and its markers)
turns during the empty-turntable frames too, as a real one does while the sweep starts.

    for frame in render_rig("mug", n_frames=36, size=(320, 240), seed=0, empty_frames=2):
        frame.rgb, frame.mask, frame.depth, frame.sensor_depth, frame.intrinsics, frame.pose

Scene units are decimetres (render.UNIT_M); the turntable's axis is the world y axis, the table
top is y = 0. Helpers shared with core/demo/render.py (meshes, rasteriser, shading) come from there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterator

import cv2
import numpy as np

from ..shared.depth_noise import structured_light
from .render import (_AMBIENT, _LIGHT, DISTRACTORS, OBJECTS, UNIT_M, Camera, Frame, Mesh, _finish, _grid_mesh,
                     _noise, _parse_size, _rasterize, _remap_points, _shadow, make_object)

KINECT_FX_640 = 570.3         # Kinect v1 focal length at 640x480 (UW RGB-D's nominal constant)
KINECT_FOV_DEG = math.degrees(2 * math.atan(320 / KINECT_FX_640))  # its horizontal field of view
FILL_RANGE = (0.05, 0.15)     # object area as a fraction of the frame
CAMERA_RANGE_M = (0.5, 0.7)   # camera to object distance the scale is chosen for
SCALE_RANGE = (0.9, 2.6)


# --------------------------------------------------------------------------- analytic surfaces

@dataclass
class _Hits:
    """Nearest analytic surface along every pixel's ray."""

    t: np.ndarray        # HxW distance along the ray (inf = nothing)
    surface: np.ndarray  # HxW int: index into the scene's surface list, -1 = nothing
    points: np.ndarray   # HxWx3 world points (scene units)
    normals: np.ndarray  # HxWx3 unit normals facing the camera


def _plane_hit(eye, d, origin, u, v, bounded: bool):
    """t of rays against the plane through origin spanned by u, v (inside the rectangle if bounded)."""
    n = np.cross(u, v)
    n = n / np.linalg.norm(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = ((origin - eye) @ n) / (d @ n)
    t = np.where(np.isfinite(t) & (t > 1e-6), t, np.inf)
    if bounded:
        p = eye + np.where(np.isfinite(t), t, 0)[..., None] * d - origin
        s, r = p @ u / (u @ u), p @ v / (v @ v)
        t = np.where((s >= 0) & (s <= 1) & (r >= 0) & (r <= 1), t, np.inf)
    return t, np.broadcast_to(n, d.shape)


def _cylinder_hit(eye, d, radius, y0, y1):
    """t of rays against the outside of the vertical cylinder x^2 + z^2 = radius^2, y0 <= y <= y1."""
    a = d[..., 0] ** 2 + d[..., 2] ** 2
    b = 2 * (eye[0] * d[..., 0] + eye[2] * d[..., 2])
    c = eye[0] ** 2 + eye[2] ** 2 - radius ** 2
    disc = b * b - 4 * a * c
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a)
    y = eye[1] + t * d[..., 1]
    t = np.where((disc > 0) & (t > 1e-6) & (y >= y0) & (y <= y1), t, np.inf)
    p = eye + np.where(np.isfinite(t), t, 0)[..., None] * d
    n = p * np.array([1.0, 0.0, 1.0]) / radius
    return t, n


def _disc_hit(eye, d, radius, y):
    """t of rays against the upward-facing disc of `radius` at height y (seen from above)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (y - eye[1]) / d[..., 1]
    p = eye + np.where(np.isfinite(t), t, 0)[..., None] * d
    t = np.where(np.isfinite(t) & (t > 1e-6) & (p[..., 0] ** 2 + p[..., 2] ** 2 <= radius ** 2), t, np.inf)
    return t, np.broadcast_to(np.array([0.0, 1.0, 0.0]), d.shape)


def _cast(cam: Camera, shapes: list[Callable]) -> _Hits:
    """Ray-cast every pixel against the shapes (each eye, rays -> (t, normals)); nearest wins."""
    d = cam.rays().astype(np.float64)
    eye = cam.eye
    best = np.full(d.shape[:2], np.inf)
    which = np.full(d.shape[:2], -1)
    normals = np.zeros(d.shape)
    for k, shape in enumerate(shapes):
        t, n = shape(eye, d)
        nearer = t < best
        best = np.where(nearer, t, best)
        which = np.where(nearer, k, which)
        normals = np.where(nearer[..., None], n, normals)
    points = eye + np.where(np.isfinite(best), best, 0)[..., None] * d
    flip = np.sum(normals * (eye - points), -1) < 0  # face the camera
    normals = np.where(flip[..., None], -normals, normals)
    return _Hits(best, which, points, normals)


def _lambert(normals: np.ndarray) -> np.ndarray:
    return (_AMBIENT + (1 - _AMBIENT) * np.clip(normals @ _LIGHT, 0, None)).astype(np.float32)


# --------------------------------------------------------------------------- the rig's layout

@dataclass
class RigLayout:
    """Everything a seed decides about the rig; the frames only turn the platter."""

    obj: str
    variant: int
    scale: float                  # object scale (1 = its natural size, a 9.7 cm mug)
    offset: tuple                 # object's place on the platter (x, z), scene units
    spin: float                   # how the object was put down, degrees
    platter_r: float
    platter_h: float              # height of the platter top above the table
    base_r: float
    markers: np.ndarray           # marker angles on the platter rim, degrees
    cam: Camera
    distractors: list             # [Mesh] standing on the table


def _object_extent(mesh: Mesh) -> tuple[float, float]:
    pts = mesh.points()
    return float(np.hypot(pts[:, 0], pts[:, 2]).max()), float(pts[:, 1].max())


def _mean_area(cam_at: Callable[[float], Camera], mesh: Mesh, distance: float, lift: float) -> float:
    """Mean silhouette area (fraction of the frame) of the mesh over four turntable angles
    (measured on a copy of the camera at most 160 pixels wide: a fraction needs no more)."""
    full = cam_at(distance)
    k = min(1.0, 160 / full.width)
    cam = Camera((max(16, round(full.width * k)), max(16, round(full.height * k))), full.eye,
                 full.eye + full.R[2], fov_deg=math.degrees(2 * math.atan(0.5 * full.width / full.f)))
    zeros = np.zeros((cam.height, cam.width, 3), np.float32)
    areas = [(_rasterize(cam, [mesh.transformed(a, (0, lift, 0))], zeros,
                         np.zeros(zeros.shape[:2], np.float32))[1] > 0).mean() for a in (0, 90, 180, 270)]
    return float(np.mean(areas))


def rig_layout(obj: str, size, seed: int, variant: int = 0) -> RigLayout:
    """The rig of one seed: scale and camera so that the object fills 5-15 % of the frame."""
    if obj not in OBJECTS + DISTRACTORS:
        raise ValueError(f"unknown object {obj!r}: choose one of {', '.join(OBJECTS + DISTRACTORS)}")
    w, h = _parse_size(size)
    rng = np.random.default_rng([seed, 0x716])
    mesh = make_object(obj, variant)
    reach, height = _object_extent(mesh)
    fill = rng.uniform(*FILL_RANGE)
    want_m = rng.uniform(*CAMERA_RANGE_M)
    elev = math.radians(rng.uniform(24, 40))
    azim = math.radians(rng.uniform(-25, 25))
    platter_h = rng.uniform(0.7, 1.0)
    fov = KINECT_FOV_DEG
    direction = np.array([math.sin(azim) * math.cos(elev), math.sin(elev), math.cos(azim) * math.cos(elev)])

    def cam_for(scale: float):
        target = np.array([0.0, platter_h + 0.5 * height * scale, 0.0])
        return lambda dist: Camera((w, h), target + dist * direction, target, fov_deg=fov)

    # the area falls with distance squared and grows with scale squared: one scale that reaches the
    # fill at the wanted distance, then the distance that reaches it exactly at the clipped scale
    probe = 10.0
    area1 = _mean_area(cam_for(1.0), mesh, probe, platter_h)
    scale = float(np.clip(want_m / UNIT_M / (probe * math.sqrt(area1 / fill)), *SCALE_RANGE))
    scaled = Mesh(mesh.verts * scale, mesh.normals, mesh.albedo, mesh.spec,
                  [(c * scale, n, t) for c, n, t in mesh.faces or []])
    dist = probe * scale * math.sqrt(area1 / fill)
    for _ in range(2):  # perspective: refine on the scaled mesh
        dist *= math.sqrt(_mean_area(cam_for(scale), scaled, dist, platter_h) / fill)
    # aim off-centre: a robot's camera is rarely pointed exactly at the object
    base_cam = cam_for(scale)(dist)
    half_w = dist * math.tan(math.radians(fov) / 2)
    shift = base_cam.R[0] * rng.uniform(-0.25, 0.25) * half_w + base_cam.R[1] * rng.uniform(-0.12, 0.2) * half_w
    cam = Camera((w, h), base_cam.eye + shift, np.array([0.0, platter_h + 0.5 * height * scale, 0.0]) + shift,
                 fov_deg=fov)
    platter_r = max(rng.uniform(1.3, 1.8), reach * scale + 0.25)
    offset = tuple(rng.uniform(-0.12, 0.12, 2) * platter_r)
    markers = (rng.uniform(0, 360) + np.arange(4) * 90 + rng.uniform(-25, 25, 4)) % 360
    base_r = platter_r * rng.uniform(0.85, 0.98)
    still = _distractors(rng, cam, platter_r, azim) + [_cable(rng, cam, base_r, azim)]
    return RigLayout(obj, variant, scale, offset, float(rng.uniform(0, 360)), platter_r, platter_h,
                     base_r, markers, cam, still)


def _cable(rng, cam: Camera, base_r: float, azim: float) -> Mesh:
    """The turntable's power cable: from the base's side down onto the table and away in a curve."""
    a0 = azim + math.radians(rng.uniform(-70, 70))
    turn = rng.uniform(-1.2, 1.2)
    s = np.linspace(0, 1, 60)
    a = a0 + turn * s ** 2
    r = base_r + 0.05 + s * rng.uniform(4, 7)
    y = 0.035 + 0.25 * np.clip(1 - s * 12, 0, 1) ** 2  # leaves the base 2.5 cm up, then lies on the table
    spine = np.stack([r * np.sin(a), y, r * np.cos(a)], 1)
    ahead = cam.project(spine)[1] > 1.0  # it ends (out of view) before it would pass the camera
    spine = spine[:max(4, int(np.argmin(ahead)) if not ahead.all() else len(spine))]
    tangent = np.gradient(spine, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    side = np.cross(tangent, [0.0, 1.0, 0.0])
    side /= np.linalg.norm(side, axis=1, keepdims=True)
    up = np.cross(side, tangent)
    psi = np.linspace(0, 2 * np.pi, 9)[None, :, None]
    P = spine[:, None] + 0.035 * (np.cos(psi) * side[:, None] + np.sin(psi) * up[:, None])
    colour = np.full(3, rng.choice([0.9, 0.12]))  # white or black
    return _grid_mesh(P, lambda u, v: np.broadcast_to(colour, (len(u), 3)),
                      lambda c: c - spine[np.argmin(np.linalg.norm(c[:, None] - spine[None], axis=2), 1)])


def _distractors(rng, cam: Camera, platter_r: float, azim: float) -> list[Mesh]:
    """2-5 household objects standing on the table around the turntable, never in front of it."""
    out, spots = [], [(0.0, 0.0, platter_r + 0.1)]
    for _ in range(int(rng.integers(2, 6))):
        name = str(rng.choice(["bottle", "bottle", "can", "mug", "box", "book", "ball", "cone"]))
        mesh = make_object(name, int(rng.integers(1, 1000)))
        s = rng.uniform(0.9, 1.4)
        extent = np.hypot(*mesh.points()[:, [0, 2]].T).max() * s + 0.05
        for _try in range(40):
            # beside or behind the turntable as the camera sees it, as people leave things
            a = azim + math.radians(rng.choice([-1, 1]) * rng.uniform(60, 180))
            r = platter_r + extent + rng.uniform(0.2, 3.0)
            x, z = r * math.sin(a), r * math.cos(a)
            if all(math.hypot(x - sx, z - sz) > extent + se for sx, sz, se in spots):
                spots.append((x, z, extent))
                placed = mesh.transformed(rng.uniform(0, 360), (x, 0.0, z), s)
                if (cam.project(placed.points())[1] > 0.5).all():
                    out.append(placed)
                break
    return out


# --------------------------------------------------------------------------- the room

class _Room:
    """The static analytic scene of a layout (room, table, board, turntable base) and its colours."""

    def __init__(self, lay: RigLayout, rng: np.random.Generator):
        self.lay = lay
        cam = lay.cam
        self.table_h = 7.3
        tx0, tx1 = -rng.uniform(5, 9), rng.uniform(5, 9)
        tz0, tz1 = -rng.uniform(3, 5), rng.uniform(2.5, 4.5)
        back = -rng.uniform(9, 28)
        side = rng.choice([-1, 1]) * rng.uniform(10, 25)
        bw, bh = rng.uniform(4, 8), rng.uniform(3.5, 6.5)
        bx = rng.uniform(-1.5, 1.5) - bw / 2
        bz = -(lay.platter_r + rng.uniform(0.8, 3.0))
        lean = rng.uniform(0.3, 1.2)
        P = lambda *v: np.array(v, float)  # noqa: E731
        self.shapes = [
            lambda e, d: _plane_hit(e, d, P(tx0, 0, tz0), P(tx1 - tx0, 0, 0), P(0, 0, tz1 - tz0), True),  # 0 table
            lambda e, d: _plane_hit(e, d, P(tx0, -0.35, tz1), P(tx1 - tx0, 0, 0), P(0, 0.35, 0), True),  # 1 edge
            lambda e, d: _plane_hit(e, d, P(0, -self.table_h, 0), P(1, 0, 0), P(0, 0, 1), False),  # 2 floor
            lambda e, d: _plane_hit(e, d, P(0, 0, back), P(1, 0, 0), P(0, 1, 0), False),  # 3 back wall
            lambda e, d: _plane_hit(e, d, P(side, 0, 0), P(0, 0, 1), P(0, 1, 0), False),  # 4 side wall
            lambda e, d: _plane_hit(e, d, P(bx, 0, bz), P(bw, 0, 0), P(0, bh, -lean), True),  # 5 board
            lambda e, d: _cylinder_hit(e, d, lay.base_r, 0.0, lay.platter_h - 0.12),  # 6 base
            lambda e, d: _cylinder_hit(e, d, lay.platter_r, lay.platter_h - 0.12, lay.platter_h),  # 7 rim
            lambda e, d: _disc_hit(e, d, lay.platter_r, lay.platter_h),  # 8 platter top
        ]
        self.hits = _cast(cam, self.shapes)
        self.depth = np.where(np.isfinite(self.hits.t), self.hits.t, 0) * (cam.rays() @ cam.R[2])
        self.depth = self.depth.astype(np.float32)
        self.static = self._static_colour(rng, back, side, (bx, bz, bw, bh))
        self.platter = self.hits.surface >= 7
        self.white = rng.uniform(0.82, 0.95) * rng.uniform(0.97, 1.0, 3)
        self.tape = np.array([rng.uniform(0.8, 0.95), rng.uniform(0.1, 0.3), rng.uniform(0.1, 0.25)])
        self.fine = _noise(rng, (128, 128), 40)

    def _static_colour(self, rng, back, side, board) -> np.ndarray:
        hits = self.hits
        s, p = hits.surface, hits.points
        h, w = s.shape
        x, y, z = p[..., 0], p[..., 1], p[..., 2]
        out = np.zeros((h, w, 3), np.float32)
        fine = _noise(rng, (256, 256), 120)
        coarse = _noise(rng, (128, 128), 8)

        def tex(noise, a, b, scale):
            return cv2.remap(noise, (((a * scale) % 1.0) * (noise.shape[1] - 1)).astype(np.float32),
                             (((b * scale) % 1.0) * (noise.shape[0] - 1)).astype(np.float32), cv2.INTER_LINEAR)

        laminate = rng.choice([np.array([0.78, 0.7, 0.55]), np.array([0.62, 0.45, 0.3]),
                               np.array([0.85, 0.84, 0.8]), np.array([0.5, 0.5, 0.52])]) * rng.uniform(0.9, 1.05)
        table = laminate * (0.9 + 0.1 * tex(fine, x, z, 0.4))[..., None]
        r = np.hypot(x, z)
        table = table * (1 - 0.4 * np.exp(-np.maximum(r - self.lay.base_r, 0) / 0.25))[..., None]  # contact shade
        carpet = rng.uniform([0.3, 0.3, 0.28], [0.55, 0.5, 0.45])
        floor = carpet * (0.75 + 0.25 * tex(fine, x, z, 0.3) + 0.1 * tex(coarse, x, z, 0.03))[..., None]
        paint = rng.uniform([0.75, 0.7, 0.6], [0.95, 0.9, 0.85])
        wall = paint * (0.93 + 0.07 * tex(coarse, x + z, y, 0.05))[..., None]
        wall = np.where((y < -self.table_h + 0.8)[..., None], wall * 0.7, wall)  # skirting
        # a door and a poster on the back wall, a window-bright patch on the side wall
        door_x = rng.uniform(-12, 6)
        door = (s == 3) & (x > door_x) & (x < door_x + 9) & (y < -self.table_h + 20)
        wall = np.where(door[..., None], rng.uniform(0.25, 0.6, 3) * (0.9 + 0.1 * tex(fine, x, y, 0.2))[..., None],
                        wall)
        px, py = rng.uniform(-8, 8), rng.uniform(2, 8)
        poster = (s == 3) & (np.abs(x - px) < 2.5) & (np.abs(y - py) < 3.5)
        stripes = (np.floor((y - py) * 1.3) % 2)[..., None]
        wall = np.where(poster[..., None], rng.uniform(0.1, 0.9, 3) * (0.6 + 0.4 * stripes), wall)
        bright = (s == 4) & (np.abs(y - 5) < 6) & (np.abs(z + 5) < 7)
        wall = np.where(bright[..., None], np.minimum(wall * 1.35, 1.0), wall)
        bx, bz, bw, bh = board
        board_col = rng.choice([np.array([0.92, 0.92, 0.9]), np.array([0.75, 0.6, 0.45]),
                                np.array([0.35, 0.38, 0.4])]) * rng.uniform(0.9, 1.05)
        u = (x - bx) / bw
        board_c = board_col * (0.95 + 0.05 * tex(fine, x, y, 0.8))[..., None]
        scribble = (np.abs(np.sin(u * 40 + y * 3)) < 0.08) & (y > bh * 0.6) & (y < bh * 0.7) & (u > 0.3) & (u < 0.6)
        board_c = np.where(scribble[..., None], board_c * 0.4, board_c)
        base = np.full((h, w, 3), 1.0, np.float32) * 0.9
        phi = np.degrees(np.arctan2(x, z))  # 0 = towards +z
        cam_phi = math.degrees(math.atan2(self.lay.cam.eye[0], self.lay.cam.eye[2]))
        plate = (np.abs(((phi - cam_phi + 180) % 360) - 180 - 8) < 18) & (y > 0.2) & (y < 0.45)
        knob = (np.hypot((((phi - cam_phi + 180) % 360) - 180 + 20) * math.pi / 180 * self.lay.base_r,
                         y - 0.32) < 0.12)
        base = np.where(plate[..., None], np.array([0.75, 0.75, 0.7]), base)
        base = np.where(knob[..., None], np.array([0.08, 0.08, 0.09]), base)
        albedo = [table, laminate * 0.55, floor, wall, wall, board_c, base]
        for k, a in enumerate(albedo):
            sel = s == k
            out[sel] = np.broadcast_to(a, (h, w, 3))[sel]
        out *= _lambert(hits.normals)[..., None]
        out[s < 0] = 0.6  # (never seen: the walls and floor close the room)
        return out

    def colour(self, angle_deg: float) -> np.ndarray:
        """The static colours with the platter (white, red tape markers, screw heads) at angle."""
        out = self.static.copy()
        sel = self.platter
        p = self.hits.points[sel]
        phi = (np.degrees(np.arctan2(p[:, 0], p[:, 2])) - angle_deg) % 360
        r = np.hypot(p[:, 0], p[:, 2])
        R = self.lay.platter_r
        col = np.broadcast_to(self.white, (len(p), 3)).copy()
        col *= (0.96 + 0.06 * _remap_points(self.fine, phi / 360 * 127, r / R * 127).reshape(-1))[:, None]
        arc = np.abs(((phi[:, None] - self.lay.markers[None] + 180) % 360) - 180) * np.pi / 180 * r[:, None]
        tape = np.any((arc < 0.12) & (r[:, None] > R - 0.3), axis=1)  # 2.4 cm tape, wrapped over the rim
        col[tape] = self.tape
        screws = np.any(np.abs(((phi[:, None] - self.lay.markers[None] - 45 + 180) % 360) - 180)
                        * np.pi / 180 * r[:, None] < 0.05, axis=1) & (np.abs(r - 0.55 * R) < 0.05)
        col[screws] = 0.2
        hub = r < 0.12 * R
        col[hub] *= 0.93
        out[sel] = col * _lambert(self.hits.normals[sel])[:, None]
        return out


# --------------------------------------------------------------------------- frames

def _composite(img, owner, depth, layer_img, layer_owner, layer_depth):
    """Z-buffer a rasterised layer over a scene: layer pixels that are nearer win."""
    win = (layer_owner > 0) & (layer_depth < depth)
    img[win], owner[win], depth[win] = layer_img[win], layer_owner[win], layer_depth[win]


def render_rig(obj: str = "mug", n_frames: int = 36, size=(320, 240), seed: int = 0, empty_frames: int = 2,
               start_deg: float = 0.0, variant: int = 0, frame_interval_s: float = 0.5,
               noise: float | None = None, sensor: bool = True) -> Iterator[Frame]:
    """A turntable sweep on the realistic rig: `empty_frames` of the empty platter turning, then
    n_frames views 360/n apart. Same (obj, seed, variant) = same rig and object, so start_deg
    gives held-out views. sensor=False skips the noisy sensor depth (Frame.sensor_depth None)."""
    if n_frames < 1 or empty_frames < 0:
        raise ValueError("n_frames must be >= 1 and empty_frames >= 0")
    lay = rig_layout(obj, size, seed, variant)
    rng = np.random.default_rng([seed, 0x717])
    depth_rng = np.random.default_rng([seed, 0x718])
    room = _Room(lay, rng)
    cam, intr, pose = lay.cam, lay.cam.intrinsics(), lay.cam.pose()
    h, w = cam.height, cam.width
    noise = rng.uniform(2.0, 4.0) if noise is None else noise
    cast = rng.uniform(0.92, 1.08, 3).astype(np.float32)  # white balance
    exposure = rng.uniform(0.9, 1.1)
    register = rng.uniform(-1.0, 1.0, 2)                  # depth-to-colour misregistration, pixels
    shadows = _shadow(cam, lay.distractors) if lay.distractors else np.zeros((h, w), np.float32)
    table_lit = 1 - 0.45 * shadows * (room.hits.surface <= 1)
    if lay.distractors:
        zeros = np.zeros((h, w, 3), np.float32)
        far = np.full((h, w), np.inf, np.float32)
        still = _rasterize(cam, lay.distractors, zeros, far)
        still = (still[0], np.where(still[1] > 0, still[1] + 1, 0), still[2])  # owners 2.. ; 1 = object
    mesh = make_object(obj, variant)
    step = 360.0 / n_frames
    for i in range(empty_frames + n_frames):
        angle = (start_deg + (i - empty_frames) * step) % 360.0
        gain = exposure * (1.0 + 0.02 * rng.standard_normal())
        img = room.colour(angle + lay.spin) * table_lit[..., None]
        depth = room.depth.copy()
        owner = np.zeros((h, w), np.int32)
        if lay.distractors:
            _composite(img, owner, depth, *still)
        if i >= empty_frames:
            placed = mesh.transformed(lay.spin + angle, (0, 0, 0), lay.scale)
            a = math.radians(-angle)  # the offset turns with the platter
            ox, oz = lay.offset
            placed = placed.transformed(0, (ox * math.cos(a) + oz * math.sin(a), lay.platter_h,
                                            -ox * math.sin(a) + oz * math.cos(a)))
            img = img * (1 - 0.5 * _shadow(cam, [placed]) * room.platter)[..., None]
            _composite(img, owner, depth, *_rasterize(cam, [placed], img, depth))
        rgb = _finish(img * cast, rng, gain, noise)
        exact = depth * np.float32(UNIT_M)
        sensor_depth = None
        if sensor:
            shifted = cv2.warpAffine(exact, np.float32([[1, 0, register[0]], [0, 1, register[1]]]), (w, h),
                                     flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            sensor_depth = structured_light(shifted, intr.fx, depth_rng)
        yield Frame(rgb, owner == 1, None if i < empty_frames else angle, round(i * frame_interval_s, 6),
                    i < empty_frames, exact, intr, pose, sensor_depth)

"""Synthetic turntable sweeps and cluttered scenes with exact masks (numpy + OpenCV only).

The built-in data source for a machine with no camera and no ../shared: textured objects (a mug
with a handle, a bottle as a body of revolution, a box with printed faces) turn on a turntable in
front of a procedurally textured table and wall. Objects are fine quad meshes drawn back to front
(painter's algorithm) into an index buffer, so every pixel knows which object it shows and the
reference masks are exact; shading is Lambertian with a small specular term, the object casts a
soft shadow, and each frame gets lighting flicker, lens blur and camera noise. The same index
buffer gives exact depth: each pixel's ray meets the plane of the quad it shows, so depth, mask
and colour always agree. Scene units are decimetres (UNIT_M): a mug is 9.7 cm tall.

    for frame in render_sweep("mug", n_frames=36, seed=0): frame.rgb, frame.mask, frame.depth, frame.intrinsics
    scenes = render_clutter(["mug", "bottle"], n=5, seed=1)   # [(rgb, [(label, mask), ...]), ...]
    scenes = render_clutter_scenes(["mug"], n=5)               # [ClutterScene(rgb, instances, depth, ...)]
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import cv2
import numpy as np

from ..shared.atomic import atomic_write_image, atomic_write_json
from ..shared.camera import Intrinsics
from ..shared.coco import coco_dict, gt_annotation
from ..shared.depth import write_depth_png

OBJECTS = ("mug", "bottle", "box")
DISTRACTORS = ("can", "ball", "cone", "book")

_LIGHT = np.array([-0.45, 0.85, 0.55]) / np.linalg.norm([-0.45, 0.85, 0.55])
_AMBIENT = 0.38
_TURNTABLE_R, _TURNTABLE_H = 0.62, 0.03
UNIT_M = 0.1  # metres per scene unit: objects are about 1 unit (10 cm) tall, as real mugs are


@dataclass
class Frame:
    """One rendered turntable frame: RGB image, exact object mask and depth, and the camera.

    depth is exact camera-z depth in metres (0 where a ray meets nothing), aligned pixel for pixel
    with rgb and mask; pose is the 4x4 camera-to-world transform in metres (world y up, the
    turntable's axis is the world y axis): ground truth for depth and turntable-geometry tests.
    """

    rgb: np.ndarray            # HxWx3 uint8 RGB
    mask: np.ndarray           # HxW bool, all False for an empty frame
    angle_deg: float | None    # turntable angle; None for the empty frames before the object
    stamp: float               # seconds since the start of the sweep
    is_empty: bool
    depth: np.ndarray | None = None          # HxW float32 metres, exact
    intrinsics: Intrinsics | None = None     # pinhole intrinsics of rgb and depth
    pose: np.ndarray | None = None           # 4x4 camera-to-world, metres
    sensor_depth: np.ndarray | None = None   # HxW float32 metres as a depth camera gives it (core/demo/rig.py)


@dataclass
class ClutterScene:
    """One rendered table-top scene: RGB, visible masks of the labelled objects, exact depth."""

    rgb: np.ndarray
    instances: list            # [(label, HxW bool visible mask)]
    depth: np.ndarray          # HxW float32 metres, exact (0 = nothing)
    intrinsics: Intrinsics
    pose: np.ndarray           # 4x4 camera-to-world, metres


# --------------------------------------------------------------------------- geometry

class Camera:
    """A pinhole camera looking at a target: projects world points and casts per-pixel rays."""

    def __init__(self, size: tuple[int, int], eye, target, fov_deg: float = 42.0):
        self.width, self.height = int(size[0]), int(size[1])
        self.eye = np.asarray(eye, float)
        fwd = np.asarray(target, float) - self.eye
        fwd /= np.linalg.norm(fwd)
        right = np.cross(fwd, [0.0, 1.0, 0.0])
        right /= np.linalg.norm(right)
        down = np.cross(fwd, right)
        self.R = np.stack([right, down, fwd])          # world -> camera rows
        self.f = 0.5 * self.width / math.tan(math.radians(fov_deg) / 2)
        self.c = np.array([(self.width - 1) / 2, (self.height - 1) / 2])

    def project(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cam = (pts - self.eye) @ self.R.T
        z = np.maximum(cam[..., 2], 1e-6)
        return cam[..., :2] * (self.f / z)[..., None] + self.c, cam[..., 2]

    def intrinsics(self) -> Intrinsics:
        """Pinhole intrinsics of the rendered image (square pixels, no distortion)."""
        return Intrinsics(float(self.f), float(self.f), float(self.c[0]), float(self.c[1]), self.width, self.height)

    def pose(self) -> np.ndarray:
        """4x4 camera-to-world transform in metres (camera x right, y down, z forward)."""
        T = np.eye(4)
        T[:3, :3] = self.R.T
        T[:3, 3] = self.eye * UNIT_M
        return T

    def rays(self) -> np.ndarray:
        """HxWx3 unit ray directions in world coordinates."""
        u, v = np.meshgrid(np.arange(self.width, dtype=np.float32), np.arange(self.height, dtype=np.float32))
        d = np.stack([(u - self.c[0]) / self.f, (v - self.c[1]) / self.f, np.ones_like(u)], -1)
        d = d @ self.R.astype(np.float32)
        return d / np.linalg.norm(d, axis=-1, keepdims=True)


@dataclass
class Mesh:
    """Quads with per-quad albedo, plus planar faces textured with an image (printed box faces)."""

    verts: np.ndarray          # (Q, 4, 3) quad corners
    normals: np.ndarray        # (Q, 3) unit outward normals
    albedo: np.ndarray         # (Q, 3) float RGB 0..1
    spec: float = 0.0          # specular strength (glaze, plastic)
    faces: list | None = None  # [(corners (4,3), normal (3,), texture HxWx3 uint8)]

    def transformed(self, rot_deg: float, offset=(0.0, 0.0, 0.0), scale: float = 1.0) -> "Mesh":
        a = math.radians(rot_deg)
        rot = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
        off = np.asarray(offset, float)
        faces = [(c @ rot.T * scale + off, n @ rot.T, t) for c, n, t in (self.faces or [])]
        return Mesh(self.verts @ rot.T * scale + off, self.normals @ rot.T, self.albedo, self.spec, faces)

    @staticmethod
    def concat(meshes: Sequence["Mesh"]) -> "Mesh":
        faces = [f for m in meshes for f in (m.faces or [])]
        return Mesh(np.concatenate([m.verts for m in meshes]), np.concatenate([m.normals for m in meshes]),
                    np.concatenate([m.albedo for m in meshes]), max(m.spec for m in meshes), faces)

    def points(self) -> np.ndarray:
        pts = [self.verts.reshape(-1, 3)] + [c for c, _, _ in (self.faces or [])]
        return np.concatenate(pts)


def _grid_mesh(P: np.ndarray, texture: Callable, ref: Callable, spec: float = 0.0) -> Mesh:
    """Quads of a (nu+1, nv+1, 3) grid; texture(u, v) -> albedo, ref(centres) -> outward hint."""
    quads = np.stack([P[:-1, :-1], P[1:, :-1], P[1:, 1:], P[:-1, 1:]], 2).reshape(-1, 4, 3)
    n = np.cross(quads[:, 2] - quads[:, 0], quads[:, 3] - quads[:, 1])
    length = np.linalg.norm(n, axis=1)
    keep = length > 1e-12
    quads, n = quads[keep], n[keep] / length[keep, None]
    centres = quads.mean(1)
    n *= np.where(np.sum(n * ref(centres), 1) < 0, -1.0, 1.0)[:, None]
    nu, nv = P.shape[0] - 1, P.shape[1] - 1
    u, v = np.meshgrid(1 - (np.arange(nu) + 0.5) / nu, (np.arange(nv) + 0.5) / nv, indexing="ij")
    albedo = np.asarray(texture(u.ravel(), v.ravel()), float)[keep]
    return Mesh(quads, n, albedo, spec)


def _revolution(profile: np.ndarray, texture: Callable, segments: int = 96, facing: str = "out",
                spec: float = 0.0) -> Mesh:
    """Body of revolution about the y axis from a (k, 2) profile of (radius, height).

    facing says where normals point: "out" (away from the body's centre), "in" (towards the axis
    and up: a mug's inner wall) or "up" (a rim or floor).
    """
    theta = np.linspace(0, 2 * np.pi, segments + 1)
    r, y = profile[:, 0], profile[:, 1]
    P = np.stack([np.cos(theta)[:, None] * r, np.broadcast_to(y, (segments + 1, len(y))),
                  np.sin(theta)[:, None] * r], -1)
    centre = np.array([0.0, (y.min() + y.max()) / 2, 0.0])
    refs = {"out": lambda c: c - centre,
            "in": lambda c: c * np.array([-1.0, 0.0, -1.0]) + np.array([0.0, 0.3, 0.0]),
            "up": lambda c: np.tile([0.0, 1.0, 0.0], (len(c), 1))}
    return _grid_mesh(P, texture, refs[facing], spec)


def _torus_arc(centre, major: float, minor: float, a0: float, a1: float, texture: Callable,
               nu: int = 28, nv: int = 16) -> Mesh:
    """A tube swept along an arc in the xy plane: the mug's handle."""
    phi = np.linspace(a0, a1, nu + 1)[:, None]
    psi = np.linspace(0, 2 * np.pi, nv + 1)[None, :]
    spine = np.stack([np.cos(phi), np.sin(phi), np.zeros_like(phi)], -1) * major
    radial = np.stack([np.cos(phi), np.sin(phi), np.zeros_like(phi)], -1)
    P = np.asarray(centre) + spine + minor * (np.cos(psi)[..., None] * radial
                                              + 1.4 * np.sin(psi)[..., None] * np.array([0, 0, 1.0]))

    def ref(c):
        rel = c - np.asarray(centre)
        ang = np.arctan2(rel[:, 1], rel[:, 0])
        return rel - major * np.stack([np.cos(ang), np.sin(ang), np.zeros_like(ang)], 1)

    return _grid_mesh(P, texture, ref, spec=0.35)


def _box(size, textures: Sequence[np.ndarray]) -> Mesh:
    """An axis-aligned box standing on y=0 with six image-textured faces (+x, -x, +y, -y, +z, -z)."""
    w, h, d = (s / 2 for s in size)
    c = np.array([0.0, h, 0.0])
    faces = []
    # (normal, texture right, texture up) so that print reads correctly from outside
    spec = [((1, 0, 0), (0, 0, -1), (0, 1, 0)), ((-1, 0, 0), (0, 0, 1), (0, 1, 0)),
            ((0, 1, 0), (1, 0, 0), (0, 0, -1)), ((0, -1, 0), (1, 0, 0), (0, 0, 1)),
            ((0, 0, 1), (1, 0, 0), (0, 1, 0)), ((0, 0, -1), (-1, 0, 0), (0, 1, 0))]
    half = np.array([w, h, d])
    for (n, right, up), tex in zip(spec, textures):
        n, right, up = (np.array(v, float) for v in (n, right, up))
        centre = c + n * half
        ru, uu = right * half, up * half
        # texture corners in order: top-left, top-right, bottom-right, bottom-left
        corners = np.stack([centre - ru + uu, centre + ru + uu, centre + ru - uu, centre - ru - uu])
        faces.append((corners, n, tex))
    return Mesh(np.zeros((0, 4, 3)), np.zeros((0, 3)), np.zeros((0, 3)), 0.1, faces)


def _flat_disc(radius: float, y: float, texture: Callable, segments: int = 64) -> Mesh:
    """An upward-facing disc (the floor inside a mug)."""
    return _revolution(np.stack([np.linspace(radius, 1e-3, 5), np.full(5, y)], 1), texture, segments,
                       facing="up")


# --------------------------------------------------------------------------- textures

def _noise(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """Smooth value noise in 0..1 of the given shape, from a random grid of about `cells` cells."""
    h, w = shape
    gh, gw = max(2, round(cells * h / max(h, w))), max(2, round(cells * w / max(h, w)))
    return cv2.resize(rng.random((gh, gw), dtype=np.float32), (w, h), interpolation=cv2.INTER_CUBIC)


def _sampler(image: np.ndarray) -> Callable:
    """texture(u, v) that samples an RGB uint8 image (u across, v down, both 0..1)."""
    img = image.astype(np.float32) / 255.0
    h, w = img.shape[:2]

    def texture(u, v):
        return img[np.clip((v * h).astype(int), 0, h - 1), np.clip((u * w).astype(int), 0, w - 1)]
    return texture


def _colour(rng, lo=0.15, hi=0.9) -> np.ndarray:
    return rng.uniform(lo, hi, 3)


def _print_label(rng, size, base, text: str, accent) -> np.ndarray:
    """A printed wrap-around label: stripes, dots and a word, as real packaging has."""
    w, h = size
    img = np.empty((h, w, 3), np.uint8)
    img[:] = (np.asarray(base) * 255).astype(np.uint8)
    acc = tuple(int(c * 255) for c in accent)
    cv2.rectangle(img, (0, int(h * 0.08)), (w, int(h * 0.16)), acc, -1)
    cv2.rectangle(img, (0, int(h * 0.84)), (w, int(h * 0.92)), acc, -1)
    for i in range(6):
        x = int((i + 0.5) * w / 6)
        cv2.circle(img, (x, int(h * 0.7)), max(2, h // 14), tuple(int(255 - c) for c in acc), -1)
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_DUPLEX, 1.0, 2)
    scale = min(0.4 * w / tw, 0.4 * h / th)
    for x0 in (int(w * 0.05), int(w * 0.55)):
        cv2.putText(img, text, (x0, int(h * 0.58)), cv2.FONT_HERSHEY_DUPLEX, scale, (30, 30, 30),
                    max(1, int(scale * 2)), cv2.LINE_AA)
    return img


def _face_texture(rng, size, base, text: str, accent) -> np.ndarray:
    w, h = size
    img = np.empty((h, w, 3), np.uint8)
    grad = np.linspace(1.0, 0.8, h)[:, None, None]
    img[:] = np.clip(np.asarray(base)[None, None] * grad * 255, 0, 255).astype(np.uint8)
    acc = tuple(int(c * 255) for c in accent)
    cv2.circle(img, (w // 2, int(h * 0.62)), int(min(w, h) * 0.22), acc, -1)
    cv2.circle(img, (w // 2, int(h * 0.62)), int(min(w, h) * 0.12), (250, 245, 230), -1)
    cv2.rectangle(img, (0, int(h * 0.86)), (w, h), acc, -1)
    scale = w / 150
    cv2.putText(img, text, (int(w * 0.08), int(h * 0.25)), cv2.FONT_HERSHEY_TRIPLEX, scale,
                (255, 255, 255), max(1, int(scale * 2.5)), cv2.LINE_AA)
    for i in range(4):
        y = int(h * (0.32 + 0.04 * i))
        cv2.line(img, (int(w * 0.1), y), (int(w * (0.9 - 0.1 * i)), y), (40, 40, 40), max(1, h // 120))
    return img


def _solid(rgb):
    rgb = np.asarray(rgb, float)
    return lambda u, v: np.broadcast_to(rgb, (len(u), 3))


# --------------------------------------------------------------------------- objects

def make_object(name: str, variant: int = 0) -> Mesh:
    """The mesh of a named object standing on y=0 around the y axis (look fixed by name+variant)."""
    rng = np.random.default_rng(zlib.crc32(f"{name}:{variant}".encode()))
    if name == "mug":
        glaze = np.array([0.78, 0.16, 0.12]) if variant == 0 else _colour(rng)
        label = _print_label(rng, (1024, 160), np.array([0.95, 0.93, 0.86]), "automask", glaze * 0.6)
        outer_tex = _sampler(label)

        def outer(u, v):
            band = (v > 0.28) & (v < 0.72)
            return np.where(band[:, None], outer_tex(u, 1 - (v - 0.28) / 0.44), glaze)
        outer_p = np.array([[0.36, 0.0], [0.40, 0.03], [0.41, 0.2], [0.42, 0.6], [0.43, 0.95]])
        outer_p = np.concatenate([outer_p[:1], np.stack([np.interp(np.linspace(0.03, 0.95, 56),
                                                                   outer_p[:, 1], outer_p[:, 0]),
                                                         np.linspace(0.03, 0.95, 56)], 1)])
        rim = np.array([[0.43, 0.95], [0.41, 0.965], [0.39, 0.95]])
        inner_p = np.array([[0.39, 0.95], [0.39, 0.5], [0.38, 0.12], [0.3, 0.08]])
        parts = [_revolution(outer_p, outer, 128, spec=0.35),
                 _revolution(rim, _solid(glaze * 1.05), 128, facing="up", spec=0.35),
                 _revolution(inner_p, _solid(glaze * 0.9), 96, facing="in", spec=0.2),
                 _flat_disc(0.3, 0.08, _solid(glaze * 0.85), 48),
                 _torus_arc((0.31, 0.5, 0.0), 0.27, 0.045, -1.2, 1.2, _solid(glaze))]
        return Mesh.concat(parts)
    if name == "bottle":
        body = np.array([0.2, 0.45, 0.75]) if variant == 0 else _colour(rng)
        cap = np.array([0.95, 0.6, 0.1]) if variant == 0 else _colour(rng)
        label = _print_label(rng, (768, 192), np.array([0.96, 0.96, 0.96]), "shampoo", body * 0.7)
        tex = _sampler(label)
        ys = np.array([0.0, 0.03, 0.85, 0.95, 1.05, 1.12, 1.16, 1.3, 1.3, 1.46, 1.47])
        rs = np.array([0.28, 0.31, 0.31, 0.27, 0.18, 0.12, 0.11, 0.11, 0.13, 0.13, 0.0])
        prof = np.stack([rs, ys], 1)
        dense = [prof[:1]]
        for (r0, y0), (r1, y1) in zip(prof[:-1], prof[1:]):
            k = max(1, int(abs(y1 - y0) / 0.02) + int(abs(r1 - r0) / 0.03))
            t = np.linspace(0, 1, k + 1)[1:, None]
            dense.append((1 - t) * [r0, y0] + t * [r1, y1])
        prof = np.concatenate(dense)
        vs = np.cumsum(np.r_[0, np.hypot(*np.diff(prof, axis=0).T)])
        vs /= vs[-1]
        y_at = np.interp((np.arange(len(prof) - 1) + 0.5) / (len(prof) - 1), vs / vs[-1], prof[:, 1])
        y_of_v = lambda v: np.interp(v, (np.arange(len(prof) - 1) + 0.5) / (len(prof) - 1), y_at)

        def texture(u, v):
            y = y_of_v(v)
            out = np.where((y > 0.18)[:, None] & (y < 0.72)[:, None], tex(u, 1 - (y - 0.18) / 0.54), body)
            return np.where((y > 1.29)[:, None], cap, out)
        return _revolution(prof, texture, 112, spec=0.5)
    if name in ("box", "book"):
        base = np.array([0.95, 0.78, 0.15]) if (name, variant) == ("box", 0) else _colour(rng)
        accent = np.array([0.8, 0.1, 0.15]) if (name, variant) == ("box", 0) else _colour(rng)
        size = (0.72, 0.95, 0.32) if name == "box" else (0.95, 0.16, 0.7)
        word = "CRUNCH" if name == "box" else "NOVEL"
        px = 300  # texture pixels per unit
        front = _face_texture(rng, (int(size[0] * px), int(size[1] * px)), base, word, accent)
        side = _face_texture(rng, (int(size[2] * px), int(size[1] * px)), base * 0.9, "", accent)
        top = np.full((int(size[2] * px), int(size[0] * px), 3), (base * 230).astype(np.uint8), np.uint8)
        if name == "book":
            front = _face_texture(rng, (int(size[0] * px), int(size[2] * px)), base, word, accent)
            top = front
            side = np.full((int(size[1] * px) + 2, int(size[2] * px) + 2, 3), 235, np.uint8)
            return _box(size, [side, side, top, top, side, side])
        return _box(size, [side, side, top, top, front, front])
    if name == "can":
        col = _colour(rng)
        label = _print_label(rng, (384, 96), col, "cola", _colour(rng))
        tex = _sampler(label)
        prof = np.array([[0.2, 0.0], [0.22, 0.03], [0.22, 0.6], [0.2, 0.64], [0.0, 0.64]])
        return _revolution(prof, lambda u, v: np.where((v < 0.8)[:, None], tex(u, 1 - v / 0.8),
                                                       np.array([0.75, 0.75, 0.78])), 80, spec=0.6)
    if name == "ball":
        a, b = _colour(rng), _colour(rng)
        t = np.linspace(0, np.pi, 24)
        prof = np.stack([0.25 * np.sin(t), 0.25 - 0.25 * np.cos(t)], 1)
        return _revolution(prof, lambda u, v: np.where(((u * 6).astype(int) % 2 == 0)[:, None], a, b), 48,
                           spec=0.4)
    if name == "cone":
        orange = np.array([0.95, 0.35, 0.05])
        prof = np.array([[0.28, 0.0], [0.28, 0.04], [0.22, 0.05], [0.04, 0.75], [0.0, 0.75]])
        return _revolution(prof, lambda u, v: np.where(((v > 0.45) & (v < 0.6))[:, None],
                                                       np.array([0.95, 0.95, 0.95]), orange), 64)
    raise ValueError(f"unknown object {name!r}: choose one of {', '.join(OBJECTS + DISTRACTORS)}")


# --------------------------------------------------------------------------- scene

def _background(cam: Camera, rng: np.random.Generator, turntable: bool) -> tuple[np.ndarray, np.ndarray]:
    """HxWx3 float32 wall, wooden table and (optionally) a matte turntable, lit and shaded, and
    their HxW float32 camera-z depth in scene units (0 where a ray meets nothing)."""
    d = cam.rays()
    z_per_t = d @ cam.R[2].astype(np.float32)  # camera z gained per unit of distance along a ray
    eye = cam.eye.astype(np.float32)
    h, w = cam.height, cam.width
    back = -2.6
    wood = rng.uniform([0.45, 0.28, 0.15], [0.65, 0.45, 0.28]).astype(np.float32)
    paint = rng.uniform([0.70, 0.68, 0.62], [0.88, 0.86, 0.82]).astype(np.float32)
    grain_noise = _noise(rng, (256, 256), 16)
    fine = _noise(rng, (512, 512), 200)

    def tex(noise, x, z, scale):
        mx = ((x * scale) % 1.0) * (noise.shape[1] - 1)
        mz = ((z * scale) % 1.0) * (noise.shape[0] - 1)
        return cv2.remap(noise, mx.astype(np.float32), mz.astype(np.float32), cv2.INTER_LINEAR)

    out = np.zeros((h, w, 3), np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_floor = np.where(d[..., 1] < 0, -eye[1] / d[..., 1], np.inf)
        t_wall = np.where(d[..., 2] < 0, (back - eye[2]) / d[..., 2], np.inf)
    floor = t_floor < t_wall
    tf = np.where(floor, t_floor, 0)
    px, pz = eye[0] + tf * d[..., 0], eye[2] + tf * d[..., 2]
    warp = tex(grain_noise, px, pz, 0.08)
    ring = 0.5 + 0.5 * np.sin(2 * np.pi * (pz * 7.0 + 3.0 * warp))
    table = wood * (0.82 + 0.18 * ring[..., None]) * (0.92 + 0.16 * tex(fine, px, pz, 0.35)[..., None])
    table *= _AMBIENT + (1 - _AMBIENT) * _LIGHT[1]
    tw = np.where(floor | ~np.isfinite(t_wall), 0, t_wall)
    wx, wy = eye[0] + tw * d[..., 0], eye[1] + tw * d[..., 1]
    plaster = 0.9 + 0.07 * tex(grain_noise, wx, wy, 0.15) + 0.05 * tex(fine, wx, wy, 0.6)
    wall = paint * plaster[..., None] * (_AMBIENT + (1 - _AMBIENT) * _LIGHT[2])
    wall *= np.clip(1.0 - 0.05 * wy, 0.7, 1.0)[..., None]
    skirting = (~floor) & (wy < 0.12)
    wall[skirting] *= 0.75
    out = np.where(floor[..., None], table, wall)
    dist = np.where(floor, t_floor, np.where(np.isfinite(t_wall), t_wall, 0))
    if turntable:
        with np.errstate(divide="ignore", invalid="ignore"):
            t_top = np.where(d[..., 1] < 0, (_TURNTABLE_H - eye[1]) / d[..., 1], np.inf)
        t_top = np.where(np.isfinite(t_top), t_top, 1e6)
        tx, tz = eye[0] + t_top * d[..., 0], eye[2] + t_top * d[..., 2]
        top = (tx ** 2 + tz ** 2) < _TURNTABLE_R ** 2
        # side of the platter: ray against the cylinder x^2 + z^2 = R^2
        a = d[..., 0] ** 2 + d[..., 2] ** 2
        b = 2 * (eye[0] * d[..., 0] + eye[2] * d[..., 2])
        cc = eye[0] ** 2 + eye[2] ** 2 - _TURNTABLE_R ** 2
        disc = np.maximum(b * b - 4 * a * cc, 0)
        t_side = (-b - np.sqrt(disc)) / (2 * a)
        sy = eye[1] + t_side * d[..., 1]
        side = (b * b - 4 * a * cc > 0) & (sy >= 0) & (sy <= _TURNTABLE_H) & ~top
        # a felt-covered platter a shade darker than the table, as on a low-profile turntable
        felt = wood * np.float32(0.8) * (0.94 + 0.12 * tex(fine, tx, tz, 0.5))[..., None]
        out = np.where(top[..., None], felt * (_AMBIENT + (1 - _AMBIENT) * _LIGHT[1]), out)
        out = np.where(side[..., None], wood * np.float32(0.45), out)
        dist = np.where(top, t_top, np.where(side, t_side, dist))
    # soft light fall-off from the lamp towards the frame corners
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((xx - 0.4 * w) / w) ** 2 + ((yy - 0.4 * h) / h) ** 2
    return (out * (1.08 - 0.45 * r2)[..., None]).astype(np.float32), (dist * z_per_t).astype(np.float32)


def _shadow(cam: Camera, meshes: Sequence[Mesh]) -> np.ndarray:
    """HxW float32 0..1 soft shadow that the objects cast on the table along the light."""
    h, w = cam.height, cam.width
    out = np.zeros((h, w), np.float32)
    for mesh in meshes:
        pts = mesh.points()
        base_y = pts[:, 1].min()
        flat = pts - _LIGHT[None] * ((pts[:, 1] - base_y) / _LIGHT[1])[:, None]
        uv, _ = cam.project(flat)
        hull = cv2.convexHull(np.round(uv * 16).astype(np.int32))
        cv2.fillConvexPoly(out, hull, 1.0, cv2.LINE_AA, shift=4)
    k = max(3, int(0.04 * w) | 1)
    return cv2.GaussianBlur(out, (k, k), 0)


def _rasterize(cam: Camera, meshes: Sequence[Mesh], base: np.ndarray, base_depth: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw meshes back to front; returns the colour image, an HxW object index (0 = none) and
    the HxW camera-z depth (scene units) of what each pixel shows (base_depth where no object)."""
    h, w = cam.height, cam.width
    polys, depths, colours, owners, textured, faces = [], [], [], [], [], []
    planes = []  # per polygon: (unit normal, point on it, nearest z, farthest z) in camera coordinates
    for k, mesh in enumerate(meshes, start=1):
        if len(mesh.verts):
            centres = mesh.verts.mean(1)
            view = cam.eye - centres
            facing = np.sum(mesh.normals * view, 1) > 0
            q, n, alb = mesh.verts[facing], mesh.normals[facing], mesh.albedo[facing]
            uv, z = cam.project(q.reshape(-1, 3))
            planes.append(_quad_planes(cam, q, n, z.reshape(-1, 4)))
            polys.append(uv.reshape(-1, 4, 2))
            depths.append(z.reshape(-1, 4).mean(1))
            colours.append(_shade(n, alb, cam.eye - q.mean(1), mesh.spec))
            owners.append(np.full(len(q), k))
            textured.append(np.full(len(q), -1))
        for corners, n, tex in mesh.faces or []:
            if np.dot(n, cam.eye - corners.mean(0)) <= 0:
                continue
            uv, z = cam.project(corners)
            planes.append(_quad_planes(cam, corners[None], n[None], z[None]))
            polys.append(uv[None])
            depths.append(np.array([z.mean()]))
            colours.append(_shade(n[None], np.ones((1, 3)), (cam.eye - corners.mean(0))[None], mesh.spec))
            owners.append(np.array([k]))
            textured.append(np.array([len(faces)]))
            faces.append((uv, tex))
    if not polys:
        return base.copy(), np.zeros((h, w), np.int32), base_depth.copy()
    poly = np.concatenate(polys)
    depth, colour = np.concatenate(depths), np.concatenate(colours)
    owner, tex_id = np.concatenate(owners), np.concatenate(textured)
    order = np.argsort(-depth, kind="stable")
    index = np.zeros((h, w), np.int32)
    pts = np.round(poly * 16).astype(np.int32)
    for i in order:
        cv2.fillConvexPoly(index, pts[i], int(i) + 1, cv2.LINE_8, shift=4)
    drawn = index > 0
    img = base.copy()
    img[drawn] = colour[index[drawn] - 1]
    for i in np.flatnonzero(tex_id >= 0):
        sel = index == i + 1
        if not sel.any():
            continue
        uv, tex = faces[tex_id[i]]
        th, tw = tex.shape[:2]
        H = cv2.getPerspectiveTransform(uv.astype(np.float32),
                                        np.float32([[0, 0], [tw - 1, 0], [tw - 1, th - 1], [0, th - 1]]))
        ys, xs = np.nonzero(sel)
        src = cv2.perspectiveTransform(np.stack([xs, ys], 1).astype(np.float32)[None], H)[0]
        sx = np.clip(src[:, 0], 0, tw - 1).astype(np.float32)
        sy = np.clip(src[:, 1], 0, th - 1).astype(np.float32)
        texel = _remap_points(tex, sx, sy).astype(np.float32) / 255
        img[ys, xs] = texel * colour[i]
    obj = np.zeros((h, w), np.int32)
    obj[drawn] = owner[index[drawn] - 1]
    depth_map = base_depth.copy()
    depth_map[drawn] = _plane_depth(cam, np.concatenate(planes), index[drawn] - 1, np.nonzero(drawn))
    return img, obj, depth_map


def _quad_planes(cam: Camera, quads: np.ndarray, normals: np.ndarray, z: np.ndarray) -> np.ndarray:
    """(Q, 8): each quad's plane in camera coordinates (normal, centre) and its corners' z range."""
    normal = normals @ cam.R.T
    centre = (quads.mean(1) - cam.eye) @ cam.R.T
    return np.concatenate([normal, centre, z.min(1, keepdims=True), z.max(1, keepdims=True)], 1)


def _plane_depth(cam: Camera, planes: np.ndarray, which: np.ndarray, pixels) -> np.ndarray:
    """Camera z where each pixel's ray meets the plane of the quad it shows.

    Clamped to the quad's own z range: at grazing angles the plane hit runs away, and fine
    meshes' quads are only nearly planar."""
    ys, xs = pixels
    p = planes[which]
    ray = np.stack([(xs - cam.c[0]) / cam.f, (ys - cam.c[1]) / cam.f, np.ones(len(xs))], 1)
    along = np.sum(p[:, :3] * ray, 1)
    offset = np.sum(p[:, :3] * p[:, 3:6], 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = offset / along
    z = np.where(np.isfinite(z), z, p[:, 3:6][:, 2])
    return np.clip(z, p[:, 6], p[:, 7]).astype(np.float32)


def _remap_points(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples of image at N points (cv2.remap wants 2-D maps under 32767 a side)."""
    n = len(x)
    cols = 1024
    rows = -(-n // cols)
    mx = np.zeros(rows * cols, np.float32)
    my = np.zeros(rows * cols, np.float32)
    mx[:n], my[:n] = x, y
    out = cv2.remap(image, mx.reshape(rows, cols), my.reshape(rows, cols), cv2.INTER_LINEAR)
    return out.reshape(rows * cols, -1)[:n]


def _shade(normals, albedo, view, spec):
    lam = np.clip(normals @ _LIGHT, 0, None)
    v = view / np.linalg.norm(view, axis=1, keepdims=True)
    half = v + _LIGHT
    half /= np.linalg.norm(half, axis=1, keepdims=True)
    highlight = spec * np.clip(np.sum(normals * half, 1), 0, None) ** 40
    return (albedo * (_AMBIENT + (1 - _AMBIENT) * lam)[:, None] + highlight[:, None]).astype(np.float32)


def _finish(img: np.ndarray, rng: np.random.Generator, gain: float, noise: float) -> np.ndarray:
    """Camera effects: exposure gain (flicker), slight lens blur, sensor noise, 8-bit output."""
    img = cv2.GaussianBlur(img * gain, (0, 0), 0.6)
    img = img * 255 + rng.normal(0, noise, img.shape).astype(np.float32) * (0.6 + 0.6 * img)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def _parse_size(size) -> tuple[int, int]:
    w, h = (int(v) for v in size)
    if w < 16 or h < 16 or w > 8192 or h > 8192:
        raise ValueError(f"image size {w}x{h} is out of range: use 16..8192 pixels per side")
    return w, h


def sweep_camera(size, mesh: Mesh, elevation_deg: float = 22.0, fill: float = 0.8) -> Camera:
    """A camera aimed at the object's middle from a distance at which it spans `fill` of the height."""
    pts = mesh.points()
    height = pts[:, 1].max() + _TURNTABLE_H
    reach = np.hypot(pts[:, 0], pts[:, 2]).max()
    e = math.radians(elevation_deg)
    target = np.array([0.0, height / 2, 0.0])
    fov = 38.0
    w, h = size
    half_v = math.atan(0.5 * h / (0.5 * w / math.tan(math.radians(fov) / 2)))
    extent = height * math.cos(e) + 2 * reach * math.sin(e)   # object's height seen from above
    distance = extent / 2 / math.tan(half_v * fill)
    eye = target + distance * np.array([0.0, math.sin(e), math.cos(e)])
    return Camera(size, eye, target, fov_deg=fov)


def render_sweep(obj: str = "mug", n_frames: int = 36, size=(320, 240), seed: int = 0,
                 empty_frames: int = 2, start_deg: float = 0.0, variant: int = 0,
                 frame_interval_s: float = 0.5, noise: float = 2.5, flicker: float = 0.02,
                 shadow: bool = True) -> Iterator[Frame]:
    """A turntable sweep: `empty_frames` of the bare turntable, then n_frames views 360/n apart.

    The object's look depends only on (obj, variant), so a sweep with start_deg=5 gives held-out
    views of the very same object; seed drives the background, placement jitter, flicker and noise.
    noise (sensor noise sigma, 8-bit levels), flicker (relative gain) and shadow can be turned off.
    """
    if n_frames < 1 or empty_frames < 0:
        raise ValueError("n_frames must be >= 1 and empty_frames >= 0")
    size = _parse_size(size)
    rng = np.random.default_rng(seed)
    mesh = make_object(obj, variant)
    cam = sweep_camera(size, mesh)
    base, base_z = _background(cam, rng, turntable=True)
    intr, pose = cam.intrinsics(), cam.pose()
    offset = (rng.uniform(-0.06, 0.06), _TURNTABLE_H, rng.uniform(-0.06, 0.06))
    spin = rng.uniform(0, 360)  # how the object was put down on the turntable
    phase = rng.uniform(0, 2 * np.pi)
    h, w = size[1], size[0]
    for i in range(empty_frames + n_frames):
        gain = 1.0 + flicker * (0.6 * math.sin(phase + 2.1 * i) + 0.4 * rng.standard_normal())
        if i < empty_frames:
            yield Frame(_finish(base, rng, gain, noise), np.zeros((h, w), bool), None,
                        round(i * frame_interval_s, 6), True, base_z * np.float32(UNIT_M), intr, pose)
            continue
        angle = (start_deg + (i - empty_frames) * 360.0 / n_frames) % 360.0
        placed = mesh.transformed(spin + angle, offset)
        lit = base * (1 - 0.45 * _shadow(cam, [placed]))[..., None] if shadow else base
        img, owner, z = _rasterize(cam, [placed], lit, base_z)
        yield Frame(_finish(img, rng, gain, noise), owner == 1, angle, round(i * frame_interval_s, 6), False,
                    z * np.float32(UNIT_M), intr, pose)


def render_clutter(objects: Sequence[str] = OBJECTS, n: int = 5, size=(320, 240), seed: int = 0,
                   distractors: int = 2, variant: int = 0, noise: float = 2.5,
                   min_visible: int = 30, exclude: Sequence[str] = (), fov_deg: float = 42.0
                   ) -> list[tuple[np.ndarray, list[tuple[str, np.ndarray]]]]:
    """n table-top scenes, each with every object in `objects` plus random distractors.

    Distractors are drawn from every known shape not in `objects` (so a bottle can be a distractor
    for a mug detector) with random looks.

    Returns [(rgb, [(label, visible mask), ...]), ...]; labelled objects hidden below
    min_visible pixels are left out of the list (distractors never appear in it).
    render_clutter([], n, exclude=["mug"]) gives scenes without the mug: negatives or copy-paste
    backgrounds for training a mug detector on a machine with no photos.
    fov_deg is the camera's horizontal field of view (rig.KINECT_FOV_DEG: the rig's camera).
    render_clutter_scenes takes the same arguments and also gives each scene's depth and camera.
    """
    return [(scene.rgb, scene.instances) for scene in
            render_clutter_scenes(objects, n, size, seed, distractors, variant, noise, min_visible, exclude,
                                  fov_deg)]


def render_clutter_scenes(objects: Sequence[str] = OBJECTS, n: int = 5, size=(320, 240), seed: int = 0,
                          distractors: int = 2, variant: int = 0, noise: float = 2.5,
                          min_visible: int = 30, exclude: Sequence[str] = (), fov_deg: float = 42.0,
                          camera_distance_m: tuple[float, float] = (0.42, 0.50)) -> list[ClutterScene]:
    """render_clutter's scenes with exact depth (metres), intrinsics and camera pose; the camera
    (horizontal field of view fov_deg) stands camera_distance_m (a uniform range) from the middle
    of the table top."""
    size = _parse_size(size)
    for name in objects:
        if name not in OBJECTS + DISTRACTORS:
            raise ValueError(f"unknown object {name!r}: choose from {', '.join(OBJECTS + DISTRACTORS)}")
    rng = np.random.default_rng(seed)
    pool = [name for name in OBJECTS + DISTRACTORS if name not in objects and name not in exclude]
    if distractors and not pool:
        raise ValueError("no distractor shapes left: exclude fewer objects or set distractors=0")
    scenes = []
    for _ in range(n):
        names = list(objects) + [str(rng.choice(pool)) for _ in range(distractors)]
        placed, spots = [], []
        for k, name in enumerate(names):
            mesh = make_object(name, variant if k < len(objects) else int(rng.integers(1, 1000)))
            extent = np.abs(mesh.points()[:, [0, 2]]).max() + 0.05
            for _try in range(60):
                x, z = rng.uniform(-1.5, 1.5), rng.uniform(-1.3, 0.7)
                if all(math.hypot(x - sx, z - sz) > extent + se for sx, sz, se in spots):
                    break
            spots.append((x, z, extent))
            placed.append(mesh.transformed(rng.uniform(0, 360), (x, 0.0, z)))
        elev = math.radians(rng.uniform(22, 38))
        target = np.array([0.0, 0.35, -0.3])
        dist = rng.uniform(camera_distance_m[0] / UNIT_M, camera_distance_m[1] / UNIT_M)
        eye = target + dist * np.array([rng.uniform(-0.2, 0.2), math.sin(elev), math.cos(elev)])
        cam = Camera(size, eye, target, fov_deg=fov_deg)
        base, base_z = _background(cam, rng, turntable=False)
        lit = base * (1 - 0.45 * _shadow(cam, placed))[..., None]
        img, owner, z = _rasterize(cam, placed, lit, base_z)
        rgb = _finish(img, rng, 1.0 + 0.03 * rng.standard_normal(), noise)
        labelled = [(name, owner == k + 1) for k, name in enumerate(objects)]
        scenes.append(ClutterScene(rgb, [(lab, m) for lab, m in labelled if m.sum() >= min_visible],
                                   z * np.float32(UNIT_M), cam.intrinsics(), cam.pose()))
    return scenes


def write_image_folder(out_dir: str | Path, frames: Iterable[Frame], *, label: str | None = None) -> Path:
    """Write a camera-like folder: images/NNNNNN.png, masks/NNNNNN.png, depth/NNNNNN.png,
    intrinsics.json and angles.json.

    depth/ holds what a depth camera would give, aligned to the colour frame of the same stem
    (16-bit PNG, mm, 0 = no reading): the sensor depth when the frames have it (core/demo/rig.py),
    else the exact depth. intrinsics.json is the frames' Intrinsics.to_dict().
    angles.json: {"label", "depth": "sensor" | "exact" | null, "camera_pose": 4x4 camera-to-world
    in metres (world y up, the turntable's axis is the world y axis) or null, "frames": [{"image",
    "mask", "depth" (or null), "angle_deg" (null when empty), "stamp", "empty"}]}.
    `automask capture --images DIR/images --depth DIR/depth --intrinsics DIR/intrinsics.json`
    reads the camera's part; masks and angles are ground truth.
    """
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(exist_ok=True)
    records = []
    intrinsics = pose = kind = None
    for i, frame in enumerate(frames):
        name = f"{i:06d}.png"
        atomic_write_image(out / "images" / name, frame.rgb)
        atomic_write_image(out / "masks" / name, frame.mask.astype(np.uint8) * 255)
        depth = frame.sensor_depth if frame.sensor_depth is not None else frame.depth
        if depth is not None:
            (out / "depth").mkdir(exist_ok=True)
            write_depth_png(out / "depth" / name, depth)
            kind = "sensor" if frame.sensor_depth is not None else "exact"
        intrinsics = frame.intrinsics or intrinsics
        pose = frame.pose if frame.pose is not None else pose
        records.append({"image": f"images/{name}", "mask": f"masks/{name}",
                        "depth": f"depth/{name}" if depth is not None else None, "angle_deg": frame.angle_deg,
                        "stamp": frame.stamp, "empty": bool(frame.is_empty)})
    written = {Path(r["image"]).name for r in records}
    for sub in ("images", "masks", "depth"):  # frames left over from an earlier, longer render of this folder
        for stale in (out / sub).glob("[0-9][0-9][0-9][0-9][0-9][0-9].png"):
            if stale.name not in written or (sub == "depth" and kind is None):
                stale.unlink()
    if intrinsics is not None:
        atomic_write_json(out / "intrinsics.json", intrinsics.to_dict())
    elif (out / "intrinsics.json").exists():
        (out / "intrinsics.json").unlink()
    atomic_write_json(out / "angles.json", {
        "version": 1, "label": label, "depth": kind,
        "camera_pose": None if pose is None else np.round(pose, 6).tolist(), "frames": records})
    return out


def write_clutter_coco(out_dir: str | Path, scenes, labels: Sequence[str]) -> Path:
    """Write clutter scenes as images/NNNNNN.png + annotations.json (COCO, RLE) for scoring.

    Category ids follow `labels` (label i -> id i+1), as in a model bundle's label list.
    """
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    cat = {name: i + 1 for i, name in enumerate(labels)}
    images, annotations = [], []
    for i, (rgb, instances) in enumerate(scenes, start=1):
        name = f"{i:06d}.png"
        atomic_write_image(out / "images" / name, rgb)
        images.append({"id": i, "file_name": f"images/{name}", "width": int(rgb.shape[1]), "height": int(rgb.shape[0])})
        for label, mask in instances:
            if label in cat:
                annotations.append(gt_annotation(len(annotations) + 1, i, cat[label], mask))
    atomic_write_json(out / "annotations.json",
                      coco_dict(images, annotations, labels, "automask synthetic clutter scenes"))
    return out

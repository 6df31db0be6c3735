"""Procedural clutter: background scenes and distractor objects that every machine can make.

A model that only ever sees its objects on the turntable learns "the thing on the turntable",
not "this object". Copy-paste onto other scenes fixes that, but photos are not always at hand.
These scenes follow the dead-leaves model (Lee, Mumford and Huang; Baradad et al. 2021 show it
pretrains detectors nearly as well as real photos): overlapping shapes of every size, each with
its own colour, gradient, stripes or noise texture, on a surface with a horizon, under uneven
light and sensor noise. Distractor objects are closed random shapes with the same textures and
a shading ramp, so that "a textured blob" is not enough to be a learnt object.

Everything is drawn from the numpy Generator passed in: a scene is a pure function of the seed.
"""

from __future__ import annotations

import cv2
import numpy as np


def _colour(rng: np.random.Generator) -> np.ndarray:
    """A random colour, biased away from pure saturation like real surfaces."""
    hsv = np.uint8([[[rng.integers(0, 180), rng.integers(0, 256) * rng.uniform(0.3, 1.0),
                      rng.integers(25, 256)]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def _noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """Smooth value noise in 0..1 with about `cells` blobs along the longer side."""
    gh, gw = max(2, cells * h // max(h, w) + 2), max(2, cells * w // max(h, w) + 2)
    return cv2.resize(rng.random((gh, gw), dtype=np.float32), (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 1)


def texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A float32 HxWx3 texture: flat, a gradient, stripes, noise or fine grain, in 1-2 colours."""
    a, b = _colour(rng), _colour(rng)
    kind = rng.integers(5)
    if kind == 0:
        t = np.zeros((h, w), np.float32)
    elif kind == 1:  # linear gradient in a random direction
        angle = rng.uniform(0, np.pi)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        t = xx * np.cos(angle) + yy * np.sin(angle)
        t = (t - t.min()) / max(float(np.ptp(t)), 1.0)
    elif kind == 2:  # stripes or checks
        period = rng.uniform(4, max(6.0, min(h, w) / 3))
        angle = rng.uniform(0, np.pi)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        t = (np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period) > 0).astype(np.float32)
        if rng.random() < 0.3:
            t = np.abs(t - (np.sin((-xx * np.sin(angle) + yy * np.cos(angle)) * 2 * np.pi / period) > 0))
    elif kind == 3:  # blotches (wood, stone, fabric at a distance)
        t = _noise(rng, h, w, int(rng.integers(2, 24)))
    else:  # fine grain on a flat colour
        t = 0.5 + 0.5 * (rng.random((h, w), dtype=np.float32) - 0.5) * rng.uniform(0.2, 1.0)
    return a + t[..., None] * (b - a)


def _shape_mask(rng: np.random.Generator, h: int, w: int, cx: float, cy: float, r: float) -> np.ndarray:
    """A filled circle, ellipse, rotated rectangle or polygon around (cx, cy) of size ~r."""
    mask = np.zeros((h, w), np.uint8)
    kind = rng.integers(4)
    if kind == 0:
        cv2.circle(mask, (int(cx), int(cy)), max(1, int(r)), 1, -1)
    elif kind == 1:
        axes = (max(1, int(r)), max(1, int(r * rng.uniform(0.2, 1.0))))
        cv2.ellipse(mask, (int(cx), int(cy)), axes, rng.uniform(0, 180), 0, 360, 1, -1)
    elif kind == 2:
        box = ((cx, cy), (2 * r, 2 * r * rng.uniform(0.1, 1.0)), rng.uniform(0, 180))
        cv2.fillPoly(mask, [cv2.boxPoints(box).astype(np.int32)], 1)
    else:
        n = int(rng.integers(3, 8))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        rad = r * rng.uniform(0.4, 1.0, n)
        pts = np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], 1).astype(np.int32)
        cv2.fillPoly(mask, [pts], 1)
    return mask.astype(bool)


def background(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A uint8 RGB clutter scene: a wall and a surface, dead-leaves shapes, uneven light, noise."""
    h, w = height, width
    canvas = texture(rng, h, w)
    if rng.random() < 0.7:  # a surface below a (tilted) horizon, like a table or a floor
        y0 = rng.uniform(0.2, 0.7) * h
        tilt = rng.uniform(-0.15, 0.15) * h
        rows = y0 + tilt * (np.arange(w) / w - 0.5)
        below = np.arange(h)[:, None] > rows[None, :]
        canvas = np.where(below[..., None], texture(rng, h, w), canvas)
    side = min(h, w)
    for _ in range(int(rng.integers(8, 40))):
        r = side * float(np.exp(rng.uniform(np.log(0.02), np.log(0.35))))  # sizes spread over scales
        cx, cy = rng.uniform(-0.1, 1.1) * w, rng.uniform(-0.1, 1.1) * h
        x0, x1 = int(max(0, cx - r - 1)), int(min(w, cx + r + 2))
        y0_, y1 = int(max(0, cy - r - 1)), int(min(h, cy + r + 2))
        if x1 - x0 < 2 or y1 - y0_ < 2:
            continue
        m = _shape_mask(rng, y1 - y0_, x1 - x0, cx - x0, cy - y0_, r)
        region = canvas[y0_:y1, x0:x1]
        region[m] = texture(rng, y1 - y0_, x1 - x0)[m]
    light = rng.uniform(0.55, 1.0) + rng.uniform(0.0, 0.6) * _noise(rng, h, w, 2)
    canvas = canvas * light[..., None] + rng.normal(0, rng.uniform(1, 6), (h, w, 1)).astype(np.float32)
    if rng.random() < 0.5:
        canvas = cv2.GaussianBlur(canvas, (0, 0), rng.uniform(0.5, 1.5))
    return np.clip(canvas, 0, 255).astype(np.uint8)


def distractor(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 RGB, bool mask) of a random object-sized shape: a smooth random outline or a
    union of primitives, textured and shaded so it looks solid."""
    h = int(size)
    w = int(size * rng.uniform(0.4, 1.0)) if rng.random() < 0.5 else int(size * rng.uniform(0.8, 1.6))
    w = max(w, 4)
    mask = np.zeros((h, w), bool)
    kind = rng.random()
    if kind < 0.35:  # a body of revolution seen from the side: bottle, can, vase, cup
        knots = rng.uniform(0.15, 0.5, int(rng.integers(3, 7)))
        half = np.interp(np.linspace(0, 1, h), np.linspace(0, 1, len(knots)), knots) * w
        xx = np.abs(np.arange(w) - w / 2)[None, :]
        mask = xx < half[:, None]
    elif kind < 0.7:  # a star-shaped outline with a smooth random radius
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        dx, dy = (xx - w / 2) / (w / 2), (yy - h / 2) / (h / 2)
        theta, rad = np.arctan2(dy, dx), np.hypot(dx, dy)
        edge = np.full_like(theta, 0.75)
        for k in range(1, 5):
            edge += rng.uniform(-0.25, 0.25) / k * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
        mask = rad < edge
    else:
        for _ in range(int(rng.integers(1, 4))):
            r = rng.uniform(0.2, 0.5) * min(h, w)
            mask |= _shape_mask(rng, h, w, rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h, r)
    if mask.sum() < 16:
        mask[h // 4:3 * h // 4, w // 4:3 * w // 4] = True
    rgb = texture(rng, h, w)
    shade = np.linspace(rng.uniform(0.5, 0.9), rng.uniform(1.0, 1.3), w, dtype=np.float32)
    if rng.random() < 0.5:
        shade = shade[::-1]
    rgb = rgb * shade[None, :, None]
    return np.clip(rgb, 0, 255).astype(np.uint8), mask

"""Tiny synthetic sweeps for the trainer tests: coloured shapes on textured backgrounds.

Real files written by the real SweepWriter, small enough (64-96 px) to train a few steps in
seconds on a CPU.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from automask_ros.core.capture.dataset import SweepWriter

SHAPES = {"disc": (220, 60, 40), "block": (40, 90, 220), "tri": (60, 200, 70)}


def draw(label: str, view: int, size: int = 80, rng: np.random.Generator | None = None):
    """One view of a shape: the object moves and turns a little with the view index."""
    rng = rng or np.random.default_rng(view)
    image = rng.integers(40, 90, (size, size, 3), dtype=np.uint8)
    image = cv2.GaussianBlur(image, (5, 5), 0)
    mask = np.zeros((size, size), np.uint8)
    cx = size // 2 + int(8 * np.cos(view / 3))
    cy = size // 2 + int(6 * np.sin(view / 3))
    r = size // 5 + view % 3
    if label == "disc":
        cv2.circle(mask, (cx, cy), r, 255, -1)
    elif label == "block":
        box = cv2.boxPoints(((cx, cy), (1.6 * r, 1.1 * r), 10 * view))
        cv2.fillPoly(mask, [box.astype(np.int32)], 255)
    else:
        pts = np.array([[cx, cy - r], [cx - r, cy + r], [cx + r, cy + r]], np.int32)
        cv2.fillPoly(mask, [pts], 255)
    image[mask > 0] = SHAPES[label]
    return image, mask > 0


def make_sweep(root: Path, label: str, views: int = 12, size: int = 80, negatives: int = 1,
               sweep_id: str = "s1") -> Path:
    writer = SweepWriter(root, label, sweep_id=sweep_id)
    for view in range(views):
        image, mask = draw(label, view, size)
        writer.add_frame(image, mask, angle_deg=view * 360 / views, source=view)
    for k in range(negatives):
        image, _ = draw(label, 100 + k, size)
        bg = np.random.default_rng(200 + k).integers(40, 90, image.shape, dtype=np.uint8)
        writer.add_frame(cv2.GaussianBlur(bg, (5, 5), 0), None, source=f"neg{k}")
    return writer.finish()

"""Cheap appearance comparison of frames: is this a new view, is it back at the first one?"""

from __future__ import annotations

import cv2
import numpy as np


def thumbnail(rgb: np.ndarray, width: int = 64) -> np.ndarray:
    """Small blurred grey image in [0, 1] for cheap appearance comparisons."""
    h, w = rgb.shape[:2]
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    small = cv2.resize(grey, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(small, (3, 3), 0).astype(np.float32) / 255.0


def appearance_change(a: np.ndarray, b: np.ndarray, tol: float = 0.03) -> float:
    """Fraction of thumbnail pixels that changed by more than tol (0..1), after matching the
    global brightness (camera gain and light flicker are not a new view)."""
    if a.shape != b.shape:
        return 1.0
    gain = float(np.clip((a.mean() + 1e-3) / (b.mean() + 1e-3), 0.8, 1.25))
    return float((np.abs(a - b * gain) > tol).mean())

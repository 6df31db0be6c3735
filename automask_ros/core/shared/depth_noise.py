"""A structured-light depth noise model (Kinect v1 / PrimeSense class), for synthetic RGB-D data.

Exact rendered depth is too kind: real depth is quantised in disparity, noisier with range,
missing where the projector's pattern is shadowed by a foreground edge, and ragged at every depth
edge. Each effect follows published measurements of these sensors:

- axial noise sigma(z) = 1.2 mm + 1.9 mm/m^2 * (z - 0.4 m)^2 (Nguyen, Izadi, Lovell 2012);
- disparity quantised to 1/8 pixel: the depth step grows with z^2 (about 3 mm at 1 m);
- projector shadow: background pixels just left of a nearer surface get no reading, over the
  parallax width f * b * (1/z_far - 1/z_near) (baseline b = 7.5 cm, projector to the right);
- dropouts at depth edges and a few random specks; no reading outside 0.4-4.5 m.
"""

from __future__ import annotations

import cv2
import numpy as np

BASELINE_M = 0.075
Z_MIN, Z_MAX = 0.4, 4.5


def axial_sigma(z: np.ndarray) -> np.ndarray:
    """Standard deviation of the depth noise (m) at range z (m)."""
    return 0.0012 + 0.0019 * (np.asarray(z) - 0.4) ** 2


def structured_light(depth_m: np.ndarray, fx: float, rng: np.random.Generator,
                     edge_dropout: float = 0.5, speckle: float = 0.002) -> np.ndarray:
    """Noisy sensor depth (m, 0 = no reading) from exact depth (m, 0 = nothing there)."""
    z = np.asarray(depth_m, np.float32)
    valid = (z >= Z_MIN) & (z <= Z_MAX)
    noisy = z + rng.standard_normal(z.shape).astype(np.float32) * axial_sigma(z).astype(np.float32)
    fb = fx * BASELINE_M
    disparity = fb / np.maximum(noisy, 1e-3)
    noisy = (fb / np.maximum(np.round(disparity * 8.0) / 8.0, 1e-3)).astype(np.float32)

    # projector shadow: a pixel is shadowed when some pixel to its right, within the parallax
    # width, is nearer by enough to hide the projector's ray
    shadow = np.zeros(z.shape, bool)
    inv = np.where(valid, 1.0 / np.maximum(z, 1e-3), 0.0).astype(np.float32)
    max_shift = int(np.ceil(fb * (1.0 / Z_MIN - 1.0 / Z_MAX)))
    for shift in range(1, min(max_shift, z.shape[1] - 1) + 1):
        nearer = np.zeros_like(inv)
        nearer[:, :-shift] = inv[:, shift:]
        shadow |= (nearer - inv) * fb >= shift
    # ragged depth edges: pixels next to a jump of more than 4 % in range drop out at random
    jump = cv2.dilate(z, np.ones((3, 3), np.uint8)) - cv2.erode(z, np.ones((3, 3), np.uint8))
    edges = jump > 0.04 * np.maximum(z, Z_MIN)
    dropped = edges & (rng.random(z.shape) < edge_dropout)
    dropped |= rng.random(z.shape) < speckle
    return np.where(valid & ~shadow & ~dropped, noisy, 0.0).astype(np.float32)

"""Pinhole intrinsics: read them from the files people have, and back-project depth with them.

One `Intrinsics` serves capture (sweep.json and COCO image entries carry it, so a sweep is a
self-contained RGB-D dataset) and the detector's 3D output. Files it reads:

    {"fx", "fy", "cx", "cy", "width", "height"}          plain JSON or YAML
    camera_calibration's YAML                             image_width, camera_matrix: {data: [...]}
    a CameraInfo as `ros2 topic echo --once` prints it    width, height, k: [9 numbers]
    autolab_core / Dex-Net .intr JSON                     _fx, _fy, _cx, _cy, _width, _height

Distortion is ignored: aligned depth from RGB-D drivers is already rectified to the colour image.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np


class IntrinsicsError(ValueError):
    """Intrinsics that are missing or cannot be read; the message says what to give instead."""


@dataclass(frozen=True)
class Intrinsics:
    fx: float
    fy: float
    cx: float
    cy: float
    width: int = 0   # 0 = unknown (then any frame size is accepted)
    height: int = 0

    def __post_init__(self):
        for name in ("fx", "fy", "cx", "cy"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise IntrinsicsError(f"intrinsics {name}={value!r} must be a finite number")
        if self.fx <= 0 or self.fy <= 0:
            raise IntrinsicsError(f"intrinsics fx={self.fx}, fy={self.fy} must be positive focal lengths "
                                  "in pixels")
        if self.width < 0 or self.height < 0:
            raise IntrinsicsError(f"intrinsics size {self.width}x{self.height} must not be negative")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Intrinsics":
        """Any of the layouts in the module docstring, as a parsed mapping."""
        if not isinstance(d, dict):
            raise IntrinsicsError("intrinsics must be a mapping with fx, fy, cx, cy")
        d = {str(k).lstrip("_").lower(): v for k, v in d.items()}
        width = d.get("width", d.get("image_width", 0)) or 0
        height = d.get("height", d.get("image_height", 0)) or 0
        k = None
        if isinstance(d.get("camera_matrix"), dict):
            k = d["camera_matrix"].get("data")
        elif isinstance(d.get("k"), (list, tuple)):  # (autolab's .intr has a scalar _K: not a matrix)
            k = d["k"]
        try:
            if k is not None:
                k = [float(v) for v in np.asarray(k, dtype=float).ravel()]
                if len(k) != 9:
                    raise IntrinsicsError(f"camera matrix has {len(k)} numbers, expected 9 (row-major 3x3)")
                fx, fy, cx, cy = k[0], k[4], k[2], k[5]
            elif all(key in d for key in ("fx", "fy", "cx", "cy")):
                fx, fy, cx, cy = (float(d[key]) for key in ("fx", "fy", "cx", "cy"))
            else:
                raise IntrinsicsError("intrinsics need fx, fy, cx, cy (or a camera_matrix / k): "
                                      f"found only {', '.join(sorted(d)) or 'nothing'}")
            return cls(fx, fy, cx, cy, int(width), int(height))
        except (TypeError, ValueError, OverflowError) as exc:  # OverflowError: int(inf) from JSON 1e400
            if isinstance(exc, IntrinsicsError):
                raise
            raise IntrinsicsError(f"intrinsics values must be numbers: {exc}") from None

    @classmethod
    def from_k(cls, k, width: int = 0, height: int = 0) -> "Intrinsics":
        """From a CameraInfo's row-major 3x3 `k`; all zeros (an uncalibrated driver) is refused."""
        k = [float(v) for v in k]
        if len(k) != 9 or k[0] <= 0 or k[4] <= 0:
            raise IntrinsicsError("camera_info has no calibration (k is empty or zero): calibrate the "
                                  "camera or give the intrinsics as a parameter")
        return cls(k[0], k[4], k[2], k[5], int(width), int(height))

    def check_size(self, height: int, width: int) -> None:
        """Refuse a frame of another size than the one calibrated (when the size is known)."""
        if self.width and self.height and (width, height) != (self.width, self.height):
            raise IntrinsicsError(f"frame is {width}x{height} but the intrinsics are for "
                                  f"{self.width}x{self.height}: give the camera_info of this stream")


def load_intrinsics(path: str | Path) -> Intrinsics:
    """Read intrinsics from a JSON or YAML file in any layout of the module docstring."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise IntrinsicsError(f"intrinsics file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise IntrinsicsError(f"cannot read intrinsics file {path}: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise IntrinsicsError(f"intrinsics file {path} is neither JSON nor YAML: "
                                  f"{str(exc).splitlines()[0]}") from None
    try:
        return Intrinsics.from_dict(data)
    except IntrinsicsError as exc:
        raise IntrinsicsError(f"{path}: {exc}") from None


def pixel_rays(intr: Intrinsics, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(x/z, y/z) for every pixel, HxW each: multiply by depth to get camera coordinates."""
    u = (np.arange(width, dtype=np.float32) - intr.cx) / intr.fx
    v = (np.arange(height, dtype=np.float32) - intr.cy) / intr.fy
    return np.broadcast_to(u[None, :], (height, width)), np.broadcast_to(v[:, None], (height, width))


def backproject(depth_m: np.ndarray, intr: Intrinsics) -> np.ndarray:
    """HxW depth in metres -> HxWx3 points in the camera frame (x right, y down, z forward).
    Pixels without depth (0) come out as (0, 0, 0); test depth > 0 to select valid points."""
    depth_m = np.asarray(depth_m, np.float32)
    rx, ry = pixel_rays(intr, *depth_m.shape)
    return np.stack([rx * depth_m, ry * depth_m, depth_m], axis=-1)


def project(points: np.ndarray, intr: Intrinsics) -> np.ndarray:
    """Nx3 camera-frame points -> Nx2 pixel coordinates (u, v); points need z > 0."""
    points = np.asarray(points, np.float64).reshape(-1, 3)
    z = points[:, 2]
    return np.stack([points[:, 0] / z * intr.fx + intr.cx, points[:, 1] / z * intr.fy + intr.cy], axis=1)

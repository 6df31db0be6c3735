"""Depth frames: every way a camera or a file gives them, as one HxW float32 array in metres.

0 means "no reading" everywhere in automask (NaN, inf and negative values become 0), because that
is what real sensors give at holes, edges and out of range. Stored sweeps keep depth as a 16-bit
PNG in millimetres beside the colour frame, the format of the Kinect, RealSense and UW RGB-D data.

    ROS Image     16UC1 / mono16 in mm, 32FC1 in m (REP 118)
    files         .png 16-bit (mm), .npy float (m) or integer (mm), .tif/.tiff float (m) or 16-bit (mm)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .atomic import atomic_write_bytes
from .camera import Intrinsics

DEPTH_ENCODINGS = {"16UC1": 0.001, "mono16": 0.001, "32FC1": 1.0}  # encoding -> metres per unit
DEPTH_SUFFIXES = (".png", ".npy", ".tif", ".tiff")
MAX_DEPTH_MM = 65535


class DepthError(ValueError):
    """A depth frame that cannot be used; the message names the problem and the fix."""


@dataclass(frozen=True)
class DepthFrame:
    """Depth aligned to a colour frame (metres, 0 = no reading) and the camera that took it."""

    depth_m: np.ndarray
    intrinsics: Intrinsics


def to_metres(array: np.ndarray, scale: float | None = None) -> np.ndarray:
    """Raw depth -> float32 metres with 0 = no reading. scale = metres per unit; None = by dtype
    (integers are millimetres, floats are metres)."""
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim != 2 or array.size == 0:
        raise DepthError(f"depth must be a single-channel HxW image, got shape {array.shape}")
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise DepthError(f"depth of dtype {array.dtype} is not a number image")
    if scale is None:
        scale = 0.001 if np.issubdtype(array.dtype, np.integer) else 1.0
    if not scale > 0:
        raise DepthError(f"depth scale {scale} must be positive (metres per unit)")
    metres = array.astype(np.float32) * np.float32(scale)
    metres[~np.isfinite(metres) | (metres < 0)] = 0.0
    return metres


def check_encoding(encoding: str) -> str:
    """Refuse an Image encoding that is not depth (before its pixels are decoded)."""
    if encoding not in DEPTH_ENCODINGS:
        raise DepthError(f"unsupported depth encoding {encoding!r}: publish 16UC1 (mm) or 32FC1 (m), "
                         "aligned to the colour image")
    return encoding


def decode_depth(pixels: np.ndarray, encoding: str, scale: float | None = None) -> np.ndarray:
    """Pixels of a depth Image message (already decoded by image_codec.decode) -> metres."""
    return to_metres(pixels, scale if scale else DEPTH_ENCODINGS[check_encoding(encoding)])


def check_depth(depth_m: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Refuse depth that cannot pair with a colour frame of `shape` (H, W): other size, or empty."""
    if depth_m.shape != tuple(shape):
        raise DepthError(f"depth is {depth_m.shape[1]}x{depth_m.shape[0]} but colour is {shape[1]}x{shape[0]}: "
                         "publish depth aligned to the colour image (e.g. aligned_depth_to_color)")
    if not np.any(depth_m > 0):
        raise DepthError("depth frame has no valid reading (all zero): check the depth camera and its range")
    return depth_m


def read_depth(path: str | Path, scale: float | None = None) -> np.ndarray:
    """A depth file (see the module docstring) in metres."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in DEPTH_SUFFIXES:
        raise DepthError(f"depth file {path} is not {', '.join(DEPTH_SUFFIXES)}")
    if not path.is_file():
        raise DepthError(f"depth file {path} does not exist")
    if suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise DepthError(f"cannot read depth file {path}: {exc}") from None
    else:
        array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if array is None:
            raise DepthError(f"cannot read depth file {path}: not an image OpenCV can decode")
        if array.dtype == np.uint8:
            raise DepthError(f"depth file {path} is 8-bit: depth needs a 16-bit PNG in mm or float metres")
    return to_metres(array, scale)


def to_millimetres(depth_m: np.ndarray) -> np.ndarray:
    """Metres -> uint16 millimetres (0 = no reading), as 16-bit PNGs and 16UC1 messages carry it."""
    return np.clip(np.round(np.asarray(depth_m, np.float32) * 1000.0), 0, MAX_DEPTH_MM).astype(np.uint16)


def depth_png_bytes(depth_m: np.ndarray) -> bytes:
    """16-bit PNG (millimetres, 0 = no reading) of a metres array."""
    mm = to_millimetres(depth_m)
    ok, buf = cv2.imencode(".png", mm)
    if not ok:
        raise OSError("could not encode depth PNG")
    return buf.tobytes()


def write_depth_png(path: str | Path, depth_m: np.ndarray) -> Path:
    """Atomically write depth as a 16-bit PNG in millimetres."""
    return atomic_write_bytes(path, depth_png_bytes(depth_m))


COLOUR_PREFIXES = ("color_", "colour_", "rgb_")  # color_7.png <-> depth_7.npy (Dex-Net, RealSense tools)


def depth_stems(stem: str) -> list[str]:
    """File stems that hold the depth of the colour frame `stem`, most specific first."""
    names = [stem, f"{stem}_depth"]
    names += [f"depth_{stem[len(p):]}" for p in COLOUR_PREFIXES if stem.lower().startswith(p)]
    return names


def find_depth_file(folder: str | Path, stem: str, exclude: str | Path | None = None) -> Path | None:
    """The depth file in `folder` with the colour frame's stem (`frame_7.png` -> `frame_7.npy`,
    `frame_7_depth.png` as UW RGB-D names them, or `color_7.png` -> `depth_7.npy`); None when
    there is none. exclude: the colour file itself, when depth lies in the same folder."""
    folder = Path(folder)
    for name in depth_stems(stem):
        for suffix in DEPTH_SUFFIXES:
            path = folder / f"{name}{suffix}"
            if path.is_file() and (exclude is None or not path.samefile(exclude)):
                return path
    return None

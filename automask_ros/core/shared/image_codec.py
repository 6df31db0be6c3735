"""sensor_msgs/Image pixel layout <-> numpy, without ROS (also used to read rosbag2 files).

Handles padded rows (`step` larger than width * pixel size) and big-endian 16/32-bit data, and
refuses anything inconsistent with one clear ImageCodecError before allocating memory.
"""

from __future__ import annotations

import numpy as np

# encoding -> (numpy dtype, channels)
ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "rgba8": (np.dtype(np.uint8), 4),
    "bgra8": (np.dtype(np.uint8), 4),
    "mono8": (np.dtype(np.uint8), 1),
    "8UC1": (np.dtype(np.uint8), 1),
    "8UC3": (np.dtype(np.uint8), 3),
    "mono16": (np.dtype(np.uint16), 1),
    "16UC1": (np.dtype(np.uint16), 1),
    "32FC1": (np.dtype(np.float32), 1),
}
MAX_PIXELS = 64_000_000  # 8K x 8K: anything larger is a corrupt header, not a camera


class ImageCodecError(ValueError):
    """An Image message that cannot be decoded; the message names the problem."""


def _layout(encoding: str) -> tuple[np.dtype, int]:
    try:
        return ENCODINGS[encoding]
    except KeyError:
        raise ImageCodecError(
            f"unsupported image encoding {encoding!r}: publish one of {', '.join(ENCODINGS)}") from None


def decode(encoding: str, height: int, width: int, step: int, is_bigendian: bool,
           data: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    """Pixels of an Image message as HxW or HxWxC in the message's own channel order."""
    dtype, channels = _layout(encoding)
    if height <= 0 or width <= 0:
        raise ImageCodecError(f"empty image ({width}x{height}): the camera sent no pixels")
    if height * width > MAX_PIXELS:
        raise ImageCodecError(f"image {width}x{height} exceeds {MAX_PIXELS} pixels: corrupt header?")
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise ImageCodecError(f"step {step} is smaller than a {encoding} row of {row_bytes} bytes")
    buf = np.frombuffer(data, np.uint8) if not isinstance(data, np.ndarray) else data.view(np.uint8).ravel()
    if buf.size != step * height:
        raise ImageCodecError(
            f"image data is {buf.size} bytes but step*height = {step * height}: truncated message")
    rows = buf.reshape(height, step)[:, :row_bytes]
    order = ">" if is_bigendian else "<"
    pixels = np.ascontiguousarray(rows).view(dtype.newbyteorder(order) if dtype.itemsize > 1 else dtype)
    pixels = pixels.astype(dtype, copy=False)  # to native byte order
    shape = (height, width) if channels == 1 else (height, width, channels)
    return pixels.reshape(shape)


def encode(array: np.ndarray, encoding: str) -> tuple[int, int, int, bytes]:
    """(height, width, step, data) of an Image message holding `array` (little-endian, no padding)."""
    dtype, channels = _layout(encoding)
    array = np.asarray(array)
    expected = 2 if channels == 1 else 3
    if array.ndim != expected or (channels > 1 and array.shape[2] != channels):
        raise ImageCodecError(f"array of shape {array.shape} does not fit encoding {encoding!r}")
    if array.size == 0:
        raise ImageCodecError("cannot encode an empty image")
    if array.dtype != dtype:
        raise ImageCodecError(f"encoding {encoding!r} needs dtype {dtype}, got {array.dtype}")
    data = np.ascontiguousarray(array, dtype=dtype.newbyteorder("<")).tobytes()
    height, width = array.shape[:2]
    return height, width, width * channels * dtype.itemsize, data


def to_rgb8(pixels: np.ndarray, encoding: str) -> np.ndarray:
    """Colour or mono pixels as HxWx3 uint8 RGB, the layout every core/ module takes."""
    _layout(encoding)
    if encoding in ("rgb8", "8UC3"):
        return pixels
    if encoding == "bgr8":
        return np.ascontiguousarray(pixels[..., ::-1])
    if encoding == "rgba8":
        return np.ascontiguousarray(pixels[..., :3])
    if encoding == "bgra8":
        return np.ascontiguousarray(pixels[..., 2::-1])
    if encoding in ("mono8", "8UC1"):
        return np.repeat(pixels[..., None], 3, axis=2)
    if encoding == "mono16":
        return np.repeat((pixels >> 8).astype(np.uint8)[..., None], 3, axis=2)
    raise ImageCodecError(f"{encoding!r} is a depth image, not a colour camera: remap `image` "
                          "to the colour topic")


def decode_compressed(fmt: str, data: bytes) -> np.ndarray:
    """A sensor_msgs/CompressedImage (JPEG or PNG, as image_transport's `compressed` plugin
    sends it) as HxWx3 uint8 RGB."""
    import cv2

    if "compresseddepth" in fmt.lower():
        raise ImageCodecError(f"format {fmt!r} is compressed depth, not a colour camera: remap `image` "
                              "to the colour topic")
    buffer = np.frombuffer(bytes(data), dtype=np.uint8)
    bgr = cv2.imdecode(buffer, cv2.IMREAD_COLOR) if buffer.size else None
    if bgr is None:
        raise ImageCodecError(f"compressed image ({fmt or 'no format'}, {buffer.size} bytes) does not "
                              "decode as JPEG or PNG: check the camera's compressed topic")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def encode_compressed(rgb: np.ndarray, fmt: str = "jpeg", quality: int = 90) -> tuple[str, bytes]:
    """HxWx3 RGB -> (format string, bytes) in image_transport's `compressed` convention."""
    import cv2

    ext, flags = (".png", []) if fmt == "png" else (".jpg", [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    ok, buf = cv2.imencode(ext, cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR), flags)
    if not ok:
        raise ImageCodecError(f"cannot encode a {rgb.shape} image as {fmt}")
    return f"rgb8; {'png' if fmt == 'png' else 'jpeg'} compressed bgr8", buf.tobytes()

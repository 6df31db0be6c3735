"""Atomic file writes: a reader (or a crash) never sees a half-written file."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, replace: bool = True) -> Path:
    """Write to a temporary file in the same folder, fsync it, then os.replace it into place.
    replace=False never overwrites: the file is linked into place, FileExistsError if one is there
    (two writers picking the same numbered name cannot clobber each other)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
            os.unlink(tmp)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def atomic_write_json(path: str | os.PathLike, obj) -> Path:
    return atomic_write_bytes(path, json.dumps(obj, indent=1).encode("utf-8"))


def atomic_write_image(path: str | os.PathLike, image: np.ndarray, *, replace: bool = True) -> Path:
    """Write an RGB (HxWx3) or single-channel image; the format follows the file suffix."""
    path = Path(path)
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(path.suffix or ".png", image)
    if not ok:
        raise OSError(f"could not encode image for {path}")
    return atomic_write_bytes(path, buf.tobytes(), replace=replace)


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as HxWx3 uint8 RGB, with one clear error when it cannot be read."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"cannot read image {path}: missing or not an image file")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)

"""What the player node plays: image files in natural order, with turntable angles when known.

The angles come from an angles.json written by render.write_image_folder (`automask render`):
{"frames": [{"image": "images/000000.png", "angle_deg": 0.0 | null, ...}]}; paths in it are
relative to the file's folder. Frames it does not name have no angle.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .atomic import read_rgb
from .sources import ImageFolder


def read_angles(angles_file: str | Path) -> dict[Path, float | None]:
    """angles.json -> {resolved image path: angle in degrees or None (an empty turntable)}."""
    path = Path(angles_file)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"angles file {path} does not exist: give an angles.json written by "
                                "`automask render`, or leave angles_file empty") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"angles file {path} is not valid JSON ({exc})") from None
    frames = data.get("frames") if isinstance(data, dict) else None
    if not isinstance(frames, list) or not all(isinstance(f, dict) and "image" in f for f in frames):
        raise ValueError(f"angles file {path} has no 'frames' list of {{'image', 'angle_deg'}} entries")
    out = {}
    for f in frames:
        angle = f.get("angle_deg")
        out[(path.parent / str(f["image"])).resolve()] = None if angle is None else float(angle)
    return out


class Playlist:
    """The frames of an image folder (optionally a glob) and their angles, loaded one at a time."""

    def __init__(self, images: str | Path, glob: str | None = None, angles_file: str | Path | None = None):
        self.files = ImageFolder(images, glob or None).files
        angles = read_angles(angles_file) if angles_file else {}
        self.angles = [angles.get(p.resolve()) for p in self.files]
        if angles and not any(p.resolve() in angles for p in self.files):
            raise ValueError(f"angles file {angles_file} names none of the images in {images}: "
                             "give the angles.json that sits beside this images folder")

    def __len__(self) -> int:
        return len(self.files)

    def frame(self, index: int) -> tuple[np.ndarray, float | None]:
        """(RGB image, angle in degrees or None) of frame `index`."""
        return read_rgb(self.files[index]), self.angles[index]

"""What the player node plays: image files in natural order, with turntable angles and aligned
depth when known.

The angles come from an angles.json written by render.write_image_folder (`automask render`):
{"frames": [{"image": "images/000000.png", "angle_deg": 0.0 | null, ...}]}; paths in it are
relative to the file's folder. Frames it does not name have no angle. Depth comes from a folder
of depth files with the colour frames' stems (core/depth.find_depth_file) and needs intrinsics;
a render folder has both beside images/ (depth/, intrinsics.json), and they are found there.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..shared.atomic import read_rgb
from ..shared.camera import Intrinsics, load_intrinsics
from ..shared.depth import find_depth_file, read_depth
from ..shared.sources import ImageFolder


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


def find_depth_source(images: str | Path, depth_dir: str | Path | None = None,
                      intrinsics_file: str | Path | None = None) -> tuple[Path | None, Intrinsics | None]:
    """(depth folder, intrinsics) to play with an images folder, or (None, None) for colour only.

    Empty depth_dir / intrinsics_file mean depth/ and intrinsics.json beside the images folder,
    when they exist. Depth without intrinsics is refused: nobody could use it."""
    images = Path(images)
    beside = images.resolve().parent
    if depth_dir:
        depth = Path(depth_dir)
        if not depth.is_dir():
            raise FileNotFoundError(f"depth folder {depth} does not exist: give the folder of depth files "
                                    "(same stems as the images), or leave depth_dir empty")
    else:
        depth = beside / "depth" if (beside / "depth").is_dir() else None
    if depth is None:
        return None, None
    intr_path = Path(intrinsics_file) if intrinsics_file else beside / "intrinsics.json"
    if not intr_path.is_file():
        raise FileNotFoundError(f"depth in {depth} but no intrinsics file {intr_path}: set intrinsics_file "
                                "(JSON/YAML fx, fy, cx, cy) so that camera_info can be published")
    return depth, load_intrinsics(intr_path)


class Playlist:
    """The frames of an image folder (optionally a glob), their angles and their depth, loaded one
    at a time. depth_dir=None: no depth; see find_depth_source() for finding it."""

    def __init__(self, images: str | Path, glob: str | None = None, angles_file: str | Path | None = None,
                 depth_dir: str | Path | None = None, intrinsics: Intrinsics | None = None):
        self.files = ImageFolder(images, glob or None).files
        self.depth_dir, self.intrinsics = (Path(depth_dir) if depth_dir else None), intrinsics
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

    def depth(self, index: int) -> np.ndarray | None:
        """Aligned depth (metres, 0 = no reading) of frame `index`; None without a depth file."""
        if self.depth_dir is None:
            return None
        path = find_depth_file(self.depth_dir, self.files[index].stem, exclude=self.files[index])
        return None if path is None else read_depth(path)

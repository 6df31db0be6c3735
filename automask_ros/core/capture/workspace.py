"""The robot's own workspace, without the object: photos that training pastes objects onto.

Copy-paste augmentation (issue 14) works best on backgrounds the detector will really see. The
capture node's `~/record_workspace` service and `automask capture --workspace` store such frames
as numbered PNGs in `<dataset_root>/workspace/`, beside the label folders, so a training run
given a dataset root, a label folder or a sweep folder finds them (`workspace_images`). The
sweep's own empty-turntable frames are not copied here: they are negatives already.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator, TypeVar

import numpy as np

from ..shared.atomic import atomic_write_image

WORKSPACE_DIR = "workspace"
MAX_WORKSPACE_FRAMES = 50  # per recording from a file: more near-identical views add nothing
T = TypeVar("T")


def save_workspace_frame(root: str | Path, rgb: np.ndarray) -> Path:
    """Store one HxWx3 RGB frame as the next NNNNNN.png under root/workspace/ (atomic; a name
    another writer took meanwhile is never overwritten)."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or rgb.size == 0:
        raise ValueError(f"a workspace frame must be an HxWx3 uint8 RGB image, got {rgb.dtype} {rgb.shape}")
    folder = Path(root) / WORKSPACE_DIR
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(f"cannot create workspace folder {folder}: {exc.strerror or exc}; "
                      "choose a writable dataset root") from None
    number = 1 + max((int(p.stem) for p in folder.glob("*.png") if p.stem.isdigit()), default=-1)
    while True:
        try:
            return atomic_write_image(folder / f"{number:06d}.png", rgb, replace=False)
        except FileExistsError:
            number += 1


def workspace_images(data_paths: Iterable[str | Path]) -> list[Path]:
    """Workspace PNGs that belong to training data paths: `workspace/*.png` in each path (a
    dataset root, a label folder or a sweep folder) and up to two folders above it; each file
    once, sorted."""
    found: set[Path] = set()
    for data in data_paths:
        here = Path(data).resolve()
        if here.is_file():
            here = here.parent
        for folder in [here, *list(here.parents)[:2]]:
            found.update(p for p in (folder / WORKSPACE_DIR).glob("*.png") if p.is_file())
    return sorted(found)


def thin_evenly(items: Iterable[T], limit: int = MAX_WORKSPACE_FRAMES) -> list[T]:
    """At most `limit` items spread evenly over a stream of unknown length (a video, a bag):
    keep every k-th, doubling k whenever more than `limit` are held."""
    if limit < 1:
        raise ValueError(f"limit={limit} must be >= 1")
    kept, stride = [], 1
    for i, item in enumerate(items):
        if i % stride:
            continue
        kept.append(item)
        if len(kept) > limit:
            kept, stride = kept[::2], stride * 2
    return kept


def record_workspace(root: str | Path, frames: Iterator[np.ndarray], limit: int = MAX_WORKSPACE_FRAMES) -> list[Path]:
    """Store a recording's frames (evenly thinned to `limit`) as workspace backgrounds."""
    return [save_workspace_frame(root, rgb) for rgb in thin_evenly(frames, limit)]

"""The sweep dataset on disk: COCO instance segmentation with RLE masks, written atomically.

Layout (DESIGN.md):
    <root>/<label>/<sweep_id>/images/NNNNNN.png   RGB frames as captured
                              masks/NNNNNN.png    mono8, 255 = object (all 0 for negatives)
                              depth/NNNNNN.png    16-bit depth in mm aligned to the frame (only
                                                  when the camera gave depth; 0 = no reading)
                              annotations.json    COCO; image entries also carry angle_deg,
                                                  stamp, source, negative and quality figures;
                                                  depth_file and intrinsics when there is depth
                              sweep.json          label, state, parameters, counts, rejections,
                                                  intrinsics (so the sweep is a self-contained
                                                  RGB-D dataset)

Every frame rewrites both JSON files atomically, so a capture that is killed at any moment
leaves a dataset that loads with every frame committed before the kill.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..shared.atomic import atomic_write_image, atomic_write_json, read_rgb
from ..shared.camera import Intrinsics, IntrinsicsError
from ..shared.coco import annotation_to_mask, index_by_image, mask_to_annotation
from ..shared.depth import DepthError, DepthFrame, read_depth, write_depth_png

SCHEMA_VERSION = 1
_LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


class DatasetError(ValueError):
    """A dataset that cannot be written or read; the message says what to do."""


def sanitize_label(label: str) -> str:
    """Turn a user label into a safe folder name, refusing anything that could escape the root."""
    if not isinstance(label, str) or not label.strip():
        raise DatasetError("label is empty: give the object a name such as 'red_mug'")
    text = label.strip()
    if "/" in text or "\\" in text or ".." in text or "\x00" in text:
        raise DatasetError(f"label {label!r} contains '/', '\\' or '..': use a plain name such as 'red_mug'")
    text = re.sub(r"\s+", "_", text)
    text = re.sub(r"[^A-Za-z0-9_.\-]", "", text)
    if not _LABEL_RE.match(text):
        raise DatasetError(f"label {label!r} has no usable characters: use letters, digits, '_', '-' or '.'")
    return text


def new_sweep_id() -> str:
    return _dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")


class SweepWriter:
    """Appends frames to one sweep folder; each call leaves a complete, loadable dataset."""

    def __init__(self, root: str | Path, label: str, sweep_id: str | None = None,
                 params: dict | None = None):
        self.label = sanitize_label(label)
        self.root = Path(root)
        self.path = self.root / self.label / (sweep_id or new_sweep_id())
        try:
            (self.path / "images").mkdir(parents=True, exist_ok=False)
            (self.path / "masks").mkdir()
        except FileExistsError:
            raise DatasetError(f"sweep folder {self.path} already exists: choose another sweep id") from None
        except OSError as exc:
            raise DatasetError(f"cannot create sweep folder {self.path}: {exc.strerror}; "
                               "choose a writable output directory") from None
        self.coco = {
            "info": {"description": f"automask sweep of {self.label}", "version": SCHEMA_VERSION,
                     "date_created": _dt.datetime.now().isoformat(timespec="seconds")},
            "categories": [{"id": 1, "name": self.label, "supercategory": "object"}],
            "images": [],
            "annotations": [],
        }
        self.meta = {
            "version": SCHEMA_VERSION,
            "label": self.label,
            "state": "recording",
            "message": "",
            "params": dict(params or {}),
            "counts": {"seen": 0, "kept": 0, "negatives": 0, "rejected": 0},
            "rejected": [],
            "started": _dt.datetime.now().isoformat(timespec="seconds"),
        }
        self._commit()

    @property
    def counts(self) -> dict:
        return dict(self.meta["counts"])

    def add_frame(self, rgb: np.ndarray, mask: np.ndarray | None, *, angle_deg: float | None = None,
                  stamp: float | None = None, source: str | int | float | None = None,
                  quality: dict | None = None, depth: DepthFrame | None = None) -> int:
        """Store a kept frame (mask None = negative, an empty-turntable view). Returns its image id.
        depth: aligned depth of the frame, stored as depth/NNNNNN.png (mm) with its intrinsics."""
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.size == 0:
            raise DatasetError(f"frame must be HxWx3 RGB, got shape {rgb.shape}")
        height, width = rgb.shape[:2]
        image_id = len(self.coco["images"]) + 1
        name = f"{image_id:06d}.png"
        negative = mask is None or not np.any(mask)
        mask_u8 = np.zeros((height, width), np.uint8) if mask is None else \
            (np.asarray(mask) > 0).astype(np.uint8) * 255
        if mask_u8.shape != (height, width):
            raise DatasetError(f"mask shape {mask_u8.shape} does not match frame {(height, width)}")
        if depth is not None and depth.depth_m.shape != (height, width):  # a bad frame, not a broken sweep
            raise DepthError(f"depth shape {depth.depth_m.shape} does not match frame {(height, width)}: "
                             "give depth aligned to the colour image")
        try:
            atomic_write_image(self.path / "images" / name, rgb)
            atomic_write_image(self.path / "masks" / name, mask_u8)
            if depth is not None:
                (self.path / "depth").mkdir(exist_ok=True)
                write_depth_png(self.path / "depth" / name, depth.depth_m)
        except OSError as exc:
            raise DatasetError(f"cannot write frame to {self.path}: {exc}; free disk space or "
                               "choose another output directory (earlier frames are intact)") from None
        self.coco["images"].append({
            "id": image_id, "file_name": f"images/{name}", "mask_file": f"masks/{name}",
            "width": int(width), "height": int(height),
            "angle_deg": None if angle_deg is None else float(angle_deg),
            "stamp": None if stamp is None else float(stamp),
            "source": source, "negative": bool(negative), "quality": quality or {},
        })
        if depth is not None:
            intrinsics = depth.intrinsics.to_dict()
            self.coco["images"][-1].update(depth_file=f"depth/{name}", intrinsics=intrinsics)
            self.meta.setdefault("intrinsics", intrinsics)
            counts_depth = self.meta["counts"]
            counts_depth["with_depth"] = counts_depth.get("with_depth", 0) + 1
        if not negative:
            ann = mask_to_annotation(mask_u8)
            ann.update(id=len(self.coco["annotations"]) + 1, image_id=image_id, category_id=1)
            self.coco["annotations"].append(ann)
        counts = self.meta["counts"]
        counts["seen"] += 1
        counts["negatives" if negative else "kept"] += 1
        self._commit()
        return image_id

    def reject(self, reason: str, *, source=None, angle_deg: float | None = None,
               stamp: float | None = None, quality: dict | None = None) -> None:
        """Record a frame that a quality gate refused, with the reason, without storing it."""
        self.meta["counts"]["seen"] += 1
        self.meta["counts"]["rejected"] += 1
        self.meta["rejected"].append({"reason": reason, "source": source, "angle_deg": angle_deg,
                                      "stamp": stamp, "quality": quality or {}})
        self._commit()

    def finish(self, state: str = "finished", message: str = "", **extra) -> Path:
        """Mark the sweep finished (or failed) and record any extra summary fields."""
        self.meta.update(state=state, message=message,
                         finished=_dt.datetime.now().isoformat(timespec="seconds"), **extra)
        self._commit()
        return self.path

    def _commit(self) -> None:
        try:
            atomic_write_json(self.path / "annotations.json", self.coco)
            atomic_write_json(self.path / "sweep.json", self.meta)
        except OSError as exc:
            raise DatasetError(f"cannot write dataset files in {self.path}: {exc}; free disk space "
                               "or choose another output directory") from None


@dataclass
class Sweep:
    """One loaded sweep: its folder, label, COCO dict and sweep.json."""

    path: Path
    label: str
    coco: dict
    meta: dict = field(default_factory=dict)
    _index: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    _index_of: list | None = field(default=None, init=False, repr=False, compare=False)
    _index_len: int = field(default=-1, init=False, repr=False, compare=False)

    @property
    def images(self) -> list[dict]:
        return self.coco["images"]

    def annotations_for(self, image_id: int) -> list[dict]:
        """The image's annotations, from an index built once (rebuilt if annotations change)."""
        anns = self.coco["annotations"]
        if self._index_of is not anns or self._index_len != len(anns):
            self._index, self._index_of, self._index_len = index_by_image(anns), anns, len(anns)
        return list(self._index.get(image_id, ()))

    def image_path(self, image: dict) -> Path:
        return self.path / image["file_name"]

    def read_image(self, image: dict) -> np.ndarray:
        return read_rgb(self.image_path(image))

    def depth(self, image: dict) -> DepthFrame | None:
        """The image's aligned depth (metres) with its intrinsics; None when it has no depth.
        Raises DatasetError when the depth file or the intrinsics cannot be read."""
        name = image.get("depth_file")
        if not name:
            return None
        intrinsics = image.get("intrinsics") or self.meta.get("intrinsics")
        try:
            if not intrinsics:
                raise IntrinsicsError("no intrinsics in the image entry or sweep.json")
            frame = DepthFrame(read_depth(self.path / name), Intrinsics.from_dict(intrinsics))
        except (DepthError, IntrinsicsError, OSError) as exc:
            raise DatasetError(f"{self.path}: image {image['id']}: {exc}") from None
        if frame.depth_m.shape != (image["height"], image["width"]):
            raise DatasetError(f"{self.path}: image {image['id']}: depth {name} is "
                               f"{frame.depth_m.shape[1]}x{frame.depth_m.shape[0]}, the image "
                               f"{image['width']}x{image['height']}")
        return frame

    def mask(self, image: dict) -> np.ndarray:
        """Union of the image's object masks as HxW bool (all False for a negative)."""
        out = np.zeros((image["height"], image["width"]), bool)
        for ann in self.annotations_for(image["id"]):
            out |= annotation_to_mask(ann, image["height"], image["width"])
        return out


def _read_json(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise DatasetError(f"{path} is missing: is this a sweep folder written by automask?") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path} is not valid JSON ({exc}); restore it or capture the sweep again") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{path} must hold a JSON object")
    return data


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value  # not NaN


MAX_PIXELS = 64_000_000  # as core/image_codec: a larger image entry is a corrupt file, not a camera


def _check_image_entry(path: Path, image) -> None:
    """One COCO image entry: integer id, a sane size and a file name inside the sweep folder."""
    if not isinstance(image, dict) or not {"id", "file_name", "width", "height"} <= image.keys():
        raise DatasetError(f"{path}: an image entry lacks id, file_name, width or height")
    if not _is_int(image["id"]):
        raise DatasetError(f"{path}: image id {image['id']!r} is not an integer")
    width, height = image["width"], image["height"]
    if not (_is_int(width) and _is_int(height) and width > 0 and height > 0 and width * height <= MAX_PIXELS):
        raise DatasetError(f"{path}: image {image['id']} has an impossible size {width!r}x{height!r}")
    for key in ("file_name", "depth_file"):
        name = image.get(key)
        if key == "depth_file" and name is None:
            continue
        if not isinstance(name, str) or not name or "\x00" in name or ".." in Path(name).parts \
                or Path(name).is_absolute():
            raise DatasetError(f"{path}: image {key} {name!r} leaves the sweep folder")


def _check_segmentation(path: Path, seg) -> None:
    """RLE {size: [h, w], counts: str | [int]} or polygons [[x, y, ...], ...]."""
    if isinstance(seg, dict):
        size, counts = seg.get("size"), seg.get("counts")
        if isinstance(size, list) and len(size) == 2 and all(_is_int(v) and v > 0 for v in size) \
                and (isinstance(counts, str) or (isinstance(counts, list) and all(_is_int(c) and c >= 0
                                                                                  for c in counts))):
            return
    elif isinstance(seg, list) and all(isinstance(poly, list) and len(poly) >= 6 and len(poly) % 2 == 0 and
                                       all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                           for v in poly) for poly in seg):
        return
    raise DatasetError(f"{path}: an annotation's segmentation is neither RLE nor polygons: "
                       "re-capture the sweep or repair annotations.json")


def load_sweep(path: str | Path) -> Sweep:
    """Load and structurally check one sweep folder; raises DatasetError naming the problem."""
    path = Path(path)
    coco = _read_json(path / "annotations.json")
    meta = _read_json(path / "sweep.json") if (path / "sweep.json").exists() else {}
    for key in ("images", "annotations", "categories"):
        if not isinstance(coco.get(key), list):
            raise DatasetError(f"{path / 'annotations.json'} has no '{key}' list: not a COCO file")
    if len(coco["categories"]) != 1 or not isinstance(coco["categories"][0], dict):
        raise DatasetError(f"{path} must have exactly one category (one object per sweep)")
    label = sanitize_label(str(coco["categories"][0].get("name", "")))
    ids = set()
    for image in coco["images"]:
        _check_image_entry(path, image)
        ids.add(image["id"])
    for ann in coco["annotations"]:
        if not isinstance(ann, dict) or not _is_int(ann.get("image_id")) or ann["image_id"] not in ids \
                or "segmentation" not in ann:
            raise DatasetError(f"{path}: an annotation has no segmentation or names an unknown image")
        _check_segmentation(path, ann["segmentation"])
    return Sweep(path=path, label=label, coco=coco, meta=meta)


def find_sweeps(path: str | Path) -> list[Path]:
    """Sweep folders at or below path (a sweep, a label folder or a dataset root), sorted."""
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(f"{path} is not a folder: give a sweep folder or a dataset root")
    if (path / "annotations.json").exists():
        return [path]
    found = sorted(p.parent for p in path.glob("*/annotations.json"))
    found += sorted(p.parent for p in path.glob("*/*/annotations.json"))
    if not found:
        raise DatasetError(f"no sweeps under {path}: expected <root>/<label>/<sweep_id>/annotations.json")
    return found


def validate_sweep(path: str | Path) -> list[str]:
    """Problems found in a sweep (empty list = valid): structure, files on disk, RLE sizes."""
    try:
        sweep = load_sweep(path)
    except DatasetError as exc:
        return [str(exc)]
    problems = []
    for image in sweep.images:
        try:
            present = sweep.image_path(image).is_file()
        except OSError:  # e.g. a name too long for the file system
            present = False
        if not present:
            problems.append(f"missing image file {image['file_name']}")
        try:
            sweep.depth(image)
        except DatasetError as exc:
            problems.append(str(exc).split(": ", 1)[-1])
    by_id = {i["id"]: i for i in sweep.images}
    for ann in sweep.coco["annotations"]:
        image = by_id[ann["image_id"]]  # load_sweep refused annotations of unknown images
        size = ann["segmentation"].get("size") if isinstance(ann["segmentation"], dict) else None
        if size is not None and list(size) != [image["height"], image["width"]]:
            problems.append(f"annotation {ann.get('id')} RLE size {size} does not match its image")
    return problems


def sweep_stats(path: str | Path) -> dict:
    """Counts and mask figures of one sweep, for `automask dataset stats`.

    Optional figures (area, angle, rejections) that a hand-edited file holds in the wrong type
    are left out of the figures rather than crashing the report."""
    sweep = load_sweep(path)
    positives = [i for i in sweep.images if not i.get("negative")]
    by_id = {i["id"]: i for i in sweep.images}
    areas = [a["area"] / (by_id[a["image_id"]]["width"] * by_id[a["image_id"]]["height"])
             for a in sweep.coco["annotations"] if _is_number(a.get("area"))]
    angles = sorted(i["angle_deg"] for i in positives if _is_number(i.get("angle_deg")))
    reasons: dict[str, int] = {}
    rejected = sweep.meta.get("rejected") if isinstance(sweep.meta.get("rejected"), list) else []
    for r in rejected:
        key = str(r.get("reason", "") if isinstance(r, dict) else "").split(" (")[0]
        key = re.sub(r"\d+(\.\d+)?%?", "N", key)
        reasons[key] = reasons.get(key, 0) + 1
    sizes = sorted({(i["width"], i["height"]) for i in sweep.images})
    return {
        "path": str(sweep.path), "label": sweep.label, "state": sweep.meta.get("state"),
        "images": len(sweep.images), "positives": len(positives),
        "negatives": len(sweep.images) - len(positives), "annotations": len(sweep.coco["annotations"]),
        "rejected": len(rejected), "rejection_reasons": reasons,
        "image_sizes": [f"{w}x{h}" for w, h in sizes],
        "mask_area_frac": {"min": round(min(areas), 4), "median": round(float(np.median(areas)), 4),
                           "max": round(max(areas), 4)} if areas else None,
        "angle_range_deg": [angles[0], angles[-1]] if angles else None,
        "coverage_deg": sweep.meta.get("coverage_deg"),
        "depth_frames": sum(1 for i in sweep.images if i.get("depth_file")),
        "intrinsics": sweep.meta.get("intrinsics"),
    }


def merge_sweeps(paths: list[str | Path], root: str | Path, *, sweep_id: str | None = None) -> Path:
    """Merge sweeps of one label into a new sweep under root: images, masks and COCO ids renumbered,
    so nothing clashes; each image entry records where it came from (merged_from)."""
    sweeps = [load_sweep(p) for p in paths]
    if not sweeps:
        raise DatasetError("nothing to merge: give at least one sweep")
    labels = sorted({s.label for s in sweeps})
    if len(labels) != 1:
        raise DatasetError(f"sweeps have different labels {labels}: merge only sweeps of one object")
    for s in sweeps:
        problems = validate_sweep(s.path)
        if problems:
            raise DatasetError(f"{s.path} is not valid ({problems[0]}): run `automask dataset validate`")
    writer = SweepWriter(root, labels[0], sweep_id=sweep_id or f"merged-{new_sweep_id()}",
                         params={"merged_from": [str(s.path) for s in sweeps]})
    for s in sweeps:
        for image in s.images:
            mask = None if image.get("negative") else s.mask(image)
            new_id = writer.add_frame(s.read_image(image), mask, angle_deg=image.get("angle_deg"),
                                      stamp=image.get("stamp"), source=image.get("source"),
                                      quality=image.get("quality") or {}, depth=s.depth(image))
            writer.coco["images"][new_id - 1]["merged_from"] = {"sweep": str(s.path), "image_id": image["id"]}
        for r in s.meta.get("rejected", []):
            writer.meta["rejected"].append({**r, "merged_from": str(s.path)})
            writer.meta["counts"]["rejected"] += 1
    return writer.finish("finished", f"merged {len(sweeps)} sweeps")

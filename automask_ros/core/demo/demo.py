"""The demo without ROS: its data, its ground truth, its scores and its report.

The ROS side (ros/demo_driver.py) moves frames through the nodes; everything here is plain
Python so that it can be tested and reused offline:

- prepare_synthetic(): a turntable sweep on the rendered RGB-D rig (empty turntable first, depth
  and intrinsics beside the images), held-out views between its angles, cluttered scenes and
  distractor-only table photos for copy-paste, as camera-like image folders;
- TruthIndex: the reference masks of every frame, found by the frame's pixels (a frame that went
  through DDS, a capture node and a dataset is still the same bytes), so no node has to carry ids;
- automask_iou() and score_detections(): mask IoU of the capture's auto-masks, and COCO mask AP
  (pycocotools) of the detector's output, both against the references (void pixels ignored);
- score_positions(): the detector's 3D positions against the true visible-surface centroids;
- write_demo_report(): report.html with the contact sheet, curves, overlays, the top-down 3D
  plot and metric tables.
"""

from __future__ import annotations

import hashlib
import json
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from . import render, rig
from ..shared.atomic import atomic_write_json, read_rgb
from ..shared.camera import Intrinsics, backproject
from ..shared.depth import write_depth_png
from ..shared.depth_noise import structured_light
from ..shared.coco import annotation_to_mask, gt_annotation, index_by_image, mask_iou, result_entry
from ..capture.dataset import load_sweep
from ..training.evaluate import score
from ..shared.sources import ImageFolder


def frame_key(rgb: np.ndarray) -> str:
    """Identity of a frame by its pixels."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    return hashlib.sha1(repr(rgb.shape).encode() + rgb.tobytes()).hexdigest()


@dataclass
class Truth:
    name: str
    objects: list = field(default_factory=list)   # [(label, HxW bool)]
    void: np.ndarray | None = None                 # HxW bool: pixels that count neither way
    centres: list | None = None                    # per object: true 3D centroid (m, camera frame) or None


def true_centroid(depth_m: np.ndarray, intr: Intrinsics, mask: np.ndarray) -> np.ndarray | None:
    """Centroid of the object's true visible surface: exact depth, exact mask (None if unseen)."""
    sel = np.asarray(mask, bool) & (np.asarray(depth_m) > 0)
    return backproject(depth_m, intr)[sel].mean(0).astype(np.float64) if sel.any() else None


class TruthIndex:
    """Reference masks of known frames, looked up by the frame's pixels."""

    def __init__(self):
        self._by_key: dict[str, Truth] = {}

    def __len__(self) -> int:
        return len(self._by_key)

    def add(self, rgb: np.ndarray, truth: Truth) -> None:
        self._by_key[frame_key(rgb)] = truth

    def lookup(self, rgb: np.ndarray) -> Truth | None:
        return self._by_key.get(frame_key(rgb))

    def add_folder(self, images: str | Path, masks: str | Path, label: str, glob: str | None = None) -> int:
        """Frames of an image folder with same-named masks (255 object, 128 void, 0 background)."""
        masks = Path(masks)
        n = 0
        for path in ImageFolder(images, glob).files:
            mask_path = masks / path.name
            if not mask_path.is_file():
                mask_path = mask_path.with_suffix(".png")
            if not mask_path.is_file():
                continue
            m = read_rgb(mask_path)[..., 0]
            void = m == 128
            self.add(read_rgb(path), Truth(path.name, [(label, m > 128)] if (m > 128).any() else [],
                                           void if void.any() else None))
            n += 1
        return n

    def add_coco(self, annotations_json: str | Path, root: str | Path | None = None) -> int:
        """Frames of a COCO file (e.g. render.write_clutter_coco); file names relative to root."""
        path = Path(annotations_json)
        data = json.loads(path.read_text(encoding="utf-8"))
        root = Path(root) if root else path.parent
        names = {c["id"]: c["name"] for c in data["categories"]}
        by_image = index_by_image(data["annotations"])
        for im in data["images"]:
            objects = [(names[a["category_id"]], annotation_to_mask(a, im["height"], im["width"]))
                       for a in by_image.get(im["id"], ())]
            self.add(read_rgb(root / im["file_name"]), Truth(im["file_name"], objects))
        return len(data["images"])


@dataclass
class DemoData:
    """Folders the player publishes, and the references to score against."""

    label: str
    sweep: Path                    # images to capture from
    sweep_glob: str | None = None
    angles: Path | None = None     # angles.json of the sweep (turntable_angle), when known
    heldout: Path | None = None    # views the model never sees in training
    heldout_glob: str | None = None
    clutter: Path | None = None    # cluttered scenes
    backgrounds: Path | None = None  # photos for copy-paste augmentation in training
    empty_frames: int | None = None  # empty-turntable frames the sweep starts with (None = unknown)
    truth: TruthIndex = field(default_factory=TruthIndex)


def prepare_synthetic(out: str | Path, obj: str = "mug", size=(320, 240), views: int = 36,
                      heldout: int = 18, clutter: int = 8, backgrounds: int = 16, seed: int = 0,
                      empty: int = 3) -> DemoData:
    """Render the demo's data into out/data: a sweep, held-out views, clutter, copy-paste photos.

    The sweep is the realistic RGB-D rig (core/demo/rig.py) as a robot's camera sees it: `empty`
    frames of the empty turntable first, then the object; depth/ and intrinsics.json beside the
    images, which the player publishes as depth and camera_info. Held-out views are the same
    object on the same rig, turned half a step (start_deg = 180/views), so no training view is
    seen again; clutter and backgrounds are table-top scenes of other seeds, seen through the rig's
    camera optics (Kinect field of view), as the robot that learnt the object would see them.
    """
    if views < 4 or heldout < 1 or clutter < 0 or empty < 0:
        raise ValueError("the demo needs at least 4 views, 1 held-out view and 0 or more clutter scenes "
                         "and empty frames")
    root = Path(out) / "data"
    sweep = render.write_image_folder(root / "sweep", rig.render_rig(obj, views, size, seed=seed,
                                                                     empty_frames=empty), label=obj)
    held_frames = list(rig.render_rig(obj, heldout, size, seed=seed, empty_frames=0, start_deg=180.0 / views))
    held = render.write_image_folder(root / "heldout", held_frames, label=obj)
    data = DemoData(label=obj, sweep=sweep / "images", angles=sweep / "angles.json",
                    heldout=held / "images", empty_frames=empty)
    if clutter:
        scenes = render.render_clutter_scenes([obj], clutter, size, seed=seed + 1000, fov_deg=rig.KINECT_FOV_DEG)
        folder = render.write_clutter_coco(root / "clutter", [(s.rgb, s.instances) for s in scenes], [obj])
        write_sensor_depth(folder, scenes, seed + 1000)
        data.clutter = folder / "images"
        data.truth.add_coco(folder / "annotations.json")
        for scene in scenes:  # add_coco keeps the objects in the scene's order
            data.truth.lookup(scene.rgb).centres = [true_centroid(scene.depth, scene.intrinsics, m)
                                                    for _, m in scene.instances]
    if backgrounds:  # the same kind of table without the object: what copy-paste pastes onto
        photos = [(rgb, []) for rgb, _ in render.render_clutter([], backgrounds, size, seed=seed + 2000,
                                                                distractors=3, exclude=[obj],
                                                                fov_deg=rig.KINECT_FOV_DEG)]
        data.backgrounds = render.write_clutter_coco(root / "backgrounds", photos, [obj]) / "images"
    data.truth.add_folder(sweep / "images", sweep / "masks", obj)
    data.truth.add_folder(held / "images", held / "masks", obj)
    for frame in held_frames:
        ref = data.truth.lookup(frame.rgb)
        ref.centres = [true_centroid(frame.depth, frame.intrinsics, m) for _, m in ref.objects]
    return data


def write_sensor_depth(folder: Path, scenes, seed: int) -> None:
    """depth/ (structured-light sensor depth, as the rig's) and intrinsics.json beside folder/images,
    where the player finds them; one camera for all scenes, as one robot's."""
    intr = scenes[0].intrinsics
    if any(s.intrinsics != intr for s in scenes):
        raise ValueError("clutter scenes with different cameras cannot share one intrinsics.json")
    rng = np.random.default_rng(seed)
    (folder / "depth").mkdir(exist_ok=True)
    for i, scene in enumerate(scenes, start=1):
        write_depth_png(folder / "depth" / f"{i:06d}.png", structured_light(scene.depth, intr.fx, rng))
    atomic_write_json(folder / "intrinsics.json", intr.to_dict())


def prepare_folder(images: str | Path, glob: str | None, label: str, heldout_glob: str | None = None,
                   masks: str | Path | None = None, backgrounds: str | Path | None = None) -> DemoData:
    """A real sweep folder: its frames are captured; held-out frames (another glob) are detected."""
    ImageFolder(images, glob)  # one clear error now for a wrong folder or glob
    data = DemoData(label=label, sweep=Path(images), sweep_glob=glob, empty_frames=0)  # object in view from the start
    if heldout_glob:
        ImageFolder(images, heldout_glob)
        data.heldout, data.heldout_glob = Path(images), heldout_glob
    if backgrounds:
        data.backgrounds = Path(backgrounds)
    if masks:
        if not Path(masks).is_dir():
            raise FileNotFoundError(f"reference mask folder {masks} does not exist")
        for g in {glob, heldout_glob} - {None}:
            data.truth.add_folder(images, masks, label, g)
    return data


def automask_iou(sweep_path: str | Path, truth: TruthIndex) -> dict:
    """IoU of every auto-mask in a captured sweep against its reference (void pixels ignored)."""
    sweep = load_sweep(sweep_path)
    rows = []
    for im in sweep.images:
        rgb = sweep.read_image(im)
        ref = truth.lookup(rgb)
        if ref is None or not ref.objects or not sweep.annotations_for(im["id"]):
            continue
        gt = np.any([m for _, m in ref.objects], axis=0)
        rows.append((im["file_name"], mask_iou(sweep.mask(im), gt, ref.void)))
    ious = [v for _, v in rows]
    return {"frames": len(rows), "mean": float(np.mean(ious)) if ious else float("nan"),
            "min": float(np.min(ious)) if ious else float("nan"), "per_frame": rows}


def score_detections(frames: Sequence[tuple[np.ndarray, Sequence]], truth: TruthIndex, labels: list[str]) -> dict:
    """COCO mask and box AP of detections [(rgb, instances)] against the references.

    Instances need label, score and mask (HxW bool). Void pixels join the object, as the data
    README says for AP. Frames with no reference are skipped and counted.
    """
    images, anns, results = [], [], []
    cat = {name: i + 1 for i, name in enumerate(labels)}
    found = unknown = 0
    for rgb, instances in frames:
        ref = truth.lookup(rgb)
        if ref is None:
            unknown += 1
            continue
        image_id = len(images) + 1
        h, w = rgb.shape[:2]
        images.append({"id": image_id, "width": w, "height": h, "file_name": ref.name})
        for label, mask in ref.objects:
            if label not in cat:
                continue
            m = mask | ref.void if ref.void is not None else mask
            anns.append(gt_annotation(len(anns) + 1, image_id, cat[label], m))
        hit = False
        for inst in instances:
            if inst.label not in cat or not np.any(inst.mask):
                continue
            hit |= any(inst.label == lab for lab, _ in ref.objects)
            results.append(result_entry(image_id, cat[inst.label], float(inst.score), np.asarray(inst.mask, bool)))
        found += hit
    if not anns:
        return {"frames": len(images), "unknown_frames": unknown, "found": found}
    gt = {"info": {}, "images": images, "annotations": anns,
          "categories": [{"id": i, "name": n} for n, i in cat.items()]}
    metrics = score(gt, results)
    return {"frames": len(images), "unknown_frames": unknown, "found": found,
            "mask_AP": metrics["segm_AP"], "mask_AP50": metrics["segm_AP50"],
            "box_AP": metrics["bbox_AP"], "box_AP50": metrics["bbox_AP50"]}


def score_positions(frames: Sequence[tuple[np.ndarray, Sequence]], truth: TruthIndex,
                    min_iou: float = 0.3) -> dict:
    """The detector's 3D positions against the true visible-surface centroids.

    Each true object with a known centre is matched to the same-label detection with the highest
    mask IoU (at least min_iou, each detection used once); a matched detection gives its
    Instance.geometry.position when has_3d, else None (never made up). Returns {"detected" and
    "detected_with_3d" (every detection on frames with true centres), "matched", "with_3d" (share
    of matched with 3D), "median_cm", "p90_cm" (errors of matched with 3D), "predicted", "truth",
    "labels"}.
    """
    predicted, true, labels = [], [], []
    detected = detected_3d = 0
    for rgb, instances in frames:
        ref = truth.lookup(rgb)
        if ref is None or not ref.centres:
            continue
        detected += len(instances)
        detected_3d += sum(1 for i in instances if i.geometry is not None and i.geometry.has_3d)
        free = list(instances)
        for (label, mask), centre in zip(ref.objects, ref.centres):
            if centre is None:
                continue
            ious = [(mask_iou(i.mask, mask, ref.void), i) for i in free if i.label == label]
            best = max(ious, key=lambda t: t[0], default=(0.0, None))
            if best[0] < min_iou:
                continue
            free.remove(best[1])
            g = best[1].geometry
            predicted.append(np.asarray(g.position, float) if g is not None and g.has_3d else None)
            true.append(np.asarray(centre, float))
            labels.append(label)
    errors = [100 * np.linalg.norm(p - t) for p, t in zip(predicted, true) if p is not None]
    return {"detected": detected, "detected_with_3d": detected_3d, "matched": len(true), "with_3d": (len(errors) / len(true)) if true else float("nan"),
            "median_cm": float(np.median(errors)) if errors else float("nan"),
            "p90_cm": float(np.percentile(errors, 90)) if errors else float("nan"),
            "predicted": predicted, "truth": true, "labels": labels}


class PhaseTimer:
    """Wall time per named phase, in the order they ran."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str):
        start = time.monotonic()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.monotonic() - start


def metric_rows(iou: dict | None, heldout: dict | None, clutter: dict | None, model_metrics: dict | None,
                positions: dict | None = None) -> dict:
    """The report's metrics table: one row per evaluation set (positions: score_positions' result)."""
    rows = {}
    if iou and iou.get("frames"):
        rows["auto-masks vs reference (capture)"] = {"frames": iou["frames"], "mask IoU (mean)": iou["mean"],
                                                     "mask IoU (min)": iou["min"]}
    if model_metrics:
        rows["trainer's held-out views (auto-mask labels)"] = {
            "mask AP": model_metrics.get("segm_AP"), "mask AP50": model_metrics.get("segm_AP50")}
    for name, m in (("held-out views (detector node)", heldout), ("cluttered scenes (detector node)", clutter)):
        if m and "mask_AP" in m:
            rows[name] = {"frames": m["frames"], "object found": m["found"], "mask AP": m["mask_AP"],
                          "mask AP50": m["mask_AP50"], "box AP": m["box_AP"]}
        elif m:
            rows[name] = {"frames": m["frames"], "object found": m["found"]}
    if positions and positions["detected"]:
        rows["3D (detector node, held-out + clutter)"] = {
            "instances": positions["detected"], "share with 3D": positions["detected_with_3d"] / positions["detected"]}
    if positions and positions["matched"]:
        rows["3D positions (detector node, held-out + clutter)"] = {
            "matched instances": positions["matched"], "matched share with 3D": positions["with_3d"],
            "centroid error median (cm)": positions["median_cm"], "centroid error p90 (cm)": positions["p90_cm"]}
    return rows


def sweep_contact_sheet(sweep_path: str | Path, iou: dict | None = None, limit: int = 36) -> np.ndarray | None:
    """The captured frames with their auto-masks, captioned with the IoU when known."""
    from .report import contact_sheet

    sweep = load_sweep(sweep_path)
    per = dict(iou["per_frame"]) if iou else {}
    ims = [im for im in sweep.images if sweep.annotations_for(im["id"])][:limit]
    if not ims:
        return None
    captions = [f"{Path(im['file_name']).stem}" + (f" IoU {per[im['file_name']]:.2f}"
                                                     if im["file_name"] in per else "") for im in ims]
    return contact_sheet([sweep.read_image(im) for im in ims], [sweep.mask(im) for im in ims], captions,
                         cols=6, thumb_width=160)


def overlay_grid(frames: Sequence[tuple[np.ndarray, Sequence]], count: int = 6, cols: int = 3) -> np.ndarray | None:
    """A few detector outputs drawn on their frames, evenly spread over the run."""
    from ..detection.overlay import draw_overlay

    if not frames:
        return None
    picks = [frames[int(i)] for i in np.linspace(0, len(frames) - 1, min(count, len(frames)))]
    tiles = [draw_overlay(rgb, instances) for rgb, instances in picks]
    h, w = tiles[0].shape[:2]
    tiles = [t if t.shape[:2] == (h, w) else cv2.resize(t, (w, h)) for t in tiles]
    cols = min(cols, len(tiles))
    rows = -(-len(tiles) // cols)
    grid = np.full((rows * (h + 4) + 4, cols * (w + 4) + 4, 3), 255, np.uint8)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, cols)
        grid[4 + r * (h + 4):4 + r * (h + 4) + h, 4 + c * (w + 4):4 + c * (w + 4) + w] = tile
    return grid


def write_demo_report(out: str | Path, *, label: str, sweep_path, bundle, iou: dict | None,
                      heldout: tuple[list, int] | None, clutter: tuple[list, int] | None,
                      truth: TruthIndex | None, phases: dict, facts: dict | None = None) -> tuple[Path, dict]:
    """Score everything that came back and write out/report.html (and out/positions_3d.json when
    instances matched a true 3D centre); returns (path, metric rows).

    heldout / clutter: ([(rgb, instances)], frames the detector skipped) from the detector node.
    """
    from ..training.bundle import read_bundle_meta
    from .report import write_report

    meta = read_bundle_meta(bundle)
    labels = list(meta.get("labels", [label]))
    held_m = score_detections(heldout[0], truth, labels) if heldout and truth and len(truth) else None
    clut_m = score_detections(clutter[0], truth, labels) if clutter and truth and len(truth) else None
    for m, run in ((held_m, heldout), (clut_m, clutter)):
        if m is not None:
            m["skipped"] = run[1]
    runs = [run for run in (heldout, clutter) if run]
    positions = score_positions([f for run in runs for f in run[0]], truth) if runs and truth else None
    rows = metric_rows(iou, held_m, clut_m, meta.get("metrics"), positions)
    figures = []
    sheet = sweep_contact_sheet(sweep_path, iou)
    if sheet is not None:
        figures.append(("Captured sweep: auto-masks from the capture node (caption: IoU vs the reference)", sheet))
    curves = Path(bundle) / "curves.png"
    if curves.is_file():
        figures.append(("Training curves (trainer node)", curves))
    for caption, run in (("Detector node on held-out views it never saw", heldout),
                         ("Detector node on cluttered scenes", clutter)):
        grid = overlay_grid(run[0]) if run else None
        if grid is not None:
            figures.append((caption, grid))
    if positions and positions["matched"]:
        from .report import topdown_positions

        Path(out).mkdir(parents=True, exist_ok=True)
        atomic_write_json(Path(out) / "positions_3d.json", [  # per matched instance, for scripts and tests
            {"label": lab, "truth": [round(float(v), 5) for v in t],
             "predicted": None if p is None else [round(float(v), 5) for v in p]}
            for lab, t, p in zip(positions["labels"], positions["truth"], positions["predicted"])])

        figures.append(("3D positions from the detector node (depth + camera_info) against the true "
                        "visible-surface centroids, seen from above",
                        topdown_positions(positions["predicted"], positions["truth"], positions["labels"])))
    facts = dict(facts or {})
    facts.update({"label": label, "dataset": str(sweep_path), "model bundle": str(bundle),
                  "model id": meta.get("model_id", ""), "architecture": meta.get("arch", "")})
    for name, m in (("held-out frames scored", held_m), ("clutter frames scored", clut_m)):
        if m is not None:
            facts[name] = f"{m['frames']} (+{m['skipped']} skipped by the detector, {m['unknown_frames']} unknown)"
    notes = ["Every step ran through the ROS 2 nodes over DDS: the player published the frames, the "
             "capture node recorded the sweep through its StartSweep service, the trainer node trained "
             "through its Train action, and the detector node hot-reloaded the announced model. Mask AP "
             "is COCO mask AP[.5:.95] (pycocotools) against the reference masks, which no step of the "
             "loop used."]
    path = write_report(out, title=f"automask demo: {label}", metrics=rows, figures=figures,
                        phases=phases, facts=facts, notes=notes)
    return path, rows

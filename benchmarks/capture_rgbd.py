"""Capture on a real turntable in a real room (issue 11): mask IoU with and without depth, and speed.

    python benchmarks/capture_rgbd.py            # real Kinect frames, synthetic rig, speed (~5 min)
    python benchmarks/capture_rgbd.py --quick    # fewer synthetic seeds and speed repeats

Sets:
- real Kinect v1 frames of a lab turntable (../shared/data/uw_rgbd/turntable: an apple and a
  ball on a white turntable, a board, bottles and a room around them), scored against UW's own
  automatic masks (IoU, binary);
- the synthetic RGB-D rig of core/render.py (unseen seeds), scored against its exact masks.

Every frame goes through the product's capture path: SweepRecorder with the default parameters
(segmenter auto), fed like `automask capture --images --depth --intrinsics` feeds it; a folder of
stills keeps every frame. Modes: with depth; RGB-only with the rig's ROI (set once per rig by
hand: the turntable box, or the column above its centre); RGB-only with nothing given.

Speed: per-frame capture time at 640x480 with depth against the same frames without, measured
interleaved in one run (the turntable search, once per sweep, is reported on its own).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _util import machine  # noqa: E402

from automask_ros.core.atomic import atomic_write_json, read_rgb  # noqa: E402
from automask_ros.core.camera import load_intrinsics  # noqa: E402
from automask_ros.core.contact_sheet import write_contact_sheet  # noqa: E402
from automask_ros.core.dataset import SweepWriter  # noqa: E402
from automask_ros.core.depth import DepthFrame, read_depth  # noqa: E402
from automask_ros.core.sweep import CaptureParams, SweepRecorder, build_segmenter  # noqa: E402
from automask_ros.core.turntable import find_turntable  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
UW = DATA / "uw_rgbd"
RESULTS = ROOT / "benchmarks" / "results"
SHEET = ROOT / "docs" / "capture_rgbd.png"
FOLDER = {"min_change": 0.0, "loop_closure": False}  # a folder of stills: every frame is a view
# The UW rig's ROI, set once by hand from the frames as a user would (never from the masks):
RIG_ROI = {"turntable box": [0.3, 0.3, 0.7, 0.75],       # the turntable top and the space above it
           "column above centre": [0.4, 0.4, 0.6, 0.65]}  # where an object on the turntable stands


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def run_sweep(frames, params: dict, use_depth: bool) -> list[dict]:
    """Feed (rgb, depth frame, reference) through a fresh SweepRecorder; one row per frame."""
    p = CaptureParams.from_dict({**FOLDER, **params})
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        recorder = SweepRecorder(SweepWriter(tmp, "bench"), build_segmenter(p), p)
        for name, rgb, depth, ref in frames:
            start = time.perf_counter()
            result = recorder.feed(rgb, source=name, depth=depth if use_depth else None)
            seconds = time.perf_counter() - start
            mask = result.mask if result.mask is not None else np.zeros(ref.shape, bool)
            rows.append({"frame": name, "status": result.status, "reason": result.reason,
                         "iou": round(iou(mask, ref), 4), "seconds": seconds, "mask": mask, "rgb": rgb})
        recorder.finish()
    return rows


def uw_objects() -> dict[str, list]:
    intr = load_intrinsics(UW / "intrinsics.json")
    objects = {}
    for folder in sorted(p for p in (UW / "turntable").iterdir() if p.is_dir()):
        frames = []
        for path in sorted(glob.glob(str(folder / "*_[0-9].png"))):
            ref = cv2.imread(path.replace(".png", "_mask.png"), cv2.IMREAD_GRAYSCALE) > 0
            depth = DepthFrame(read_depth(path.replace(".png", "_depth.png")), intr)
            frames.append((Path(path).name, read_rgb(path), depth, ref))
        objects[folder.name] = frames
    return objects


def summarise(rows_by_object: dict[str, list[dict]]) -> dict:
    per = {obj: {"median_iou": round(statistics.median(r["iou"] for r in rows), 4),
                 "min_iou": round(min(r["iou"] for r in rows), 4), "frames": len(rows),
                 "kept": sum(r["status"] == "kept" for r in rows)} for obj, rows in rows_by_object.items()}
    medians = [v["median_iou"] for v in per.values()]
    return {"objects": per, "median_of_object_medians": round(statistics.median(medians), 4),
            "worst_object_median": round(min(medians), 4)}


def real_kinect(sheet_items: list) -> dict:
    objects = uw_objects()
    modes = {"depth": ({}, True), **{f"rgb, ROI {k}": ({"roi": v}, False) for k, v in RIG_ROI.items()},
             "rgb, nothing given": ({}, False)}
    short = dict(zip(modes, ("depth", "rgb+roi box", "rgb+roi col", "rgb alone")))
    out = {}
    for mode, (params, use_depth) in modes.items():
        rows = {obj: run_sweep(frames, params, use_depth) for obj, frames in objects.items()}
        out[mode] = summarise(rows)
        print(f"real Kinect, {mode:28s}: " + ", ".join(
            f"{o} {v['median_iou']:.3f}" for o, v in out[mode]["objects"].items()), flush=True)
        for obj, obj_rows in rows.items():
            for r in obj_rows:
                ys, xs = np.nonzero(cv2.dilate(r["mask"].astype(np.uint8), np.ones((61, 61))) | _centre(r["rgb"]))
                crop = np.s_[max(0, ys.min()):ys.max() + 1, max(0, xs.min()):xs.max() + 1]
                rgb, mask = r["rgb"][crop], r["mask"][crop]
                s = 96.0 / max(rgb.shape[:2])
                size = (max(1, round(rgb.shape[1] * s)), max(1, round(rgb.shape[0] * s)))
                sheet_items.append({"rgb": cv2.resize(rgb, size, interpolation=cv2.INTER_AREA),
                                    "mask": cv2.resize(mask.astype(np.uint8), size,
                                                       interpolation=cv2.INTER_NEAREST) > 0,
                                    "status": "kept" if r["status"] == "kept" else "rejected",
                                    "caption": f"{short[mode]}: {r['frame'][:-4]} IoU {r['iou']:.2f}"})
    return out


def _centre(rgb) -> np.ndarray:
    """The middle third of the frame (so that an empty mask still shows the turntable)."""
    m = np.zeros(rgb.shape[:2], np.uint8)
    h, w = m.shape
    m[h // 3:2 * h // 3, w // 3:2 * w // 3] = 1
    return m


def speed(repeats: int) -> dict:
    """Per-frame capture time with depth vs without, interleaved, after the first frame."""
    objects = uw_objects()
    frames = [f for obj in objects.values() for f in obj]
    times = {"depth": [], "rgb": []}
    for _ in range(repeats):
        for mode in ("depth", "rgb"):
            rows = run_sweep(frames, {}, mode == "depth")
            times[mode] += [r["seconds"] for r in rows[1:]]  # the first frame also builds the model
    search = []
    for _, _, depth, _ in frames:
        start = time.perf_counter()
        find_turntable(depth.depth_m, depth.intrinsics)
        search.append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in times.items()}
    out = {"frame_s_median_depth": round(med["depth"], 4), "frame_s_median_rgb": round(med["rgb"], 4),
           "ratio_depth_over_rgb": round(med["depth"] / med["rgb"], 3),
           "turntable_search_s_median": round(statistics.median(search), 4), "frames_timed": len(times["rgb"])}
    print(f"speed at 640x480: {out['frame_s_median_depth'] * 1000:.0f} ms with depth, "
          f"{out['frame_s_median_rgb'] * 1000:.0f} ms without: ratio {out['ratio_depth_over_rgb']:.2f} "
          f"(turntable search once per sweep: {out['turntable_search_s_median'] * 1000:.0f} ms)", flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer synthetic seeds and speed repeats")
    args = ap.parse_args()
    if not (UW / "turntable").is_dir():
        print(f"skipped: {UW} is absent")
        return 0
    info = machine()
    print(f"machine: {info['cpu']}, {info['cores']} cores, commit {info['commit']}", flush=True)
    sheet_items: list = []
    result = {"machine": info, "real_kinect": real_kinect(sheet_items),
              "speed": speed(1 if args.quick else 3)}
    write_contact_sheet(SHEET, sheet_items, title="real Kinect frames: auto-mask, IoU vs UW masks", columns=5)
    RESULTS.mkdir(parents=True, exist_ok=True)
    atomic_write_json(RESULTS / "capture_rgbd.json", result)
    print(f"wrote {RESULTS / 'capture_rgbd.json'} and {SHEET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""3D instances (issue 12): centroid accuracy on synthetic RGB-D with exact truth, plausibility on
real RGB-D frames, and what 3D costs the detector per frame.

    python benchmarks/instances3d.py                    # all three parts, writes results/instances3d.json
    python benchmarks/instances3d.py --scenes 10 --repeats 5 --parts synthetic speed

synthetic  render_clutter_scenes at 640x480 with the mug, bottle and box plus 3 distractors, the
           camera 0.55-1.45 m from the table (objects at about 0.5-1.5 m, partly occluded); depth =
           the renderer's exact depth through core/depth_noise.structured_light (Kinect-class
           noise, quantisation, shadows, edge dropouts). Truth: the centroid of the true visible
           surface (exact depth back-projected under the exact visible mask). Masks: the exact
           visible mask, and a detector-like mask grown by 3 px onto whatever lies behind.
real       every object of ../shared/data gqcnn (single objects; piles split into blobs) and
           uw_rgbd turntable frames, from the reference masks, through the detector's geometry
           code: height of the centroid above the RANSAC table plane fitted around the object,
           whether it projects back inside the mask (and inside its convex hull), and flying
           pixels in the cloud (points under the table by > 1 cm; points at a depth edge).
speed      Detector.detect at 640x480 with ten instances, without and with depth (+ the
           markers, cloud and Detection3DArray the node builds), and the 3D work alone, in turn
           (the order rotates every round); ratios of medians and of minima (this machine is
           shared: the minimum is the least disturbed run).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _util import ROOT, machine, print_machine, untrained_bundle  # noqa: E402

from automask_ros.core.demo import render as R  # noqa: E402
from automask_ros.core.shared.camera import backproject, load_intrinsics, project  # noqa: E402
from automask_ros.core.shared.depth import DepthFrame, read_depth  # noqa: E402
from automask_ros.core.shared.depth_noise import structured_light  # noqa: E402
from automask_ros.core.detection.instance3d import instance_geometry  # noqa: E402
from automask_ros.core.capture.plane import fit_plane  # noqa: E402

DATA = ROOT.parent / "shared" / "data"


def _stats(values) -> dict:
    v = np.asarray(values, float)
    return {"n": int(len(v)), "median": round(float(np.median(v)), 5), "p90": round(float(np.percentile(v, 90)), 5),
            "max": round(float(v.max()), 5)}


def occluded(mask: np.ndarray, depth: np.ndarray) -> bool:
    """Something nearer borders the visible mask (by 2 cm or more along at least 5 pixels)."""
    m8 = mask.astype(np.uint8)
    ring = cv2.dilate(m8, np.ones((3, 3), np.uint8)).astype(bool) & ~mask
    local = cv2.erode(np.where(mask, depth, np.float32(np.inf)).astype(np.float32), np.ones((3, 3), np.uint8))
    return int((ring & (depth > 0) & (depth < local - 0.02)).sum()) >= 5


def synthetic(scenes: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    rows = []
    for scene in R.render_clutter_scenes(["mug", "bottle", "box"], n=scenes, size=(640, 480), seed=seed,
                                         distractors=3, camera_distance_m=(0.55, 1.45)):
        intr = scene.intrinsics
        noisy = DepthFrame(structured_light(scene.depth, intr.fx, rng), intr)
        exact = backproject(scene.depth, intr)
        for label, mask in scene.instances:
            if mask.sum() < 100:
                continue
            truth_pts = exact[mask & (scene.depth > 0)]
            truth = truth_pts.mean(axis=0)
            pixel = truth[2] / intr.fx
            true_size = truth_pts.max(axis=0) - truth_pts.min(axis=0) + np.array([pixel, pixel, 0.0])
            grown = cv2.dilate(mask.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
            row = {"label": label, "z": float(truth[2]), "pixels": int(mask.sum()),
                   "occluded": occluded(mask, scene.depth)}
            for name, m in (("exact_mask", mask), ("grown_mask", grown)):
                g = instance_geometry(m, noisy)
                row[name] = {"has_3d": g.has_3d, "valid_fraction": g.valid_fraction}
                if g.has_3d:
                    row[name]["error_m"] = float(np.linalg.norm(g.position - truth))
                    row[name]["size_error_m"] = np.abs(g.size - true_size).tolist()
                    naive = backproject(noisy.depth_m, intr)[m & (noisy.depth_m > 0)].mean(axis=0)
                    row[name]["naive_mean_error_m"] = float(np.linalg.norm(naive - truth))
            rows.append(row)
    out = {"instances": len(rows), "z_range_m": [round(min(r["z"] for r in rows), 3), round(max(r["z"] for r in rows), 3)],
           "occluded": sum(r["occluded"] for r in rows)}
    for name in ("exact_mask", "grown_mask"):
        ok = [r[name] for r in rows if r[name]["has_3d"]]
        out[name] = {"with_3d": len(ok), "centroid_error_m": _stats([o["error_m"] for o in ok]),
                     "naive_mask_mean_error_m": _stats([o["naive_mean_error_m"] for o in ok]),
                     "size_error_m_xyz_median": [round(float(v), 4) for v in
                                                 np.median([o["size_error_m"] for o in ok], axis=0)],
                     "centroid_error_occluded_m": _stats([r[name]["error_m"] for r in rows
                                                          if r["occluded"] and r[name]["has_3d"]] or [np.nan])}
    return out


def real_frames():
    """(name, depth, mask, intrinsics, table normal hint) for every real object with a mask."""
    g_intr = load_intrinsics(DATA / "gqcnn" / "primesense.intr")
    for path in sorted((DATA / "gqcnn").glob("*/color_*.png")):
        i = path.stem.split("_")[1]
        mask = cv2.imread(str(path.with_name(f"segmask_{i}.png")), cv2.IMREAD_GRAYSCALE) > 127
        n, labels = cv2.connectedComponents(mask.astype(np.uint8))
        for k in range(1, n):
            if (labels == k).sum() >= 200:
                yield (f"gqcnn/{path.parent.name}/{path.stem}#{k}", read_depth(path.with_name(f"depth_{i}.npy")),
                       labels == k, g_intr, (0, 0, -1))
    u_intr = load_intrinsics(DATA / "uw_rgbd" / "intrinsics.json")
    for path in sorted((DATA / "uw_rgbd" / "turntable").glob("*/*_[0-9].png")):
        mask = cv2.imread(str(path.with_name(path.stem + "_mask.png")), cv2.IMREAD_GRAYSCALE) > 127
        yield (f"uw_rgbd/{path.stem}", read_depth(path.with_name(path.stem + "_depth.png")), mask, u_intr, (0, -1, 0))


def _edge_range(depth: np.ndarray) -> np.ndarray:
    k = np.ones((3, 3), np.uint8)
    return cv2.dilate(depth, k) - cv2.erode(np.where(depth > 0, depth, np.float32(np.inf)), k)


def real() -> dict:
    if not (DATA / "gqcnn").is_dir():
        return {"skipped": "../shared/data is absent"}
    rows = []
    for name, depth, mask, intr, hint in real_frames():
        m8 = mask.astype(np.uint8)
        near = cv2.dilate(m8, np.ones((151, 151), np.uint8)).astype(bool)
        away = ~cv2.dilate(m8, np.ones((15, 15), np.uint8)).astype(bool)
        plane, _ = fit_plane(backproject(depth, intr)[near & away & (depth > 0)], 0.008,
                             normal_hint=hint, max_angle_deg=50)
        g = instance_geometry(mask, DepthFrame(depth, intr))
        u, v = project(g.position, intr)[0]
        hull = cv2.convexHull(np.argwhere(mask)[:, ::-1].astype(np.int32))
        # a flying pixel: a reading whose 3x3 neighbourhood spans more than 5 cm of depth
        us = np.clip(np.round(project(g.points, intr)).astype(int), 0, [depth.shape[1] - 1, depth.shape[0] - 1])
        edge = _edge_range(depth)
        raw = mask & (depth > 0)
        rows.append({"name": name, "height_m": round(float(plane.height(g.position[None])[0]), 4),
                     "in_mask": bool(mask[int(round(v)), int(round(u))]),
                     "hull_distance_px": round(float(cv2.pointPolygonTest(hull, (float(u), float(v)), True)), 1),
                     "valid_fraction": round(g.valid_fraction, 3), "size_m": [round(float(s), 3) for s in g.size],
                     "cloud_points": len(g.points),
                     "cloud_under_table_1cm": int((plane.height(g.points) < -0.01).sum()),
                     "cloud_at_depth_edge_5cm": int((edge[us[:, 1], us[:, 0]] > 0.05).sum()),
                     "raw_mask_under_table_1cm": int((plane.height(backproject(depth, intr)[raw]) < -0.01).sum()),
                     "raw_mask_at_depth_edge_5cm": int((edge[raw] > 0.05).sum())})
    heights = [r["height_m"] for r in rows]
    return {"objects": len(rows), "height_m": {"min": min(heights), "median": float(np.median(heights)),
                                               "max": max(heights)},
            "in_mask": sum(r["in_mask"] for r in rows), "in_hull_within_2px": sum(r["hull_distance_px"] > -2 for r in rows),
            "cloud_points": sum(r["cloud_points"] for r in rows),
            "cloud_under_table_1cm": sum(r["cloud_under_table_1cm"] for r in rows),
            "cloud_at_depth_edge_5cm": sum(r["cloud_at_depth_edge_5cm"] for r in rows),
            "raw_mask_under_table_1cm": sum(r["raw_mask_under_table_1cm"] for r in rows),
            "raw_mask_at_depth_edge_5cm": sum(r["raw_mask_at_depth_edge_5cm"] for r in rows), "rows": rows}


def speed(repeats: int, work: Path) -> dict:
    from std_msgs.msg import Header

    from automask_ros.core.detection.infer import Detector, add_geometry
    from automask_ros.ros.cloud import to_cloud
    from automask_ros.ros.markers import to_markers
    from automask_ros.ros.vision import to_detections_3d

    bundle = untrained_bundle(work / "bundle", model_id="bench", min_size=320, max_size=512)  # the CPU preset's input size
    # mask threshold 0: an untrained model's soft masks then fill their boxes (more 3D work, not less)
    det = Detector(bundle, device="cpu", score_threshold=0.0, mask_threshold=0.0, max_instances=10)
    det.model.roi_heads.detections_per_img = 10
    scene = R.render_clutter_scenes(["mug", "bottle", "box"], n=1, size=(640, 480), seed=5, distractors=7,
                                    camera_distance_m=(0.8, 0.8))[0]
    depth = DepthFrame(structured_light(scene.depth, scene.intrinsics.fx, np.random.default_rng(0)), scene.intrinsics)
    header = Header(frame_id="camera")
    instances = det.detect(scene.rgb, depth)

    def with_3d():
        found = det.detect(scene.rgb, depth)
        to_markers(header, found), to_cloud(header, found), to_detections_3d(header, found)

    def only_3d():  # what 3D adds, alone: geometry of the ten instances and the node's 3D messages
        add_geometry(instances, depth)
        to_markers(header, instances), to_cloud(header, instances), to_detections_3d(header, instances)

    runs = {"detect_2d": lambda: det.detect(scene.rgb), "detect_3d": with_3d, "only_3d": only_3d}
    times = {name: [] for name in runs}
    for round_ in range(repeats + 2):  # the order turns every round: no callable always goes first
        names = list(runs)[round_ % 3:] + list(runs)[:round_ % 3]
        for name in names:
            start = time.perf_counter()
            runs[name]()
            if round_ >= 2:  # two warm-up rounds
                times[name].append(time.perf_counter() - start)
    med = {name: float(np.median(v)) for name, v in times.items()}
    return {"instances": len(instances), "with_3d": sum(i.geometry.has_3d for i in instances),
            "mask_pixels": sorted(int(i.mask.sum()) for i in instances),
            **{f"{name}_median_s": round(v, 4) for name, v in med.items()},
            **{f"{name}_min_s": round(min(times[name]), 4) for name in times},
            "ratio_3d_over_2d_medians": round(med["detect_3d"] / med["detect_2d"], 4),
            "ratio_3d_over_2d_mins": round(min(times["detect_3d"]) / min(times["detect_2d"]), 4),
            "ratio_1_plus_only_3d_over_2d_medians": round(1 + med["only_3d"] / med["detect_2d"], 4),
            "repeats": repeats}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenes", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--parts", nargs="+", default=["synthetic", "real", "speed"])
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "instances3d.json")
    args = p.parse_args()
    info = machine()
    print_machine(info)
    result = {"machine": info}
    if "synthetic" in args.parts:
        result["synthetic"] = synthetic(args.scenes, args.seed)
        print("synthetic:", json.dumps(result["synthetic"]))
    if "real" in args.parts:
        result["real"] = real()
        print("real:", json.dumps({k: v for k, v in result["real"].items() if k != "rows"}))
    if "speed" in args.parts:
        with tempfile.TemporaryDirectory() as work:
            result["speed"] = speed(args.repeats, Path(work))
        print("speed:", json.dumps(result["speed"]))
    from automask_ros.core.shared.atomic import atomic_write_json
    atomic_write_json(args.out, result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

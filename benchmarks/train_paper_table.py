"""The paper's table on COIL-100: train on automatic masks, test on unseen views against references.

Wu and Siebert train Mask R-CNN on masks an FCN made for a turntable sweep and test on views it
never saw. Here: obj10 (cup) and obj50 (shampoo bottle) at 0, 10, ..., 350 degrees, masked
AUTOMATICALLY (the capture pipeline, or plain U^2-Net-p when it is absent); both objects in one
model, trained from scratch on the CPU preset within a wall-clock budget; tested on the 5, 15,
..., 355 degree views against the reference masks (mask > 0 = object, as data/README.md says).

Training is the command a new user runs, `automask train --data <sweeps> --max-minutes M`, with
no other flag: whatever makes the model work off the turntable must be the default. Every model is
scored on three tests it never saw:
- plain: the held-out views against the reference masks;
- clutter: the same views pasted onto held-out kitchen photos (every 4th of backgrounds/) among
  2-4 COIL objects that training never saw (the odd half of objects 1-60);
- negatives: false positives per frame at score 0.5 on 125 real desk frames (uw_rgbd table_1)
  that show none of the learnt objects. With --workspace the odd-numbered frames are first
  recorded as the robot's workspace (`automask capture --workspace`), as a user would before
  training, and the even-numbered ones are the test.

    nice -n 5 python benchmarks/train_paper_table.py [--minutes 20] [-- extra train flags]
    python benchmarks/train_paper_table.py --bundle DIR --name NAME   # score an existing bundle
    python benchmarks/train_paper_table.py --bundle DIR --last --name NAME  # ... its run's last model
    python benchmarks/train_paper_table.py --bundle DIR --mask-threshold 0.4 --name NAME  # masks cut at 0.4

Writes benchmarks/results/train_paper_table_<M>min.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _util import machine  # noqa: E402
from automask_ros.core.shared.atomic import atomic_write_json, read_rgb  # noqa: E402
from automask_ros.core.training.bundle import load_bundle, save_bundle  # noqa: E402
from automask_ros.core.shared.coco import reference_iou  # noqa: E402
from automask_ros.core.training.data import load_sweeps, split_by_view  # noqa: E402
from automask_ros.core.capture.dataset import SweepWriter  # noqa: E402
from automask_ros.core.training.ema import make_ema  # noqa: E402
from automask_ros.core.training.evaluate import evaluate_model, format_table, gt_from_samples  # noqa: E402
from automask_ros.core.detection.infer import Detector  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
COIL = DATA / "coil100"
OBJECTS = {"cup": 10, "bottle": 50}
NEGATIVE_SCENES = DATA / "uw_rgbd" / "scenes" / "table_1"
TEST_SETS = {"plain": "held-out views (5, 15, ..., 355 deg) against the reference masks",
             "clutter": "held-out views pasted onto held-out kitchen photos (every 4th) with 2-4 COIL objects "
                        "that training never saw"}
RESULTS = ROOT / "benchmarks" / "results"


# ---- automatic training masks -------------------------------------------------------------------
def capture_available() -> bool:
    return (ROOT / "automask_ros" / "cli" / "capture.py").exists()


def auto_sweeps_capture(root: Path) -> str:
    """Training sweeps from the project's capture pipeline (`automask capture` on the image files)."""
    for label, obj in OBJECTS.items():
        cmd = [sys.executable, "-m", "automask_ros.cli", "capture", "--images", str(COIL / "images"),
               "--glob", f"obj{obj}__*0.png", "--label", label, "--out", str(root), "--sweep-id", "auto",
               "--step-deg", "10", "--quiet"]
        subprocess.run(cmd, check=True, cwd=ROOT)
    return "automask capture --images coil100/images --glob 'objN__*0.png' (default segmenter, clean-up, gates)"


def auto_sweeps_pipeline(root: Path) -> str:
    """The capture pipeline's own pieces, frame by frame in turntable order: the default segmenter
    (core/capture/segment.py) and blob clean-up (core/capture/cleanup.py) with the previous mask as a prior."""
    from automask_ros.core.capture.cleanup import cleanup
    from automask_ros.core.capture.segment import make_segmenter
    segmenter = make_segmenter("u2net")
    for label, obj in OBJECTS.items():
        writer = SweepWriter(root, label, sweep_id="auto", params={"segmenter": "u2net + cleanup"})
        prev = None
        for angle in range(0, 360, 10):
            rgb = read_rgb(COIL / "images" / f"obj{obj}__{angle}.png")
            mask, quality = cleanup(segmenter(rgb), prev_mask=prev, rgb=rgb)
            prev = mask if mask.any() else prev
            writer.add_frame(rgb, mask if mask.any() else None, angle_deg=angle,
                             source=f"obj{obj}__{angle}.png", quality=quality)
        writer.finish()
    return "capture pipeline pieces: core.segment u2net + core.cleanup (no capture CLI yet)"


def auto_sweeps_u2netp(root: Path) -> str:
    """Fallback: plain U^2-Net-p (320x320, ImageNet normalisation, threshold 0.5, largest blob)."""
    import importlib.util

    import onnxruntime as ort
    onnx = Path(list(importlib.util.find_spec("rembg").submodule_search_locations)[0]) / "u2netp.onnx"
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(str(onnx), opts, providers=["CPUExecutionProvider"])
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    for label, obj in OBJECTS.items():
        writer = SweepWriter(root, label, sweep_id="auto", params={"segmenter": "u2netp-plain"})
        for angle in range(0, 360, 10):
            rgb = read_rgb(COIL / "images" / f"obj{obj}__{angle}.png")
            x = cv2.resize(rgb, (320, 320), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255
            x = ((x - mean) / std).transpose(2, 0, 1)[None].astype(np.float32)
            pred = sess.run(None, {sess.get_inputs()[0].name: x})[0][0, 0]
            pred = (pred - pred.min()) / max(pred.max() - pred.min(), 1e-6)
            prob = cv2.resize(pred, rgb.shape[1::-1], interpolation=cv2.INTER_LINEAR)
            mask = (prob > 0.5).astype(np.uint8)
            n, lab, stats, _ = cv2.connectedComponentsWithStats(mask)
            if n > 1:
                mask = lab == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
            writer.add_frame(rgb, mask if mask.any() else None, angle_deg=angle, source=f"obj{obj}__{angle}.png")
        writer.finish()
    return "plain U^2-Net-p fallback (320x320, threshold 0.5, largest blob)"


def auto_mask_quality(root: Path) -> dict:
    """IoU of the automatic training masks against the reference (void excluded), for the record."""
    out = {}
    for sweep in load_sweeps([root]):
        ious = []
        for image in sweep.images:
            ref = cv2.imread(str(COIL / "masks" / Path(str(image["source"])).name), cv2.IMREAD_GRAYSCALE)
            if ref is None:
                continue
            ious.append(reference_iou(sweep.mask(image), ref))
        out[sweep.label] = {"views": len(ious), "mean_iou": round(float(np.mean(ious)), 4) if ious else None,
                            "min_iou": round(float(np.min(ious)), 4) if ious else None}
    return out


# ---- test sets ------------------------------------------------------------------------------
def cutout_ref(name: str) -> tuple[np.ndarray, np.ndarray]:
    rgb = read_rgb(COIL / "images" / name)
    mask = cv2.imread(str(COIL / "masks" / name), cv2.IMREAD_GRAYSCALE) > 0
    return rgb, mask


def write_plain_test(root: Path, objects: dict[str, int] = OBJECTS) -> None:
    """The held-out views (5, 15, ..., 355 deg) of each object with their reference masks."""
    for label, obj in objects.items():
        writer = SweepWriter(root, label, sweep_id="test")
        for angle in range(5, 360, 10):
            rgb, mask = cutout_ref(f"obj{obj}__{angle}.png")
            writer.add_frame(rgb, mask, angle_deg=angle, source=f"obj{obj}__{angle}.png")
        writer.finish()


def split_backgrounds() -> tuple[list[Path], list[Path]]:
    """Every 4th photo (sorted) is for testing only; the rest may be used in training."""
    files = sorted((DATA / "backgrounds").glob("*.jpg"))
    return [f for i, f in enumerate(files) if i % 4 != 0], [f for i, f in enumerate(files) if i % 4 == 0]


def distractor_objects() -> tuple[list[int], list[int]]:
    """Other COIL objects, split in two disjoint halves; the test clutter is the second half."""
    others = [o for o in range(1, 61) if o not in OBJECTS.values()]
    return others[0::2], others[1::2]


def paste_for_test(canvas: np.ndarray, masks: list[np.ndarray], obj: np.ndarray, obj_mask: np.ndarray,
                   scale: float, rng: np.random.Generator) -> np.ndarray | None:
    """The test set's own paste (fixed, so the test images never change with the training recipe):
    a random place, a 3x3 soft edge, earlier masks lose what it hides."""
    H, W = canvas.shape[:2]
    h, w = obj_mask.shape
    s = min(scale, 0.95 * H / h, 0.95 * W / w)
    nh, nw = max(int(round(h * s)), 2), max(int(round(w * s)), 2)
    obj = cv2.resize(obj, (nw, nh), interpolation=cv2.INTER_LINEAR)
    m = cv2.resize(obj_mask.astype(np.uint8), (nw, nh), interpolation=cv2.INTER_NEAREST).astype(bool)
    if not m.any():
        return None
    y = int(rng.integers(0, H - nh + 1))
    x = int(rng.integers(0, W - nw + 1))
    alpha = cv2.GaussianBlur(m.astype(np.float32), (3, 3), 0)[..., None]
    region = canvas[y:y + nh, x:x + nw].astype(np.float32)
    canvas[y:y + nh, x:x + nw] = (alpha * obj + (1 - alpha) * region).round().astype(np.uint8)
    full = np.zeros((H, W), bool)
    full[y:y + nh, x:x + nw] = m
    for earlier in masks:
        earlier &= ~full
    return full


def write_clutter_test(root: Path, test_backgrounds: list[Path], size: int = 256, seed: int = 7) -> None:
    """Test views on held-out photos with 2-4 held-out COIL objects; the target stays >= 50% visible."""
    rng = np.random.default_rng(seed)
    others = distractor_objects()[1]
    from automask_ros.core.training.augment import cutout, random_crop_resize
    for label, obj in OBJECTS.items():
        writer = SweepWriter(root, label, sweep_id="clutter")
        for k, angle in enumerate(range(5, 360, 10)):
            for _attempt in range(20):
                bg = read_rgb(test_backgrounds[int(rng.integers(len(test_backgrounds)))])
                canvas = random_crop_resize(bg, size, size, rng)
                masks: list[np.ndarray] = []
                target_index = int(rng.integers(0, 3))  # how many distractors go behind the target
                n_dis = int(rng.integers(2, 5))
                order = ["d"] * n_dis
                order.insert(min(target_index, n_dis), "t")
                target_area = 0
                for item in order:
                    if item == "t":
                        rgb, m = cutout_ref(f"obj{obj}__{angle}.png")
                        scale = rng.uniform(0.8, 1.2)
                    else:
                        o = others[int(rng.integers(len(others)))]
                        rgb, m = cutout_ref(f"obj{o}__{int(rng.integers(72)) * 5}.png")
                        scale = rng.uniform(0.5, 0.9)
                    crop, cm = cutout(rgb, m)
                    full = paste_for_test(canvas, masks, crop, cm, scale, rng)
                    if item == "t":
                        target, target_area = full, int(full.sum())
                    masks.append(full if full is not None else np.zeros((size, size), bool))
                if target_area and target.sum() >= 0.5 * target_area:
                    break
            writer.add_frame(canvas, target, angle_deg=angle, source=f"obj{obj}__{angle}.png")
        writer.finish()


# ---- the experiment -----------------------------------------------------------------------
def score(bundle: Path, test_roots: dict[str, Path], mask_threshold: float | None = None) -> dict:
    """Mask/box AP of a bundle on each test set, its masks cut at the bundle's own threshold or this one."""
    model, meta = load_bundle(bundle)
    if mask_threshold is None:
        mask_threshold = meta.get("thresholds", {}).get("mask", 0.5)
    out = {}
    for name, root in test_roots.items():
        samples = split_by_view(load_sweeps([root]), meta["labels"], 0)[0]
        gt, loaders = gt_from_samples(samples, meta["labels"])
        t = time.monotonic()
        out[name] = evaluate_model(model, gt, loaders, "cpu", batch_size=4, mask_threshold=mask_threshold)
        out[name]["mask_threshold"] = mask_threshold
        out[name]["eval_ms_per_image"] = round(1000 * (time.monotonic() - t) / len(loaders), 1)
        print(f"{name}:\n{format_table(out[name])}", flush=True)
    return out


def negative_frames(half: str) -> list[Path]:
    """The desk frames (colour only), by frame number: odd ones may be recorded as the robot's
    workspace (--workspace), even ones are only ever tested on."""
    frames = sorted(p for p in NEGATIVE_SCENES.glob("*.png") if not p.stem.endswith("_depth"))
    parity = {"odd": 1, "even": 0}.get(half)
    return [f for f in frames if parity is None or int(f.stem.rsplit("_", 1)[1]) % 2 == parity]


def false_positives(bundle: Path, score_threshold: float = 0.5) -> dict | None:
    """Detections per frame on real desk scenes in which none of the learnt objects appear: all
    125 frames, and the even-numbered ones that a --workspace run never trains on."""
    frames = negative_frames("all")
    if not frames:
        return None
    detector = Detector(bundle, device="cpu", score_threshold=score_threshold)
    counts = {f: len(detector.detect(read_rgb(f))) for f in frames}
    even = [counts[f] for f in negative_frames("even")]
    return {"frames": len(frames), "score_threshold": score_threshold,
            "fp_per_frame": round(float(np.mean(list(counts.values()))), 3),
            "frames_with_fp": int(np.count_nonzero(list(counts.values()))),
            "max_in_a_frame": int(max(counts.values())),
            "even_frames": len(even), "fp_per_frame_even": round(float(np.mean(even)), 3)}


def record_workspace(auto_root: Path) -> str:
    """The robot's own room without the objects, recorded as a user would: `automask capture
    --workspace` on the odd-numbered desk frames (thinned to at most 50)."""
    folder = auto_root.parent / "workspace_src"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for f in negative_frames("odd"):
        os.symlink(f, folder / f.name)
    cmd = [sys.executable, "-m", "automask_ros.cli", "capture", "--workspace", "--out", str(auto_root),
           "--images", str(folder)]
    subprocess.run(cmd, check=True, cwd=ROOT)
    return " ".join(cmd[2:])


def last_model(bundle: Path, out: Path) -> Path:
    """The weight average of a run's last checkpoint, exported as a bundle beside the one it kept."""
    model, meta = load_bundle(bundle)
    ckpt = torch.load(bundle / "checkpoint" / "last.pt", map_location="cpu", weights_only=True)
    average = make_ema(model, 0.995)  # the decay is not used: the checkpoint's average is loaded as is
    average.load_state_dict(ckpt["ema"])
    save_bundle(out, average.module, {**meta, "model_id": meta["model_id"] + "-last"}, force=True)
    return out


def train_default(auto_root: Path, out: Path, minutes: float, extra: list[str]) -> dict:
    """The command a new user runs: `automask train --data ... --max-minutes M` and nothing else."""
    cmd = [sys.executable, "-m", "automask_ros.cli", "train", "--data", str(auto_root), "--out", str(out),
           "--max-minutes", f"{minutes:g}", "--force", "--quiet", *extra]
    print(" ".join(cmd[2:]), flush=True)
    t0, load0 = time.monotonic(), os.getloadavg()[0]
    usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, check=True, cwd=ROOT)
    wall = time.monotonic() - t0
    usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (usage1.ru_utime + usage1.ru_stime) - (usage0.ru_utime + usage0.ru_stime)
    hist = json.loads((out / "metrics.json").read_text())
    return {"command": " ".join(cmd[2:]), "train_wall_s": round(wall, 1), "iterations": hist["train"]["iterations"],
            "epochs_run": round(hist["train"]["epochs"], 2), "reason": hist["reason"],
            "step_it_per_s": hist["train"]["it_per_s"], "peak_rss_mb": hist["train"]["peak_rss_mb"],
            # the machine is shared: CPU time the run got, and the load average around it
            "train_cpu_s": round(cpu, 1), "cpu_share_of_2_cores": round(cpu / (2 * wall), 3),
            "loadavg_start_end": [round(load0, 2), round(os.getloadavg()[0], 2)],
            "val_history": hist["history"]}


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _forward_latency(model, rgb) -> float:
    x = [torch.from_numpy(rgb).permute(2, 0, 1).float() / 255]
    with torch.no_grad():
        model(x)
        t = time.perf_counter()
        for _ in range(5):
            model(x)
    return round(1000 * (time.perf_counter() - t) / 5, 1)


def write_report(name: str, report: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    atomic_write_json(RESULTS / f"{name}.json", report)
    r = report["run"]
    lines = [f"# {name}", "", f"machine: {report['machine']}", f"auto masks: {report['auto_masks']}",
             f"auto-mask quality vs reference (IoU, void excluded): {report['auto_mask_quality']}", "",
             f"`{r['command']}`: stopped by {r['reason']} after {r['iterations']} iterations "
             f"({r['epochs_run']} epochs), {r['train_wall_s']} s wall, step {r['step_it_per_s']} it/s, "
             f"peak RSS {r['peak_rss_mb']} MB", "",
             f"shared machine: the run got {r['train_cpu_s']} CPU-s in {r['train_wall_s']} s wall "
             f"({100 * r['cpu_share_of_2_cores']:.0f}% of the 2 cores; load average {r['loadavg_start_end']})", ""]
    for test, t in report["test"].items():
        lines += [f"## {test}: {TEST_SETS[test]}", "", f"masks cut at {t['mask_threshold']}", "",
                  "| label | mask AP | mask AP50 | mask AP75 | box AP | box AP50 |", "|---|---|---|---|---|---|",
                  f"| all | {t['segm_AP']:.4f} | {t['segm_AP50']:.4f} | {t['segm_AP75']:.4f} | {t['bbox_AP']:.4f} | "
                  f"{t['bbox_AP50']:.4f} |"]
        for label, p in t["per_label"].items():
            lines.append(f"| {label} | {p['segm_AP']:.4f} | {p['segm_AP50']:.4f} | {p['segm_AP75']:.4f} | "
                         f"{p['bbox_AP']:.4f} | {p['bbox_AP50']:.4f} |")
        lines.append("")
    fp = report.get("negatives")
    if fp:
        lines += [f"## real desk scenes without the objects (uw_rgbd/scenes/table_1): {fp['fp_per_frame']} false "
                  f"positives per frame at score {fp['score_threshold']} ({fp['frames_with_fp']} of {fp['frames']} "
                  f"frames with any, at most {fp['max_in_a_frame']} in one); on the {fp['even_frames']} even-numbered "
                  f"frames: {fp['fp_per_frame_even']} per frame", ""]
    if report.get("workspace"):
        lines += [f"workspace recorded before training: `{report['workspace']}` (odd-numbered desk frames)", ""]
    lines += ["validation (auto-mask held-out views): " +
              ", ".join(f"{h['minutes']} min AP {h['segm_AP']:.3f}/AP50 {h['segm_AP50']:.3f}"
                        for h in r["val_history"] if "segm_AP" in h), ""]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="training budget (the issue's: 20 and 15)")
    parser.add_argument("--masks", choices=("auto", "capture", "pipeline", "u2netp"), default="auto",
                        help="auto: `automask capture` when present, else its segment+cleanup pieces, "
                             "else plain U^2-Net-p")
    parser.add_argument("--bundle", help="score this bundle (no training): e.g. a model from an older version")
    parser.add_argument("--last", action="store_true",
                        help="with --bundle: score the weight average in its checkpoint (the run's last "
                             "model) instead of the model the run kept")
    parser.add_argument("--mask-threshold", type=float,
                        help="cut the masks here instead of at the bundle's threshold (0.5): how much of the AP "
                             "is the outline's width (the reference masks count a void band as object)")
    parser.add_argument("--name", help="result file name (default: train_paper_table_<minutes>min)")
    parser.add_argument("--workspace", action="store_true",
                        help="record the odd-numbered real desk frames as the robot's workspace before training "
                             "(`automask capture --workspace`); false positives are then read on the even ones")
    parser.add_argument("--work", default=str(ROOT / "bench_out" / "paper_table"))
    parser.add_argument("train_args", nargs="*", help="after --: extra `automask train` flags (default: none)")
    args = parser.parse_args()
    if not (COIL / "images").is_dir():
        print(f"{COIL} is absent: nothing to measure")
        return 1
    torch.set_num_threads(2)
    work = Path(args.work)
    auto_root = work / "auto"
    shutil.rmtree(auto_root, ignore_errors=True)
    t = time.monotonic()
    masks = args.masks
    if masks == "auto":
        masks = "capture" if capture_available() else \
            "pipeline" if (ROOT / "automask_ros" / "core" / "cleanup.py").exists() else "u2netp"
    source = {"capture": auto_sweeps_capture, "pipeline": auto_sweeps_pipeline,
              "u2netp": auto_sweeps_u2netp}[masks](auto_root)
    mask_s = time.monotonic() - t
    quality = auto_mask_quality(auto_root)
    print(f"auto masks: {source} in {mask_s:.1f} s; quality {quality}", flush=True)
    workspace = record_workspace(auto_root) if args.workspace else None
    test_roots = {"plain": work / "test_plain", "clutter": work / "test_clutter"}
    for root in test_roots.values():
        shutil.rmtree(root, ignore_errors=True)
    write_plain_test(test_roots["plain"])
    write_clutter_test(test_roots["clutter"], split_backgrounds()[1])
    if args.bundle:
        bundle = Path(args.bundle)
        run = {"command": f"(given bundle {bundle})", "reason": "-", "iterations": "-", "epochs_run": "-",
               "train_wall_s": "-", "step_it_per_s": "-", "peak_rss_mb": "-", "train_cpu_s": "-",
               "cpu_share_of_2_cores": 0, "loadavg_start_end": "-",
               "val_history": json.loads((bundle / "metrics.json").read_text()).get("history", [])}
        if args.last:
            bundle = last_model(bundle, work / "last_model")
            run["command"] = f"(the last model of {args.bundle}: its checkpoint's weight average)"
    else:
        bundle = work / f"model_{args.minutes:g}min"
        run = train_default(auto_root, bundle, args.minutes, args.train_args)
    report = {"machine": machine(), "auto_masks": source, "auto_mask_s": round(mask_s, 1), "workspace": workspace,
              "auto_mask_quality": quality, "run": run, "test": score(bundle, test_roots, args.mask_threshold),
              "negatives": false_positives(bundle)}
    write_report(args.name or f"train_paper_table_{args.minutes:g}min{'_workspace' if args.workspace else ''}",
                 report)
    print(json.dumps({k: v for k, v in report.items() if k != "run"}, indent=1, default=str)[:4000], flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The paper's table on COIL-100: train on automatic masks, test on unseen views against references.

Wu and Siebert train Mask R-CNN on masks an FCN made for a turntable sweep and test on views it
never saw. Here: obj10 (cup) and obj50 (shampoo bottle) at 0, 10, ..., 350 degrees, masked
AUTOMATICALLY (the capture pipeline, or plain U^2-Net-p when it is absent); both objects in one
model, trained from scratch on the CPU preset within a wall-clock budget; tested on the 5, 15,
..., 355 degree views against the reference masks (mask > 0 = object, as data/README.md says).

Clutter variant: the same test views pasted onto held-out kitchen photos with 2-4 other COIL
objects as distractors; training uses copy-paste onto the other photos.

    nice -n 5 python benchmarks/train_paper_table.py [--variant plain|clutter|both] [--minutes M]

Writes benchmarks/results/train_paper_table[_clutter].json and .md.
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
from automask_ros.core.atomic import atomic_write_json, read_rgb  # noqa: E402
from automask_ros.core.augment import AugmentConfig, paste  # noqa: E402
from automask_ros.core.bundle import load_bundle  # noqa: E402
from automask_ros.core.coco import reference_iou  # noqa: E402
from automask_ros.core.data import load_sweeps, split_by_view  # noqa: E402
from automask_ros.core.dataset import SweepWriter  # noqa: E402
from automask_ros.core.evaluate import evaluate_model, format_table, gt_from_samples  # noqa: E402
from automask_ros.core.train import TrainConfig, train  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
COIL = DATA / "coil100"
OBJECTS = {"cup": 10, "bottle": 50}
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
    (core/segment.py) and blob clean-up (core/cleanup.py) with the previous mask as a prior."""
    from automask_ros.core.cleanup import cleanup
    from automask_ros.core.segment import make_segmenter
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


def write_plain_test(root: Path) -> None:
    for label, obj in OBJECTS.items():
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
    """Other COIL objects, split in two disjoint halves: training clutter and test clutter."""
    others = [o for o in range(1, 61) if o not in OBJECTS.values()]
    return others[0::2], others[1::2]


def auto_distractor_sweeps(root: Path, objects: list[int]) -> None:
    """Sweeps of the training-clutter objects (6 views each), masked by the same pipeline."""
    from automask_ros.core.cleanup import cleanup
    from automask_ros.core.segment import make_segmenter
    segmenter = make_segmenter("u2net")
    for obj in objects:
        writer = SweepWriter(root, f"coil_obj{obj}", sweep_id="auto")
        for angle in range(0, 360, 60):
            rgb = read_rgb(COIL / "images" / f"obj{obj}__{angle}.png")
            mask, _ = cleanup(segmenter(rgb), rgb=rgb)
            writer.add_frame(rgb, mask if mask.any() else None, angle_deg=angle)
        writer.finish()


def write_clutter_test(root: Path, test_backgrounds: list[Path], size: int = 256, seed: int = 7) -> None:
    """Test views on held-out photos with 2-4 held-out COIL objects; the target stays >= 50% visible."""
    rng = np.random.default_rng(seed)
    others = distractor_objects()[1]
    from automask_ros.core.augment import cutout, random_crop_resize
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
                    full = paste(canvas, masks, crop, cm, scale, rng)
                    if item == "t":
                        target, target_area = full, int(full.sum())
                    masks.append(full if full is not None else np.zeros((size, size), bool))
                if target_area and target.sum() >= 0.5 * target_area:
                    break
            writer.add_frame(canvas, target, angle_deg=angle, source=f"obj{obj}__{angle}.png")
        writer.finish()


# ---- the experiment -----------------------------------------------------------------------
def run_variant(variant: str, minutes: float, work: Path, auto_root: Path, source: str, epochs: int,
                distractors: bool = True) -> dict:
    test_root = work / f"test_{variant}"
    shutil.rmtree(test_root, ignore_errors=True)
    cfg = TrainConfig(data=[str(auto_root)], out=str(work / f"model_{variant}"), preset="cpu",
                      min_size=320, max_size=320 if variant == "plain" else 512, epochs=epochs,
                      max_minutes=minutes, force=True, threads=2, seed=0)
    if variant == "plain":
        write_plain_test(test_root)
    else:
        train_bg, test_bg = split_backgrounds()
        write_clutter_test(test_root, test_bg)
        bg_dir = work / "backgrounds_train"
        shutil.rmtree(bg_dir, ignore_errors=True)
        bg_dir.mkdir(parents=True)
        for f in train_bg:
            os.symlink(f, bg_dir / f.name)
        cfg.backgrounds = str(bg_dir)
        cfg.augment = AugmentConfig(paste=0.8, canvas_scale=2.0, paste_scale=(0.3, 0.8), paste_objects=(1, 3),
                                    distractors=(1, 3))
        if distractors:
            dis_root = work / "distractors"
            if not dis_root.is_dir():
                auto_distractor_sweeps(dis_root, distractor_objects()[0])
            cfg.distractors = [str(dis_root)]
    sizes = {}

    def progress(d):
        if d["phase"] == "train" and d["iteration"] % 20 == 0:
            print(f"  [{variant}] epoch {d['epoch']} it {d['iteration']}/{d['iterations']} loss {d['loss']:.3f}"
                  f" progress {d['progress']:.2f}", flush=True)

    t0, cpu0, load0 = time.monotonic(), _cpu_s(), os.getloadavg()[0]
    result = train(cfg, progress=progress)
    train_wall = time.monotonic() - t0
    train_cpu = _cpu_s() - cpu0
    load1 = os.getloadavg()[0]
    hist = json.loads((Path(cfg.out) / "metrics.json").read_text())
    # training steps only (forward, backward, optimiser step); data loading and evaluations are in the wall time
    sizes[f"{'128->320' if variant == 'plain' else '128/256->320'} px, batch 2"] = hist["train"]["it_per_s"]

    model, meta = load_bundle(cfg.out)
    samples = split_by_view(load_sweeps([test_root]), meta["labels"], 0)[0]
    gt, loaders = gt_from_samples(samples, meta["labels"])
    t1 = time.monotonic()
    metrics = evaluate_model(model, gt, loaders, "cpu", batch_size=4)
    eval_s = time.monotonic() - t1
    print(format_table(metrics), flush=True)
    fwd = _forward_latency(model, loaders[0]())
    return {"variant": variant, "auto_masks": source, "train_distractors": bool(cfg.distractors), "budget_min": minutes, "epochs_planned": epochs,
            "reason": result.reason, "train_wall_s": round(train_wall, 1), "iterations": result.iterations,
            # the machine is shared: CPU time this process got, and the load average around the run
            "train_cpu_s": round(train_cpu, 1), "cpu_share_of_2_cores": round(train_cpu / (2 * train_wall), 3),
            "loadavg_start_end": [round(load0, 2), round(load1, 2)],
            "epochs_run": result.epochs, "it_per_s": sizes, "eval_s": round(eval_s, 1),
            "eval_ms_per_image": round(1000 * eval_s / len(loaders), 1), "forward_ms": fwd,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "test": metrics, "val_history": hist["history"], "bundle": str(cfg.out)}


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
    lines = [f"# {name}", "", f"machine: {report['machine']}", f"auto masks: {report['auto_masks']}",
             f"auto-mask quality vs reference (IoU, void excluded): {report['auto_mask_quality']}", ""]
    for r in report["runs"]:
        t = r["test"]
        lines += [f"## {r['variant']} (budget {r['budget_min']} min, stopped: {r['reason']}, "
                  f"unlabelled COIL distractors pasted in training: {r['train_distractors']})", "",
                  f"train wall {r['train_wall_s']} s, {r['iterations']} iterations ({r['epochs_run']} epochs), "
                  f"it/s {r['it_per_s']}, peak RSS {r['peak_rss_mb']} MB, eval {r['eval_ms_per_image']} ms/image",
                  "", f"shared machine: this run got {r['train_cpu_s']} CPU-s in {r['train_wall_s']} s wall "
                  f"({100 * r['cpu_share_of_2_cores']:.0f}% of the 2 cores; load average {r['loadavg_start_end']})",
                  "", "| label | mask AP | mask AP50 | mask AP75 | box AP | box AP50 |", "|---|---|---|---|---|---|",
                  f"| all | {t['segm_AP']:.4f} | {t['segm_AP50']:.4f} | {t['segm_AP75']:.4f} | {t['bbox_AP']:.4f} | "
                  f"{t['bbox_AP50']:.4f} |"]
        for label, p in t["per_label"].items():
            lines.append(f"| {label} | {p['segm_AP']:.4f} | {p['segm_AP50']:.4f} | {p['segm_AP75']:.4f} | "
                         f"{p['bbox_AP']:.4f} | {p['bbox_AP50']:.4f} |")
        lines += ["", "validation (auto-mask held-out views) by epoch: " +
                  ", ".join(f"{h['minutes']} min AP {h['segm_AP']:.3f}/AP50 {h['segm_AP50']:.3f}"
                            for h in r["val_history"]), ""]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=("plain", "clutter", "both"), default="plain")
    parser.add_argument("--minutes", type=float, help="training budget (default 15 plain, 20 clutter)")
    parser.add_argument("--epochs", type=int, default=40, help="epochs planned; the budget usually ends first")
    parser.add_argument("--masks", choices=("auto", "capture", "pipeline", "u2netp"), default="auto",
                        help="auto: `automask capture` when present, else its segment+cleanup pieces, "
                             "else plain U^2-Net-p")
    parser.add_argument("--no-distractors", action="store_true",
                        help="clutter: no unlabelled distractor objects in the copy-paste training")
    parser.add_argument("--work", default=str(ROOT / "bench_out" / "paper_table"))
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
    for variant in (("plain", "clutter") if args.variant == "both" else (args.variant,)):
        minutes = args.minutes or (15.0 if variant == "plain" else 20.0)
        run = run_variant(variant, minutes, work, auto_root, source, args.epochs, not args.no_distractors)
        report = {"machine": machine(), "auto_masks": source, "auto_mask_s": round(mask_s, 1),
                  "auto_mask_quality": quality, "runs": [run]}
        name = "train_paper_table" + ("" if variant == "plain" else
                                      "_clutter_nodistractors" if args.no_distractors else "_clutter")
        if args.minutes:  # a shorter (or longer) budget than the must not replace its figures
            name += f"_{args.minutes:g}min"
        write_report(name, report)
        print(json.dumps({k: v for k, v in run.items() if k not in ("val_history",)}, indent=1), flush=True)
    print(machine())
    return 0


if __name__ == "__main__":
    sys.exit(main())

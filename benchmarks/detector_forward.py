"""Raw Mask R-CNN forward time at 640x480 with 1 and 10 detections, and the Detector's overhead.

    python benchmarks/detector_forward.py                 # both archs, CPU (or the GPU when present)
    python benchmarks/detector_forward.py --arch maskrcnn_mobilenet_v3_fpn16 --repeats 20
    python benchmarks/detector_forward.py --fp16          # on a GPU: fp32 and fp16 autocast
    python benchmarks/detector_forward.py --input native  # feed 640x480 at 480 px (no upscaling)

"raw forward" is model([tensor]) under torch.inference_mode on a frame already on the device:
the floor that the detector node's latency is compared against (issue 5: node / raw <= 1.10).
"detect" is Detector.detect(rgb): upload, forward, thresholding and copying masks back. The two
are timed in turn (raw, detect, raw, ...) and detect/raw is the median of the per-round ratios.
The models are untrained bundles (no pretrained weights can be downloaded here); the cost of a
forward does not depend on the weights, but it does depend on the number of detections (each
pastes a full-frame mask), so the detection count is pinned with score threshold 0 and top-k N.
Scenes are synthetic table tops (core/demo/render.py) with 1 or 10 objects.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _util import machine, print_machine, time_interleaved, untrained_bundle  # noqa: E402

from automask_ros.core.demo import render as R  # noqa: E402
from automask_ros.core.detection.infer import Detector  # noqa: E402

# the input sizes each arch is deployed with (core/training/train.py presets)
PRESET_SIZES = {"maskrcnn_mobilenet_v3_fpn8": (320, 512), "maskrcnn_mobilenet_v3_fpn16": (320, 512),
                "maskrcnn_mobilenet_v3_fpn": (320, 512),
                "maskrcnn_resnet50_fpn_v2": (800, 1333), "maskrcnn_resnet50_fpn": (800, 1333)}


def scene(n_objects: int, size=(640, 480), seed: int = 0) -> np.ndarray:
    """A 640x480 table top with n objects (the mug plus distractors)."""
    return R.render_clutter(["mug"], n=1, size=size, seed=seed, distractors=n_objects - 1)[0][0]


def raw_forward_fn(detector: Detector, rgb: np.ndarray):
    """A callable doing only model([tensor]) on a frame already on the device (the reference)."""
    tensor = torch.from_numpy(rgb).to(detector.device).permute(2, 0, 1).float().div(255)

    def run():
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16, enabled=detector.fp16):
            return detector.model([tensor])
    return run


def bench(arch: str, min_size: int, max_size: int, detections: int, repeats: int, device: str,
          fp16: bool, work: Path) -> dict:
    bundle = untrained_bundle(work / f"{arch}_{min_size}", arch, min_size=min_size, max_size=max_size)
    det = Detector(bundle, device=device, score_threshold=0.0, max_instances=detections, fp16=fp16)
    det.model.roi_heads.detections_per_img = detections
    rgb = scene(max(1, detections))
    sync = torch.cuda.synchronize if det.device.type == "cuda" else None
    got = len(det.detect(rgb))
    timed = time_interleaved({"raw": raw_forward_fn(det, rgb), "detect": lambda: det.detect(rgb)},
                             repeats=repeats, sync=sync)
    raw, full = timed["raw"], timed["detect"]
    return {"arch": arch, "input": f"640x480 -> min_size {min_size}", "device": str(det.device),
            "fp16": det.fp16, "detections": got, "raw_forward_ms": round(raw["median_s"] * 1000, 1),
            "raw_p90_ms": round(raw["p90_s"] * 1000, 1), "detect_ms": round(full["median_s"] * 1000, 1),
            "detect_over_raw": round(timed["ratio_detect_over_raw"], 3),
            "fps_raw": round(1 / raw["median_s"], 2), "repeats": repeats}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", action="append", help="architecture(s) (default: cpu preset and r50 v2)")
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--device", default="auto")
    p.add_argument("--fp16", action="store_true", help="on CUDA, also time fp16 autocast")
    p.add_argument("--input", choices=("preset", "native", "both"), default="preset",
                   help="model input size: the preset's min_size (r50: 800, upscales 640x480), "
                        "native 480 px, or both")
    p.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        torch.set_num_threads(min(2, torch.get_num_threads()))
    info = machine()
    print_machine(info)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for arch in args.arch or ["maskrcnn_mobilenet_v3_fpn16", "maskrcnn_resnet50_fpn_v2"]:
            sizes = {"preset": [PRESET_SIZES[arch]], "native": [(480, 640)],
                     "both": [PRESET_SIZES[arch], (480, 640)]}[args.input]
            for min_size, max_size in sizes:
                for fp16 in ([False, True] if args.fp16 and torch.cuda.is_available() else [False]):
                    for n in (1, 10):
                        row = bench(arch, min_size, max_size, n, args.repeats, args.device, fp16, Path(tmp))
                        rows.append(row)
                        print(json.dumps(row), flush=True)
    print("\n| arch | input | device | fp16 | detections | raw forward ms (median) | p90 | detect ms | detect/raw | FPS raw |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['arch']} | {r['input']} | {r['device']} | {r['fp16']} | {r['detections']} | "
              f"{r['raw_forward_ms']} | {r['raw_p90_ms']} | {r['detect_ms']} | {r['detect_over_raw']} | {r['fps_raw']} |")
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

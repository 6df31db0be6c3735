"""Training steps per second of the default command before and after the CPU work, as ratios measured in one run.

Same data, same recipe (the default copy-paste composites), same batch size, image size, epochs
and seed. Three settings:
- before: the cpu preset as issue 14 found it, torchvision's MobileNetV3 FPN
  (maskrcnn_mobilenet_v3_fpn) with TrainConfig.speedups off;
- speedups: the same model with the speed-ups on: the prefetch thread that makes the next
  batches while the model steps, the fused optimiser, channels-last convolutions, 32 instead of
  64 sampled RoIs per image and one RoIAlign sample per mask bin instead of torchvision's 2;
- after: today's default, the speed-ups and the stride-16 layout (maskrcnn_mobilenet_v3_fpn16:
  128 FPN channels, a 512-d box head).
Runs alternate (before, speedups, after, before, ...) so that load drifts on a shared machine hit
every setting alike. Steps/s is iterations over the wall time of train() (data, steps, set-up),
with validation off.

    python benchmarks/train_speed.py [--rounds 3] [--epochs 1]

Data: two rendered turntable sweeps (mug, bottle; 36 views at 320x240), so the figure needs
nothing outside the repository. Writes benchmarks/results/train_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _util import machine  # noqa: E402

from automask_ros.core.shared.atomic import atomic_write_json  # noqa: E402
from automask_ros.core.capture.dataset import SweepWriter  # noqa: E402
from automask_ros.core.demo.render import render_sweep  # noqa: E402
from automask_ros.core.training.train import TrainConfig, train  # noqa: E402


def make_sweeps(root: Path) -> None:
    for k, obj in enumerate(("mug", "bottle")):
        writer = SweepWriter(root, obj, sweep_id="speed")
        for frame in render_sweep(obj, n_frames=36, size=(320, 240), seed=k, empty_frames=2):
            writer.add_frame(frame.rgb, None if frame.is_empty else frame.mask, angle_deg=frame.angle_deg)
        writer.finish()


SETTINGS = {"before": dict(arch="maskrcnn_mobilenet_v3_fpn", speedups=False, ema_decay=0),
            "speedups": dict(arch="maskrcnn_mobilenet_v3_fpn", speedups=True, ema_decay=0),
            "after": dict(speedups=True)}


def one_run(data: Path, out: Path, setting: str, epochs: int) -> dict:
    cfg = TrainConfig(data=[str(data)], out=str(out), epochs=epochs, holdout_every=0, force=True, seed=0,
                      threads=2, **SETTINGS[setting])
    t = time.monotonic()
    result = train(cfg)
    wall = time.monotonic() - t
    return {"setting": setting, "arch": cfg.resolved().arch, "speedups": cfg.speedups,
            "iterations": result.iterations, "wall_s": round(wall, 2),
            "steps_per_s": round(result.iterations / wall, 4)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="automask_speed_") as tmp:
        tmp = Path(tmp)
        make_sweeps(tmp / "data")
        one_run(tmp / "data", tmp / "warm", "after", 1)  # first-use costs (allocator, pools) out of the figures
        runs = []
        for r in range(args.rounds):
            for setting in SETTINGS:
                run = one_run(tmp / "data", tmp / f"m{r}{setting}", setting, args.epochs)
                runs.append(run)
                print(json.dumps(run), flush=True)
    rate = {s: statistics.median(r["steps_per_s"] for r in runs if r["setting"] == s) for s in SETTINGS}
    rounds = [runs[i:i + len(SETTINGS)] for i in range(0, len(runs), len(SETTINGS))]
    per_round = {s: [round(rd[k]["steps_per_s"] / rd[0]["steps_per_s"], 3) for rd in rounds]
                 for k, s in enumerate(SETTINGS) if k}
    report = {"machine": machine(), "loadavg": os.getloadavg()[0], "runs": runs,
              "steps_per_s": rate, "ratio_of_medians": {s: round(rate[s] / rate["before"], 3) for s in per_round},
              "ratio_per_round": per_round}
    (ROOT / "benchmarks" / "results").mkdir(parents=True, exist_ok=True)
    atomic_write_json(ROOT / "benchmarks" / "results" / "train_speed.json", report)
    print(f"steps/s before {rate['before']:.3f}; speed-ups only {rate['speedups']:.3f} "
          f"(x{report['ratio_of_medians']['speedups']:.2f}); default now {rate['after']:.3f} "
          f"(x{report['ratio_of_medians']['after']:.2f}); per round {per_round}; {report['machine']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

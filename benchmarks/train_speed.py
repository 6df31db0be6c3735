"""Training steps per second with and without the CPU speed-ups, as a ratio measured in one run.

Same data, same recipe (the default copy-paste composites), same model and seed; the only
difference is TrainConfig.speedups: the prefetch thread that makes the next batches while the
model steps, the fused optimiser, channels-last convolutions, 32 instead of 64 sampled RoIs per
image and one RoIAlign sample per mask bin instead of torchvision's 2. Runs alternate
(off, on, off, on, ...) so that load drifts on a shared machine hit both sides alike. Steps/s is
iterations over the wall time of train() (data, steps, set-up), with validation off.

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


def one_run(data: Path, out: Path, speedups: bool, epochs: int) -> dict:
    cfg = TrainConfig(data=[str(data)], out=str(out), epochs=epochs, holdout_every=0, force=True, seed=0,
                      threads=2, speedups=speedups)
    t = time.monotonic()
    result = train(cfg)
    wall = time.monotonic() - t
    return {"speedups": speedups, "iterations": result.iterations, "wall_s": round(wall, 2),
            "steps_per_s": round(result.iterations / wall, 4)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="automask_speed_") as tmp:
        tmp = Path(tmp)
        make_sweeps(tmp / "data")
        one_run(tmp / "data", tmp / "warm", True, 1)  # first-use costs (allocator, pools) out of the figures
        runs = []
        for r in range(args.rounds):
            for speedups in (False, True):
                run = one_run(tmp / "data", tmp / f"m{r}{int(speedups)}", speedups, args.epochs)
                runs.append(run)
                print(json.dumps(run), flush=True)
    before = statistics.median(r["steps_per_s"] for r in runs if not r["speedups"])
    after = statistics.median(r["steps_per_s"] for r in runs if r["speedups"])
    pairs = [on["steps_per_s"] / off["steps_per_s"] for off, on in zip(runs[0::2], runs[1::2])]
    report = {"machine": machine(), "loadavg": os.getloadavg()[0], "runs": runs,
              "steps_per_s_before": before, "steps_per_s_after": after,
              "ratio_of_medians": round(after / before, 3), "ratio_per_round": [round(p, 3) for p in pairs]}
    (ROOT / "benchmarks" / "results").mkdir(parents=True, exist_ok=True)
    atomic_write_json(ROOT / "benchmarks" / "results" / "train_speed.json", report)
    print(f"steps/s without speed-ups {before:.3f}, with {after:.3f}: x{after / before:.2f} "
          f"(per round {report['ratio_per_round']}); {report['machine']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

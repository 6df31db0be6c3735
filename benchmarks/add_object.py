"""Adding an object keeps the old ones: mask AP of the known objects before and after extension.

A robot learns objects one at a time. `automask train --weights OLD --data NEW_SWEEP` trains the
new object and replays the sweeps OLD was trained on (its model.json lists them), so the old
objects must not be forgotten. Here: a base bundle from benchmarks/train_paper_table.py (COIL cup
obj10 + bottle obj50), a new sweep of COIL obj4 (masked by `automask capture`), the default
command with a budget; scored on the held-out views (5, 15, ..., 355 deg) of all three objects.

    python benchmarks/add_object.py --base bench_out/paper_table/model_20min [--minutes 10]

Writes benchmarks/results/add_object.json and .md; target: old objects' mask AP drops <= 0.02.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _util import machine  # noqa: E402
from train_paper_table import COIL, OBJECTS, RESULTS, score, write_plain_test  # noqa: E402

from automask_ros.core.shared.atomic import atomic_write_json  # noqa: E402

NEW = {"obj4": 4}


def new_sweep(root: Path) -> None:
    for label, obj in NEW.items():
        subprocess.run([sys.executable, "-m", "automask_ros.cli", "capture", "--images", str(COIL / "images"),
                        "--glob", f"obj{obj}__*0.png", "--label", label, "--out", str(root), "--sweep-id", "auto",
                        "--step-deg", "10", "--quiet"], check=True, cwd=ROOT)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="bundle trained on the cup and bottle")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--work", default=str(ROOT / "bench_out" / "add_object"))
    args = parser.parse_args()
    if not (COIL / "images").is_dir():
        print(f"{COIL} is absent: nothing to measure")
        return 1
    work, base = Path(args.work), Path(args.base)
    shutil.rmtree(work, ignore_errors=True)
    new_sweep(work / "new")
    meta = json.loads((base / "model.json").read_text())
    old_objects = OBJECTS
    write_plain_test(work / "test_old", old_objects)
    write_plain_test(work / "test_new", NEW)
    before = score(base, {"old": work / "test_old"})["old"]
    out = work / "model"
    cmd = [sys.executable, "-m", "automask_ros.cli", "train", "--weights", str(base), "--data", str(work / "new"),
           "--out", str(out), "--max-minutes", f"{args.minutes:g}", "--force", "--quiet"]
    subprocess.run(cmd, check=True, cwd=ROOT)
    after = score(out, {"old": work / "test_old", "new": work / "test_new"})
    labels = json.loads((out / "model.json").read_text())["labels"]
    drop = {label: round(before["per_label"][label]["segm_AP"] - after["old"]["per_label"][label]["segm_AP"], 4)
            for label in old_objects}
    report = {"machine": machine(), "base": str(base), "base_labels": meta["labels"], "labels": labels,
              "command": " ".join(cmd[2:]), "replayed": [d["path"] for d in meta["datasets"]],
              "before": before, "after_old": after["old"], "after_new": after["new"], "old_ap_drop": drop}
    RESULTS.mkdir(parents=True, exist_ok=True)
    atomic_write_json(RESULTS / "add_object.json", report)
    lines = ["# add_object", "", f"machine: {report['machine']}", f"`{report['command']}`", "",
             "| object | mask AP before | mask AP after | drop (target <= 0.02) |", "|---|---|---|---|"]
    for label in old_objects:
        lines.append(f"| {label} | {before['per_label'][label]['segm_AP']:.4f} | "
                     f"{after['old']['per_label'][label]['segm_AP']:.4f} | {drop[label]:+.4f} |")
    lines += ["", f"new object ({', '.join(NEW)}): mask AP {after['new']['segm_AP']:.4f}, "
              f"AP50 {after['new']['segm_AP50']:.4f} on its held-out views"]
    (RESULTS / "add_object.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`automask dataset`: check, summarise and merge sweep datasets.

    automask dataset validate data/                # every sweep below data/; exit 1 if any is broken
    automask dataset stats data/red_mug --json
    automask dataset merge data/red_mug/A data/red_mug/B --out data   # -> data/red_mug/merged-...
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("dataset", help="validate, summarise or merge sweep datasets",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    v = sub.add_parser("validate", help="check sweeps (structure, files, RLE sizes)")
    v.add_argument("paths", nargs="+", type=Path, help="sweep folders or dataset roots")
    s = sub.add_parser("stats", help="counts, mask areas and rejection reasons per sweep")
    s.add_argument("paths", nargs="+", type=Path, help="sweep folders or dataset roots")
    s.add_argument("--json", action="store_true", help="print JSON instead of text")
    m = sub.add_parser("merge", help="merge sweeps of one label into a new sweep")
    m.add_argument("paths", nargs="+", type=Path, help="sweep folders (or label folders) to merge")
    m.add_argument("--out", required=True, type=Path, help="dataset root for the merged sweep")
    m.add_argument("--sweep-id", help="name of the merged sweep folder")
    return p


def _sweeps(paths) -> list[Path]:
    from ..core.capture.dataset import find_sweeps
    out = []
    for path in paths:
        out += find_sweeps(path)
    return out


def run(args) -> int:
    from ..core.capture.dataset import merge_sweeps, sweep_stats, validate_sweep

    if args.action == "validate":
        bad = 0
        for path in _sweeps(args.paths):
            problems = validate_sweep(path)
            print(f"{'OK  ' if not problems else 'FAIL'} {path}" + (f": {problems[0]}" if problems else ""))
            for extra in problems[1:5]:
                print(f"     {extra}")
            bad += bool(problems)
        return 1 if bad else 0
    if args.action == "stats":
        stats = [sweep_stats(p) for p in _sweeps(args.paths)]
        if args.json:
            print(json.dumps(stats, indent=1))
            return 0
        for s in stats:
            area = s["mask_area_frac"] or {}
            print(f"{s['path']}: {s['label']} ({s['state']}) {s['positives']} masked + {s['negatives']} negative "
                  f"images, {s['rejected']} rejected, sizes {', '.join(s['image_sizes'])}, mask area "
                  f"median {area.get('median', 0):.3f} of the frame"
                  + (f", depth for {s['depth_frames']} images" if s["depth_frames"] else ""))
            for reason, n in sorted(s["rejection_reasons"].items(), key=lambda kv: -kv[1]):
                print(f"    {n:4d} x {reason}")
        return 0
    merged = merge_sweeps(_sweeps(args.paths), args.out, sweep_id=args.sweep_id)
    print(merged)
    return 0

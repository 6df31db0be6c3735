"""`automask render`: a synthetic turntable sweep (and optional clutter scenes) as an image folder,
with aligned depth and intrinsics; --rig renders the realistic RGB-D rig (core/demo/rig.py)."""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path


def parse_size(text: str) -> tuple[int, int]:
    """'640x480' -> (640, 480), with a clear error for anything else."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text or "")
    if not m:
        raise ValueError(f"size {text!r} is not WIDTHxHEIGHT: write it like 320x240")
    return int(m.group(1)), int(m.group(2))


def add_parser(subparsers) -> argparse.ArgumentParser:
    from ..core.demo.render import DISTRACTORS, OBJECTS
    p = subparsers.add_parser("render", help="render a synthetic turntable sweep with exact masks",
                              description=__doc__)
    p.add_argument("--object", default="mug", choices=OBJECTS + DISTRACTORS, help="object to turn (default mug)")
    p.add_argument("--out", required=True, type=Path,
                   help="output folder (images/, masks/, depth/, intrinsics.json, angles.json)")
    p.add_argument("--rig", action="store_true",
                   help="a realistic RGB-D rig: white turntable, board, room, distractors, object at 5-15%% "
                        "of the frame, structured-light sensor depth (default: the studio scene, exact depth)")
    p.add_argument("--frames", type=int, default=36, help="views over one turn (default 36)")
    p.add_argument("--empty", type=int, default=2, help="empty-turntable frames first (default 2)")
    p.add_argument("--size", default="320x240", help="WIDTHxHEIGHT (default 320x240)")
    p.add_argument("--seed", type=int, default=0, help="background, flicker and noise seed")
    p.add_argument("--start-deg", type=float, default=0.0,
                   help="angle of the first view (e.g. 5 for the views between a 10-degree sweep)")
    p.add_argument("--variant", type=int, default=0, help="another look of the same kind of object")
    p.add_argument("--clutter", type=int, default=0, metavar="N",
                   help="also write N cluttered scenes to OUT/clutter (COCO annotations.json)")
    p.add_argument("--distractors", type=int, default=3, help="distractor objects per clutter scene")
    p.add_argument("--backgrounds", type=int, default=0, metavar="N",
                   help="also write N table-top scenes WITHOUT the object to OUT/backgrounds "
                        "(for automask train --backgrounds on a machine with no photos)")
    return p


def run(args) -> int:
    from ..core.demo.render import render_clutter, render_sweep, write_clutter_coco, write_image_folder
    from ..core.demo.rig import render_rig
    size = parse_size(args.size)
    if args.frames < 1 or min(args.empty, args.clutter, args.distractors, args.backgrounds) < 0:
        raise ValueError("--frames must be >= 1 and --empty, --clutter, --distractors, --backgrounds >= 0")
    out = Path(args.out)
    if out.exists() and any(out.iterdir()) and not (out / "angles.json").exists():
        raise ValueError(f"{out} exists and is not an earlier render folder: choose an empty --out")
    t0 = time.perf_counter()
    scene = render_rig if args.rig else render_sweep
    frames = scene(args.object, n_frames=args.frames, size=size, seed=args.seed,
                   empty_frames=args.empty, start_deg=args.start_deg, variant=args.variant)
    write_image_folder(out, frames, label=args.object)
    print(f"rendered {args.empty + args.frames} frames of {args.object}{' on the RGB-D rig' if args.rig else ''} "
          f"to {out} in {time.perf_counter() - t0:.1f} s")
    if args.clutter:
        scenes = render_clutter([args.object], n=args.clutter, size=size, seed=args.seed + 1000,
                                distractors=args.distractors, variant=args.variant)
        write_clutter_coco(out / "clutter", scenes, [args.object])
        print(f"rendered {args.clutter} clutter scenes to {out / 'clutter'}")
    if args.backgrounds:
        from ..core.shared.atomic import atomic_write_image
        (out / "backgrounds").mkdir(exist_ok=True)
        scenes = render_clutter([], n=args.backgrounds, size=size, seed=args.seed + 2000,
                                distractors=max(1, args.distractors), exclude=[args.object])
        for i, (rgb, _) in enumerate(scenes):
            atomic_write_image(out / "backgrounds" / f"{i:06d}.png", rgb)
        print(f"rendered {args.backgrounds} scenes without {args.object} to {out / 'backgrounds'}")
    return 0

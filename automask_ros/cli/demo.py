"""`automask demo`: the whole loop through the ROS 2 nodes over DDS, ending in report.html."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "demo", help="teach an object end to end through the ROS 2 nodes and write a report",
        description="Render a turntable sweep on the RGB-D rig (or take --sweep DIR), record it with the "
                    "capture node (colour, depth and camera_info, empty turntable first), train with the "
                    "trainer node, detect held-out views and clutter with the detector node, score "
                    "against reference masks and write OUT/report.html (its path is the last line printed).")
    p.add_argument("--out", default="demo_out", help="output folder (default demo_out)")
    p.add_argument("--object", dest="obj", default="mug", help="rendered object: mug, bottle or box")
    p.add_argument("--size", default="320x240", help="rendered frame size WxH (default 320x240)")
    p.add_argument("--views", type=int, default=36, help="rendered sweep views (default 36)")
    p.add_argument("--heldout", type=int, default=18, help="rendered held-out views (default 18)")
    p.add_argument("--clutter", type=int, default=8, help="rendered cluttered scenes (default 8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sweep", help="a real image folder to capture instead of the renderer")
    p.add_argument("--glob", help="with --sweep: the sweep's files, e.g. 'obj10__*0.png'")
    p.add_argument("--heldout-glob", help="with --sweep: held-out files to detect, e.g. 'obj10__*5.png'")
    p.add_argument("--masks", help="with --sweep: reference masks with the same names "
                                   "(default: a 'masks' folder beside the images, if any)")
    p.add_argument("--label", help="with --sweep: the object's name (default 'object')")
    p.add_argument("--backgrounds", help="folder of photos for copy-paste augmentation in training")
    p.add_argument("--minutes", type=float, default=8.0, help="training budget in minutes (default 8)")
    p.add_argument("--epochs", type=int, default=40,
                   help="training epochs planned (default 40; the --minutes budget usually ends first)")
    p.add_argument("--capture-rate", type=float, default=0.5,
                   help="frames/s played to the capture node (default 0.5: the FCN takes ~1.4 s a frame here)")
    p.add_argument("--detect-rate", type=float, default=2.0, help="frames/s played to the detector node")
    p.add_argument("--segmenter", default="",
                   help="capture node segmenter (default: the node's own, auto, for the rendered rig and "
                        "for --sweep alike; a --sweep folder is taken to start with the object in view, "
                        "so the capture node is told it has no empty-turntable frame)")
    p.add_argument("--score-threshold", type=float, default=0.5, help="detector node score threshold")
    p.add_argument("--external-nodes", action="store_true",
                   help="drive nodes that already run (demo.launch.py) instead of starting them here")
    return p


def run(args) -> int:
    from automask_ros.cli import CliError
    from automask_ros.core.demo.render import OBJECTS
    from automask_ros.ros.demo import DemoOptions, run_demo  # rclpy: only when the command runs
    from automask_ros.ros.demo_driver import DemoError

    try:
        size = tuple(int(v) for v in args.size.lower().split("x"))
        assert len(size) == 2
    except (ValueError, AssertionError):
        raise ValueError(f"--size {args.size!r} must look like 320x240") from None
    if args.obj not in OBJECTS:
        raise ValueError(f"--object {args.obj!r}: choose one of {', '.join(OBJECTS)}")
    if (args.glob or args.heldout_glob or args.masks) and not args.sweep:
        raise ValueError("--glob, --heldout-glob and --masks need --sweep DIR")
    if args.minutes <= 0:
        raise ValueError("--minutes must be > 0")
    opts = DemoOptions(out=args.out, obj=args.obj, size=size, views=args.views, heldout=args.heldout,
                       clutter=args.clutter, seed=args.seed, sweep=args.sweep, glob=args.glob,
                       heldout_glob=args.heldout_glob, masks=args.masks, backgrounds=args.backgrounds,
                       label=args.label, minutes=args.minutes, epochs=args.epochs,
                       capture_rate_hz=args.capture_rate, detect_rate_hz=args.detect_rate,
                       external_nodes=args.external_nodes,
                       score_threshold=args.score_threshold, segmenter=args.segmenter)
    try:
        path = run_demo(opts)
    except DemoError as exc:
        raise CliError(str(exc)) from None
    print(path)
    return 0

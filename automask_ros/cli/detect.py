"""`automask detect`: run a model bundle over an image folder, a video or a rosbag2 image topic.

Writes, into --out: one overlay PNG per frame named after the frame's stem, results.json (COCO
results with RLE masks, scorable with pycocotools) and images.json (image id -> source).
With --depth and --intrinsics (image folders), each result also carries its 3D: has_3d,
position and box_center (metres, camera frame), size, depth_valid_fraction.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Iterator

def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("detect", help="detect objects with a trained model bundle",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, type=Path, help="model bundle folder (from automask train)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--images", type=Path, help="folder of images")
    src.add_argument("--video", type=Path, help="video file")
    src.add_argument("--bag", type=Path, help="rosbag2 (mcap/sqlite3) folder or file; needs --topic")
    p.add_argument("--topic", help="image topic in the bag (sensor_msgs/Image or CompressedImage)")
    p.add_argument("--glob", default="*", help="file pattern inside --images (default: all images)")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:N]")
    p.add_argument("--score-threshold", type=float, default=None, help="default: the bundle's")
    p.add_argument("--mask-threshold", type=float, default=None, help="default: the bundle's")
    p.add_argument("--max-instances", type=int, default=100, help="top-k per frame (default 100)")
    p.add_argument("--classes", default=None, help="comma-separated labels to keep (default all)")
    p.add_argument("--batch", type=int, default=1, help="frames per forward pass (GPU: try 4-8)")
    p.add_argument("--every", type=int, default=1, help="use every N-th frame of a video or bag")
    p.add_argument("--no-overlays", action="store_true", help="write only results.json and images.json")
    p.add_argument("--depth", type=Path, help="folder of depth aligned to --images, matched by stem "
                   "(NAME.npy/.png/.tif or NAME_depth.png; 16-bit PNG in mm, float in m)")
    p.add_argument("--intrinsics", type=Path, help="camera intrinsics for --depth (JSON/YAML, camera_info, .intr)")
    return p


def _frames(args) -> Iterator[tuple[str, str, "object"]]:
    """(stem for the overlay file, source recorded in images.json, rgb) for every used frame."""
    from ..core.shared.sources import open_source
    if args.bag is not None and not args.topic:
        raise ValueError("--bag needs --topic: name the image topic to read, e.g. --topic /camera/image_raw")
    source = open_source(images=args.images, glob=None if args.glob == "*" else args.glob,
                         video=args.video, bag=args.bag, topic=args.topic)
    for i, frame in enumerate(source):
        if i % args.every:
            continue
        if args.images is not None:
            path = Path(frame.source)
            yield path.stem, str(path.resolve()), frame.rgb
        elif args.video is not None:
            yield f"{args.video.stem}_{int(frame.source):06d}", f"{args.video}#frame={frame.source}", frame.rgb
        else:
            yield f"{args.bag.stem}_{frame.source}", f"{args.bag}#{args.topic}@{frame.source}", frame.rgb


def _depth_frames(args):
    """A function stem -> DepthFrame for --depth, or None without it; one clear error otherwise."""
    if args.depth is None and args.intrinsics is None:
        return None
    from ..core.shared.camera import load_intrinsics
    from ..core.shared.depth import DepthError, DepthFrame, find_depth_file, read_depth
    if args.depth is None or args.intrinsics is None:
        raise ValueError("--depth and --intrinsics go together: give the depth folder and the camera's intrinsics")
    if args.images is None:
        raise ValueError("--depth works with --images (depth files are matched to image files by name)")
    if not args.depth.is_dir():
        raise ValueError(f"--depth {args.depth} is not a folder")
    intrinsics = load_intrinsics(args.intrinsics)

    def frame(stem: str):
        path = find_depth_file(args.depth, stem)
        if path is None:
            raise DepthError(f"no depth file for image {stem} in {args.depth} (expected {stem}.npy, {stem}.png, "
                             f"{stem}_depth.png, ...)")
        return DepthFrame(read_depth(path), intrinsics)
    return frame


def _batches(frames, size: int):
    batch = []
    for item in frames:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def run(args) -> int:
    from tqdm import tqdm

    from ..core.shared.atomic import atomic_write_image, atomic_write_json
    from ..core.detection.infer import Detector, instances_to_coco
    from ..core.detection.overlay import draw_overlay
    if args.batch < 1 or args.every < 1:
        raise ValueError("--batch and --every must be at least 1")
    classes = [c.strip() for c in args.classes.split(",") if c.strip()] if args.classes else None
    detector = Detector(args.model, device=args.device, score_threshold=args.score_threshold,
                        mask_threshold=args.mask_threshold, max_instances=args.max_instances, classes=classes)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file: give a folder")
    if args.images is not None and out.resolve() == Path(args.images).resolve():
        raise ValueError("--out is the --images folder: overlays would overwrite the inputs, give another folder")
    depth_for = _depth_frames(args)
    out.mkdir(parents=True, exist_ok=True)
    results, images, used = [], {}, set()
    counts = {"frames": 0, "instances": 0}
    t0 = time.perf_counter()
    bar = tqdm(desc="detect", unit="frame", disable=None)
    for batch in _batches(_frames(args), args.batch):
        depths = None if depth_for is None else [depth_for(stem) for stem, _, _ in batch]
        per_frame = detector.detect_batch([rgb for _, _, rgb in batch], depths)
        for (stem, source, rgb), instances in zip(batch, per_frame):
            image_id = len(images) + 1
            images[str(image_id)] = source
            results.extend(instances_to_coco(instances, image_id))
            name = stem if stem not in used else f"{stem}_{image_id}"
            used.add(name)
            if not args.no_overlays:
                atomic_write_image(out / f"{name}.png", draw_overlay(rgb, instances))
            counts["frames"] += 1
            counts["instances"] += len(instances)
        bar.update(len(batch))
    bar.close()
    if not counts["frames"]:
        raise ValueError("no frame could be read from the input")
    atomic_write_json(out / "results.json", results)
    atomic_write_json(out / "images.json", images)
    wall = time.perf_counter() - t0
    print(f"{counts['frames']} frames, {counts['instances']} instances of {', '.join(detector.labels)} "
          f"in {wall:.1f} s ({counts['frames'] / wall:.2f} frames/s on {detector.device}); "
          f"wrote {out}/results.json")
    return 0

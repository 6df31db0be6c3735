"""`automask capture`: record one turntable sweep from an image folder, a video or a rosbag2 topic.

    automask capture --label red_mug --out data --images frames/ [--glob '*.png']
    automask capture --label red_mug --out data --video sweep.mp4
    automask capture --label red_mug --out data --bag run.mcap --topic /camera/image_raw
    automask capture --label apple --out data --images rgbd/ --depth rgbd/ --intrinsics camera.yaml
    automask capture --label apple --out data --bag run.mcap --topic /camera/color/image_raw \
        --depth-topic /camera/aligned_depth_to_color/image_raw --camera-info-topic /camera/color/camera_info
    automask capture --workspace --out data --video empty_workspace.mp4

--workspace stores the frames (of the workspace without the object, thinned evenly to at most 50)
as copy-paste backgrounds for training in OUT/workspace/ instead of recording a sweep.

A folder of stills keeps every frame as a view (quality gates still apply); videos and bags thin
near-duplicate views (--thin does that for a folder too). Files that are another frame's depth,
mask or crop companion (f_depth.png, f_mask.png, segmask_3.png beside color_3.png) are not frames.
A frame whose depth is missing or unusable is recorded colour-only, with the reason on stderr.

The sweep path is the last line of stdout, so scripts can do `path=$(automask capture ... | tail -1)`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("capture", help="turn a turntable sweep into a COCO mask dataset",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--label", help="object name, e.g. red_mug (no '/' or '..'); required unless --workspace")
    p.add_argument("--out", required=True, type=Path, help="dataset root: the sweep goes to OUT/LABEL/SWEEP_ID")
    src = p.add_argument_group("source (exactly one)")
    src.add_argument("--images", type=Path, help="folder of frames (natural sort order)")
    src.add_argument("--glob", help="only files matching this pattern in --images, e.g. '*.jpg'")
    src.add_argument("--video", type=Path, help="video file (any format OpenCV reads)")
    src.add_argument("--bag", type=Path, help="rosbag2 folder or .mcap file")
    src.add_argument("--topic", help="image topic in --bag (sensor_msgs/Image or CompressedImage)")
    src.add_argument("--thin", action="store_true",
                     help="thin near-duplicate views of --images too (as for videos and bags)")
    rgbd = p.add_argument_group("depth (optional)")
    rgbd.add_argument("--depth", type=Path, metavar="DIR",
                      help="depth per frame of --images, same file stem (or <stem>_depth, color_N -> depth_N): "
                           "16-bit PNG in mm, or .npy/.tiff float in metres")
    rgbd.add_argument("--depth-scale", type=float, metavar="M",
                      help="metres per depth unit, overriding the default (mm for integers, m for floats)")
    rgbd.add_argument("--intrinsics", type=Path, metavar="FILE",
                      help="camera intrinsics: JSON/YAML with fx, fy, cx, cy (width, height), or a ROS "
                           "camera_info YAML (required with --depth)")
    rgbd.add_argument("--depth-topic", help="aligned depth topic in --bag (16UC1 mm or 32FC1 m)")
    rgbd.add_argument("--camera-info-topic", help="CameraInfo topic in --bag (or give --intrinsics)")
    rgbd.add_argument("--sync-tolerance", type=float, default=0.05, metavar="S",
                      help="bag: pair colour and depth stamped at most this far apart (default 0.05 s)")
    p.add_argument("--params", type=Path, help="YAML of capture parameters (see config/capture.yaml)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="any capture parameter of config/capture.yaml, e.g. --set max_growth=1.5 "
                        "--set roi=[0.2,0.1,0.8,1.0] (value read as YAML; wins over --params)")
    add_param_flags(p)
    p.add_argument("--sweep-id", help="sweep folder name (default: a timestamp)")
    p.add_argument("--workspace", action="store_true",
                   help="store the source's frames (the workspace without the object) as training backgrounds "
                        "in OUT/workspace/, evenly thinned to at most 50, instead of recording a sweep")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


# capture parameters that have a flag of their own (any other: --params FILE); their help, type and
# range come from core/capture/capture_params.py
PARAM_FLAGS = {"segmenter": ("--segmenter", "NAME"), "step_deg": ("--step-deg", "D"),
               "turntable_period_s": ("--turntable-period", "S"), "empty_frames": ("--empty-frames", "N"),
               "max_frames": ("--max-frames", "N")}


def add_param_flags(p: argparse.ArgumentParser) -> None:
    from ..core.capture.capture_params import CaptureParams, source_defaults

    fields = {f.name: f for f in CaptureParams.flat_fields()}
    recorded = source_defaults("video")
    for name, (flag, metavar) in PARAM_FLAGS.items():
        f = fields[name]
        default = recorded.get(name, f.default)
        span = "" if f.metadata["min"] is None else f"; {f.metadata['min']} .. {f.metadata['max']}"
        p.add_argument(flag, dest=name, type=type(f.default), metavar=metavar,
                       help=f"{f.metadata['doc']} (default {default}{span})")


def parse_sets(items: list[str]) -> dict:
    """--set NAME=VALUE pairs as a dict (values read as YAML: numbers, true/false, lists)."""
    import yaml

    out = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--set {item!r} must be NAME=VALUE, e.g. --set step_deg=10")
        try:
            out[name.strip()] = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            raise ValueError(f"--set {item!r}: the value is not valid YAML") from None
    return out


def load_params(path: Path | None) -> dict:
    """A flat YAML mapping, or the ROS layout capture_node: ros__parameters: {...}."""
    if path is None:
        return {}
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError:
        raise FileNotFoundError(f"params file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"params file {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ValueError(f"params file {path} must hold a mapping of parameter: value")
    if "capture_node" in data:
        data = (data["capture_node"] or {}).get("ros__parameters", {}) or {}
    return data


def store_workspace(args) -> int:
    """--workspace: the source's colour frames become OUT/workspace/NNNNNN.png."""
    from ..core.shared.sources import open_source
    from ..core.capture.workspace import MAX_WORKSPACE_FRAMES, WORKSPACE_DIR, record_workspace

    source = open_source(images=args.images, glob=args.glob, video=args.video, bag=args.bag, topic=args.topic)
    paths = record_workspace(args.out, (frame.rgb for frame in source))
    if not paths:
        raise ValueError("the source has no frames: nothing stored as workspace")
    print(f"workspace: {len(paths)} frames stored (at most {MAX_WORKSPACE_FRAMES}, spread over the source)")
    print(Path(args.out) / WORKSPACE_DIR)
    return 0


def run(args) -> int:
    from tqdm import tqdm

    if args.workspace:
        return store_workspace(args)
    if not args.label:
        raise ValueError("--label is required to record a sweep (or give --workspace to store backgrounds)")

    from ..core.shared.camera import IntrinsicsError, load_intrinsics
    from ..core.capture.dataset import SweepWriter
    from ..core.shared.rgbd_input import attach_depth
    from ..core.capture.capture_params import CaptureParams, source_defaults
    from ..core.capture.segment import make_segmenter
    from ..core.shared.sources import open_source
    from ..core.capture.sweep import SweepRecorder

    raw = load_params(args.params)  # flags win over --set, --set over the file, the file over the source's defaults
    raw.update(parse_sets(args.set))
    raw.update({name: getattr(args, name) for name in PARAM_FLAGS if getattr(args, name) is not None})
    kind = "images" if args.images else "video" if args.video else "bag"
    for key, value in source_defaults(kind, args.thin).items():
        raw.setdefault(key, value)
    raw["dataset_root"] = str(args.out)
    params = CaptureParams.from_dict(raw)
    source = open_source(images=args.images, glob=args.glob, video=args.video, bag=args.bag, topic=args.topic,
                         depth=args.depth, depth_topic=args.depth_topic, camera_info_topic=args.camera_info_topic,
                         sync_tolerance_s=args.sync_tolerance, depth_scale=args.depth_scale)
    intrinsics = load_intrinsics(args.intrinsics) if args.intrinsics else getattr(source, "intrinsics", None)
    if (args.depth or args.depth_topic) and intrinsics is None:
        raise IntrinsicsError("depth needs the camera's intrinsics: give --intrinsics FILE (fx, fy, cx, cy or a "
                              "camera_info YAML)" + (" or --camera-info-topic" if args.bag else ""))
    if not args.quiet and getattr(source, "companions", None):
        print(f"{len(source.companions)} depth/mask companion files are not frames "
              f"(e.g. {source.companions[0].name})", file=sys.stderr)
    segmenter = make_segmenter(params.segmenter, **params.segmenter_kwargs())
    writer = SweepWriter(args.out, args.label, sweep_id=args.sweep_id, params=params.to_dict())
    recorder = SweepRecorder(writer, segmenter, params)
    writer.meta["source"] = {"images": str(args.images) if args.images else None, "glob": args.glob,
                             "video": str(args.video) if args.video else None,
                             "bag": str(args.bag) if args.bag else None, "topic": args.topic,
                             "depth": str(args.depth) if args.depth else None, "depth_topic": args.depth_topic}
    if intrinsics is not None:
        writer.meta["intrinsics"] = intrinsics.to_dict()
    bar = tqdm(total=len(source) or None, unit="frame", disable=args.quiet, file=sys.stderr)
    try:
        for frame in source:
            depth, problem = attach_depth(frame.depth, frame.rgb.shape[:2], intrinsics)
            if (problem or frame.depth_problem) and not args.quiet:
                bar.write(f"no depth for {frame.source}: {problem or frame.depth_problem}", file=sys.stderr)
            result = recorder.feed(frame.rgb, frame.stamp, source=frame.source, depth=depth)
            bar.update(1)
            s = recorder.status()
            bar.set_postfix(kept=s["kept"], rej=s["rejected"], neg=s["negatives"], refresh=False)
            if result.status == "rejected" and not args.quiet:
                bar.write(f"rejected {frame.source}: {result.reason}", file=sys.stderr)
            if recorder.done:
                break
    except BaseException as exc:
        bar.close()
        recorder.finish("failed", f"interrupted: {type(exc).__name__}: {exc}".splitlines()[0])
        raise
    bar.close()
    status = recorder.finish("finished")
    if status["kept"] == 0:
        print(f"warning: no frame was kept ({status['rejected']} rejected): see sweep.json for reasons",
              file=sys.stderr)
    print(f"{writer.label}: {status['kept']} kept, {status['rejected']} rejected, {status['negatives']} "
          f"negatives of {status['seen']} frames, coverage {status['coverage_deg']:.0f} deg ({status['message']})")
    if args.depth or args.depth_topic:
        stored = writer.counts.get("with_depth", 0)
        print(f"depth: stored for {stored} of {status['kept'] + status['negatives']} frames"
              + ("" if stored else ": see the 'no depth' lines above"))
    if getattr(recorder, "contact_sheet", None):
        print(f"contact sheet: {recorder.contact_sheet}")
    print(status["path"])
    return 0

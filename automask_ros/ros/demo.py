"""`automask demo`: teach the robot an object end to end through the ROS 2 nodes, and report.

Sequence: render (or take) a sweep -> the player publishes it (colour, depth and camera_info on
the rendered rig, empty turntable first) -> the capture node records it
(StartSweep) -> the trainer node trains on it (Train action, CPU preset, time budget) -> the
detector node hot-reloads the announced model -> the player publishes held-out views and
cluttered scenes -> the InstanceArrays are scored against the reference masks -> report.html.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import rclpy
from rclpy.parameter import Parameter

from automask_ros.core.shared.atomic import atomic_write_json, read_rgb
from automask_ros.core.demo.demo import DemoData, PhaseTimer, automask_iou, prepare_folder, prepare_synthetic, \
    write_demo_report
from automask_ros.core.shared.sources import ImageFolder
from automask_ros.ros.demo_driver import DemoDriver, Spinner, feedback_printer


@dataclass
class DemoOptions:
    out: str = "demo_out"
    obj: str = "mug"                 # rendered object when no sweep folder is given
    size: tuple = (320, 240)
    views: int = 36
    heldout: int = 18
    clutter: int = 8
    seed: int = 0
    sweep: str | None = None         # a real image folder instead of the renderer
    glob: str | None = None
    heldout_glob: str | None = None
    masks: str | None = None         # reference masks for a real folder (same file names)
    backgrounds: str | None = None   # photos for copy-paste in training
    label: str | None = None
    minutes: float = 8.0             # training budget
    epochs: int = 40                 # planned; the time budget usually ends training first
    capture_rate_hz: float = 0.5     # the FCN + GrabCut take about 1.4 s a frame on 2 cores
    detect_rate_hz: float = 2.0
    external_nodes: bool = False     # drive nodes started elsewhere (demo.launch.py)
    train_threads: int = 2
    score_threshold: float = 0.5     # detector node
    segmenter: str = ""              # capture node segmenter; "" = the node's default (config/capture.yaml)


def node_settings(opts: DemoOptions, data: DemoData, out: Path) -> dict[str, dict]:
    """The parameters the demo gives each node (on top of their defaults or launch files).

    Only paths, the camera and the training budget: the capture node keeps every default a
    user gets (config/capture.yaml, core/sweep.CaptureParams), segmenter included. The one
    exception is a fact about the data, not a setting: a folder that starts with the object in
    view has no empty-turntable frame, so its first frame must not be taken as one.
    """
    first = read_rgb(ImageFolder(data.sweep, data.sweep_glob).files[0])
    trainer = {"output_root": str(out / "models"), "min_size": int(min(first.shape[:2])),
               "threads": int(opts.train_threads), "feedback_period_s": 2.0}
    if data.backgrounds:
        trainer["backgrounds"] = str(data.backgrounds)
    # the rendered rig is what the defaults expect: colour + depth + camera_info, the empty
    # turntable first (the node's empty_frames)
    capture = {"dataset_root": str(out / "dataset"), "camera_timeout_s": 60.0}
    if data.empty_frames == 0:  # a folder that starts with the object in view (COIL): no empty frame
        capture["empty_frames"] = 0
    if opts.segmenter:
        capture["segmenter"] = opts.segmenter
    return {"player_node": {"autostart": False},
            "capture_node": capture,
            "trainer_node": trainer,
            "detector_node": {"score_threshold": float(opts.score_threshold)}}


def _in_process_nodes(settings: dict[str, dict]) -> list:
    """Player, capture, trainer and detector nodes for this process."""
    from automask_ros.ros.capture_node import CaptureNode
    from automask_ros.ros.detector_node import DetectorNode
    from automask_ros.ros.player_node import PlayerNode
    from automask_ros.ros.trainer_node import TrainerNode

    classes = {"player_node": PlayerNode, "capture_node": CaptureNode, "trainer_node": TrainerNode,
               "detector_node": DetectorNode}
    return [cls(parameter_overrides=[Parameter(k, value=v) for k, v in settings[name].items()])
            for name, cls in classes.items()]


def run_demo(opts: DemoOptions, say=print) -> Path:
    """Run the whole loop; returns the path of report.html."""
    out = Path(opts.out).resolve()
    timer = PhaseTimer()
    with timer.phase("render data"):
        if opts.sweep:
            masks = opts.masks or (Path(opts.sweep).parent / "masks" if (Path(opts.sweep).parent / "masks").is_dir()
                                   else None)
            data = prepare_folder(opts.sweep, opts.glob, opts.label or "object", opts.heldout_glob, masks,
                                  opts.backgrounds)
        else:
            say(f"rendering a {opts.obj} sweep ({opts.views} views), {opts.heldout} held-out views and "
                f"{opts.clutter} cluttered scenes into {out / 'data'}", flush=True)
            data = prepare_synthetic(out, opts.obj, opts.size, opts.views, opts.heldout, opts.clutter,
                                     seed=opts.seed)
            if opts.backgrounds:
                data.backgrounds = Path(opts.backgrounds)
    rclpy.init()
    spinner = None
    try:
        with timer.phase("start nodes"):
            settings = node_settings(opts, data, out)
            nodes = [] if opts.external_nodes else _in_process_nodes(settings)
            driver = DemoDriver()
            spinner = Spinner.start(nodes + [driver])
            if opts.external_nodes:  # nodes from demo.launch.py: same settings, through their services
                for name, values in settings.items():
                    driver.set_params(name, {k: v for k, v in values.items() if k != "autostart"})
        with timer.phase("capture (capture node)"):
            say(f"capture: the player publishes {data.sweep}, the capture node records it", flush=True)
            status = driver.record_sweep(data.label, out / "dataset", data.sweep, data.sweep_glob or "",
                                         str(data.angles or ""), opts.capture_rate_hz)
            say(f"  sweep {status.sweep_path}: {status.frames_kept} kept, {status.frames_rejected} rejected, "
                f"{status.frames_negative} negatives", flush=True)
        with timer.phase("train (trainer node)"):
            say(f"train: Train action on the trainer node, budget {opts.minutes:g} min", flush=True)
            result = driver.train([status.sweep_path], out / "model", opts.minutes, opts.epochs,
                                  feedback_printer(say))
            say(f"  {result.message}; held-out mask AP {result.mask_ap:.3f}, AP50 {result.mask_ap50:.3f}",
                flush=True)
        with timer.phase("hot reload (detector node)"):
            info = driver.wait_model(result.model_path)
            say(f"detect: the detector node loaded model {info.model_id}", flush=True)
        heldout = clutter = None
        with timer.phase("detect (detector node)"):
            if data.heldout:
                heldout = driver.detect(data.heldout, data.heldout_glob or "", opts.detect_rate_hz)
                say(f"  held-out views: {len(heldout[0])} frames detected", flush=True)
            if data.clutter:
                clutter = driver.detect(data.clutter, "", opts.detect_rate_hz)
                say(f"  cluttered scenes: {len(clutter[0])} frames detected", flush=True)
    finally:
        if spinner is not None:
            spinner.stop()
        rclpy.try_shutdown()
    with timer.phase("score + report"):
        iou = automask_iou(status.sweep_path, data.truth) if len(data.truth) else None
        phases = dict(timer.seconds)
        path, rows = write_demo_report(out, label=data.label, sweep_path=status.sweep_path,
                                       bundle=result.model_path, iou=iou, heldout=heldout, clutter=clutter,
                                       truth=data.truth, phases=phases,
                                       facts={"ROS_DOMAIN_ID": os.environ.get("ROS_DOMAIN_ID", "0"),
                                              "nodes": "external (launch)" if opts.external_nodes
                                              else "in this process, one executor per node"})
    arrays = [instances for run in (heldout, clutter) if run for _, instances in run[0]]
    atomic_write_json(out / "demo.json", {  # the same figures for scripts and tests
        "report": str(path), "dataset": status.sweep_path, "bundle": result.model_path,
        "model_id": info.model_id, "labels": list(info.labels), "metrics": rows, "phases": timer.seconds,
        "frames_kept": status.frames_kept, "instance_arrays": len(arrays),
        "instance_labels": sorted({i.label for instances in arrays for i in instances})})
    for name, row in rows.items():
        say(f"  {name}: " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                      for k, v in row.items()), flush=True)
    for name, seconds in timer.seconds.items():
        say(f"  {name}: {seconds:.1f} s", flush=True)
    return path

"""Capture node throughput over real DDS (issues 3, 11): fed 640x480 colour + depth at 30 Hz.

A rendered 72-view turntable sweep (the camera is mocked by the renderer) is published in a loop,
so every frame is a new view that the node must segment, clean and store. With depth (the
default), each tick also publishes an aligned 16UC1 depth frame (made from the renderer's exact
mask: object 0.8 m, background 1.2 m; no RGB-D camera exists here) with the same stamp and a
CameraInfo, so the node pairs, stores depth/NNNNNN.png and intrinsics. Reports the frames per
second the node sustains (SweepStatus.frames_seen), the drop rate of the newest-frame policy,
the share of stored frames that got their depth, and the node's RSS and thread count sampled
every second (they must stay flat).

    python benchmarks/capture_node.py [--seconds 60] [--rate 30] [--segmenter u2net] [--no-depth]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import rclpy
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _feed import Feeder, growth, write_result  # noqa: E402
from _util import ROOT, machine, print_machine, start_node  # noqa: E402

from automask.msg import SweepStatus  # noqa: E402
from automask.srv import StartSweep  # noqa: E402
from automask_ros.core.demo.render import render_sweep  # noqa: E402
from automask_ros.ros.image_conversion import numpy_to_imgmsg, rgb_to_imgmsg  # noqa: E402


class Publishers:
    """Publishes one tick's messages (colour, and depth + camera_info when fed) as the Feeder's
    single publisher."""

    def __init__(self, *pubs):
        self.pubs = pubs

    def publish(self, msgs):
        for pub, msg in zip(self.pubs, msgs):
            pub.publish(msg)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--rate", type=float, default=30.0)
    ap.add_argument("--segmenter", default="u2net")
    ap.add_argument("--no-depth", action="store_true", help="colour only (no depth, no camera_info)")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "capture_node.json")
    args = ap.parse_args(argv)
    info_machine = machine()
    print_machine(info_machine)
    work = Path(tempfile.mkdtemp(prefix="automask_bench_"))
    rendered = list(render_sweep("mug", n_frames=72, size=(640, 480), seed=0, empty_frames=0))
    msgs = [rgb_to_imgmsg(f.rgb) for f in rendered]
    depths = [numpy_to_imgmsg(np.where(f.mask, 800, 1200).astype(np.uint16), "16UC1") for f in rendered]
    info = CameraInfo(width=640, height=480, k=[525.0, 0.0, 319.5, 0.0, 525.0, 239.5, 0.0, 0.0, 1.0])
    use_depth = not args.no_depth
    name = f"bench_capture_{uuid.uuid4().hex[:6]}"
    proc = start_node("capture_node", name, [
        "-r", f"image:=/{name}/camera", "-r", f"depth:=/{name}/depth", "-r", f"camera_info:=/{name}/info",
        "-p", f"dataset_root:={work / 'data'}",
        "-p", f"segmenter:={args.segmenter}", "-p", "loop_closure:=false", "-p", "negatives_before:=0",
        "-p", "min_change:=0.0", "-p", "camera_timeout_s:=60.0", "-p", "contact_sheet:=false",
        "-p", "status_rate_hz:=5.0"], work / "node.log")
    rclpy.init()
    node = rclpy.create_node(f"bench_client_{name}")
    statuses: list[tuple[float, SweepStatus]] = []
    node.create_subscription(SweepStatus, f"/{name}/status",
                             lambda m: statuses.append((time.monotonic(), m)), 10)
    pub = Publishers(node.create_publisher(Image, f"/{name}/camera", qos_profile_sensor_data),
                     node.create_publisher(Image, f"/{name}/depth", qos_profile_sensor_data),
                     node.create_publisher(CameraInfo, f"/{name}/info", qos_profile_sensor_data))
    start = node.create_client(StartSweep, f"/{name}/start_sweep")
    try:
        assert start.wait_for_service(timeout_sec=60), "capture node did not start"
        future = start.call_async(StartSweep.Request(label="mug"))
        rclpy.spin_until_future_complete(node, future, timeout_sec=60)
        assert future.result().success, future.result().message
        sweep_path = Path(future.result().sweep_path)

        def make_msg(i):
            msg, depth = msgs[i % len(msgs)], depths[i % len(msgs)]
            msg.header.stamp.sec = depth.header.stamp.sec = info.header.stamp.sec = 1000 + i
            return (msg, depth, info) if use_depth else (msg,)

        feeder = Feeder(node, pub, make_msg, proc.pid)
        t0 = time.monotonic()
        feeder.run(args.rate, args.seconds)
        t1 = time.monotonic()
        window = [(t, m) for t, m in statuses if t0 + min(5.0, args.seconds / 4) <= t <= t1]
        (ta, a), (tb, b) = window[0], window[-1]
        fps = (b.frames_seen - a.frames_seen) / (tb - ta)
        warm = min(10.0, args.seconds / 3)
        rss = growth([(t, m) for t, m, _ in feeder.samples], warm)
        threads = growth([(t, n) for t, _, n in feeder.samples], warm)
        counts = json.loads((sweep_path / "sweep.json").read_text())["counts"]
        stored = counts["kept"] + counts["negatives"]
        depth_share = counts.get("with_depth", 0) / stored if stored else float("nan")
        r = {"machine": info_machine, "segmenter": args.segmenter, "depth": use_depth,
             "stored_with_depth": depth_share, "rate_hz_sent": feeder.sent / args.seconds,
             "frames_per_s": fps, "drop_rate": 1 - fps / (feeder.sent / args.seconds),
             "frames_seen": b.frames_seen, "frames_kept": b.frames_kept, "frames_rejected": b.frames_rejected,
             "state": b.state, "rss_mb": rss, "threads": threads, "seconds": args.seconds}
        print(f"capture node, {args.segmenter}, 640x480 {'colour + depth + camera_info' if use_depth else 'colour'} "
              f"at {r['rate_hz_sent']:.1f} Hz for {args.seconds:.0f} s: "
              f"{fps:.2f} frames/s segmented+stored, drop rate {r['drop_rate']:.1%} (newest-frame policy); "
              f"kept {b.frames_kept}, rejected {b.frames_rejected}, {depth_share:.0%} stored with depth; RSS {rss['start']:.0f} -> {rss['end']:.0f} MB "
              f"(growth {rss['growth']:.1f} MB, peak {rss['peak']:.1f} MB, {rss['slope_per_min']:+.2f} MB/min), threads "
              f"{threads['start']:.0f} -> {threads['end']:.0f}")
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        proc.terminate()
        proc.wait(10)
    write_result(args.json, r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
